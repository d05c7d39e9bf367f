"""The ``local`` backend: SQLite + mmapped numpy postings + FAISS in one directory, swapped in atomically.

Layout of an index directory (known only to this module)::

    manifest.json   format version, backend, root, generation, model, tokeniser, files, counts
    store.sqlite    chunks (row, id, file code, JSON) and answer units (chunk row, file, JSON),
                    read by id: nothing per chunk stays in memory but the filter columns
    columns/        numpy columns by row: year, kind, department, file, programme and section codes,
                    plus the sorted 64-bit hashes of chunk ids (id -> row); ``tables.json`` names the codes
    lexicon.jsonl   each chunk's [kiwi terms, adjacent-term pairs]: read only by the writer, so an
                    unchanged file keeps its analysis without kiwi; searchers never load it
    bm25/           BM25 postings over kiwi terms: sorted 64-bit term hashes (no vocabulary dict),
                    CSC ``indptr``/``indices``/``data`` (bm25s' Lucene weights), all mmapped
    phrases/        the same over adjacent-term pairs (the phrase signal of hybrid search)
    vectors.npy     L2-normalised vectors: float32 below ``HNSW_THRESHOLD`` chunks, float16 above
    vectors.faiss   exact inner product below the threshold; IVF + SQ8 above, re-scored exactly

A commit writes everything to a sibling temp directory (``.<name>.tmp-*``) and swaps it in with
renames, so a build killed half-way leaves the previous generation usable; the next writer
removes the temp directories such builds leave behind.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from index.config import HNSW_THRESHOLD, PLAIN_CHAPTERS
from index.model import Chunk, Unit
from index.store.base import (NO_FILTERS, Backend, Candidate, ChunkStore, FileData, Filters, IndexStoreError, IndexWriter,
                              LexicalIndex, VectorIndex)
from index.store.manifest import MANIFEST, Manifest, manifest_path, parse_manifest
from index.tokens import PAIR_SEP

STORE, COLUMNS, LEXICON, BM25, PHRASES = "store.sqlite", "columns", "lexicon.jsonl", "bm25", "phrases"
VECTORS, FAISS = "vectors.npy", "vectors.faiss"
REQUIRED = (MANIFEST, STORE, COLUMNS, LEXICON, BM25, PHRASES)
EMPTY_DOC = "\u2400"   # every document holds at least one token (as bm25s required)
K1, B = 1.2, 0.75      # bm25s defaults, Lucene IDF
# Lexical candidates: terms are scored over all their postings, rarest first, until this many
# postings are touched; the remaining (very common) terms are added exactly for the candidates
# only. Below it (every corpus up to ~100k chunks) scoring is exhaustive and identical to bm25s.
SCORE_BUDGET = int(os.environ.get("KOSEARCH_SCORE_BUDGET", 300_000))
SMALL = 200_000        # up to this many chunks, rank over the whole score array (bm25s' tie order)
CANDIDATE_POOL = 4     # partial scoring keeps k * this many rows for exact re-scoring
IVF_NPROBE = int(os.environ.get("KOSEARCH_IVF_NPROBE", 48))   # chosen by bench-1m recall@100
_COLS = ("year", "kind", "dept", "file", "prog", "sect")


# ---- files ----------------------------------------------------------------------------------
def _write_jsonl(path: Path, rows: Iterable) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def term_hash(s: str) -> int:
    """A stable 64-bit id of a term, pair or chunk id (no vocabulary dict anywhere)."""
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A pair's 64-bit id from its two terms' ids (vectorised, so a generator can make millions)."""
    with np.errstate(over="ignore"):
        x = np.asarray(a, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ np.asarray(b, dtype=np.uint64)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return x


def pair_hash(s: str) -> int:
    """``"a b"`` (``index.tokens.PAIR_SEP``) -> mix(hash a, hash b): the phrase index's term id."""
    a, sep, b = s.partition(PAIR_SEP)
    if not sep:
        return term_hash(s)
    return int(mix(np.array([term_hash(a)], np.uint64), np.array([term_hash(b)], np.uint64))[0])


def hashes(strings: Iterable[str], pairs: bool = False) -> np.ndarray:
    fn = pair_hash if pairs else term_hash
    return np.fromiter((fn(s) for s in strings), dtype=np.uint64)


# ---- postings (BM25) ------------------------------------------------------------------------
def build_postings(docs: list[list[str]], pairs: bool = False) -> dict:
    """BM25 postings over pre-tokenised documents (string terms, or "a b" pairs with ``pairs``)."""
    hash_of = pair_hash if pairs else term_hash
    cache: dict[str, int] = {}
    flat: list[int] = []
    lens = np.zeros(len(docs), dtype=np.int64)
    for i, d in enumerate(docs):
        d = d or [EMPTY_DOC]
        lens[i] = len(d)
        for t in d:
            h = cache.get(t)
            if h is None:
                h = cache[t] = hash_of(t)
            flat.append(h)
    vocab = np.fromiter(cache.values(), dtype=np.uint64, count=len(cache))
    local = {h: j for j, h in enumerate(vocab.tolist())}
    tids = np.fromiter((local[h] for h in flat), dtype=np.int64, count=len(flat))
    out = build_postings_ids(tids, lens, vocab)
    out["meta"]["pairs"] = pairs
    return out


def build_postings_ids(tids: np.ndarray, lens: np.ndarray, vocab: np.ndarray) -> dict:
    """BM25 postings from term ids (indexes into ``vocab``, the terms' 64-bit hashes), documents
    laid end to end with ``lens`` tokens each. Weights are bm25s' (Lucene IDF, k1 1.2, b 0.75)."""
    import scipy.sparse as sp

    n, nv = len(lens), len(vocab)
    order = np.argsort(vocab, kind="stable")
    vocab = vocab[order]
    if nv > 1 and np.any(vocab[1:] == vocab[:-1]):
        raise ValueError("duplicate terms in the vocabulary (64-bit hash collision)")
    rank = np.empty(nv, dtype=np.int64)
    rank[order] = np.arange(nv)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    col = rank[np.asarray(tids, dtype=np.int64)].astype(np.int32)
    m = sp.csr_matrix((np.ones(len(col), dtype=np.float32), col, indptr), shape=(n, max(nv, 1)))
    m.sum_duplicates()
    c = m.tocsc()
    c.sort_indices()
    del m
    df = np.diff(c.indptr).astype(np.float64)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    avgdl = float(np.array(lens).mean()) if n else 1.0
    term = np.repeat(np.arange(c.shape[1], dtype=np.int32), np.diff(c.indptr))
    data = np.empty(len(c.data), dtype=np.float32)
    for a in range(0, len(data), 8_000_000):   # in blocks: float64 temporaries stay small
        z = slice(a, a + 8_000_000)
        tf = c.data[z].astype(np.float64)
        # bm25s' arithmetic, operation for operation (float64, then stored as float32)
        norm = K1 * ((1 - B) + (B * lens[c.indices[z]].astype(np.float64)) / np.float64(avgdl))
        data[z] = idf[term[z]].astype(np.float64) * (tf / (norm + tf))
    del term
    return {"vocab": vocab, "indptr": c.indptr.astype(np.int64), "indices": c.indices.astype(np.int32),
            "data": data, "meta": {"docs": int(n), "avgdl": avgdl, "k1": K1, "b": B}}


def save_postings(d: Path, p: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for k in ("vocab", "indptr", "indices", "data"):
        np.save(d / f"{k}.npy", p[k])
    (d / "meta.json").write_text(json.dumps(p["meta"]), encoding="utf-8")


class Postings:
    """Read side of ``build_postings``: every array mmapped, terms found by hash."""

    def __init__(self, d: Path):
        self.meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        self.vocab = np.load(d / "vocab.npy", mmap_mode="r")
        self.indptr = np.load(d / "indptr.npy", mmap_mode="r")
        self.indices = np.load(d / "indices.npy", mmap_mode="r")
        self.data = np.load(d / "data.npy", mmap_mode="r")
        nv = len(self.vocab)
        if (self.vocab.dtype != np.uint64 or len(self.indptr) not in (nv + 1, 2) or len(self.indices) != len(self.data)
                or int(self.indptr[-1]) != len(self.indices) or int(self.meta["docs"]) < 0):
            raise ValueError("postings arrays do not agree")

    def tids(self, terms: Sequence[str]) -> np.ndarray:
        """Term ids of the known ``terms``, in order, duplicates kept (as bm25s scores them)."""
        if not len(self.vocab) or not terms:
            return np.zeros(0, dtype=np.int64)
        h = hashes(terms, pairs=bool(self.meta.get("pairs")))
        pos = np.searchsorted(self.vocab, h)
        pos = np.minimum(pos, len(self.vocab) - 1)
        return pos[self.vocab[pos] == h].astype(np.int64)

    def df(self, tid: int) -> int:
        return int(self.indptr[tid + 1] - self.indptr[tid])

    def lookup(self, tid: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of sorted-or-not ``rows`` hold term ``tid``, their weights) by binary search."""
        a, b = int(self.indptr[tid]), int(self.indptr[tid + 1])
        posting = self.indices[a:b]
        if not len(posting):
            return np.zeros(len(rows), dtype=bool), np.zeros(0, dtype=np.float32)
        pos = np.searchsorted(posting, rows)
        pos = np.minimum(pos, len(posting) - 1)
        hit = posting[pos] == rows
        return hit, np.asarray(self.data[a + pos[hit]], dtype=np.float32)


# ---- columns and the chunk store ------------------------------------------------------------
def _prog_key(c: Chunk) -> tuple:
    return (c.file, c.chapter_number, c.programme_number, c.programme)


def _sect_key(c: Chunk) -> tuple:
    return (c.file, c.chapter_number, c.programme_number, c.heading)


class StoreWriter:
    """Writes ``store.sqlite`` and ``columns/`` row by row (chunks in store order): the writer's
    commit and the bench's generator share it."""

    def __init__(self, d: Path):
        self.d = Path(d)
        self.db = sqlite3.connect(str(self.d / STORE))
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                              "CREATE TABLE chunks(row INTEGER PRIMARY KEY, id TEXT NOT NULL, data TEXT NOT NULL);"
                              "CREATE TABLE units(chunk_row INTEGER NOT NULL, file INTEGER NOT NULL, data TEXT NOT NULL);")
        self.codes = {k: {} for k in ("kind", "dept", "file", "prog", "sect", "programme")}
        self.cols = {k: [] for k in _COLS}
        self.ids: list[int] = []
        self.n = 0
        self.n_units = 0

    def _code(self, table: str, value) -> int:
        t = self.codes[table]
        c = t.get(value)
        if c is None:
            c = t[value] = len(t)
        return c

    def add(self, chunk: Chunk, units: Sequence[Unit] = (), data: str | None = None) -> int:
        row = self.n
        self.n += 1
        self.db.execute("INSERT INTO chunks VALUES (?,?,?)",
                        (row, chunk.id, data or json.dumps(asdict(chunk), ensure_ascii=False)))
        fcode = self._code("file", chunk.file)
        if units:
            self.db.executemany("INSERT INTO units VALUES (?,?,?)",
                                [(row, fcode, json.dumps(asdict(u), ensure_ascii=False)) for u in units])
            self.n_units += len(units)
        cols = self.cols
        cols["year"].append(chunk.year or 0)
        cols["kind"].append(self._code("kind", chunk.chapter_kind or ""))
        cols["dept"].append(self._code("dept", chunk.department or ""))
        cols["file"].append(fcode)
        cols["prog"].append(self._code("prog", _prog_key(chunk)))
        cols["sect"].append(self._code("sect", _sect_key(chunk)))
        if chunk.programme:
            self._code("programme", chunk.programme)
        self.ids.append(term_hash(chunk.id))
        return row

    def close(self) -> None:
        self.db.execute("CREATE INDEX units_by_chunk ON units(chunk_row)")
        self.db.execute("CREATE INDEX units_by_file ON units(file)")
        self.db.commit()
        self.db.close()
        cd = self.d / COLUMNS
        cd.mkdir(exist_ok=True)
        dtypes = {"year": np.int16, "kind": np.uint8 if len(self.codes["kind"]) < 256 else np.int32,
                  "dept": np.int32, "file": np.int32, "prog": np.int32, "sect": np.int32}
        for k in _COLS:
            np.save(cd / f"{k}.npy", np.asarray(self.cols[k], dtype=dtypes[k]))
        h = np.asarray(self.ids, dtype=np.uint64)
        order = np.argsort(h, kind="stable")
        if len(h) > 1 and np.any(h[order][1:] == h[order][:-1]):
            raise ValueError("duplicate chunk ids")
        np.save(cd / "idhash.npy", h[order])
        np.save(cd / "idrow.npy", order.astype(np.int32))
        tables = {"kinds": list(self.codes["kind"]), "departments": list(self.codes["dept"]),
                  "files": list(self.codes["file"]), "programmes": sorted(self.codes["programme"]),
                  "chunks": self.n, "units": self.n_units}
        (cd / "tables.json").write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")


class _Rows:
    """Filter columns as numpy codes, id <-> row, and the SQLite store: shared by the three indexes."""

    def __init__(self, d: Path):
        cd = d / COLUMNS
        self.tables = json.loads((cd / "tables.json").read_text(encoding="utf-8"))
        self.n = int(self.tables["chunks"])
        self.col = {k: np.load(cd / f"{k}.npy") for k in _COLS}
        self.idhash = np.load(cd / "idhash.npy", mmap_mode="r")
        self.idrow = np.load(cd / "idrow.npy", mmap_mode="r")
        if any(len(v) != self.n for v in (*self.col.values(), self.idhash, self.idrow)):
            raise ValueError("columns do not agree")
        if not (d / STORE).is_file():
            raise FileNotFoundError(STORE)
        self.db = sqlite3.connect(f"file:{d / STORE}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self.lock = threading.Lock()
        counts = self.query("SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM units), "
                            "(SELECT max(row) FROM chunks)")[0]
        if counts[0] != self.n or counts[1] != int(self.tables["units"]) or (self.n and counts[2] != self.n - 1):
            raise ValueError("store and columns do not agree")
        self.norm_depts = np.array([s.replace(" ", "") for s in self.tables["departments"]], dtype=object)

    def query(self, sql: str, args: Sequence = ()) -> list:
        try:
            with self.lock:
                return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"index store is damaged ({exc}); rebuild it with `kosearch index`") from None

    def mask(self, f: Filters) -> np.ndarray | None:
        """Rows ``f`` lets through (None: all), the semantics of ``Filters.matches``; the last few
        are kept (one query asks for the same filter's mask from each of its indexes)."""
        if f is None or f.empty:
            return None
        cache = self.__dict__.setdefault("_masks", {})
        got = cache.get(f)
        if got is None:
            got = self._mask(f)
            got.setflags(write=False)
            try:
                if len(cache) >= 8:
                    cache.pop(next(iter(cache)), None)
            except RuntimeError:   # another thread changed it meanwhile
                pass
            cache[f] = got
        return got

    def same(self, col: str, row: int) -> np.ndarray:
        """Rows whose ``col`` code equals row ``row``'s, in store order (a sorted index, built once)."""
        key = "_order_" + col
        order = self.__dict__.get(key)
        if order is None:
            order = self.__dict__[key] = np.argsort(self.col[col], kind="stable").astype(np.int32)
            self.__dict__[key + "_sorted"] = self.col[col][order]
        srt = self.__dict__[key + "_sorted"]
        v = self.col[col][row]
        a, b = np.searchsorted(srt, v, "left"), np.searchsorted(srt, v, "right")
        return np.asarray(order[a:b], dtype=np.int64)

    def _mask(self, f: Filters) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        if f.years:
            mask &= np.isin(self.col["year"], list(f.years))
        if f.kinds:
            codes = [i for i, k in enumerate(self.tables["kinds"]) if k in f.kinds]
            mask &= np.isin(self.col["kind"], codes)
        if f.departments:
            codes = [i for i, d in enumerate(self.norm_depts) if d in f.departments]
            mask &= np.isin(self.col["dept"], codes)
        if f.files:
            codes = [i for i, n in enumerate(self.tables["files"]) if n in f.files or Path(n).name in f.files]
            mask &= np.isin(self.col["file"], codes)
        return mask

    def find(self, ids: Sequence[str]) -> np.ndarray:
        """Rows of ``ids`` (-1 where unknown)."""
        if not len(ids) or not self.n:
            return np.full(len(ids), -1, dtype=np.int64)
        h = hashes(ids)
        pos = np.minimum(np.searchsorted(self.idhash, h), self.n - 1)
        return np.where(self.idhash[pos] == h, self.idrow[pos], -1).astype(np.int64)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        r = self.find(ids)
        if len(r) and r.min() < 0:
            raise KeyError(ids[int(np.argmin(r))])
        return r

    def _fetch(self, sql: str, rows: np.ndarray) -> dict[int, tuple]:
        out: dict[int, tuple] = {}
        rows = [int(r) for r in rows]
        for i in range(0, len(rows), 900):
            part = rows[i:i + 900]
            for r in self.query(sql.format(",".join("?" * len(part))), part):
                out[r[0]] = r[1:]
        return out

    def ids(self, rows: np.ndarray) -> list[str]:
        got = self._fetch("SELECT row, id FROM chunks WHERE row IN ({})", rows)
        return [got[int(r)][0] for r in rows]

    def chunks(self, rows: np.ndarray) -> list[Chunk]:
        got = self._fetch("SELECT row, data FROM chunks WHERE row IN ({})", rows)
        return [Chunk(**json.loads(got[int(r)][0])) for r in rows if int(r) in got]

    def units(self, rows: np.ndarray) -> dict[int, list[Unit]]:
        out: dict[int, list[Unit]] = {int(r): [] for r in rows}
        rows = [int(r) for r in rows]
        for i in range(0, len(rows), 900):
            part = rows[i:i + 900]
            for r, data in self.query("SELECT chunk_row, data FROM units WHERE chunk_row IN "
                                      f"({','.join('?' * len(part))}) ORDER BY rowid", part):
                out[r].append(Unit(**json.loads(data)))
        return out


def _top(scores: np.ndarray, k: int, mask: np.ndarray | None) -> np.ndarray:
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.isfinite(scores[idx])]
    return idx[np.argsort(-scores[idx], kind="stable")].astype(np.int64)


