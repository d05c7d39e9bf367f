"""Quality guards on real data (the full tables live in `make eval`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build, build_index
from search.evaluate import evaluate_corpus_qa, load_benchmark, passages_to_chunks, recall_at_k
from search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent
AUTORAG = ROOT.parent / "shared" / "benchmarks" / "autorag-ko"
QA = ROOT / "tests" / "data" / "corpus_qa.jsonl"


@pytest.mark.skipif(not AUTORAG.is_dir(), reason="../shared/benchmarks/autorag-ko not present")
def test_autorag_bm25_quality(tmp_path):
    passages, queries = load_benchmark(AUTORAG)
    assert (len(passages), len(queries)) == (720, 114)
    ids = {d for d, _ in passages}
    assert all(d in ids for _, _, gold in queries for g in gold for d in g)
    build_index(passages_to_chunks(passages), tmp_path / "idx", model="none")
    s = Searcher.open(tmp_path / "idx")
    ranked = [[h.chunk.id for h in s.search(q, top_k=5, mode="bm25")] for _, q, _ in queries]
    r1 = sum(recall_at_k(r, g, 1) for r, (_, _, g) in zip(ranked, queries)) / len(queries)
    r5 = sum(recall_at_k(r, g, 5) for r, (_, _, g) in zip(ranked, queries)) / len(queries)
    assert r1 >= 0.85 and r5 >= 0.97, (r1, r5)  # measured 0.895 / 0.991


def test_corpus_questions_hybrid_beats_each_half(tmp_path):
    build([ROOT / "corpus"], tmp_path / "idx")
    report = evaluate_corpus_qa(Searcher.open(tmp_path / "idx"), QA)
    allq = {m: report["modes"][m]["splits"]["all"] for m in ("bm25", "dense", "hybrid")}
    for k in ("hit@1", "hit@3", "hit@5"):
        assert allq["hybrid"][k] >= max(allq["bm25"][k], allq["dense"][k]), (k, allq)
    assert allq["hybrid"]["hit@5"] >= 0.95
