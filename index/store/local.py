"""The ``local`` backend: bm25s + FAISS + files in one directory, swapped in atomically.

Layout of an index directory (known only to this module)::

    manifest.json   format version, backend, root, generation, model, tokeniser, files, counts
    chunks.jsonl    one Chunk per line, in store order (files in manifest order)
    units.jsonl     answer units (lines and table rows), each with its chunk id and file
    lexicon.jsonl   each chunk's [kiwi terms, adjacent-term pairs]: read only by the writer, so an
                    unchanged file keeps its analysis without kiwi; searchers never load it
    bm25/           bm25s index over kiwi terms
    phrases/        bm25s index over adjacent-term pairs (the phrase signal of hybrid search)
    vectors.npy     float32 [n, dim], L2-normalised (absent for a BM25-only index)
    vectors.faiss   the FAISS index over those vectors

A commit writes everything to a sibling temp directory (``.<name>.tmp-*``) and swaps it in with
renames, so a build killed half-way leaves the previous generation usable; the next writer
removes the temp directories such builds leave behind.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from index.config import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, HNSW_THRESHOLD
from index.model import Chunk, Unit
from index.store.base import (NO_FILTERS, Backend, Candidate, ChunkStore, Filters, IndexStoreError, IndexWriter,
                              LexicalIndex, VectorIndex)
from index.store.manifest import MANIFEST, Manifest, manifest_path, parse_manifest

CHUNKS, UNITS, LEXICON, BM25, PHRASES = "chunks.jsonl", "units.jsonl", "lexicon.jsonl", "bm25", "phrases"
VECTORS, FAISS = "vectors.npy", "vectors.faiss"
REQUIRED = (MANIFEST, CHUNKS, UNITS, LEXICON, BM25, PHRASES)
EMPTY_DOC = "\u2400"   # bm25s needs at least one token per document


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


def build_faiss(vectors: np.ndarray):
    """Exact inner-product search for small corpora, HNSW above ``HNSW_THRESHOLD``."""
    import faiss

    n, dim = vectors.shape
    if n < HNSW_THRESHOLD:
        index = faiss.IndexFlatIP(dim)
        params = {"type": "flat", "metric": "inner_product"}
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        params = {"type": "hnsw", "metric": "inner_product", "M": HNSW_M,
                  "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH}
    if n:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, params


def build_bm25(docs: list[list[str]]):
    """A bm25s index over pre-tokenised documents."""
    import bm25s

    retriever = bm25s.BM25(k1=1.2, b=0.75)
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


# ---- read side ------------------------------------------------------------------------------
class _Rows:
    """Chunk ids by row and the columns filters look at, shared by the three indexes."""

    def __init__(self, chunks: list[Chunk]):
        self.ids = [c.id for c in chunks]
        self.row = {cid: i for i, cid in enumerate(self.ids)}
        self.years = np.array([c.year or 0 for c in chunks])
        self.kinds = np.array([c.chapter_kind or "" for c in chunks])
        self.depts = [(c.department or "").replace(" ", "") for c in chunks]
        self.files = [c.file for c in chunks]

    def mask(self, f: Filters) -> np.ndarray | None:
        """Rows ``f`` lets through (None: all), the semantics of ``Filters.matches``."""
        if f is None or f.empty:
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if f.years:
            mask &= np.isin(self.years, list(f.years))
        if f.kinds:
            mask &= np.isin(self.kinds, list(f.kinds))
        if f.departments:
            mask &= np.array([d in f.departments for d in self.depts], dtype=bool)
        if f.files:
            mask &= np.array([n in f.files or Path(n).name in f.files for n in self.files], dtype=bool)
        return mask

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        return np.array([self.row[i] for i in ids], dtype=np.int64)


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
    def __init__(self, retriever, rows: _Rows):
        self._bm25 = retriever
        self._rows = rows
        self._last = threading.local()  # the unfiltered scores of this thread's last query

    def _full(self, terms: list[str], weight=None) -> np.ndarray:
        return np.asarray(self._bm25.get_scores(terms, weight_mask=weight), dtype=np.float32)

    def _unfiltered(self, terms: list[str]) -> np.ndarray:
        key = tuple(terms)
        if getattr(self._last, "key", None) != key:
            self._last.scores, self._last.key = self._full(terms), key
        return self._last.scores

    def search(self, terms, k, filters=NO_FILTERS):
        terms = list(terms)
        if not terms or k <= 0 or not self._rows.ids:
            return []
        mask = self._rows.mask(filters)
        scores = self._unfiltered(terms) if mask is None else self._full(terms, mask.astype(np.float32))
        idx = _top(scores, k, mask)
        idx = idx[scores[idx] > 0]
        return [Candidate(self._rows.ids[i], float(scores[i])) for i in idx]

    def scores(self, terms, ids):
        terms = list(terms)
        if not terms or not len(ids):
            return np.zeros(len(ids), dtype=np.float32)
        return self._unfiltered(terms)[self._rows.rows(ids)]

    def doc_freqs(self, terms):
        vocab, indptr = self._bm25.vocab_dict, self._bm25.scores["indptr"]
        out = {}
        for t in terms:
            tid = vocab.get(t)
            out[t] = 0 if tid is None else int(indptr[tid + 1] - indptr[tid])
        return out

    def doc_count(self):
        return len(self._rows.ids)

    def contains(self, ids, terms):
        """From the postings (rows with a nonzero score for a term): no per-chunk term sets in memory."""
        vocab, sc = self._bm25.vocab_dict, self._bm25.scores
        want = {self._rows.row[i]: i for i in ids if i in self._rows.row}
        out: dict[str, set[str]] = {i: set() for i in ids}
        rows = np.fromiter(want, dtype=np.int64, count=len(want))
        for t in set(terms):
            tid = vocab.get(t)
            if tid is None or not len(rows):
                continue
            posting = sc["indices"][sc["indptr"][tid]:sc["indptr"][tid + 1]]
            for r in rows[np.isin(rows, posting)]:
                out[want[int(r)]].add(t)
        return out


class LocalVectors(VectorIndex):
    def __init__(self, vectors: np.ndarray, faiss_index, rows: _Rows):
        self._vectors = vectors
        self._faiss = faiss_index
        self._rows = rows

    @property
    def dim(self):
        return int(self._vectors.shape[1])

    def search(self, vector, k, filters=NO_FILTERS):
        import faiss

        mask = self._rows.mask(filters)
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(k, len(self._rows.ids) if mask is None else int(mask.sum()))
        if k <= 0:
            return []
        params = None
        if mask is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.flatnonzero(mask).astype(np.int64)))
        scores, rows = self._faiss.search(q, k, params=params)
        return [Candidate(self._rows.ids[int(r)], float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def vectors(self, ids):
        return np.asarray(self._vectors[self._rows.rows(ids)], dtype=np.float32)


class LocalChunks(ChunkStore):
    def __init__(self, chunks: list[Chunk], units: list[Unit], rows: _Rows):
        self._chunks = chunks
        self._units = units
        self._rows = rows
        self._id_map = None
        self._by_chunk: dict[str, list[Unit]] | None = None

    def all(self):
        return self._chunks

    def __len__(self):
        return len(self._chunks)

    def count(self, filters=NO_FILTERS):
        mask = self._rows.mask(filters)
        return len(self._chunks) if mask is None else int(mask.sum())

    def units(self):
        return self._units

    def units_for_chunk(self, chunk_id):
        if self._by_chunk is None:
            by: dict[str, list[Unit]] = {}
            for u in self._units:
                by.setdefault(u.chunk_id, []).append(u)
            self._by_chunk = by
        return list(self._by_chunk.get(chunk_id, []))


class LocalBackend(Backend):
    name = "local"

    def __init__(self, index_dir: Path, manifest: Manifest, chunks: list[Chunk], units: list[Unit], bm25, phrases,
                 vectors, faiss_index):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        rows = _Rows(chunks)
        self.chunks = LocalChunks(chunks, units, rows)
        self.lexical = LocalLexical(bm25, rows)
        self.phrases = LocalLexical(phrases, rows)
        self.vectors = LocalVectors(vectors, faiss_index, rows) if vectors is not None else None

    @classmethod
    def open(cls, index_dir, manifest):
        import bm25s

        index_dir = Path(index_dir)
        try:
            chunks = [Chunk(**d) for d in _read_jsonl(index_dir / CHUNKS)]
            if not (index_dir / CHUNKS).is_file():
                raise FileNotFoundError(CHUNKS)
            units = [Unit(**d) for d in _read_jsonl(index_dir / UNITS)]
            bm25 = bm25s.BM25.load(str(index_dir / BM25), show_progress=False, verbosity=0)
            phrases = bm25s.BM25.load(str(index_dir / PHRASES), show_progress=False, verbosity=0)
            vectors, faiss_index = _load_vectors(index_dir)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexStoreError(f"index at {index_dir} is incomplete or damaged ({type(exc).__name__}); "
                                  "rebuild it with `kosearch index`") from None
        if vectors is not None and len(vectors) != len(chunks):
            raise IndexStoreError(f"index at {index_dir} is inconsistent; run `kosearch index` to rebuild")
        return cls(index_dir, manifest, chunks, units, bm25, phrases, vectors, faiss_index)


def _load_vectors(index_dir: Path):
    """(vectors, faiss index) or (None, None) for a BM25-only index."""
    import faiss

    vpath, fpath = index_dir / VECTORS, index_dir / FAISS
    if not vpath.is_file():
        return None, None
    vectors = np.load(vpath, mmap_mode="r")
    index = faiss.read_index(str(fpath)) if fpath.is_file() else build_faiss(np.asarray(vectors))[0]
    return vectors, index


# ---- write side -----------------------------------------------------------------------------
class _FileData:
    def __init__(self, chunks, units, terms, pairs, vectors):
        if len(terms) != len(chunks) or len(pairs) != len(chunks) or (vectors is not None and len(vectors) != len(chunks)):
            raise ValueError("chunks, terms, pairs and vectors must be aligned")
        self.chunks, self.units, self.terms, self.pairs = list(chunks), list(units), list(terms), list(pairs)
        self.vectors = None if vectors is None else np.asarray(vectors, dtype=np.float32)


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

    def clear(self):
        self._cleared = True
        self._upserts.clear()
        self._deleted.clear()

    def upsert(self, file, chunks, units, terms, pairs, vectors):
        self._deleted.discard(file)
        self._upserts[file] = _FileData(chunks, units, terms, pairs, vectors)

    def delete(self, file):
        self._upserts.pop(file, None)
        self._deleted.add(file)

    def _kept(self, names: set[str]) -> dict[str, _FileData]:
        """The previous generation's data of ``names``, by file."""
        if not names:
            return {}
        d = self.index_dir
        chunks = [Chunk(**x) for x in _read_jsonl(d / CHUNKS)]
        lexicon = _read_jsonl(d / LEXICON)
        units = [Unit(**x) for x in _read_jsonl(d / UNITS)]
        vectors = np.load(d / VECTORS, mmap_mode="r") if (d / VECTORS).is_file() else None
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            if c.file in names:
                rows.setdefault(c.file, []).append(i)
        out = {}
        for name in names:
            idx = rows.get(name, [])
            out[name] = _FileData([chunks[i] for i in idx], [u for u in units if u.file == name],
                                  [lexicon[i][0] for i in idx], [lexicon[i][1] for i in idx],
                                  None if vectors is None else np.asarray(vectors[idx], dtype=np.float32))
        return out

    def commit(self, manifest=None):
        import faiss

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
        chunks = [c for p in parts for c in p.chunks]
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
            _write_jsonl(tmp / CHUNKS, (asdict(c) for c in chunks))
            _write_jsonl(tmp / UNITS, (asdict(u) for p in parts for u in p.units))
            _write_jsonl(tmp / LEXICON, ([t, q] for p in parts for t, q in zip(p.terms, p.pairs)))
            build_bm25([t for p in parts for t in p.terms]).save(str(tmp / BM25), show_progress=False)
            build_bm25([q for p in parts for q in p.pairs]).save(str(tmp / PHRASES), show_progress=False)
            self.checkpoint("bm25")
            manifest.vector_index = {}
            if vectors is not None:
                np.save(tmp / VECTORS, vectors)
                index, params = build_faiss(vectors)
                faiss.write_index(index, str(tmp / FAISS))
                manifest.vector_index = params
            manifest.backend = LocalBackend.name
            manifest.generation = (prev.generation if prev else 0) + 1
            manifest.chunk_count = len(chunks)
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
