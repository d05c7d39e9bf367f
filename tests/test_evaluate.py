"""Tests for search/eval/ (and `kosearch eval` in cli.py) and the question set tests/data/corpus_qa.jsonl."""
from __future__ import annotations

import argparse
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from cli import add_eval_arguments, cmd_eval
from search.eval import (
    EvalError,
    first_quote_rank,
    hit_at_k,
    load_benchmark,
    load_corpus_qa,
    mrr_at_k,
    ndcg_at_k,
    normalise_ws,
    passages_to_chunks,
    quote_mrr_at_k,
    recall_at_k,
    split_of,
)
from search.eval.datasets import domain_of
from search.eval.report import PUBLISHED_AUTORAG_KO, _parse_published

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
QA = ROOT / "tests" / "data" / "corpus_qa.jsonl"
AUTORAG = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "autorag-ko"


# ----------------------------------------------------------------- metrics on hand-made rankings

def test_recall_single_group():
    ranked = ["a", "b", "g", "c"]
    gold = [["g"]]
    assert recall_at_k(ranked, gold, 1) == 0.0
    assert recall_at_k(ranked, gold, 2) == 0.0
    assert recall_at_k(ranked, gold, 3) == 1.0
    assert recall_at_k(ranked, gold, 10) == 1.0
    assert recall_at_k([], gold, 5) == 0.0


def test_recall_groups_are_or_within_and_fraction_across():
    # AutoRAG's example: gt [['test-1','test-2'],['test-3']], result ['test-1','pred-1','test-2','pred-3']
    gold = [["test-1", "test-2"], ["test-3"]]
    ranked = ["test-1", "pred-1", "test-2", "pred-3"]
    assert recall_at_k(ranked, gold, 4) == 0.5
    assert recall_at_k(ranked + ["test-3"], gold, 5) == 1.0
    # either member of a group answers it
    assert recall_at_k(["x", "test-2"], gold, 2) == 0.5
    assert recall_at_k(["a"], [], 3) == 0.0


def test_mrr():
    assert mrr_at_k(["g", "a"], [["g"]], 10) == 1.0
    assert mrr_at_k(["a", "b", "g"], [["g"]], 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "b", "g"], [["g"]], 2) == 0.0
    # any id of the group; first one counts
    assert mrr_at_k(["a", "h", "g"], [["g", "h"]], 10) == 0.5
    # two groups: average of per-group reciprocal ranks
    assert mrr_at_k(["x", "g", "y", "h"], [["g"], ["h"]], 10) == pytest.approx((1 / 2 + 1 / 4) / 2)
    # duplicates in the ranking do not push the rank down
    assert mrr_at_k(["a", "a", "g"], [["g"]], 10) == 0.5


