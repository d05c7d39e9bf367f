"""Which backend holds an index: the manifest names it; the factory opens it.

A new backend is a module ``index/store/<name>.py`` with a ``Backend`` subclass (read side) and an
``IndexWriter`` subclass (write side), registered below by name. ``tests/test_store_contract.py``
then runs the same contract against it (add the name to its ``BACKENDS``).
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from index.store.base import Backend, IndexStoreError, IndexWriter
from index.store.lock import WriterLock
from index.store.manifest import Manifest, manifest_path, parse_manifest

# name -> (module, Backend class, IndexWriter class)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "local": ("index.store.local", "LocalBackend", "LocalWriter"),
    "milvus": ("index.store.milvus", "MilvusBackend", "MilvusWriter"),   # pip install -e ".[milvus]"
}
DEFAULT_BACKEND = "local"


def _classes(name: str, index_dir: Path) -> tuple[type[Backend], type[IndexWriter]]:
    if name not in BACKENDS:
        raise IndexStoreError(f"{index_dir} 색인의 저장 방식 '{name}' 을(를) 이 kosearch 는 모릅니다 "
                              f"(지원: {', '.join(sorted(BACKENDS))}); 최신 kosearch 를 쓰거나 `kosearch index` 로 다시 색인하세요.")
    module, backend, writer = BACKENDS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise IndexStoreError(f"{index_dir} 색인의 저장 방식 '{name}' 을(를) 쓸 수 없습니다 "
                              f"(필요한 패키지가 없음: {exc.name or exc}).") from None
    return getattr(mod, backend), getattr(mod, writer)


def read_manifest(index_dir: str | Path) -> Manifest:
    """The committed manifest, or IndexStoreError (no index, damaged, or an older format: re-index)."""
    return parse_manifest(Path(index_dir))


def index_exists(index_dir: str | Path) -> bool:
    """Whether ``index_dir`` holds an index (of any format or backend)."""
    return manifest_path(Path(index_dir)).is_file()


def open_backend(index_dir: str | Path) -> Backend:
    """Open the committed generation with the backend its manifest names."""
    index_dir = Path(index_dir)
    manifest = parse_manifest(index_dir)
    backend, _ = _classes(manifest.backend or DEFAULT_BACKEND, index_dir)
    return backend.open(index_dir, manifest)


def open_writer(index_dir: str | Path, *, backend: str | None = None, wait: float | None = None,
                fail_after: str | None = None) -> IndexWriter:
    """The one writer of ``index_dir``, holding its lock until closed (use it as a context manager).

    A second writer waits up to ``wait`` seconds (default: ``$KOSEARCH_INDEX_WAIT``, else 0) and
    then raises ``IndexLockedError`` with a one-line Korean message. The backend is the one the
    existing manifest names, else ``backend``, else ``local``.
    """
    index_dir = Path(index_dir)
    if wait is None:
        try:
            wait = float(os.environ.get("KOSEARCH_INDEX_WAIT", "0") or 0)
        except ValueError:
            wait = 0.0
    lock = WriterLock(index_dir, wait)
    try:
        name = backend or DEFAULT_BACKEND
        if index_exists(index_dir):
            try:
                import json

                name = json.loads(manifest_path(index_dir).read_text(encoding="utf-8")).get("backend") or name
            except (OSError, ValueError, AttributeError):
                pass  # damaged: the writer reports it and starts over
        _, writer_cls = _classes(name, index_dir)
        writer = writer_cls(index_dir, fail_after=fail_after)
    except BaseException:
        lock.release()
        raise
    writer.lock = lock
    return writer


def stamp(index_dir: str | Path) -> tuple | None:
    """Changes whenever a new generation is committed (None while no index is there)."""
    from index.store.local import stamp as manifest_stamp

    return manifest_stamp(Path(index_dir))
