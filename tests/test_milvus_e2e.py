"""End to end on Milvus Lite (issue 19): the corpus indexed into Milvus ranks and labels like the
local backend, the CLI takes --uri, and an incremental re-index is delete-by-file plus upsert."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from milvus_support import milvus_env, milvus_uri  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
QA = ROOT / "tests" / "data" / "corpus_qa.jsonl"


@pytest.fixture(scope="module")
def models():
    from index.models import ModelRegistry

    return ModelRegistry()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, milvus_uri, models):
    """(local searcher, milvus searcher) over corpus/ with the bundled model."""
    import os

    from index.build import build
    from search.searcher import Searcher

    base = tmp_path_factory.mktemp("e2e")
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    build([corpus], base / "local", models=models)
    old = os.environ.get("KOSEARCH_BACKEND_URI")
    os.environ["KOSEARCH_BACKEND_URI"] = milvus_uri
    try:
        build([corpus], base / "milvus", models=models, backend="milvus")
        yield corpus, Searcher.open(base / "local", models=models), Searcher.open(base / "milvus", models=models)
    finally:
        if old is None:
            os.environ.pop("KOSEARCH_BACKEND_URI", None)
        else:
            os.environ["KOSEARCH_BACKEND_URI"] = old


def _questions() -> list[str]:
    return [json.loads(line)["query"] for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_same_rankings_and_confidence_labels(pair):
    from search.eval.compare import compare_searchers, format_compare

    _, local, milvus = pair
    assert milvus.manifest.backend == "milvus" and milvus.has_vectors
    every = _questions()
    # every question in bm25 mode; every 6th through the encoder (``make eval`` compares all of them)
    for modes, qs in ((("bm25",), every), (("hybrid", "dense"), every[::6])):
        rep = compare_searchers(local, milvus, qs, modes)
        print(format_compare(rep))
        for mode, r in rep["modes"].items():
            assert r["same_labels"] == len(qs), (mode, r["diffs"][:3])
            assert r["same_top1"] == len(qs), (mode, r["diffs"][:3])
            if mode == "bm25":   # equal scores rank in store order on both backends
                assert r["same_topk"] == len(qs), (mode, r["diffs"][:3])
            else:   # the two engines' float vector scores may order near-equal passages apart (1 in 100)
                assert r["same_topk"] >= len(qs) - max(1, len(qs) // 100), (mode, r["diffs"][:3])


def test_exact_bm25_matches_bm25s_and_milvus_is_a_constant_multiple(pair):
    """The exact scores the fusion reads are bm25s's; Milvus's own BM25 is (k1 + 1) times them."""
    from index.store.milvus import filter_expr

    _, local, milvus = pair
    ml, ll = milvus.store.lexical, local.store.lexical
    ratios = []
    for q in _questions()[:40]:
        terms = [t.text for t in local.tokenizer.terms(q)]
        ids = [c.id for c in ll.search(terms, 20)]
        if not ids:
            continue
        assert np.allclose(ml.scores(terms, ids), ll.scores(terms, ids), rtol=1e-4, atol=1e-5)
        assert [c.id for c in ml.search(terms, 5)] == ids[:5] or \
            np.allclose([c.score for c in ml.search(terms, 5)], [c.score for c in ll.search(terms, 5)], rtol=1e-4)
        b = milvus.store
        res = b.client.search(b.physical, data=[" ".join(dict.fromkeys(terms))], anns_field="terms_bm25", limit=1,
                              filter=filter_expr(b.gen, None), search_params={"metric_type": "BM25"},
                              output_fields=["chunk_id"])
        top = res[0][0]
        exact = float(ll.scores(list(dict.fromkeys(terms)), [top["entity"]["chunk_id"]])[0])
        if exact > 0:
            ratios.append(top["distance"] / exact)
    assert ratios and np.allclose(ratios, 2.2, rtol=0.02), ratios


def test_answers_agree(pair):
    from search.service import SearchService

    _, local, milvus = pair
    a, b = SearchService(local), SearchService(milvus)
    for q in _questions()[:216:8]:
        ra, rb = a.ask(q, top_k=5), b.ask(q, top_k=5)
        da, db = ra.to_dict(), rb.to_dict()
        assert (da["answer"], da.get("answer_message")) == (db["answer"], db.get("answer_message")), q


def test_cli_uri_and_incremental_reindex(milvus_env, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    idx = tmp_path / "idx"
    run = lambda *a: subprocess.run([sys.executable, "-m", "cli", *a], cwd=ROOT, capture_output=True, text=True,
                                    timeout=300)
    first = run("index", str(corpus), "--index-dir", str(idx), "--uri", milvus_env, "--collection", "e2e_cli",
                "--model", "none", "-q")
    assert first.returncode == 0, first.stderr
    assert json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["backend"] == "milvus"
    f = corpus / "003_1119614ba66d37cc.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\n□ 신규 사업\n○ 우주정거장 견학 프로그램 운영\n", encoding="utf-8")
    again = run("index", str(corpus), "--index-dir", str(idx), "--model", "none", "-q")
    assert again.returncode == 0 and "변경: 003_1119614ba66d37cc.txt" in again.stderr, again.stderr
    ask = run("ask", "우주정거장 견학", "--index-dir", str(idx), "--json", "--top-k", "1")
    assert ask.returncode == 0, ask.stderr
    top = json.loads(ask.stdout)["results"][0]
    assert "우주정거장" in top["text"]
    from index.store import open_backend

    b = open_backend(idx)
    assert b.manifest.generation == 2 and b.collection == "e2e_cli"
    ids = [c.id for c in b.chunks.all()]
    assert len(ids) == len(set(ids)) == b.chunks.count()