class LocalLexical(LexicalIndex):
    def __init__(self, postings: Postings, rows: _Rows):
        self._p = postings
        self._rows = rows

    def _exact(self, tids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of ``rows`` for term ids ``tids``, summed in query order as bm25s does."""
        acc = np.zeros(len(rows), dtype=np.float32)
        for t in tids:
            hit, w = self._p.lookup(int(t), rows)
            acc[hit] += w
        return acc

    def search(self, terms, k, filters=NO_FILTERS):
        tids = self._p.tids(list(terms))
        if not len(tids) or k <= 0 or not self._rows.n:
            return []
        mask = self._rows.mask(filters)
        p = self._p
        dfs = np.array([p.df(int(t)) for t in tids], dtype=np.int64)
        uniq = sorted(set(tids.tolist()), key=lambda t: p.df(t))
        chosen, touched = set(), 0
        for t in uniq:   # rarest first, within the budget (the rarest always)
            if chosen and touched + p.df(t) > SCORE_BUDGET:
                break
            chosen.add(t)
            touched += p.df(t)
        exact = len(chosen) == len(uniq)
        scores = np.zeros(self._rows.n, dtype=np.float32)
        for t in tids:   # query order, duplicates kept: bm25s' sums
            if int(t) in chosen:
                a, b = int(p.indptr[t]), int(p.indptr[t + 1])
                scores[p.indices[a:b]] += p.data[a:b]
        if mask is not None:
            scores[~mask] = 0
        if exact and self._rows.n <= SMALL:   # as bm25s' arrays were ranked: the same ties, the same order
            idx = _top(scores, k, mask)
            idx = idx[scores[idx] > 0]
            return [Candidate(i, float(s)) for i, s in zip(self._rows.ids(idx), scores[idx])]
        nz = np.flatnonzero(scores > 0)
        if not len(nz):
            return []
        if exact:
            idx = nz[_top(scores[nz], k, None)]
            sc = scores[idx]
        else:   # partial scores pick a pool; the very common terms are added for the pool only
            pool = nz[_top(scores[nz], k * CANDIDATE_POOL, None)]
            pool.sort()
            full = self._exact(tids, pool)
            o = _top(full, k, None)
            idx, sc = pool[o], full[o]
        keep = sc > 0
        idx, sc = idx[keep], sc[keep]
        return [Candidate(i, float(s)) for i, s in zip(self._rows.ids(idx), sc)]

    def scores(self, terms, ids):
        terms = list(terms)
        if not terms or not len(ids):
            return np.zeros(len(ids), dtype=np.float32)
        rows = self._rows.rows(list(ids))
        return self._exact(self._p.tids(terms), rows)

    def doc_freqs(self, terms):
        terms = list(terms)
        out = {t: 0 for t in terms}
        if not len(self._p.vocab):
            return out
        for t in out:
            tid = self._p.tids([t])
            out[t] = self._p.df(int(tid[0])) if len(tid) else 0
        return out

    def doc_count(self):
        return self._rows.n

    def contains(self, ids, terms):
        """From the postings by binary search: no per-chunk term sets in memory."""
        ids = list(ids)
        out: dict[str, set[str]] = {i: set() for i in ids}
        found = self._rows.find(ids)
        known = [(i, r) for i, r in zip(ids, found) if r >= 0]
        if not known:
            return out
        rows = np.array([r for _, r in known], dtype=np.int64)
        for t in set(terms):
            tid = self._p.tids([t])
            if not len(tid):
                continue
            hit, _ = self._p.lookup(int(tid[0]), rows)
            for (i, _), h in zip(known, hit):
                if h:
                    out[i].add(t)
        return out


class LocalVectors(VectorIndex):
    def __init__(self, vectors: np.ndarray, faiss_index, rows: _Rows):
        self._vectors = vectors
        self._faiss = faiss_index
        self._rows = rows
        self._approx = vectors.dtype != np.float32
        if self._approx and hasattr(faiss_index, "nprobe"):
            faiss_index.nprobe = IVF_NPROBE

    @property
    def dim(self):
        return int(self._vectors.shape[1])

    def _at(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        out[order] = np.asarray(self._vectors[rows[order]], dtype=np.float32)
        return out

    def search(self, vector, k, filters=NO_FILTERS):
        import faiss

        mask = self._rows.mask(filters)
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(k, self._rows.n if mask is None else int(mask.sum()))
        if k <= 0:
            return []
        params = None
        if mask is not None:
            packed = np.packbits(mask, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(packed))
            params = (faiss.SearchParametersIVF(sel=sel, nprobe=IVF_NPROBE) if self._approx
                      else faiss.SearchParameters(sel=sel))
        kk = min(k * 2, self._rows.n) if self._approx else k
        scores, rows = self._faiss.search(q, kk, params=params)
        rows, scores = rows[0], scores[0]
        keep = rows >= 0
        rows, scores = rows[keep].astype(np.int64), scores[keep]
        if self._approx and len(rows):   # exact re-scoring of the approximate candidates
            scores = self._at(rows) @ q[0]
            o = np.argsort(-scores, kind="stable")[:k]
            rows, scores = rows[o], scores[o]
        return [Candidate(i, float(s)) for i, s in zip(self._rows.ids(rows), scores)]

    def vectors(self, ids):
        return self._at(self._rows.rows(list(ids)))


class _ChunkSeq(Sequence):
    """Every chunk in store order, read from SQLite on demand (never all in memory)."""

    def __init__(self, rows: _Rows):
        self._rows = rows

    def __len__(self):
        return self._rows.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._rows.chunks(np.arange(self._rows.n)[i])
        if i < 0:
            i += self._rows.n
        if not 0 <= i < self._rows.n:
            raise IndexError(i)
        return self._rows.chunks(np.array([i]))[0]

    def __iter__(self) -> Iterator[Chunk]:
        for a in range(0, self._rows.n, 2000):
            yield from self._rows.chunks(np.arange(a, min(a + 2000, self._rows.n)))


class _UnitSeq(Sequence):
    def __init__(self, rows: _Rows):
        self._rows = rows

    def __len__(self):
        return int(self._rows.tables["units"])

    def __iter__(self):
        last = 0
        while True:
            part = self._rows.query("SELECT rowid, data FROM units WHERE rowid > ? ORDER BY rowid LIMIT 5000", (last,))
            if not part:
                return
            last = part[-1][0]
            yield from (Unit(**json.loads(d)) for _, d in part)

    def __getitem__(self, i):
        n = len(self)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1:
                return [self[j] for j in range(start, stop, step)]
            rows = self._rows.query("SELECT data FROM units ORDER BY rowid LIMIT ? OFFSET ?",
                                    (max(0, stop - start), start))
            return [Unit(**json.loads(d)) for (d,) in rows]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self[i:i + 1][0]


class LocalChunks(ChunkStore):
    def __init__(self, rows: _Rows):
        self._rows = rows
        self._id_map = None

    def all(self):
        return _ChunkSeq(self._rows)

    def get(self, ids):
        ids = list(ids)
        r = self._rows.find(ids)
        return self._rows.chunks(r[r >= 0])

    def order(self, ids):
        ids = list(dict.fromkeys(ids))
        r = self._rows.rows(ids)
        return [ids[j] for j in np.argsort(r, kind="stable")]

    def __len__(self):
        return self._rows.n

    def count(self, filters=NO_FILTERS):
        mask = self._rows.mask(filters)
        return self._rows.n if mask is None else int(mask.sum())

    def facets(self):
        t, col = self._rows.tables, self._rows.col
        used = lambda name, table: [table[i] for i in np.unique(col[name]) if table[i]]  # noqa: E731
        return {"years": sorted((int(y) for y in np.unique(col["year"]) if y), reverse=True),
                "departments": sorted(used("dept", t["departments"])),
                "kinds": sorted(used("kind", t["kinds"])),
                "files": list(t["files"]), "programmes": list(t["programmes"])}

    def matching(self, filters):
        mask = self._rows.mask(filters)
        if mask is None:
            yield from self.all()
            return
        rows = np.flatnonzero(mask)
        for a in range(0, len(rows), 2000):
            yield from self._rows.chunks(rows[a:a + 2000])

    def units(self):
        return _UnitSeq(self._rows)

    def has_units(self):
        return int(self._rows.tables["units"]) > 0

    def units_for_chunk(self, chunk_id):
        return self.units_for_chunks([chunk_id]).get(chunk_id, [])

    def units_for_chunks(self, ids):
        ids = list(ids)
        r = self._rows.find(ids)
        got = self._rows.units(r[r >= 0])
        return {i: got.get(int(x), []) for i, x in zip(ids, r) if x >= 0}

    def units_for_file(self, file):
        try:
            code = self._rows.tables["files"].index(file)
        except ValueError:
            return []
        return [Unit(**json.loads(d)) for (d,) in
                self._rows.query("SELECT data FROM units WHERE file = ? ORDER BY rowid", (code,))]

    def _same(self, col: str, chunk: Chunk) -> list[Chunk]:
        r = self._rows.find([chunk.id])[0]
        if r < 0:
            return [chunk]
        return self._rows.chunks(self._rows.same(col, int(r)))

    def programme_heads(self, filters):
        rows = self._rows
        mask = rows.mask(filters)
        plain = [i for i, k in enumerate(rows.tables["kinds"]) if k in PLAIN_CHAPTERS or not k]
        keep = ~np.isin(rows.col["kind"], plain)
        if mask is not None:
            keep &= mask
        picked = np.flatnonzero(keep)
        _, first = np.unique(rows.col["prog"][picked], return_index=True)
        heads = np.sort(picked[first])
        heads = heads[np.argsort(-rows.col["year"][heads], kind="stable")]   # latest report first
        for a in range(0, len(heads), 500):   # read as consumed: a caller may stop early
            yield from (c for c in rows.chunks(heads[a:a + 500]) if c.programme)

    def programme_ids(self, chunk):
        return [c.id for c in self._same("prog", chunk)]

    def section(self, chunk):
        return self._same("sect", chunk)


class LocalBackend(Backend):
    name = "local"

    def __init__(self, index_dir: Path, manifest: Manifest, rows: _Rows, bm25: Postings, phrases: Postings,
                 vectors, faiss_index):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.rows = rows
        self.chunks = LocalChunks(rows)
        self.lexical = LocalLexical(bm25, rows)
        self.phrases = LocalLexical(phrases, rows)
        self.vectors = LocalVectors(vectors, faiss_index, rows) if vectors is not None else None

    @classmethod
    def open(cls, index_dir, manifest):
        index_dir = Path(index_dir)
        try:
            rows = _Rows(index_dir)
            bm25 = Postings(index_dir / BM25)
            phrases = Postings(index_dir / PHRASES)
            vectors, faiss_index = _load_vectors(index_dir)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, RuntimeError, IndexStoreError,
                sqlite3.Error) as exc:
            raise IndexStoreError(f"index at {index_dir} is incomplete or damaged ({type(exc).__name__}); "
                                  "rebuild it with `kosearch index`") from None
        n = rows.n
        if not _lexicon_ok(index_dir / LEXICON, n):
            raise IndexStoreError(f"index at {index_dir} is incomplete or damaged (lexicon); "
                                  "rebuild it with `kosearch index`")
        if ((vectors is not None and (len(vectors) != n or faiss_index.ntotal != n))
                or int(bm25.meta["docs"]) != n or int(phrases.meta["docs"]) != n
                or (manifest is not None and manifest.chunk_count not in (None, n))):
            raise IndexStoreError(f"index at {index_dir} is inconsistent; run `kosearch index` to rebuild")
        return cls(index_dir, manifest, rows, bm25, phrases, vectors, faiss_index)


def _lexicon_ok(path: Path, n: int) -> bool:
    """The writer-only lexicon looks whole: its first and last lines parse (a cheap check, so a
    damaged one is refused at open rather than at the next incremental build)."""
    try:
        size = path.stat().st_size
        if n == 0 or size == 0:   # empty: the writer re-analyses every file (``_kept`` finds no rows)
            return True
        with path.open("rb") as fh:
            first = fh.readline()
            fh.seek(max(0, size - 65536))
            tail = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        for line in (first, tail):
            row = json.loads(line)
            if not (isinstance(row, list) and len(row) == 2):
                return False
        return True
    except (OSError, ValueError):
        return False


# ---- vectors --------------------------------------------------------------------------------
def build_faiss(vectors: np.ndarray, seed: int = 0):
    """Exact inner product below ``HNSW_THRESHOLD`` vectors; above it IVF (about sqrt(n) lists)
    with 8-bit scalar codes, whose candidates ``LocalVectors`` re-scores from the float16 vectors."""
    import faiss

    n, dim = vectors.shape
    if n < HNSW_THRESHOLD:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return index, {"type": "flat", "metric": "inner_product"}
    nlist = int(min(4096, max(256, math.sqrt(n))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = np.asarray(vectors[np.sort(rng.choice(n, min(n, nlist * 64), replace=False))], dtype=np.float32)
    index.train(sample)
    for a in range(0, n, 100_000):
        index.add(np.ascontiguousarray(vectors[a:a + 100_000], dtype=np.float32))
    index.nprobe = IVF_NPROBE
    return index, {"type": "ivf_sq8", "metric": "inner_product", "nlist": nlist, "nprobe": IVF_NPROBE,
                   "rescore": "float16"}


def save_vectors(d: Path, vectors: np.ndarray) -> dict:
    """vectors.npy (float16 above the threshold) and vectors.faiss; returns the manifest's params."""
    import faiss

    big = len(vectors) >= HNSW_THRESHOLD
    np.save(d / VECTORS, np.asarray(vectors, dtype=np.float16 if big else np.float32))
    index, params = build_faiss(vectors)
    faiss.write_index(index, str(d / FAISS))
    return params


def _load_vectors(index_dir: Path):
    """(vectors, faiss index) or (None, None) for a BM25-only index."""
    import faiss

    vpath, fpath = index_dir / VECTORS, index_dir / FAISS
    if not vpath.is_file():
        return None, None
    vectors = np.load(vpath, mmap_mode="r")
    if vectors.ndim != 2:
        raise ValueError("vectors")
    index = faiss.read_index(str(fpath)) if fpath.is_file() else build_faiss(np.asarray(vectors))[0]
    return vectors, index


def build_bm25(docs: list[list[str]]):
    """Kept for callers that compare with bm25s itself."""
    import bm25s

    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index([t or [EMPTY_DOC] for t in docs], show_progress=False)
    return retriever


def _fsync_dir(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())


def swap_in(new: Path, index_dir: Path) -> None:
    """Replace ``index_dir`` by ``new``: old -> .old, new -> index_dir, drop .old.

    If the process dies between the two renames, ``recover`` puts .old back.
    """
    old = index_dir.with_name(index_dir.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if index_dir.exists():
        os.replace(index_dir, old)
    os.replace(new, index_dir)
    shutil.rmtree(old, ignore_errors=True)


def recover(index_dir: Path) -> None:
    """Restore the previous index if a swap was interrupted between its renames."""
    index_dir = Path(index_dir)
    old = index_dir.with_name(index_dir.name + ".old")
    if not index_dir.exists() and (old / MANIFEST).is_file():
        try:
            os.replace(old, index_dir)
        except OSError:
            pass  # another process recovered it first


def stale_temp_dirs(index_dir: Path) -> list[Path]:
    index_dir = Path(index_dir)
    if not index_dir.parent.is_dir():
        return []
    return sorted(p for p in index_dir.parent.glob(f".{index_dir.name}.tmp-*") if p.is_dir())


# ---- write side -----------------------------------------------------------------------------
_FileData = FileData


class LocalWriter(IndexWriter):
    def __init__(self, index_dir: Path, *, fail_after: str | None = None):
        super().__init__(index_dir, fail_after=fail_after)
        recover(self.index_dir)
        for tmp in stale_temp_dirs(self.index_dir):   # left by a killed build: we hold the lock
            shutil.rmtree(tmp, ignore_errors=True)
        self._previous: Manifest | None = None
        if manifest_path(self.index_dir).is_file():
            try:
                self._previous = parse_manifest(self.index_dir)
            except IndexStoreError as exc:
                self.previous_error = str(exc)
        self._cleared = self._previous is None
        self._upserts: dict[str, _FileData] = {}
        self._deleted: set[str] = set()

    @property
    def previous(self):
        return self._previous

    def problem(self, need_vectors):
        missing = [f for f in REQUIRED if not (self.index_dir / f).exists()]
        if need_vectors and not (self.index_dir / VECTORS).is_file():
            missing.append(VECTORS)
        return "index files missing (" + ", ".join(missing) + ")" if missing else None

    def _kept(self, names: set[str]) -> dict[str, _FileData]:
        """The previous generation's data of ``names``, by file."""
        if not names:
            return {}
        d = self.index_dir
        try:
            rows = _Rows(d)
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, sqlite3.Error, IndexStoreError) as exc:
            raise IndexStoreError(f"index at {d} is damaged ({type(exc).__name__}); "
                                  "rebuild it with `kosearch index`") from None
        lexicon = _read_jsonl(d / LEXICON)
        if len(lexicon) != rows.n:
            raise IndexStoreError(f"index at {d} has no analyses of its chunks (lexicon); "
                                  "rebuild it with `kosearch index`")
        vectors = np.load(d / VECTORS, mmap_mode="r") if (d / VECTORS).is_file() else None
        files = rows.tables["files"]
        out = {}
        for name in names:
            idx = np.flatnonzero(rows.col["file"] == files.index(name)) if name in files else np.zeros(0, np.int64)
            units = rows.units(idx)
            out[name] = _FileData(rows.chunks(idx), [u for r in idx for u in units[int(r)]],
                                  [lexicon[i][0] for i in idx], [lexicon[i][1] for i in idx],
                                  None if vectors is None else np.asarray(vectors[idx], dtype=np.float32))
        rows.db.close()
        return out

    def commit(self, manifest=None):
        prev = self._previous
        if manifest is None:   # the previous manifest with this writer's deletes and upserts
            manifest = Manifest.from_dict(json.loads(prev.to_json())) if prev and not self._cleared else Manifest()
        for name in self._deleted:
            manifest.files.pop(name, None)
        from index.store.manifest import FileEntry
        for name, data in self._upserts.items():
            if name not in manifest.files:
                manifest.files[name] = FileEntry(hash="", path=name, chunks=len(data.chunks))
        old_files = set() if self._cleared or prev is None else set(prev.files)
        kept = self._kept({n for n in manifest.files if n not in self._upserts and n in old_files})
        parts = [self._upserts.get(n) or kept.get(n) for n in manifest.files]
        parts = [p for p in parts if p is not None]
        n_chunks = sum(len(p.chunks) for p in parts)
        with_vectors = [p.vectors is not None for p in parts]
        if any(with_vectors) and not all(with_vectors):
            raise IndexStoreError("색인의 일부 파일에만 벡터가 있습니다; `kosearch index` 로 전체를 다시 색인하세요.")
        vectors = None
        if parts and all(with_vectors):
            vectors = np.vstack([p.vectors for p in parts]).astype(np.float32)
        elif not parts and manifest.model.get("dim"):
            vectors = np.zeros((0, int(manifest.model["dim"])), np.float32)

        index_dir = self.index_dir
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
        try:
            store = StoreWriter(tmp)
            for p in parts:
                by_chunk: dict[str, list[Unit]] = {}
                for u in p.units:
                    by_chunk.setdefault(u.chunk_id, []).append(u)
                for c in p.chunks:
                    store.add(c, by_chunk.get(c.id, ()))
            store.close()
            _write_jsonl(tmp / LEXICON, ([t, q] for p in parts for t, q in zip(p.terms, p.pairs)))
            save_postings(tmp / BM25, build_postings([t for p in parts for t in p.terms]))
            save_postings(tmp / PHRASES, build_postings([q for p in parts for q in p.pairs], pairs=True))
            self.checkpoint("bm25")
            manifest.vector_index = {}
            if vectors is not None:
                manifest.vector_index = save_vectors(tmp, vectors)
            manifest.backend = LocalBackend.name
            manifest.generation = (prev.generation if prev else 0) + 1
            manifest.chunk_count = n_chunks
            for name in manifest.files:
                if name in self._upserts:
                    manifest.files[name].chunks = len(self._upserts[name].chunks)
            manifest.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            _fsync_dir(tmp)
            self.checkpoint("write")
            swap_in(tmp, index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._previous, self._cleared = manifest, False
        self._upserts.clear()
        self._deleted.clear()


def stamp(index_dir: Path) -> tuple | None:
    """Identity of the committed generation (a commit writes a new manifest), or None while absent."""
    try:
        st = manifest_path(index_dir).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
