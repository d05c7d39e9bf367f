"""Milvus Lite for tests: the real Milvus C++ core on a database file under pytest's tmp path,
served on a Unix socket (no TCP port) that this process and the CLI subprocesses share.

Skipped with a reason when pymilvus/milvus_lite are not installed, except under CI (``CI`` set),
where a missing extra is an error.
"""
from __future__ import annotations

import os

import pytest


def milvus_missing() -> str | None:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            raise
        return f"Milvus backend not installed ({exc.name}): pip install -e '.[milvus]'"
    return None


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory):
    """``unix:/tmp/kosearch-milvus-….sock`` of a Milvus Lite server on ``<tmp>/milvus.db``."""
    why = milvus_missing()
    if why:
        pytest.skip(why)
    from index.store import milvus

    db = tmp_path_factory.mktemp("milvus") / "milvus.db"
    uri = milvus._start_lite(str(db))
    assert uri.startswith("unix:")
    yield uri
    server = milvus._servers.pop(str(db.absolute()), None)
    for key in [k for k in milvus._clients if k[0] == str(db)]:
        milvus._clients.pop(key).close()
    if server is not None:
        server.stop()


@pytest.fixture
def milvus_env(milvus_uri, monkeypatch):
    """Point new Milvus indexes (and CLI subprocesses) at the test server."""
    monkeypatch.setenv("KOSEARCH_BACKEND_URI", milvus_uri)
    return milvus_uri
