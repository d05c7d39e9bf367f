"""Retrieval-quality evaluation: a public benchmark (AutoRAG format) and our own question set.

Two kinds of gold evidence are supported.

* **AutoRAG format** (``corpus.jsonl`` + ``qa.jsonl``): each question has ``retrieval_gt``, a
  list of *groups*, each group a list of doc_ids. Any doc_id of a group answers that group.
  The metrics below follow AutoRAG's own definitions (``autorag/evaluation/metric/retrieval.py``
  in Marker-Inc-Korea/AutoRAG, with ``top_k`` = k), which is how the figures published for the
  Korean embedding benchmark (quoted in ``SOURCE.md``) were computed:

  - ``recall_at_k``: the fraction of gold *groups* that have at least one of their doc_ids among
    the top k results, averaged over questions. With one group per question (all 114 questions of
    autorag-ko) this is hit@k: 1 if any gold page is in the top k, else 0.
  - ``mrr_at_k``: for each group, the reciprocal rank of its first doc_id within the top k (0 when
    absent); averaged over the groups, then over questions. With one group it is the usual MRR@k.
  - ``ndcg_at_k``: binary relevance (a result is relevant when it is in any group);
    DCG = sum over the top k of rel / log2(rank + 1); the ideal DCG puts
    min(number of distinct gold doc_ids, k) relevant results first. (AutoRAG sizes the ideal list by
    the number of results returned; we size it by k, which is the same whenever the searcher
    returns k results, and does not reward returning fewer.)

* **Quote-based gold** (``tests/data/corpus_qa.jsonl``): independent of chunking, a result is a hit
  when its displayed text contains any of the question's quotes after whitespace normalisation
  (every whitespace run collapsed to one space, ends stripped). ``hit_at_k`` is 1 when one of the
  top k results is a hit; ``quote_mrr_at_k`` is 1 / rank of the first hit within the top k.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

MODES = ("bm25", "dense", "hybrid")
RECALL_KS = (1, 3, 5, 10)
BENCH_TOP_K = 10
QA_TOP_K = 10
QA_DISPLAY_K = 5  # results a user sees by default; used for the average passage length
DEFAULT_MODEL = "bundled:multilingual-e5-small"

# Published figures for autorag-ko (dense retrieval, each model alone), transcribed from
# /work/shared/benchmarks/autorag-ko/SOURCE.md, which quotes the README of
# Marker-Inc-Korea/AutoRAG-example-korean-embedding-benchmark. Used when the benchmark
# directory has no SOURCE.md table to parse.
PUBLISHED_AUTORAG_KO: list[tuple[str, dict[str, float]]] = [
    ("KU-HIAI-ONTHEIT-large-v1.1 (best R@1)", {"recall@1": 0.719, "recall@3": 0.886, "recall@5": 0.930, "recall@10": 0.947}),
    ("KoE5", {"recall@1": 0.693, "recall@3": 0.877, "recall@5": 0.904, "recall@10": 0.921}),
    ("bge-m3", {"recall@1": 0.675, "recall@3": 0.868, "recall@5": 0.930, "recall@10": 0.965}),
    ("Upstage embedding (API)", {"recall@1": 0.658, "recall@3": 0.842, "recall@5": 0.895, "recall@10": 0.939}),
    ("OpenAI text-embedding-3-large (API)", {"recall@1": 0.605, "recall@3": 0.790, "recall@5": 0.842, "recall@10": 0.904}),
    ("gte-multilingual-base", {"recall@1": 0.588, "recall@3": 0.807, "recall@5": 0.860, "recall@10": 0.921}),
    ("multilingual-e5-large-instruct", {"recall@1": 0.465, "recall@3": 0.667, "recall@5": 0.763, "recall@10": 0.816}),
    ("paraphrase-multilingual-MiniLM-L12-v2", {"recall@1": 0.298, "recall@3": 0.412, "recall@5": 0.491, "recall@10": 0.579}),
]


class EvalError(Exception):
    """Bad input for an evaluation; the message is one line, meant for the user."""


# --------------------------------------------------------------------------- metrics (doc_id gold)

def _dedupe(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def recall_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """AutoRAG recall: fraction of gold groups with any doc_id in the top k (0.0 without groups)."""
    if not gold_groups:
        return 0.0
    top = set(ranked_ids[:k])
    hits = sum(1 for group in gold_groups if top.intersection(group))
    return hits / len(gold_groups)


def mrr_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """AutoRAG MRR: per group 1/rank of its first doc_id in the top k (0 if none), averaged."""
    if not gold_groups:
        return 0.0
    top = _dedupe(ranked_ids[:k])
    total = 0.0
    for group in gold_groups:
        gset = set(group)
        for rank, doc_id in enumerate(top, 1):
            if doc_id in gset:
                total += 1.0 / rank
                break
    return total / len(gold_groups)


def ndcg_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """Binary nDCG@k; relevant = in any group; ideal = min(#distinct gold ids, k) hits first."""
    relevant = {d for group in gold_groups for d in group}
    if not relevant or k <= 0:
        return 0.0
    top = _dedupe(ranked_ids)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(top, 1) if d in relevant)
    ideal = min(len(relevant), k)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal + 1))
    return dcg / idcg


