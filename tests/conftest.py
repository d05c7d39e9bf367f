from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def corpus_docs():
    from index.documents import load_documents

    docs, skipped = load_documents([CORPUS])
    assert not skipped
    return {d.file: d for d in docs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bm25_dir(tmp_path_factory, corpus_dir):
    """A BM25-only index of the corpus: fast to build; search, CLI and app tests share it."""
    from index.build import build

    d = tmp_path_factory.mktemp("bm25") / "index"
    build([corpus_dir], d, model="none")
    return d


@pytest.fixture(scope="session")
def bm25_searcher(bm25_dir):
    from search.searcher import Searcher

    s = Searcher.open(bm25_dir)
    s.warmup()
    return s


@pytest.fixture(scope="session")
def app_server(bm25_searcher):
    """The Gradio app over ``bm25_searcher`` on a free local port; yields its URL."""
    import app

    demo = app.build_app(bm25_searcher)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
