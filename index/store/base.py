"""The storage seam: small interfaces a search engine implements, and the typed values they share.

A backend (``index/store/<name>.py``, registered in ``index/store/factory.py``) provides

* a :class:`LexicalIndex` over kiwi terms, and a second one over adjacent-term pairs (phrases);
* a :class:`VectorIndex` (absent for an index built without a model);
* a :class:`ChunkStore`: chunks by id, facets, answer units;
* an :class:`IndexWriter`: upsert and delete by file, then one atomic commit of a new generation,
  under one OS-level writer lock per index directory.

Search code sees only these: candidates are keyed by chunk id (``Candidate(id, score)``), filters
are a :class:`Filters` value, and no index file name is known outside ``index/store/``. The
contract suite ``tests/test_store_contract.py`` checks every registered backend the same way.
"""
from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from index.config import PLAIN_CHAPTERS
from index.model import Chunk, Unit


class IndexStoreError(Exception):
    """A problem with an index on disk; the message tells the user what to do."""


class IndexLockedError(IndexStoreError):
    """Another process is writing this index."""


# ---- typed values ---------------------------------------------------------------------------
def _as_set(value) -> frozenset:
    if value in (None, "", [], (), set(), frozenset()):
        return frozenset()
    return frozenset(value if isinstance(value, (list, tuple, set, frozenset)) else [value])


@dataclass(frozen=True)
class Filters:
    """Which chunks a search may return. Empty fields do not filter.

    * ``years``: the report's year (``Chunk.year``);
    * ``departments``: compared with spaces removed (``"비전 협력과"`` matches ``비전협력과``);
    * ``kinds``: chapter kinds (``plan``/``results``/``new``/``general``; Korean aliases accepted);
    * ``files``: a file id (its path relative to the indexed root) or its bare file name.
    """

    years: frozenset = frozenset()
    departments: frozenset = frozenset()
    kinds: frozenset = frozenset()
    files: frozenset = frozenset()

    @classmethod
    def of(cls, year=None, department=None, chapter_kind=None, file=None) -> "Filters":
        """From the loose arguments of ``Searcher.search`` (a value or a list of values each)."""
        from index import config

        kinds = config.parse_kinds(list(_as_set(chapter_kind))) if _as_set(chapter_kind) else frozenset()
        return cls(years=frozenset(int(y) for y in _as_set(year)),
                   departments=frozenset(str(d).replace(" ", "") for d in _as_set(department)),
                   kinds=frozenset(kinds), files=frozenset(str(f) for f in _as_set(file)))

    @property
    def empty(self) -> bool:
        return not (self.years or self.departments or self.kinds or self.files)

    def matches(self, chunk: Chunk) -> bool:
        """The reference semantics every backend's filtering must agree with."""
        if self.years and (chunk.year or 0) not in self.years:
            return False
        if self.kinds and (chunk.chapter_kind or "") not in self.kinds:
            return False
        if self.departments and (chunk.department or "").replace(" ", "") not in self.departments:
            return False
        if self.files and not (chunk.file in self.files or Path(chunk.file).name in self.files):
            return False
        return True


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Candidate:
    """One chunk a search returned, with that search's raw score (BM25, or cosine)."""

    id: str
    score: float


