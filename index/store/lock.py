"""One writer per index directory: an advisory ``flock`` on a lock file beside it.

The lock file sits next to the index directory (``.<name>.lock``), not inside it, because a
commit replaces the directory by rename. The OS drops the lock when its holder exits, ``kill -9``
included, so there is never a stale lock to clean up by hand.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from index.store.base import IndexLockedError


def lock_path(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    return index_dir.parent / f".{index_dir.name}.lock"


class WriterLock:
    def __init__(self, index_dir: Path, wait: float = 0.0):
        self.path = lock_path(index_dir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(self._fd)
                    self._fd = None
                    raise IndexLockedError(
                        f"다른 색인 작업{holder}이 {Path(index_dir)} 에 쓰는 중입니다; 끝난 뒤 다시 실행하세요 "
                        "(기다리려면 KOSEARCH_INDEX_WAIT=초).") from None
                time.sleep(0.2)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            return ""
        return f"(PID {pid})" if pid.isdigit() else ""

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