def test_ndcg():
    assert ndcg_at_k(["g", "a", "b"], [["g"]], 10) == 1.0
    assert ndcg_at_k(["a", "g"], [["g"]], 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c", "g"], [["g"]], 10) == pytest.approx(1 / math.log2(5))
    assert ndcg_at_k(["a", "b", "c", "g"], [["g"]], 3) == 0.0
    # two relevant docs, found at ranks 1 and 3; ideal has them at 1 and 2
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(["g", "x", "h"], [["g", "h"]], 10) == pytest.approx(dcg / idcg)
    # ideal list is capped at k
    assert ndcg_at_k(["g"], [["g", "h", "i"]], 1) == 1.0
    assert ndcg_at_k(["a"], [], 5) == 0.0


def test_quote_metrics_normalise_whitespace():
    texts = ["무관한 문단", "□ 소요예산:\n 총 18,500천원(구비   18,500)", "또 다른 문단"]
    quotes = ["소요예산: 총 18,500천원(구비 18,500)"]
    assert normalise_ws("  a \t b\n\nc ") == "a b c"
    assert first_quote_rank(texts, quotes) == 2
    assert hit_at_k(texts, quotes, 1) == 0.0
    assert hit_at_k(texts, quotes, 2) == 1.0
    assert quote_mrr_at_k(texts, quotes, 5) == 0.5
    assert quote_mrr_at_k(texts, quotes, 1) == 0.0
    assert first_quote_rank(texts, []) is None
    assert hit_at_k(texts, ["없는 인용문입니다"], 3) == 0.0
    # tabs in a table quote match a space-separated display
    assert first_quote_rank(["계 2,493,486 2,130,215"], ["계\t2,493,486\t2,130,215"]) == 1


def test_domain_and_split():
    assert domain_of("law - 민법.pdf - 3") == "law"
    assert domain_of("public_report_1") == "public"
    assert split_of("q02") == "tune"
    assert split_of("q13") == "test"
    assert split_of("14_finance") == "tune" and split_of("15_law") == "test"


def test_published_table_parses():
    text = (AUTORAG / "SOURCE.md").read_text(encoding="utf-8") if (AUTORAG / "SOURCE.md").exists() else ""
    rows = _parse_published(text) if text else PUBLISHED_AUTORAG_KO
    assert len(rows) == len(PUBLISHED_AUTORAG_KO)
    for (name, vals), (cname, cvals) in zip(rows, PUBLISHED_AUTORAG_KO):
        assert vals == cvals


# ----------------------------------------------------------------- loaders and CLI errors

def _write_bench(d: Path, passages, queries):
    d.mkdir(parents=True, exist_ok=True)
    with (d / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc_id, contents in passages:
            f.write(json.dumps({"doc_id": doc_id, "contents": contents}, ensure_ascii=False) + "\n")
    with (d / "qa.jsonl").open("w", encoding="utf-8") as f:
        for qid, query, gt in queries:
            f.write(json.dumps({"qid": qid, "query": query, "retrieval_gt": gt, "generation_gt": ["-"]},
                               ensure_ascii=False) + "\n")


TINY_PASSAGES = [
    ("public - 예산.pdf - 1", "2024년 구청 본예산은 총 8,500억원으로 전년 대비 3.2% 증가하였다. 복지 분야가 가장 큰 비중을 차지한다."),
    ("public - 예산.pdf - 2", "주민참여예산 제도를 통해 주민이 직접 제안한 사업 42건이 선정되어 12억원이 편성되었다."),
    ("law - 임대차.pdf - 1", "주택임대차보호법에 따라 임차인은 계약갱신을 1회 요구할 수 있으며 갱신 시 임대료 인상률은 5%를 넘을 수 없다."),
    ("law - 임대차.pdf - 2", "전세사기 피해자는 우선매수권을 행사하거나 공공임대주택을 지원받을 수 있다."),
    ("finance - 은행.pdf - 1", "시중은행의 최저자본금은 1,000억원이고 지방은행과 인터넷은행은 250억원이다."),
    ("finance - 은행.pdf - 2", "예금자보호 한도는 1인당 원금과 이자를 합쳐 5천만원까지이다."),
    ("commerce - 커머스.pdf - 1", "B2B 이커머스는 주문 처리 비용을 줄이고 고객 셀프서비스를 늘려 매출 증가에 기여한다."),
    ("commerce - 커머스.pdf - 2", "온라인 쇼핑몰의 반품률을 낮추려면 상품 상세 정보와 사이즈 안내를 충실히 제공해야 한다."),
]
TINY_QUERIES = [
    ("0_finance", "인터넷은행을 세우려면 자본금이 얼마나 필요한가요?", [["finance - 은행.pdf - 1"]]),
    ("1_law", "전세 계약을 갱신할 때 임대료는 얼마까지 올릴 수 있나요?", [["law - 임대차.pdf - 1"]]),
    ("2_public", "주민이 제안한 사업은 몇 건이 뽑혔나요?", [["public - 예산.pdf - 2"]]),
    ("3_finance", "예금은 얼마까지 보호받나요?", [["finance - 은행.pdf - 2", "finance - 은행.pdf - 1"]]),
]


def test_load_benchmark(tmp_path):
    _write_bench(tmp_path / "b", TINY_PASSAGES, TINY_QUERIES)
    passages, queries = load_benchmark(tmp_path / "b")
    assert passages == TINY_PASSAGES
    assert queries == [(q, t, g) for q, t, g in TINY_QUERIES]


@pytest.mark.parametrize("corpus_text, qa_text, message", [
    (None, None, "benchmark directory not found"),
    ("", None, "no passages"),
    ('{"doc_id": "a", "contents": "x"}\n{bad json\n', "", "corpus.jsonl:2: malformed JSON"),
    ('{"doc_id": "a"}\n', "", "'contents'"),
    ('{"doc_id": "a", "contents": "x"}\n{"doc_id": "a", "contents": "y"}\n', "", "duplicate doc_id"),
    ('{"doc_id": "a", "contents": "x"}\n', None, "qa.jsonl: file not found"),
    ('{"doc_id": "a", "contents": "x"}\n', '{"qid": "1", "query": "q", "retrieval_gt": "a"}\n', "retrieval_gt"),
    ('{"doc_id": "a", "contents": "x"}\n', '{"qid": "1", "query": "q", "retrieval_gt": [["b"]]}\n', "not in corpus.jsonl"),
    ('{"doc_id": "a", "contents": "x"}\n', '[1, 2]\n', "expected a JSON object"),
])
def test_load_benchmark_errors(tmp_path, corpus_text, qa_text, message):
    d = tmp_path / "bench"
    if corpus_text is not None or qa_text is not None:
        d.mkdir()
        if corpus_text is not None:
            (d / "corpus.jsonl").write_text(corpus_text, encoding="utf-8")
        if qa_text is not None:
            (d / "qa.jsonl").write_text(qa_text, encoding="utf-8")
    with pytest.raises(EvalError) as err:
        load_benchmark(d)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def _args(*argv):
    p = argparse.ArgumentParser()
    add_eval_arguments(p)
    return p.parse_args(list(argv))


def test_cli_arguments_defaults():
    a = _args("somedir")
    assert a.dir == "somedir" and a.mode == "all" and a.model is None
    assert a.json is False and a.output is None and a.qa is None and a.index_dir is None
    a = _args("d", "--mode", "bm25", "--json", "-o", "r.json", "--qa", "q.jsonl", "--index-dir", "idx", "--model", "m")
    assert (a.mode, a.json, a.output, a.qa, a.index_dir, a.model) == ("bm25", True, "r.json", "q.jsonl", "idx", "m")


@pytest.mark.parametrize("argv, message", [
    (["/nonexistent/bench"], "benchmark directory not found"),
    ([], "give a benchmark DIR"),
    (["--qa", str(QA)], "--qa needs --index-dir"),
    (["--qa", "/nonexistent/qa.jsonl", "--index-dir", "/tmp"], "file not found"),
])
def test_cmd_eval_bad_input_one_line(argv, message, capsys):
    assert cmd_eval(_args(*argv)) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cmd_eval_malformed_line(tmp_path, capsys):
    d = tmp_path / "b"
    _write_bench(d, TINY_PASSAGES, TINY_QUERIES)
    with (d / "qa.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json}\n")
    assert cmd_eval(_args(str(d))) == 2
    err = capsys.readouterr().err
    assert "qa.jsonl:5: malformed JSON" in err and err.count("\n") == 1


def test_passages_to_chunks_one_per_passage():
    chunks = passages_to_chunks(TINY_PASSAGES[:2])
    assert [c.id for c in chunks] == [d for d, _ in TINY_PASSAGES[:2]]
    c = chunks[0]
    assert (c.file, c.path, c.start_line, c.end_line) == (c.id, c.id, 1, 1)
    assert c.text == c.index_text == TINY_PASSAGES[0][1]


# ----------------------------------------------------------------- end to end (needs build + search)

def test_eval_tiny_benchmark(tmp_path, capsys):
    d = tmp_path / "tiny"
    _write_bench(d, TINY_PASSAGES, TINY_QUERIES)
    out_json = tmp_path / "report.json"
    assert cmd_eval(_args(str(d), "--mode", "bm25", "--json", "-o", str(out_json))) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["queries"] == 4
    assert set(printed["modes"]) == {"bm25"}
    m = printed["modes"]["bm25"]
    for key in ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10", "qps"):
        assert key in m
    assert m["recall@10"] == 1.0  # 8 passages, top 10: every gold page is retrieved
    assert m["recall@3"] >= 0.75
    assert set(printed["per_domain"]) == {"finance", "law", "public"}
    assert printed["per_domain"]["finance"]["queries"] == 2
    saved = json.loads(out_json.read_text(encoding="utf-8"))
    assert saved["modes"]["bm25"]["recall@10"] == 1.0


def test_eval_fusion_weights_for_ablations(tmp_path, capsys):
    d = tmp_path / "tiny"
    _write_bench(d, TINY_PASSAGES, TINY_QUERIES)
    assert cmd_eval(_args(str(d), "--model", "none", "--mode", "all", "--phrase-weight", "0", "--json")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["modes"]) == {"bm25", "hybrid"}  # no vectors: no dense; hybrid is BM25 + phrase
    assert printed["fusion"] == {"fusion": "blend", "dense_weight": 0.1, "phrase_weight": 0.0}
    strip = lambda m: {k: v for k, v in m.items() if k not in ("qps", "seconds")}  # noqa: E731
    assert strip(printed["modes"]["hybrid"]) == strip(printed["modes"]["bm25"])  # phrase off: plain BM25
    assert cmd_eval(_args(str(d), "--dense-weight", "0.6", "--phrase-weight", "0.5")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "≤ 1" in err


def test_eval_tiny_benchmark_all_modes_text(tmp_path, capsys):
    d = tmp_path / "tiny"
    _write_bench(d, TINY_PASSAGES, TINY_QUERIES)
    assert cmd_eval(_args(str(d))) == 0
    text = capsys.readouterr().out
    for mode in ("bm25", "dense", "hybrid"):
        assert f"kosearch {mode}" in text
    assert "KoE5" in text  # published figures printed beside ours


# ----------------------------------------------------------------- the question set itself

def _qa_items():
    """The topic questions (the precise-fact ones, ``task: answer``, are checked by test_answer_qa_data)."""
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("task") != "answer"]


def test_corpus_qa_shape():
    items = _qa_items()
    assert len(items) >= 40
    qids = [i["qid"] for i in items]
    assert len(set(qids)) == len(qids)
    cats = Counter(i["category"] for i in items)
    assert set(cats) <= {"budget", "programme", "schedule", "target", "organisation", "partner",
                         "event", "multi", "unanswerable"}
    assert sum(1 for i in items if not i["answerable"]) >= 5
    for i in items:
        assert i["split"] == ("tune" if int(re.sub(r"\D", "", i["qid"])) % 2 == 0 else "test")
        assert i["split"] == split_of(i["qid"])
        if i["answerable"]:
            assert i["quotes"] and i["files"], i["qid"]
            assert i["category"] != "unanswerable"
        else:
            assert i["quotes"] == [] and i["category"] == "unanswerable"
    assert len([i for i in load_corpus_qa(QA) if i.get("task") != "answer"]) == len(items)


def test_corpus_qa_quotes_verbatim():
    texts = {p.name: p.read_text(encoding="utf-8") for p in CORPUS.glob("*.txt")}
    for i in _qa_items():
        for f in i["files"]:
            assert f in texts, (i["qid"], f)
        for q in i["quotes"]:
            assert "\n" not in q, i["qid"]
            assert 10 <= len(normalise_ws(q)) <= 60, (i["qid"], q)
            found = [f for f in i["files"] if q in texts[f]]
            assert found, (i["qid"], q)
        # every listed file holds at least one of the quotes
        for f in i["files"]:
            assert any(q in texts[f] for q in i["quotes"]), (i["qid"], f)


def test_corpus_qa_multi_spans_files():
    for i in _qa_items():
        if i["category"] == "multi":
            assert len(i["files"]) >= 2, i["qid"]


def test_corpus_qa_unanswerable_really_absent():
    texts = "\n".join(p.read_text(encoding="utf-8") for p in CORPUS.glob("*.txt"))
    topic = {"주차": "주차", "제설": "제설", "어린이집": "어린이집", "반려": "반려",
             "쓰레기": "쓰레기", "도서관": "도서관", "미세먼지": "미세먼지", "재난지원금": "재난"}
    unans = [i["query"] for i in _qa_items() if not i["answerable"]]
    covered = [w for w in topic if any(w in q or topic[w] in q for q in unans)]
    assert len(covered) >= 5
    for w in covered:
        assert topic[w] not in texts, w
