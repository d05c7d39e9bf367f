"""On-disk index: manifest, chunks, BM25 and vectors, saved atomically.

Layout of an index directory::

    manifest.json   format version, model, tokeniser, files and their hashes, counts
    chunks.jsonl    one Chunk per line
    terms.json      each chunk's kiwi terms (for coverage and confidence at query time)
    bm25/           bm25s index over kiwi terms
    phrases/        bm25s index over adjacent-term pairs (the phrase signal of hybrid search)
    vectors.npy     float32 [n, dim], L2-normalised (absent for a BM25-only index)
    vectors.faiss   the FAISS index over those vectors

A build writes everything to a sibling temp directory and swaps it in with renames, so a
build killed half-way leaves the previous index usable.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from index.config import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, HNSW_THRESHOLD
from index.model import Chunk, Unit

FORMAT_VERSION = 3  # 2: phrases/ added; 3: units.jsonl (answer units)


class IndexStoreError(Exception):
    """A problem with an index on disk; the message tells the user what to do."""


@dataclass
class FileEntry:
    hash: str
    path: str
    chunks: int
    format: str = "txt"
    title: str | None = None
    department: str | None = None
    year: int | None = None
    size: int | None = None                           # with mtime_ns: unchanged without hashing
    mtime_ns: int | None = None


@dataclass
class Manifest:
    format_version: int = FORMAT_VERSION
    created: str = ""
    model: dict = field(default_factory=dict)         # {"id", "dim", "fingerprint"} or {} for none
    tokenizer: dict = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    chunk_count: int = 0
    vector_index: dict = field(default_factory=dict)  # {"type": "flat"|"hnsw", ...params}
    skipped: list[dict] = field(default_factory=list)
    pipeline: int = 0                                  # parser/chunker version (index.build.PIPELINE_VERSION)
    aliases: dict = field(default_factory=dict)        # department short forms (corpus/aliases.txt)
    search: dict = field(default_factory=dict)         # search settings at build time (index.config.resolve)

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d, ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        files = {k: FileEntry(**v) for k, v in d.get("files", {}).items()}
        return cls(**{**{k: v for k, v in d.items() if k in cls.__dataclass_fields__}, "files": files})


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / "manifest.json"
    if not path.is_file():
        recover(index_dir)
    if not path.is_file():
        raise IndexStoreError(f"no index at {index_dir}: run `kosearch index corpus` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexStoreError(f"index at {index_dir} is damaged ({exc}); run `kosearch index` to rebuild") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexStoreError(
            f"index at {index_dir} has format {data.get('format_version')}, this kosearch reads {FORMAT_VERSION}; "
            "re-index with `kosearch index`")
    return Manifest.from_dict(data)


def chunk_to_dict(c: Chunk) -> dict:
    return asdict(c)


def write_chunks(path: Path, chunks: list[Chunk]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(json.dumps(chunk_to_dict(c), ensure_ascii=False) + "\n")


def read_chunks(path: Path) -> list[Chunk]:
    with path.open(encoding="utf-8") as fh:
        return [Chunk(**json.loads(line)) for line in fh if line.strip()]


def write_units(path: Path, units: list[Unit]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for u in units:
            fh.write(json.dumps(asdict(u), ensure_ascii=False) + "\n")


def read_units(path: Path) -> list[Unit]:
    """Answer units (lines and table rows), or none for an index of bare passages."""
    if not Path(path).is_file():
        return []
    with Path(path).open(encoding="utf-8") as fh:
        return [Unit(**json.loads(line)) for line in fh if line.strip()]


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
    # bm25s needs at least one token per document; an empty doc gets a placeholder.
    retriever.index([t or ["\u2400"] for t in docs], show_progress=False)
    return retriever


def save_index(index_dir: Path, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]],
               pairs: list[list[str]], vectors: np.ndarray | None, *, units: list[Unit] | None = None,
               fail_after: str | None = None) -> None:
    """Write a complete index next to ``index_dir`` and swap it in atomically.

    ``fail_after`` (tests only) raises after the named step to simulate a killed build.
    """
    import faiss

    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
    try:
        write_chunks(tmp / "chunks.jsonl", chunks)
        write_units(tmp / "units.jsonl", units or [])
        (tmp / "terms.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")
        build_bm25(tokens).save(str(tmp / "bm25"), show_progress=False)
        build_bm25(pairs).save(str(tmp / "phrases"), show_progress=False)
        if fail_after == "bm25":
            raise RuntimeError("simulated crash after bm25")
        if vectors is not None:
            np.save(tmp / "vectors.npy", vectors.astype(np.float32))
            index, params = build_faiss(vectors)
            faiss.write_index(index, str(tmp / "vectors.faiss"))
            manifest.vector_index = params
        manifest.chunk_count = len(chunks)
        manifest.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        (tmp / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        _fsync_dir(tmp)
        if fail_after == "write":
            raise RuntimeError("simulated crash before swap")
        swap_in(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    if not index_dir.exists() and (old / "manifest.json").is_file():
        os.replace(old, index_dir)


def load_vectors(index_dir: Path):
    """(vectors, faiss index) or (None, None) for a BM25-only index."""
    import faiss

    vpath, fpath = Path(index_dir) / "vectors.npy", Path(index_dir) / "vectors.faiss"
    if not vpath.is_file():
        return None, None
    vectors = np.load(vpath, mmap_mode="r")
    index = faiss.read_index(str(fpath)) if fpath.is_file() else build_faiss(np.asarray(vectors))[0]
    return vectors, index


def read_terms(index_dir: Path) -> list[list[str]]:
    return json.loads((Path(index_dir) / "terms.json").read_text(encoding="utf-8"))