# --------------------------------------------------------------------------- metrics (quote gold)

_WS = re.compile(r"\s+")


def normalise_ws(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def first_quote_rank(texts: Sequence[str], quotes: Sequence[str], k: int | None = None) -> int | None:
    """1-based rank of the first text containing any quote (whitespace-normalised), else None."""
    qs = [normalise_ws(q) for q in quotes if normalise_ws(q)]
    if not qs:
        return None
    limit = len(texts) if k is None else min(k, len(texts))
    for rank in range(1, limit + 1):
        t = normalise_ws(texts[rank - 1])
        if any(q in t for q in qs):
            return rank
    return None


def hit_at_k(texts: Sequence[str], quotes: Sequence[str], k: int) -> float:
    """1.0 when one of the top k displayed texts contains a quote, else 0.0."""
    return 1.0 if first_quote_rank(texts, quotes, k) is not None else 0.0


def quote_mrr_at_k(texts: Sequence[str], quotes: Sequence[str], k: int) -> float:
    """1 / rank of the first displayed text (within the top k) containing a quote, else 0.0."""
    rank = first_quote_rank(texts, quotes, k)
    return 0.0 if rank is None else 1.0 / rank


# --------------------------------------------------------------------------- loading

def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    if not path.is_file():
        raise EvalError(f"{path}: file not found")
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise EvalError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise EvalError(f"{path}:{lineno}: expected a JSON object")
                yield lineno, obj
        except UnicodeDecodeError:
            raise EvalError(f"{path}: not UTF-8 text") from None


def _need_str(obj: dict, key: str, where: str) -> str:
    val = obj.get(key)
    if not isinstance(val, str) or not val.strip():
        raise EvalError(f"{where}: missing or empty string field {key!r}")
    return val


def load_benchmark(directory: str | Path) -> tuple[list[tuple[str, str]], list[tuple[str, str, list[list[str]]]]]:
    """Read an AutoRAG-format benchmark: ``corpus.jsonl`` (doc_id, contents) and ``qa.jsonl``
    (qid, query, retrieval_gt as a list of lists of doc_ids).

    Returns ``(passages, queries)``: ``[(doc_id, contents)]`` and ``[(qid, query, gold_groups)]``.
    Raises :class:`EvalError` with a one-line message on a missing or malformed file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise EvalError(f"{d}: benchmark directory not found")
    passages: list[tuple[str, str]] = []
    seen: set[str] = set()
    cpath = d / "corpus.jsonl"
    for lineno, obj in _read_jsonl(cpath):
        where = f"{cpath}:{lineno}"
        doc_id = _need_str(obj, "doc_id", where)
        contents = obj.get("contents")
        if not isinstance(contents, str):
            raise EvalError(f"{where}: missing string field 'contents'")
        if doc_id in seen:
            raise EvalError(f"{where}: duplicate doc_id {doc_id!r}")
        seen.add(doc_id)
        passages.append((doc_id, contents))
    if not passages:
        raise EvalError(f"{cpath}: no passages")
    queries: list[tuple[str, str, list[list[str]]]] = []
    qids: set[str] = set()
    qpath = d / "qa.jsonl"
    for lineno, obj in _read_jsonl(qpath):
        where = f"{qpath}:{lineno}"
        qid = obj.get("qid")
        if isinstance(qid, int):
            qid = str(qid)
        if not isinstance(qid, str) or not qid:
            raise EvalError(f"{where}: missing field 'qid'")
        if qid in qids:
            raise EvalError(f"{where}: duplicate qid {qid!r}")
        qids.add(qid)
        query = _need_str(obj, "query", where)
        gt = obj.get("retrieval_gt")
        if (not isinstance(gt, list) or not gt
                or not all(isinstance(g, list) and g and all(isinstance(x, str) for x in g) for g in gt)):
            raise EvalError(f"{where}: 'retrieval_gt' must be a non-empty list of non-empty lists of doc_ids")
        for g in gt:
            for x in g:
                if x not in seen:
                    raise EvalError(f"{where}: retrieval_gt doc_id {x!r} is not in corpus.jsonl")
        queries.append((qid, query, [list(g) for g in gt]))
    if not queries:
        raise EvalError(f"{qpath}: no questions")
    return passages, queries


def load_corpus_qa(path: str | Path) -> list[dict]:
    """Read our quote-based question set (see tests/data/corpus_qa.jsonl)."""
    p = Path(path)
    items = []
    qids: set[str] = set()
    for lineno, obj in _read_jsonl(p):
        where = f"{p}:{lineno}"
        qid = _need_str(obj, "qid", where)
        if qid in qids:
            raise EvalError(f"{where}: duplicate qid {qid!r}")
        qids.add(qid)
        _need_str(obj, "query", where)
        quotes = obj.get("quotes", [])
        if not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
            raise EvalError(f"{where}: 'quotes' must be a list of strings")
        answerable = obj.get("answerable", bool(quotes))
        if answerable and not quotes:
            raise EvalError(f"{where}: answerable question without quotes")
        item = dict(obj)
        item["answerable"] = bool(answerable)
        item.setdefault("category", "unanswerable" if not answerable else "other")
        item.setdefault("split", split_of(qid))
        items.append(item)
    if not items:
        raise EvalError(f"{p}: no questions")
    return items


def split_of(qid: str) -> str:
    """Tuning split: even qid numbers are 'tune', odd ones the held-out 'test'."""
    m = re.search(r"(\d+)\s*$", qid) or re.search(r"(\d+)", qid)  # "q07" and autorag's "7_finance"
    if not m:
        return "test"
    return "tune" if int(m.group(1)) % 2 == 0 else "test"


def domain_of(doc_id: str) -> str:
    """Domain of an AutoRAG doc_id: ``"law - file.pdf - 3"`` -> ``"law"`` (else prefix before ``_``)."""
    if " - " in doc_id:
        return doc_id.split(" - ", 1)[0].strip()
    if "_" in doc_id:
        return doc_id.split("_", 1)[0]
    return doc_id


def query_domain(qid: str, gold_groups: Sequence[Sequence[str]]) -> str:
    doms = Counter(domain_of(d) for g in gold_groups for d in g)
    if doms:
        return doms.most_common(1)[0][0]
    return qid.rsplit("_", 1)[-1] if "_" in qid else "other"


# --------------------------------------------------------------------------- benchmark run

def _search_api():
    try:
        from index.build import build_index
        from index.model import Chunk
        from search.searcher import Searcher
    except ImportError as exc:  # another engineer's module not there yet
        raise EvalError(f"search engine not available ({exc})") from None
    return build_index, Chunk, Searcher


def passages_to_chunks(passages: Sequence[tuple[str, str]]) -> list:
    """One Chunk per benchmark passage, exactly as given (never re-chunked)."""
    from index.model import Chunk
    return [Chunk(id=doc_id, file=doc_id, path=doc_id, start_line=1, end_line=1,
                  text=contents, index_text=contents) for doc_id, contents in passages]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _bench_metrics(ranked: Sequence[str], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    m = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in RECALL_KS}
    m["mrr@10"] = mrr_at_k(ranked, gold, 10)
    m["ndcg@10"] = ndcg_at_k(ranked, gold, 10)
    return m


def _average(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = [f"recall@{k}" for k in RECALL_KS] + ["mrr@10", "ndcg@10"]
    return {k: round(_mean([r[k] for r in rows]), 4) for k in keys}


def evaluate_benchmark(passages: Sequence[tuple[str, str]],
                       queries: Sequence[tuple[str, str, list[list[str]]]],
                       modes: Sequence[str] = MODES, model: str | None = None,
                       index_dir: str | Path | None = None, progress: bool = False,
                       options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Index the passages as given in a temporary index, search every query in every mode and
    return the report (see the module docstring for the metrics). ``options`` are passed to
    ``Searcher.search`` (fusion, dense_weight, phrase_weight)."""
    build_index, _Chunk, Searcher = _search_api()
    t0 = time.perf_counter()
    chunks = passages_to_chunks(passages)
    with tempfile.TemporaryDirectory(prefix="kosearch-eval-") as tmp:
        idx = Path(index_dir) if index_dir else Path(tmp) / "index"
        try:
            if model:
                build_index(chunks, idx, model=model, progress=progress)
            else:
                build_index(chunks, idx, progress=progress)
        except ImportError as exc:
            raise EvalError(f"cannot build the benchmark index ({exc})") from None
        t_built = time.perf_counter()
        searcher = Searcher.open(idx)  # the model it was built with
        stats = getattr(searcher, "stats", None)
        built_model = (stats().get("model") if callable(stats) else None) or model or DEFAULT_MODEL
        if not getattr(searcher, "has_vectors", True):
            if "dense" in modes:
                print("kosearch eval: note: index has no vectors (model none); skipping dense"
                      + ("; hybrid is BM25 + phrase only" if "hybrid" in modes else ""), file=sys.stderr)
            modes = [m for m in modes if m != "dense"]
        modes_out: dict[str, dict] = {}
        per_domain_rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        per_query: dict[str, dict] = {q[0]: {"qid": q[0], "domain": query_domain(q[0], q[2])} for q in queries}
        for mode in modes:
            rows = []
            by_split: dict[str, list] = defaultdict(list)
            ts = time.perf_counter()
            for qid, query, gold in queries:
                hits = searcher.search(query, top_k=BENCH_TOP_K, mode=mode, **(options or {}))
                ranked = [h.chunk.id for h in hits]
                m = _bench_metrics(ranked, gold)
                rows.append(m)
                by_split[split_of(qid)].append(m)
                per_domain_rows[per_query[qid]["domain"]][mode].append(m)
                gold_ids = {d for g in gold for d in g}
                per_query[qid][mode] = next((r for r, d in enumerate(ranked, 1) if d in gold_ids), None)
            elapsed = time.perf_counter() - ts
            res = _average(rows)
            res["qps"] = round(len(queries) / elapsed, 2) if elapsed > 0 else None
            res["seconds"] = round(elapsed, 2)
            res["splits"] = {sp: {**_average(by_split[sp]), "queries": len(by_split[sp])} for sp in ("tune", "test")
                             if by_split[sp]}
            modes_out[mode] = res
        close = getattr(searcher, "close", None)
        if callable(close):
            close()
    t_end = time.perf_counter()
    per_domain = {}
    for dom in sorted(per_domain_rows):
        by_mode = per_domain_rows[dom]
        n = len(next(iter(by_mode.values())))
        per_domain[dom] = {"queries": n, "modes": {m: _average(by_mode[m]) for m in modes}}
    return {
        "passages": len(passages),
        "queries": len(queries),
        "model": built_model,
        "index_seconds": round(t_built - t0, 2),
        "seconds": round(t_end - t0, 2),
        "modes": modes_out,
        "per_domain": per_domain,
        "per_query": list(per_query.values()),
    }


# --------------------------------------------------------------------------- our corpus question set

def _hit_text(hit) -> str:
    """The text a user is shown for a hit."""
    for attr in ("display_text", "text"):
        val = getattr(hit, attr, None)
        if isinstance(val, str) and val:
            return val
    return hit.chunk.text


def evaluate_corpus_qa(searcher, qa_path: str | Path, modes: Sequence[str] = MODES,
                       top_k: int = QA_TOP_K, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Quote-based evaluation of ``searcher`` on our question set.

    Per mode: hit@1/3/5 and MRR@top_k over the answerable questions, for the splits tune (even
    qids), test (odd) and all, plus per category; the average displayed passage length (characters,
    over the top 5 hits of every question); and how the top hit's ``confidence`` label separates
    answerable from unanswerable questions.
    """
    items = load_corpus_qa(qa_path)
    report: dict[str, Any] = {
        "questions": len(items),
        "answerable": sum(1 for i in items if i["answerable"]),
        "unanswerable": sum(1 for i in items if not i["answerable"]),
        "top_k": top_k,
        "modes": {},
    }
    for mode in modes:
        per_q = []
        lengths: list[int] = []
        ts = time.perf_counter()
        for it in items:
            hits = searcher.search(it["query"], top_k=top_k, mode=mode, **(options or {}))
            texts = [_hit_text(h) for h in hits]
            lengths.extend(len(t) for t in texts[:QA_DISPLAY_K])
            rank = first_quote_rank(texts, it["quotes"], top_k) if it["answerable"] else None
            top_conf = getattr(hits[0], "confidence", None) if hits else None
            per_q.append({
                "qid": it["qid"], "split": it["split"], "category": it["category"],
                "answerable": it["answerable"], "rank": rank,
                "top_confidence": top_conf if hits else "none",
                "top_file": hits[0].chunk.file if hits else None,
            })
        elapsed = time.perf_counter() - ts

        def summary(rows):
            rows = [r for r in rows if r["answerable"]]
            out = {"questions": len(rows)}
            for k in (1, 3, 5):
                out[f"hit@{k}"] = round(_mean([1.0 if r["rank"] and r["rank"] <= k else 0.0 for r in rows]), 4)
            out[f"mrr@{top_k}"] = round(_mean([1.0 / r["rank"] if r["rank"] else 0.0 for r in rows]), 4)
            return out

        splits = {s: summary([r for r in per_q if r["split"] == s]) for s in ("tune", "test")}
        splits["all"] = summary(per_q)
        cats = sorted({r["category"] for r in per_q if r["answerable"]})
        ans = [r for r in per_q if r["answerable"]]
        una = [r for r in per_q if not r["answerable"]]
        labels = ("high", "medium", "low", "none")
        conf = {
            "unanswerable_top_low": round(_mean([1.0 if r["top_confidence"] in ("low", "none") else 0.0 for r in una]), 4) if una else None,
            "answerable_top_not_low": round(_mean([1.0 if r["top_confidence"] not in ("low", "none") else 0.0 for r in ans]), 4) if ans else None,
            "answerable_hit_top_not_low": round(_mean([1.0 if r["top_confidence"] not in ("low", "none") else 0.0
                                                       for r in ans if r["rank"] == 1]), 4) if any(r["rank"] == 1 for r in ans) else None,
            "top_labels": {
                "answerable": {lab: sum(1 for r in ans if r["top_confidence"] == lab) for lab in labels},
                "unanswerable": {lab: sum(1 for r in una if r["top_confidence"] == lab) for lab in labels},
            },
        }
        report["modes"][mode] = {
            "splits": splits,
            "per_category": {c: summary([r for r in per_q if r["category"] == c]) for c in cats},
            "avg_passage_chars": round(_mean(lengths), 1),
            "confidence": conf,
            "qps": round(len(items) / elapsed, 2) if elapsed > 0 else None,
            "per_query": per_q,
        }
    return report


# --------------------------------------------------------------------------- published figures and tables

def published_figures(directory: str | Path | None) -> list[tuple[str, dict[str, float]]]:
    """The published table from ``DIR/SOURCE.md`` when it parses, else :data:`PUBLISHED_AUTORAG_KO`."""
    if directory is not None:
        src = Path(directory) / "SOURCE.md"
        try:
            text = src.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        rows = _parse_published(text)
        if rows:
            return rows
    return list(PUBLISHED_AUTORAG_KO)


def _parse_published(text: str) -> list[tuple[str, dict[str, float]]]:
    header: list[str] | None = None
    rows = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            header = None if rows else header
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            if any(re.fullmatch(r"R@\d+", c) for c in cells):
                header = cells
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        vals = {}
        for h, c in zip(header, cells):
            m = re.fullmatch(r"R@(\d+)", h)
            if m:
                try:
                    vals[f"recall@{m.group(1)}"] = float(c)
                except ValueError:
                    pass
        if vals:
            rows.append((cells[0], vals))
    return rows


def _f(x: float | None) -> str:
    return "    -" if x is None else f"{x:.3f}"


def format_benchmark(report: dict, published: list[tuple[str, dict[str, float]]], name: str = "") -> str:
    cols = [f"recall@{k}" for k in RECALL_KS] + ["mrr@10", "ndcg@10"]
    heads = [f"R@{k}" for k in RECALL_KS] + ["MRR@10", "nDCG@10"]
    width = max([len(n) + 2 for n, _ in published] + [24])
    out = []
    out.append(f"{name or 'benchmark'}: {report['passages']} passages, {report['queries']} queries, "
               f"model {report['model']}; index {report['index_seconds']:.1f} s, total {report['seconds']:.1f} s")
    out.append("")
    out.append(f"{'system':<{width}}  " + "  ".join(f"{h:>7}" for h in heads) + "      q/s")
    out.append("-" * (width + 2 + 9 * len(heads) + 9))
    for mode, res in report["modes"].items():
        qps = res.get("qps")
        out.append(f"{'kosearch ' + mode:<{width}}  " + "  ".join(f"{_f(res[c]):>7}" for c in cols)
                   + f"  {qps if qps is not None else '-':>7}")
    out.append("published (dense retrieval, README of Marker-Inc-Korea/AutoRAG-example-korean-embedding-benchmark):")
    for pname, vals in published:
        out.append(f"{'  ' + pname:<{width}}  " + "  ".join(f"{_f(vals.get(c)):>7}" for c in cols))
    out.append("")
    modes = list(report["modes"])
    out.append("halves (tune = even qids, used to choose the defaults; test = odd qids, held out):")
    for mode, res in report["modes"].items():
        for sp, vals in res.get("splits", {}).items():
            out.append(f"{'  ' + mode + ' ' + sp + ' (' + str(vals['queries']) + ')':<{width}}  "
                       + "  ".join(f"{_f(vals.get(c)):>7}" for c in cols))
    out.append("")
    out.append("per domain (R@5 / MRR@10):")
    out.append(f"{'domain':<10} {'n':>4}  " + "  ".join(f"{m:>15}" for m in modes))
    for dom, d in report["per_domain"].items():
        cells = [f"{d['modes'][m]['recall@5']:.3f} / {d['modes'][m]['mrr@10']:.3f}" for m in modes]
        out.append(f"{dom:<10} {d['queries']:>4}  " + "  ".join(f"{c:>15}" for c in cells))
    return "\n".join(out)


def format_corpus_qa(report: dict) -> str:
    k = report["top_k"]
    out = [f"corpus question set: {report['questions']} questions "
           f"({report['answerable']} answerable, {report['unanswerable']} unanswerable)", ""]
    out.append(f"{'mode':<7} {'split':<5} {'n':>3}  {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR@' + str(k):>7}")
    for mode, res in report["modes"].items():
        for split in ("tune", "test", "all"):
            s = res["splits"][split]
            out.append(f"{mode:<7} {split:<5} {s['questions']:>3}  {s['hit@1']:>6.3f} {s['hit@3']:>6.3f} "
                       f"{s['hit@5']:>6.3f} {s[f'mrr@{k}']:>7.3f}")
    out.append("")
    out.append(f"{'mode':<7} {'avg chars':>9} {'q/s':>7}  {'unans. top low':>14} {'ans. top not low':>16}  "
               "top label, answerable (high/medium/low/no hit) | unanswerable")
    for mode, res in report["modes"].items():
        c = res["confidence"]
        a, u = c["top_labels"]["answerable"], c["top_labels"]["unanswerable"]
        out.append(f"{mode:<7} {res['avg_passage_chars']:>9.1f} {res['qps'] or 0:>7.1f}  "
                   f"{_f(c['unanswerable_top_low']):>14} {_f(c['answerable_top_not_low']):>16}  "
                   f"{a['high']}/{a['medium']}/{a['low']}/{a['none']} | {u['high']}/{u['medium']}/{u['low']}/{u['none']}")
    out.append("")
    for mode, res in report["modes"].items():
        missed = [r["qid"] for r in res["per_query"] if r["answerable"] and not (r["rank"] and r["rank"] <= 5)]
        out.append(f"{mode}: answerable questions without a hit in the top 5: {', '.join(missed) or '-'}")
    out.append("")
    modes = list(report["modes"])
    out.append(f"{'per category (hit@5)':<22}" + "  ".join(f"{m:>6}" for m in modes))
    cats = list(next(iter(report["modes"].values()))["per_category"])
    for c in cats:
        n = report["modes"][modes[0]]["per_category"][c]["questions"]
        out.append(f"  {c:<13} n={n:<3} " + "  ".join(f"{report['modes'][m]['per_category'][c]['hit@5']:>6.3f}" for m in modes))
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI glue

def add_eval_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``kosearch eval`` (wired into the CLI by search/cli.py)."""
    parser.add_argument("dir", metavar="DIR", nargs="?",
                        help="benchmark directory with corpus.jsonl and qa.jsonl (AutoRAG format)")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="all",
                        help="search mode to evaluate (default: all)")
    parser.add_argument("--model", metavar="M", default=None,
                        help=f"embedding model for the benchmark index (default: {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-o", "--output", metavar="REPORT.json", default=None,
                        help="also write the JSON report to this file")
    parser.add_argument("--qa", metavar="PATH", default=None,
                        help="our quote-based question set (e.g. tests/data/corpus_qa.jsonl)")
    parser.add_argument("--index-dir", metavar="DIR", default=None,
                        help="for --qa: the built corpus index to search")
    parser.add_argument("--fusion", choices=("blend", "rrf"), default=None,
                        help="hybrid: how scores are combined (default blend)")
    parser.add_argument("--dense-weight", metavar="W", type=float, default=None,
                        help="hybrid: weight of the dense score (default 0.10)")
    parser.add_argument("--phrase-weight", metavar="W", type=float, default=None,
                        help="hybrid: weight of the phrase (term-pair BM25) score (default 0.15)")
    return parser


def search_options(args: argparse.Namespace) -> dict[str, Any]:
    """Fusion settings given on the command line (for ablations); the defaults otherwise."""
    from search.fusion import DEFAULT_DENSE_WEIGHT, DEFAULT_METHOD, DEFAULT_PHRASE_WEIGHT

    opts = {"fusion": getattr(args, "fusion", None) or DEFAULT_METHOD,
            "dense_weight": DEFAULT_DENSE_WEIGHT if getattr(args, "dense_weight", None) is None else args.dense_weight,
            "phrase_weight": DEFAULT_PHRASE_WEIGHT if getattr(args, "phrase_weight", None) is None else args.phrase_weight}
    w, v = opts["dense_weight"], opts["phrase_weight"]
    if not (0 <= w <= 1 and 0 <= v <= 1 and w + v <= 1):
        raise EvalError(f"--dense-weight {w} and --phrase-weight {v}: each must be 0-1 and together at most 1")
    return opts


def _run(args: argparse.Namespace) -> tuple[dict, str]:
    modes = list(MODES) if args.mode == "all" else [args.mode]
    if not args.dir and not args.qa:
        raise EvalError("give a benchmark DIR and/or --qa PATH")
    if args.qa and not args.index_dir:
        raise EvalError("--qa needs --index-dir (a corpus index built with 'kosearch index')")
    options = search_options(args)
    report: dict[str, Any] = {"fusion": options}
    w, v = options["dense_weight"], options["phrase_weight"]
    texts = [f"hybrid = {options['fusion']} of BM25 {1 - w - v:.2f} + phrase {v:.2f} + dense {w:.2f}"]
    if args.qa:
        # check the question file before spending time on a benchmark
        load_corpus_qa(args.qa)
        if not Path(args.index_dir).is_dir():
            raise EvalError(f"{args.index_dir}: index directory not found")
    if args.dir:
        passages, queries = load_benchmark(args.dir)
        bench = evaluate_benchmark(passages, queries, modes, model=args.model, options=options)
        report.update(bench)
        texts.append(format_benchmark(bench, published_figures(args.dir), Path(args.dir).name))
        report["published"] = [{"model": n, **v} for n, v in published_figures(args.dir)]
    if args.qa:
        _b, _c, Searcher = _search_api()
        searcher = Searcher.open(Path(args.index_dir), model=args.model)
        qa = evaluate_corpus_qa(searcher, args.qa, modes, options=options)
        report["corpus_qa"] = qa
        texts.append(format_corpus_qa(qa))
    return report, "\n\n".join(texts)


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``kosearch eval``; returns the exit code (2 on bad input, with one line on stderr)."""
    try:
        report, text = _run(args)
        if args.output:
            try:
                Path(args.output).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            except OSError as exc:
                raise EvalError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    except EvalError as exc:
        print(f"kosearch eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kosearch eval: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for the user
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(f"kosearch eval: error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 1
    try:
        _print_report(args, report, text)
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os_devnull(), "w")
        except OSError:
            pass
    return 0


def os_devnull() -> str:
    import os
    return os.devnull


def _print_report(args: argparse.Namespace, report: dict, text: str) -> None:
    if args.json:
        slim = {k: v for k, v in report.items() if k != "per_query"}
        if "corpus_qa" in slim:
            slim["corpus_qa"] = {**slim["corpus_qa"], "modes": {
                m: {k: v for k, v in r.items() if k != "per_query"} for m, r in slim["corpus_qa"]["modes"].items()}}
        print(json.dumps(slim, ensure_ascii=False, indent=2), flush=True)
    else:
        print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.evaluate", description="Measure retrieval quality.")
    add_eval_arguments(parser)
    return cmd_eval(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
