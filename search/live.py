"""A Searcher that follows its index on disk.

`kosearch index` swaps a finished index in with renames; a long-running app holding a
``LiveSearcher`` answers the next question from the new index without a restart. A swap caught
half-way, or an index that no longer opens, keeps the previous one in service.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time
import weakref
from pathlib import Path

from index.store import IndexStoreError, stamp
from search.searcher import Searcher

log = logging.getLogger("kosearch.live")


def _stamp(index_dir: Path) -> tuple | None:
    """Identity of the committed index generation, or None while absent (mid-swap)."""
    return stamp(index_dir)


class LiveSearcher:
    """Hands out the current ``Searcher``, reopening the index when it has been rebuilt.

    The check is one ``stat`` at most every ``min_interval`` seconds; kiwi and the encoder are
    carried over to the new index when it was built the same way.
    """

    def __init__(self, searcher: Searcher, min_interval: float = 2.0):
        self._current = searcher
        self._stamp = _stamp(searcher.index_dir)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self.min_interval = min_interval
        self.reload_error: str | None = None  # why the newest index on disk is not in service
        self._failed: tuple[int, int, int] | None = None
        self._retired: list[weakref.ref] = []   # replaced searchers not yet freed
        self._collects = 0

    @property
    def index_dir(self) -> Path:
        return self._current.index_dir

    @property
    def current(self) -> Searcher:
        if time.monotonic() - self._checked >= self.min_interval:
            with self._lock:
                if time.monotonic() - self._checked >= self.min_interval:
                    self._reload_if_changed()
                    self._checked = time.monotonic()
        return self._current

    def refresh_soon(self) -> None:
        """Look at the index on disk on the next ``current``, not ``min_interval`` later: for a
        writer in this process (the 보고서 관리 panel) that has just committed a new index."""
        self._checked = float("-inf")

    def _reload_if_changed(self) -> None:
        self._free_retired()
        stamp = _stamp(self.index_dir)
        if stamp is None or stamp in (self._stamp, self._failed):
            return  # unchanged, mid-swap (look again next time), or already found unusable
        old = self._current
        try:
            new = Searcher.open(old.index_dir)
            new.share_models(old)
            new.validate()   # schema, counts and a probe query before anyone is served from it
            new.warmup()
        except Exception as exc:  # any failure keeps the index in service; the panel says why
            msg = str(exc) if isinstance(exc, IndexStoreError) else f"새 색인을 열 수 없습니다 ({type(exc).__name__}); `kosearch index` 로 다시 색인하세요."
            self.reload_error, self._failed = msg, stamp
            log.warning("new index at %s not taken into service: %s", old.index_dir, exc)
            return
        self._current, self._stamp, self.reload_error = new, stamp, None
        log.info("index at %s reloaded: %d chunks", new.index_dir, len(new.chunks))
        self._retired.append(weakref.ref(old))
        self._collects = 0
        del old, new
        self._free_retired()

    def _free_retired(self) -> None:
        """Free replaced indexes now. A ``Searcher`` and its ``Answerer`` refer to each other, so
        only a full garbage collection frees an old one, and Python runs those rarely: without
        this, every reload kept its index (BM25 matrices, chunks, answer units) and the server's
        memory grew (issue 14, item 3). One still answering a question is freed at a later check
        (up to three tries: one held on purpose elsewhere is left to its holder)."""
        self._retired = [r for r in self._retired if r() is not None]
        if not self._retired or self._collects >= 3:
            return
        self._collects += 1
        gc.collect()
        self._retired = [r for r in self._retired if r() is not None][-8:]
        _trim()


def _trim() -> None:
    """Give freed heap pages back to the system (glibc), so RSS shows the freed index."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
