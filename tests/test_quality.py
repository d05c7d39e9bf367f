"""Quality guards on real data (the full tables live in `make eval`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build, build_index
from search.eval import evaluate_corpus_qa, load_benchmark, passages_to_chunks, recall_at_k
from search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent
AUTORAG = ROOT.parent / "shared" / "benchmarks" / "autorag-ko"
QA = ROOT / "tests" / "data" / "corpus_qa.jsonl"


@pytest.mark.skipif(not AUTORAG.is_dir(), reason="../shared/benchmarks/autorag-ko not present")
def test_autorag_lexical_quality(tmp_path):
    """BM25 alone, and hybrid's lexical part (BM25 + phrase; the index has no vectors, so embedding
    720 pages stays in `make eval`)."""
    passages, queries = load_benchmark(AUTORAG)
    assert (len(passages), len(queries)) == (720, 114)
    ids = {d for d, _ in passages}
    assert all(d in ids for _, _, gold in queries for g in gold for d in g)
    build_index(passages_to_chunks(passages), tmp_path / "idx", model="none")
    s = Searcher.open(tmp_path / "idx")
    recall = {}
    for mode in ("bm25", "hybrid"):
        ranked = [[h.chunk.id for h in s.search(q, top_k=10, mode=mode)] for _, q, _ in queries]
        recall[mode] = {k: sum(recall_at_k(r, g, k) for r, (_, _, g) in zip(ranked, queries)) / len(queries)
                        for k in (1, 3, 5, 10)}
    assert recall["bm25"][1] >= 0.85 and recall["bm25"][5] >= 0.97, recall  # measured 0.895 / 0.991
    assert recall["hybrid"][1] >= 0.90 and recall["hybrid"][5] == 1.0, recall  # measured 0.912 / 1.000
    assert all(recall["hybrid"][k] >= recall["bm25"][k] for k in (1, 3, 5, 10)), recall


def test_corpus_questions_hybrid_beats_each_half(tmp_path):
    build([ROOT / "corpus"], tmp_path / "idx")
    report = evaluate_corpus_qa(Searcher.open(tmp_path / "idx"), QA)
    allq = {m: report["modes"][m]["splits"]["all"] for m in ("bm25", "dense", "hybrid")}
    for k in ("hit@1", "hit@3", "hit@5"):
        assert allq["hybrid"][k] >= max(allq["bm25"][k], allq["dense"][k]), (k, allq)
    assert allq["hybrid"]["hit@5"] >= 0.95
    conf = report["modes"]["hybrid"]["confidence"]  # measured 8/8 and 54/54
    assert conf["unanswerable_top_low"] >= 0.75 and conf["answerable_top_not_low"] >= 0.95, conf
