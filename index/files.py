"""File identity: the one sha256 helper, and a cache of hashes keyed by path, size and mtime.

Weight files of a model are hundreds of MB; hashing them on every ``Searcher.open`` or no-op
``kosearch index`` cost seconds. ``cached_sha256`` hashes a file once and reuses the digest while
its size and mtime stay the same (the cache lives in ``$KOSEARCH_HOME/hashes.json``).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()


def kosearch_home(home: str | Path | None = None) -> Path:
    """Where kosearch keeps its model export and caches (``$KOSEARCH_HOME``, default ``~/.cache/kosearch``)."""
    if home:
        return Path(home).expanduser()
    env = os.environ.get("KOSEARCH_HOME") or os.environ.get("KOSEARCH_DATA")   # an offline install's data folder
    return Path(env).expanduser() if env else Path("~/.cache/kosearch").expanduser()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stat_key(path: str | Path) -> tuple[int, int]:
    """(size, mtime_ns): what must stay equal for a recorded hash to still hold."""
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def cached_sha256(path: str | Path, cache_file: str | Path | None = None) -> str:
    """``file_sha256``, computed once per (path, size, mtime)."""
    p = Path(path).resolve()
    size, mtime = stat_key(p)
    key = f"{p}|{size}|{mtime}"
    cache_path = Path(cache_file) if cache_file else kosearch_home() / "hashes.json"
    with _lock:
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
            if not isinstance(cache, dict):
                cache = {}
        except (OSError, ValueError):
            cache = {}
        digest = cache.get(key)
        if isinstance(digest, str):
            return digest
        digest = file_sha256(p)
        cache = {k: v for k, v in cache.items() if not k.startswith(f"{p}|")}  # drop stale entries of this file
        cache[key] = digest
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".hashes.", dir=cache_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(cache, fh)
            os.replace(tmp, cache_path)
        except OSError:
            pass  # a read-only home: hash again next time
        return digest
