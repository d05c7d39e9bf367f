"""A Searcher that follows its index on disk.

`kosearch index` swaps a finished index in with renames; a long-running app holding a
``LiveSearcher`` answers the next question from the new index without a restart. A swap caught
half-way, or an index that no longer opens, keeps the previous one in service.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from index.store import IndexStoreError
from search.searcher import Searcher

log = logging.getLogger("kosearch.live")


def _stamp(index_dir: Path) -> tuple[int, int, int] | None:
    """Identity of the index's manifest (a new build writes a new file), or None while absent."""
    try:
        st = (Path(index_dir) / "manifest.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


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

    def _reload_if_changed(self) -> None:
        stamp = _stamp(self.index_dir)
        if stamp is None or stamp in (self._stamp, self._failed):
            return  # unchanged, mid-swap (look again next time), or already found unusable
        old = self._current
        try:
            new = Searcher.open(old.index_dir)
            new.share_models(old)
            new.warmup()
        except (IndexStoreError, OSError, ValueError, RuntimeError) as exc:
            self.reload_error, self._failed = str(exc), stamp
            log.warning("new index at %s not taken into service: %s", old.index_dir, exc)
            return
        self._current, self._stamp, self.reload_error = new, stamp, None
        log.info("index at %s reloaded: %d chunks", new.index_dir, len(new.chunks))
