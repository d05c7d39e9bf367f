"""``make bench-1m`` (issue 18): a realistic synthetic index of N chunks (default 1M), opened and
queried in a fresh process; prints memory (RssAnon, RssFile), hybrid and year-filtered p50/p95
with query encoding and answers, dense recall of the approximate index, and ends with one line

    bench-1m: chunks=N rss_anon_mb=… rss_file_mb=… hybrid_p95_ms=… filtered_p95_ms=… build_s=…

How the index is made (kiwi and the encoder are not run a million times):

* **real material**: the corpus/ reports, indexed by the real ``build`` (chunks, answer units,
  kiwi terms and pairs, vectors), plus the AutoRAG passages (``--autorag``), analysed by kiwi and
  embedded once;
* **vocabulary**: Heaps' law ``V = K n^β`` fitted on that real token stream; each synthetic chunk
  copies a real chunk's terms and replaces a share of them (``--replace``) with synthetic terms
  introduced at the rate Heaps' law gives for the whole stream, reused with a Zipf-like skew;
  phrases are the adjacent pairs of the result;
* **vectors**: the template's real embedding plus Gaussian noise, re-normalised;
* **chunks and units**: the template's (text, header, a few answer lines), with synthetic file,
  department, year, programme and section codes;
* the files are written with the local backend's own writers (``StoreWriter``,
  ``build_postings_ids``/``save_postings``, ``save_vectors``) and a real manifest.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AUTORAG = ROOT.parent / "shared" / "benchmarks" / "autorag-ko"


def log(msg: str) -> None:
    print(msg, flush=True)


def mem() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
            out[k] = int(v.split()[0]) / 1024
    return out


def peak_children_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- real material ----------------------------------------------------------------------------
def real_material(work: Path, autorag: Path, n_autorag: int, model: str, n_embed: int = 200):
    """Chunks, units, terms, pairs and vectors of corpus/ (real build) and AutoRAG passages."""
    from index.build import analyse, build
    from index.model import Chunk, Unit
    from index.models import ModelRegistry
    from index.store import open_backend
    from index.tokens import TokenizerConfig

    idx = work / "corpus-index"
    t = time.perf_counter()
    build([ROOT / "corpus"], idx, model=model)
    b = open_backend(idx)
    chunks = list(b.chunks.all())
    by_chunk = b.chunks.units_for_chunks([c.id for c in chunks])
    units = [by_chunk.get(c.id, []) for c in chunks]
    registry = ModelRegistry()
    tok = registry.tokenizer(TokenizerConfig.from_dict(b.manifest.tokenizer))
    terms, pairs = analyse(tok, chunks)
    vecs = b.vectors.vectors([c.id for c in chunks])
    log(f"real: corpus/ built and analysed ({len(chunks)} chunks) in {time.perf_counter() - t:.1f} s")
    rows = []
    if autorag.is_file() and n_autorag:
        with autorag.open(encoding="utf-8") as fh:
            rows = [json.loads(x) for x in fh if x.strip()][:n_autorag]
    if rows:
        t = time.perf_counter()
        extra = [Chunk(id=f"autorag:{i}", file="autorag.txt", path="", start_line=1, end_line=1,
                       text=r["contents"], index_text=r["contents"]) for i, r in enumerate(rows)]
        et, ep = analyse(tok, extra)
        enc = registry.encoder(b.manifest.model["id"])
        k = min(len(extra), n_embed)   # the encoder is slow here: the rest reuse an embedded passage's vector
        ev = enc.encode_documents([c.text for c in extra[:k]]).astype(np.float32)
        if k < len(extra):
            ev = np.vstack([ev, ev[np.random.default_rng(0).integers(0, k, len(extra) - k)]])
        for c in extra:   # a few answer lines per passage
            lines = [x for x in c.text.splitlines() if len(x.strip()) > 10][:4]
            units.append([Unit(id=f"{c.id}:{k}", kind="line", file=c.file, chunk_id=c.id, line=k + 1, text=x)
                          for k, x in enumerate(lines)])
        chunks += extra
        terms += et
        pairs += ep
        vecs = np.vstack([vecs, ev])
        log(f"real: {len(extra)} AutoRAG passages analysed, {k} embedded, in {time.perf_counter() - t:.1f} s")
    return idx, b.manifest, chunks, units, terms, pairs, vecs


def heaps_fit(docs: list[list[str]]) -> tuple[float, float, int, int]:
    """K, β of V = K n^β over the token stream of ``docs`` (in order); also n and V."""
    seen: set[str] = set()
    ns, vs, n = [], [], 0
    for d in docs:
        for t in d:
            n += 1
            seen.add(t)
        ns.append(n)
        vs.append(len(seen))
    ns, vs = np.array(ns, float), np.array(vs, float)
    keep = ns > 1000
    beta, logk = np.polyfit(np.log(ns[keep]), np.log(vs[keep]), 1)
    return float(np.exp(logk)), float(beta), int(n), len(seen)


# ---- the synthetic index --------------------------------------------------------------------
def generate(out: Path, n: int, real, *, replace_share: float, noise: float, seed: int,
             units_per_chunk: int = 4) -> dict:
    from index.store.local import (BM25, LEXICON, PHRASES, StoreWriter, build_postings_ids, hashes, mix,
                                   save_postings, save_vectors)
    from index.store.manifest import MANIFEST, FileEntry, Manifest

    _, src_manifest, chunks, units, terms, pairs, vecs = real
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    K, beta, n_real, v_real = heaps_fit(terms)
    log(f"heaps: V = {K:.2f} n^{beta:.3f} on {n_real:,} real tokens ({v_real:,} terms)")

    # real vocabulary as ids
    vocab_real = sorted({t for d in terms for t in d})
    rid = {t: i for i, t in enumerate(vocab_real)}
    flat_real = np.array([rid[t] for d in terms for t in d], dtype=np.int64)
    lens_real = np.array([len(d) for d in terms], dtype=np.int64)
    off_real = np.concatenate([[0], np.cumsum(lens_real)[:-1]])

    tmpl = rng.integers(0, len(chunks), n)
    lens = np.maximum(lens_real[tmpl], 1)
    total = int(lens.sum())
    starts = np.repeat(off_real[tmpl] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    tok = flat_real[starts + np.arange(total)]
    del starts
    # synthetic terms: introduced at Heaps' rate over the whole stream, reused with a Zipf-like skew
    rep = np.flatnonzero(rng.random(total) < replace_share)
    target_v = K * (np.arange(1, len(rep) + 1, dtype=np.float64) / replace_share) ** beta - v_real
    introduced = np.maximum(np.floor(np.maximum(target_v, 0)).astype(np.int64), 1)
    new_ids = (rng.random(len(rep)) ** 3 * introduced).astype(np.int64)   # 0 = the most frequent
    tok[rep] = len(vocab_real) + new_ids
    del rep, target_v, new_ids
    n_syn = int(introduced[-1]) if len(introduced) else 0
    del introduced
    syllables = np.array(list("가나다라마바사아자차카타파하교육복지예산사업추진계획운영지원관리센터청년주민"))
    syn_names = ["".join(syllables[rng.integers(0, len(syllables), 2 + (k % 4))]) + f"{k:x}" for k in range(n_syn)]
    term_h = np.concatenate([hashes(vocab_real), hashes(syn_names)])
    del syn_names
    log(f"tokens: {total:,} in {n:,} chunks ({total / n:.0f} per chunk); vocabulary {len(term_h):,} "
        f"(Heaps predicts {K * total ** beta:,.0f}); {time.perf_counter() - t0:.1f} s")

    work = out.parent / f".{out.name}.tmp-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t = time.perf_counter()
    save_postings(work / BM25, _postings(build_postings_ids, tok, lens, term_h, False))   # unused terms: df 0
    # phrases: adjacent pairs inside each chunk
    h = term_h[tok]
    del tok
    first = np.zeros(total, dtype=bool)
    first[np.concatenate([[0], np.cumsum(lens)[:-1]])] = True
    ph = mix(h[:-1], h[1:])[~first[1:]]
    del h, first
    plens = np.maximum(lens - 1, 0)
    empty = plens == 0
    if empty.any():   # a document needs one token: the EMPTY_DOC marker
        from index.store.local import EMPTY_DOC, term_hash
        pos = np.concatenate([[0], np.cumsum(plens)[:-1]])[empty]
        ph = np.insert(ph, pos, np.uint64(term_hash(EMPTY_DOC)))
        plens = np.where(empty, 1, plens)
    pv, pid = np.unique(ph, return_inverse=True)
    del ph
    save_postings(work / PHRASES, _postings(build_postings_ids, pid, plens, pv, True))
    n_pairs = len(pv)
    del pv, pid
    log(f"postings: terms and {n_pairs:,} distinct pairs in {time.perf_counter() - t:.1f} s; "
        f"peak RSS so far {peak_children_mb():.0f} MB")

    t = time.perf_counter()
    years = np.array(sorted({c.year for c in chunks if c.year}) or [2022])
    year_range = np.arange(years.min() - 5, years.max() + 1)
    depts = sorted({c.department for c in chunks if c.department}) or ["부서"]
    dept_names = [f"{d}{k}" if k else d for k in range(60) for d in depts]
    # chunk and unit JSON made once per template with placeholders, filled by string replacement
    P = {k: f"\x01{k}\x01" for k in ("ID", "FILE", "YEAR", "DEPT", "PN", "PROG", "SL", "EL", "UID")}
    q = {k: json.dumps(v) for k, v in P.items()}
    q["UID"] = q["UID"][:-1]   # the unit's id is "<chunk id>#<k>": its prefix only
    chunk_tpl, unit_tpl = [], []
    for c, us in zip(chunks, units):
        chunk_tpl.append(json.dumps(asdict(replace(c, id=P["ID"], file=P["FILE"], path="", year=P["YEAR"],
                                                   department=P["DEPT"], programme_number=P["PN"],
                                                   programme=P["PROG"], start_line=P["SL"], end_line=P["EL"])),
                                    ensure_ascii=False))
        unit_tpl.append([json.dumps(asdict(replace(u, id=P["UID"] + str(k), chunk_id=P["ID"], file=P["FILE"],
                                                   year=P["YEAR"], department=P["DEPT"], programme=P["PROG"])),
                                    ensure_ascii=False) for k, u in enumerate(us[:units_per_chunk])])
    store = StoreWriter(work)
    per_file = 20
    f_year = rng.choice(year_range, n // per_file + 1)
    f_dept = rng.integers(0, len(dept_names), n // per_file + 1)

    def fill(tpl: str, vals: dict) -> str:
        for k, v in vals.items():
            tpl = tpl.replace(q[k], v)
        return tpl

    for i in range(n):
        j = int(tmpl[i])
        f = i // per_file
        c = chunks[j]
        cid, fname = f"syn{f:06d}.txt:{i}", f"syn{f:06d}.txt"
        pn = (i % per_file) // 5 + 1
        prog = f"{c.programme or '사업'} {f}-{pn}"
        chunk = replace(c, id=cid, file=fname, path="", year=int(f_year[f]), department=dept_names[f_dept[f]],
                        programme_number=pn, programme=prog, heading=c.heading,
                        start_line=i % per_file * 10 + 1, end_line=i % per_file * 10 + 9)
        vals = {"ID": json.dumps(cid), "FILE": json.dumps(fname), "YEAR": str(chunk.year),
                "DEPT": json.dumps(chunk.department, ensure_ascii=False), "PN": str(pn),
                "PROG": json.dumps(prog, ensure_ascii=False), "SL": str(chunk.start_line), "EL": str(chunk.end_line),
                "UID": json.dumps(cid + "#")[:-1]}
        store.add(chunk, [], fill(chunk_tpl[j], vals))
        if unit_tpl[j]:
            fc = store._code("file", fname)
            rows = [(i, fc, fill(ut, vals)) for ut in unit_tpl[j]]
            store.db.executemany("INSERT INTO units VALUES (?,?,?)", rows)
            store.n_units += len(rows)
        if i and i % 200_000 == 0:
            log(f"  store: {i:,} chunks written ({time.perf_counter() - t:.0f} s)")
    store.close()
    # writer-only (an incremental build re-reads unchanged files' analyses); the bench never re-indexes
    (work / LEXICON).write_text("[[], []]\n" * n, encoding="utf-8")
    log(f"store: {n:,} chunks, {store.n_units:,} units in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    v = np.empty((n, vecs.shape[1]), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        x = vecs[tmpl[a:b]] + rng.normal(0, noise, (b - a, vecs.shape[1])).astype(np.float32)
        v[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    params = save_vectors(work, v)
    del v
    log(f"vectors: {n:,} x {vecs.shape[1]} ({params['type']}) in {time.perf_counter() - t:.1f} s")

    m = Manifest(model=src_manifest.model, tokenizer=src_manifest.tokenizer, root="",
                 files={f"syn{f:06d}.txt": FileEntry(hash="", path="", chunks=per_file) for f in range(n // per_file + (n % per_file > 0))})
    m.vector_index = params
    m.backend = "local"
    m.generation = 1
    m.chunk_count = n
    m.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (work / MANIFEST).write_text(m.to_json(), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(work, out)
    return {"vocab": len(term_h), "pairs": n_pairs, "tokens": total, "heaps_k": K, "heaps_beta": beta}


def _postings(fn, tid, lens, vocab, pairs):
    p = fn(tid, lens, vocab)
    p["meta"]["pairs"] = pairs
    return p


# ---- queries in a fresh process ---------------------------------------------------------------
def questions() -> list[str]:
    qs = []
    for path in (ROOT / "tests" / "data" / "corpus_qa.jsonl", AUTORAG / "qa.jsonl"):
        if path.is_file():
            qs += [json.loads(x)["query"] for x in path.open(encoding="utf-8") if x.strip()]
    return qs


def query_process(index_dir: str, n_queries: int, recall_queries: int) -> dict:
    from search.searcher import Searcher
    from search.service import SearchService

    t = time.perf_counter()
    s = Searcher.open(index_dir)
    s.warmup()
    svc = SearchService(s)
    open_s = time.perf_counter() - t
    qs = questions()
    rng = np.random.default_rng(1)
    picked = [qs[i] for i in rng.integers(0, len(qs), n_queries)]
    years = s.store.chunks.facets()["years"]
    for k, q in enumerate(picked[:5]):   # warm, as the app's warm-up would (filters read the facets once)
        svc.ask(q, top_k=5)
        svc.ask(q, top_k=5, year=int(years[k % len(years)]))
    lat, flat = [], []
    for k, q in enumerate(picked):
        t = time.perf_counter()
        res = svc.ask(q, top_k=5)
        lat.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        svc.ask(q, top_k=5, year=int(years[k % len(years)]))
        flat.append((time.perf_counter() - t) * 1000)
    m = mem()
    # dense recall@100 of the approximate index against exact search over the stored vectors
    rec = {}
    vi = s.store.vectors
    if vi is not None and getattr(vi, "_approx", False) and recall_queries:
        import faiss

        qv = s.encoder.encode_queries(picked[:recall_queries]).astype(np.float32)
        vecs = vi._vectors
        best = np.full((len(qv), 100), -np.inf, np.float32)
        besti = np.zeros((len(qv), 100), np.int64)
        for a in range(0, len(vecs), 200_000):
            sc = np.asarray(vecs[a:a + 200_000], dtype=np.float32) @ qv.T
            allsc = np.concatenate([best, sc.T], axis=1)
            alli = np.concatenate([besti, np.arange(a, a + sc.shape[0])[None, :].repeat(len(qv), 0)], axis=1)
            o = np.argpartition(-allsc, 99, axis=1)[:, :100]
            best, besti = np.take_along_axis(allsc, o, 1), np.take_along_axis(alli, o, 1)
        for nprobe in (8, 16, 32, 48, 64, 128):
            vi._faiss.nprobe = nprobe
            t = time.perf_counter()
            _, got = vi._faiss.search(qv, 200)
            ms = (time.perf_counter() - t) * 1000 / len(qv)
            r = np.mean([len(set(got[i][:200].tolist()) & set(besti[i].tolist())) / 100 for i in range(len(qv))])
            rec[nprobe] = (float(r), ms)
    p = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    return {"open_s": open_s, "rss_anon_mb": m["RssAnon"], "rss_file_mb": m["RssFile"], "vmhwm_mb": m["VmHWM"],
            "hybrid_p50": p(lat, 50), "hybrid_p95": p(lat, 95), "filtered_p50": p(flat, 50),
            "filtered_p95": p(flat, 95), "queries": len(picked), "recall": rec,
            "answered": sum(1 for q in picked[:20] if svc.ask(q, top_k=5).answer is not None)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--index-dir", default=str(ROOT / ".kosearch" / "bench-1m"))
    ap.add_argument("--autorag", type=int, default=720, help="AutoRAG passages to analyse and embed (real material)")
    ap.add_argument("--embed", type=int, default=200, help="of those, passages embedded (the rest reuse their vectors)")
    ap.add_argument("--model", default="bundled:multilingual-e5-small")
    ap.add_argument("--replace", type=float, default=0.15, help="share of tokens replaced by synthetic terms")
    ap.add_argument("--noise", type=float, default=0.03, help="Gaussian noise per vector dimension")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--recall-queries", type=int, default=50)
    ap.add_argument("--real-cache", help="pickle of the real material, reused across runs (development)")
    ap.add_argument("--reuse", action="store_true", help="query an existing bench index (no build)")
    ap.add_argument("--query-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.query_only:
        print("RESULT " + json.dumps(query_process(a.index_dir, a.queries, a.recall_queries)), flush=True)
        return 0
    start = time.perf_counter()
    out = Path(a.index_dir)
    build_s = 0.0
    if not (a.reuse and (out / "manifest.json").is_file()):
        with tempfile.TemporaryDirectory(prefix="kosearch-bench1m-") as tmp:
            t = time.perf_counter()
            cache = Path(a.real_cache) if a.real_cache else None
            if cache and cache.is_file():
                import pickle

                real = pickle.loads(cache.read_bytes())
                log(f"real material from {cache}")
            else:
                real = real_material(Path(tmp), AUTORAG / "corpus.jsonl", a.autorag, a.model, a.embed)
                if cache:
                    import pickle

                    cache.write_bytes(pickle.dumps(real))
            info = generate(out, a.chunks, real, replace_share=a.replace, noise=a.noise, seed=0)
            build_s = time.perf_counter() - t
        log(f"build: {build_s:.0f} s, peak RSS {peak_children_mb():.0f} MB, "
            f"on disk {sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.0f} MB; {info}")
    # one thread for the query encoder: a single short question gains nothing from two, and on a
    # shared, loaded machine two torch threads wait on each other (measured 2 s vs 0.1 s per query)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("KOSEARCH_QUERY_THREADS", "1"))
    log(f"querying in a fresh process (OMP_NUM_THREADS={env['OMP_NUM_THREADS']}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores)")
    r = subprocess.run([sys.executable, __file__, "--query-only", "--index-dir", str(out), "--queries", str(a.queries),
                        "--recall-queries", str(a.recall_queries)], capture_output=True, text=True, env=env)
    sys.stderr.write(r.stderr[-3000:] if r.returncode else "")
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(r.stdout[-3000:])
        return 1
    res = json.loads(line[7:])
    log(f"open + warm-up: {res['open_s']:.1f} s; {res['queries']} questions (corpus_qa + AutoRAG), "
        f"answers included ({res['answered']}/20 answered)")
    log(f"hybrid:        p50 {res['hybrid_p50']:.0f} ms, p95 {res['hybrid_p95']:.0f} ms")
    log(f"year filter:   p50 {res['filtered_p50']:.0f} ms, p95 {res['filtered_p95']:.0f} ms")
    log(f"memory:        RssAnon {res['rss_anon_mb']:.0f} MB, RssFile {res['rss_file_mb']:.0f} MB, "
        f"peak RSS {res['vmhwm_mb']:.0f} MB (models included)")
    for k, (rc, ms) in sorted(res["recall"].items(), key=lambda x: int(x[0])):
        log(f"dense recall@100 (IVF-SQ8, top 200 re-scored) nprobe {k}: {rc:.3f} ({ms:.1f} ms/query)")
    log(f"whole bench: {time.perf_counter() - start:.0f} s")
    print(f"bench-1m: chunks={a.chunks} rss_anon_mb={res['rss_anon_mb']:.0f} rss_file_mb={res['rss_file_mb']:.0f} "
          f"hybrid_p95_ms={res['hybrid_p95']:.0f} filtered_p95_ms={res['filtered_p95']:.0f} build_s={build_s:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