# ---- read side ------------------------------------------------------------------------------
class LexicalIndex(ABC):
    """BM25 over pre-analysed terms (kiwi terms, or adjacent-term pairs for the phrase index)."""

    @abstractmethod
    def search(self, terms: Sequence[str], k: int, filters: Filters = NO_FILTERS) -> list[Candidate]:
        """The best ``k`` chunks with a positive score, best first."""

    @abstractmethod
    def scores(self, terms: Sequence[str], ids: Sequence[str]) -> np.ndarray:
        """The score each of ``ids`` gets for ``terms`` (0 where none of them occurs), as in ``search``."""

    @abstractmethod
    def doc_freqs(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks hold each term (0 for an unknown term)."""

    @abstractmethod
    def doc_count(self) -> int:
        """Chunks indexed."""

    @abstractmethod
    def contains(self, ids: Sequence[str], terms: Iterable[str]) -> dict[str, set[str]]:
        """For each of ``ids``, which of ``terms`` it holds (for coverage on the few hits shown)."""


class VectorIndex(ABC):
    """Inner-product search over L2-normalised chunk vectors."""

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def search(self, vector: np.ndarray, k: int, filters: Filters = NO_FILTERS) -> list[Candidate]:
        """The ``k`` nearest chunks (score = inner product), best first."""

    @abstractmethod
    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """float32 [len(ids), dim], in the order of ``ids``."""


class ChunkStore(ABC):
    """Chunks by id, their facets, and the answer units (lines, table rows) of each chunk."""

    @abstractmethod
    def all(self) -> list[Chunk]:
        """Every chunk, in store order (files in indexing order, each file's chunks in text order)."""

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        by_id = self._by_id()
        return [by_id[i] for i in ids if i in by_id]

    def _by_id(self) -> dict[str, Chunk]:
        if getattr(self, "_id_map", None) is None:
            self._id_map = {c.id: c for c in self.all()}
        return self._id_map

    def __len__(self) -> int:
        return len(self.all())

    def count(self, filters: Filters = NO_FILTERS) -> int:
        return sum(1 for c in self.all() if filters.matches(c))

    def facets(self) -> dict[str, list]:
        """Distinct values: ``years`` (newest first), ``departments``, ``kinds``, ``files``, ``programmes``."""
        cs = self.all()
        return {"years": sorted({c.year for c in cs if c.year}, reverse=True),
                "departments": sorted({c.department for c in cs if c.department}),
                "kinds": sorted({c.chapter_kind for c in cs if c.chapter_kind}),
                "files": list(dict.fromkeys(c.file for c in cs)),
                "programmes": sorted({c.programme for c in cs if c.programme})}

    @abstractmethod
    def units(self) -> list[Unit]:
        """Every answer unit (none for an index of bare passages)."""

    def units_for_chunk(self, chunk_id: str) -> list[Unit]:
        return [u for u in self.units() if u.chunk_id == chunk_id]

    def units_for_file(self, file: str) -> list[Unit]:
        return [u for u in self.units() if u.file == file]

    # Read-by-id helpers with reference defaults over ``all()``; a backend that keeps chunks on
    # disk overrides them so no search touches every chunk (issue 18).
    def has_units(self) -> bool:
        return bool(self.units())

    def units_for_chunks(self, ids: Sequence[str]) -> dict[str, list[Unit]]:
        """Each known id's units, in store order."""
        return {i: self.units_for_chunk(i) for i in ids}

    def order(self, ids: Iterable[str]) -> list[str]:
        """Distinct ``ids`` in store order."""
        if getattr(self, "_row_map", None) is None:
            self._row_map = {c.id: r for r, c in enumerate(self.all())}
        return sorted(set(ids), key=self._row_map.__getitem__)

    def matching(self, filters: Filters) -> Iterable[Chunk]:
        """Chunks ``filters`` lets through, in store order."""
        return (c for c in self.all() if filters.matches(c))

    def programme_heads(self, filters: Filters) -> Iterator[Chunk]:
        """The first chunk of each programme (a chunk with a programme, in a chapter that is not
        general or other) among those ``filters`` lets through: latest report year first, then in
        store order. Read as consumed."""
        seen: set = set()
        out = []
        for c in self.matching(filters):
            key = (c.file, c.chapter_number, c.programme_number, c.programme)
            if c.programme and c.chapter_kind and c.chapter_kind not in PLAIN_CHAPTERS and key not in seen:
                seen.add(key)
                out.append(c)
        out.sort(key=lambda c: -(c.year or 0))
        yield from out

    def programme_ids(self, chunk: Chunk) -> list[str]:
        """Ids of the chunks of ``chunk``'s programme (file, chapter, programme), in store order."""
        key = (chunk.file, chunk.chapter_number, chunk.programme_number, chunk.programme)
        return [c.id for c in self.all() if (c.file, c.chapter_number, c.programme_number, c.programme) == key]

    def section(self, chunk: Chunk) -> list[Chunk]:
        """The chunks of ``chunk``'s □ subsection, in store order."""
        key = (chunk.file, chunk.chapter_number, chunk.programme_number, chunk.heading)
        return [c for c in self.all() if (c.file, c.chapter_number, c.programme_number, c.heading) == key]


class Backend(ABC):
    """One opened index generation: its manifest and its read-side parts."""

    name: str = ""
    manifest = None            # index.store.manifest.Manifest
    chunks: ChunkStore
    lexical: LexicalIndex
    phrases: LexicalIndex
    vectors: VectorIndex | None

    @classmethod
    @abstractmethod
    def open(cls, index_dir: Path, manifest) -> "Backend": ...


# ---- write side -----------------------------------------------------------------------------
class FileData:
    """One file's rows waiting for the next commit (aligned chunks, terms, pairs and vectors)."""

    def __init__(self, chunks, units, terms, pairs, vectors):
        if len(terms) != len(chunks) or len(pairs) != len(chunks) or (vectors is not None and len(vectors) != len(chunks)):
            raise ValueError("chunks, terms, pairs and vectors must be aligned")
        self.chunks, self.units, self.terms, self.pairs = list(chunks), list(units), list(terms), list(pairs)
        self.vectors = None if vectors is None else np.asarray(vectors, dtype=np.float32)


class IndexWriter(ABC):
    """The one writer of an index directory: start from the committed generation, upsert and delete
    whole files, then ``commit`` a new generation atomically (or drop everything by leaving the
    ``with`` block without committing). Created by ``index.store.open_writer`` under the lock.
    """

    def __init__(self, index_dir: Path, *, fail_after: str | None = None):
        self.index_dir = Path(index_dir)
        self.fail_after = fail_after  # tests: raise after the named commit stage ("bm25", "write")
        self.lock = None

    @property
    @abstractmethod
    def previous(self):
        """The committed generation's manifest, or None (no index, or it could not be read)."""

    previous_error: str | None = None   # why ``previous`` is None although an index is there

    @abstractmethod
    def problem(self, need_vectors: bool) -> str | None:
        """Why the committed generation cannot be extended incrementally (files missing), or None."""

    # The writes are buffered per file until ``commit``; a backend sets ``_cleared``,
    # ``_upserts`` and ``_deleted`` in its constructor and may store files its own way
    # (``file_data``).
    file_data = FileData

    def clear(self) -> None:
        """Start the next generation empty (a full re-index)."""
        self._cleared = True
        self._upserts.clear()
        self._deleted.clear()

    def upsert(self, file: str, chunks: list[Chunk], units: list[Unit], terms: list[list[str]],
               pairs: list[list[str]], vectors: np.ndarray | None) -> None:
        """Replace everything of ``file`` (its stable id) with these chunks (aligned terms, pairs, vectors)."""
        self._deleted.discard(file)
        self._upserts[file] = self.file_data(chunks, units, terms, pairs, vectors)

    def delete(self, file: str) -> None:
        """Drop everything of ``file``."""
        self._upserts.pop(file, None)
        self._deleted.add(file)

    @abstractmethod
    def commit(self, manifest) -> None:
        """Write the new generation (``manifest.files`` names its files) and switch readers to it atomically."""

    def checkpoint(self, stage: str) -> None:
        """Test hooks inside ``commit``: ``fail_after`` raises; ``KOSEARCH_STORE_PAUSE=<stage>:<file>[:<s>]``
        touches ``<file>`` and sleeps ``<s>`` seconds (default 120), so a test can kill -9 the
        build mid-commit or start a second writer while the first holds the lock."""
        if self.fail_after == stage:
            raise RuntimeError(f"simulated crash after {stage}")
        stage_, _, rest = os.environ.get("KOSEARCH_STORE_PAUSE", "").partition(":")
        if stage_ == stage and rest:
            marker, _, seconds = rest.partition(":")
            Path(marker).touch()
            time.sleep(float(seconds or 120))

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> "IndexWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
