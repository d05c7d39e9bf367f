"""Search end to end on the real corpus: ranking, citations, filters, grouping, batch, index lifecycle."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest

from index.build import build
from index.store import IndexStoreError
from search.searcher import QueryError, Searcher, clean_query

QUESTION = "외국인 환자를 대상으로 하는 사업은?"


@pytest.fixture(scope="session")
def hybrid_dir(tmp_path_factory, corpus_dir):
    d = tmp_path_factory.mktemp("hybrid") / "index"
    build([corpus_dir], d)  # default model: bundled multilingual-e5-small
    return d


@pytest.fixture(scope="session")
def hybrid(hybrid_dir):
    return Searcher.open(hybrid_dir)


@pytest.fixture(scope="session")
def lexical(bm25_dir):
    return Searcher.open(bm25_dir)


def _programmes(hits):
    return [h.chunk.programme or "" for h in hits]


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_foreign_patient_question_finds_both_programmes(hybrid, mode):
    hits = hybrid.search(QUESTION, top_k=3, mode=mode, group_by="programme")
    progs = " ".join(_programmes(hits))
    assert "스마트메디컬특구" in progs and "의료관광" in progs, [h.citation for h in hits]


def test_default_search_top3_has_both_programmes_with_citations(hybrid):
    hits = hybrid.search(QUESTION, top_k=3)
    progs = " ".join(_programmes(hits))
    assert "스마트메디컬특구" in progs and "의료관광" in progs, [h.citation for h in hits]
    for h in hits:
        c = h.chunk
        src = open(c.path, encoding="utf-8").read().split("\n")
        # The cited line range really holds the passage.
        assert src[c.start_line - 1].strip() in h.text and src[c.end_line - 1].strip() in h.text
        assert h.citation.endswith(f"{c.file}:{c.start_line}-{c.end_line}")
        assert c.department in h.citation and c.programme in h.citation
        assert h.confidence in {"high", "medium", "low"}


def test_citation_format(lexical):
    hit = next(h for h in lexical.search("스마트메디컬특구 사업개요 외국인 환자 홍보", top_k=10, year=2022)
               if h.chunk.start_line <= 197 <= h.chunk.end_line)
    c = hit.chunk
    assert hit.citation == ("2022년 주요업무 보고 · 비전협력과 · 제235회 구의회 임시회 · Ⅱ-⑤ 스마트메디컬특구 활성화"
                            f" · (사업 목적) ~ □ 소요예산 · 000_bb8b9f25a68228af.txt:{c.start_line}-{c.end_line}")
    assert (c.start_line, c.end_line) == (195, 220)
    d = hit.to_dict()
    assert d["source"]["lines"] == [195, 220] and d["source"]["file"] == "000_bb8b9f25a68228af.txt"
    assert d["document"] == {"title": "2022년 주요업무 보고", "department": "비전협력과", "year": 2022,
                             "session": "제235회 구의회 임시회"}
    assert "□ 사업개요" in d["section"]["heading"] and d["section"]["programme"] == "스마트메디컬특구 활성화"


def test_joined_subsections_citation(lexical):
    hit = lexical.search("주한미군 광고 주요 추진실적 Stars and Stripes", top_k=1, year=2023)[0]
    assert hit.citation == ("2023년 주요업무 보고(표지 없음) · 비전협력과 · Ⅲ-① 주한 미군 대상 홍보 광고 운영 · "
                            "(사업 목적) ~ □ 예산현황 · 001_d2cafe401e804f46.txt:427-479")


def test_highlights_mark_question_terms(lexical):
    hit = lexical.search("주한미군 광고", top_k=1)[0]
    marked = [hit.text[s:e] for s, e in hit.highlights]
    assert any("주한미군" in m for m in marked) and any("광고" in m for m in marked)


def test_filters(lexical):
    assert {h.chunk.year for h in lexical.search("의료관광", top_k=10, year=2023)} == {2023}
    assert {h.chunk.chapter_kind for h in lexical.search("의료관광", top_k=10, chapter_kind="plan")} == {"plan"}
    assert {h.chunk.chapter_kind for h in lexical.search("의료관광", top_k=10, chapter_kind="실적")} == {"results"}
    assert {h.chunk.department for h in lexical.search("예산", top_k=10, department="기획예산과")} == {"기획예산과"}
    files = {h.chunk.file for h in lexical.search("예산", top_k=10, file="004_0c03f9222fb96e53.txt")}
    assert files == {"004_0c03f9222fb96e53.txt"}
    assert lexical.search("의료관광", year=1999) == []
    with pytest.raises(QueryError):
        lexical.search("의료관광", chapter_kind="nonsense")


def test_group_by_programme_lists_each_programme_once(lexical):
    hits = lexical.search("의료관광 외국인 환자", top_k=8, group_by="programme")
    keys = [(h.chunk.file, h.chunk.chapter_number, h.chunk.programme_number) for h in hits]
    assert len(keys) == len(set(keys)) and len(keys) >= 4


def test_phrase_signal_prefers_words_in_the_question_order(tmp_path):
    """Two passages with the same terms: hybrid ranks the one holding "예비 인가" as a phrase first;
    plain BM25 cannot tell them apart."""
    from index.build import build_index
    from index.model import Chunk

    texts = {"ordered": "은행업 예비 인가 절차를 안내한다. 심사 일정.",
             "scattered": "인가 서류와 예비 심사, 절차 안내, 예비 서류, 인가 기준.",
             "other1": "구청 예산 편성 현황", "other2": "외국인 환자 유치 사업", "other3": "도서관 독서 교육 프로그램"}
    build_index([Chunk(id=k, file=k, path=k, start_line=1, end_line=1, text=v, index_text=v)
                 for k, v in texts.items()], tmp_path / "idx", model="none")
    s = Searcher.open(tmp_path / "idx")
    q = "예비 인가 절차는?"
    assert [h.chunk.id for h in s.search(q, mode="bm25")][0] == "scattered"  # more term occurrences
    assert [h.chunk.id for h in s.search(q, mode="hybrid", phrase_weight=0)][0] == "scattered"
    assert [h.chunk.id for h in s.search(q, mode="hybrid")][0] == "ordered"
    for bad in ({"dense_weight": 0.7, "phrase_weight": 0.5}, {"phrase_weight": -0.1}, {"fusion": "max"}):
        with pytest.raises(QueryError):
            s.search(q, **bad)


def test_bad_questions():
    for q in ["", "   \n\t", None]:
        with pytest.raises(QueryError):
            clean_query(q)
    q, notices = clean_query("예산 " * 500)
    assert len(q) <= 300 and notices
    q, _ = clean_query("예산\x00\x07은?")
    assert "\x00" not in q


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_ask_json_and_text(bm25_dir):
    r = _cli("ask", QUESTION, "--index-dir", str(bm25_dir), "--json", "--top-k", "3")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["results"]) == 3
    r = _cli("ask", QUESTION, "--index-dir", str(bm25_dir))
    assert r.returncode == 0 and "출처:" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["ask", "   "], "비어"),
    (["ask", "예산", "--index-dir", "/nonexistent/idx"], "kosearch index"),
    (["batch", "/nonexistent/q.txt"], "없습니다"),
])
def test_cli_bad_input_one_line(bm25_dir, args, needle):
    if "--index-dir" not in args:
        args = args + ["--index-dir", str(bm25_dir)]
    r = _cli(*args)
    assert r.returncode != 0 and "Traceback" not in r.stderr and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_long_question_is_truncated_with_notice(bm25_dir):
    r = _cli("ask", "의료관광 " * 200, "--index-dir", str(bm25_dir), "--top-k", "1")
    assert r.returncode == 0 and "알림" in r.stderr


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_batch_formats(tmp_path, bm25_dir, fmt):
    qfile = tmp_path / f"q.{fmt}"
    if fmt == "txt":
        qfile.write_text(f"{QUESTION}\n\n2022년 의료관광 예산은?\n", encoding="utf-8")
        ids = ["1", "3"]
    elif fmt == "csv":
        qfile.write_text(f"id,question\na,{QUESTION}\nb,\nc,청년 일자리\n", encoding="utf-8")
        ids = ["a", "c"]
    else:
        qfile.write_text(json.dumps({"id": "x", "question": QUESTION}, ensure_ascii=False) + "\nnot json\n"
                         + json.dumps({"question": "청년"}, ensure_ascii=False) + "\n", encoding="utf-8")
        ids = ["x", "3"]
    out = tmp_path / "out.jsonl"
    r = _cli("batch", str(qfile), "--index-dir", str(bm25_dir), "--top-k", "2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ids
    res = rows[0]["results"][0]
    assert set(res) >= {"rank", "score", "confidence", "text", "citation", "source", "document", "section", "highlights"}
    assert set(res["source"]) >= {"file", "lines", "page"}
    assert set(res["document"]) == {"title", "department", "year", "session"}
    assert set(res["section"]) >= {"chapter", "programme", "team", "heading"}
    if fmt != "txt":
        assert "건너뜀" in r.stderr  # the bad record is reported, the batch still finishes
    r = _cli("batch", str(qfile), "--index-dir", str(bm25_dir), "--format", "csv", "-o", str(tmp_path / "o.csv"))
    assert r.returncode == 0
    assert (tmp_path / "o.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Korean
    with open(tmp_path / "o.csv", encoding="utf-8-sig", newline="") as fh:
        assert {row["번호"] for row in csv.DictReader(fh)} == set(ids)


FORMULA_IDS = ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\t1", "\n1", "\r1", "\uff1d1+1", "  =1", " @x",
               "  +1", " -1", " \t1", "  \n1", "  \uff1d1", "\u3000=1"]


def test_batch_csv_guards_every_formula_prefix(tmp_path, bm25_dir):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps({"id": i, "question": "=의료관광 예산"}, ensure_ascii=False) + "\n"
                             for i in FORMULA_IDS), encoding="utf-8")
    out = tmp_path / "o.csv"
    r = _cli("batch", str(qfile), "--index-dir", str(bm25_dir), "--top-k", "1", "--format", "csv", "-o", str(out))
    assert r.returncode == 0, r.stderr
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["번호"] for row in rows] == ["'" + i for i in FORMULA_IDS]
    assert all(row["질문"] == "'=의료관광 예산" and row["신뢰도"] in ("높음", "보통", "낮음") for row in rows)


def test_batch_jsonl_carries_notices(tmp_path, bm25_dir):
    qfile = tmp_path / "q.txt"
    qfile.write_text("의료관광 " * 100 + "\n", encoding="utf-8")
    r = _cli("batch", str(qfile), "--index-dir", str(bm25_dir), "--top-k", "1")
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout.splitlines()[0])
    assert any("300자" in n for n in line["notices"]) and "answer" in line
    assert "300자" in r.stderr


def test_manifest_mismatch_says_reindex(bm25_dir, hybrid_dir):
    with pytest.raises(IndexStoreError, match="re-index"):
        Searcher.open(hybrid_dir, model="some/other-model")
    manifest = bm25_dir.parent / "broken"
    shutil.copytree(bm25_dir, manifest)
    m = json.loads((manifest / "manifest.json").read_text())
    m["format_version"] = 999
    (manifest / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexStoreError, match="re-index"):
        Searcher.open(manifest)
    r = _cli("ask", "예산", "--index-dir", str(manifest))
    assert r.returncode != 0 and "re-index" in r.stderr and "Traceback" not in r.stderr


def test_incremental_reindex(tmp_path, corpus_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    idx = tmp_path / "idx"
    first = build([corpus], idx, model="none")
    assert len(first.added) == 5 and first.written
    again = build([corpus], idx, model="none")
    assert not again.written and len(again.unchanged) == 5
    f = corpus / "002_cbb343025f08b939.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("여의도성모병원", "여의도새병원"), encoding="utf-8")
    (corpus / "004_0c03f9222fb96e53.txt").unlink()
    shutil.copy(corpus_dir / "000_bb8b9f25a68228af.txt", corpus / "005_copy.txt")
    s = Searcher.open(idx)
    assert sorted(s.changed_files()) == [("002_cbb343025f08b939.txt", "변경"), ("004_0c03f9222fb96e53.txt", "삭제"),
                                         ("005_copy.txt", "추가")]
    rep = build([corpus], idx, model="none")
    assert rep.changed == ["002_cbb343025f08b939.txt"]
    assert rep.removed == ["004_0c03f9222fb96e53.txt"]
    assert rep.added == ["005_copy.txt"]
    s = Searcher.open(idx)
    assert "004_0c03f9222fb96e53.txt" not in {c.file for c in s.chunks}
    assert s.search("여의도새병원", top_k=1)[0].chunk.file == "002_cbb343025f08b939.txt"


def test_interrupted_build_leaves_previous_index(tmp_path, corpus_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    idx = tmp_path / "idx"
    build([corpus], idx, model="none")
    before = [h.chunk.id for h in Searcher.open(idx).search("의료관광", top_k=5)]
    (corpus / "000_bb8b9f25a68228af.txt").write_text("Ⅰ. 일반현황\n\n1 조직\n\n새 내용 의료관광\n", encoding="utf-8")
    for step in ("bm25", "write"):
        with pytest.raises(RuntimeError):
            build([corpus], idx, model="none", fail_after=step)
        assert [h.chunk.id for h in Searcher.open(idx).search("의료관광", top_k=5)] == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # Killed between the two renames of the swap: the old index is put back on open.
    idx.rename(tmp_path / "idx.old")
    assert [h.chunk.id for h in Searcher.open(idx).search("의료관광", top_k=5)] == before


def test_sentence_transformers_path_with_bundled_minilm(tmp_path, corpus_dir, monkeypatch):
    from index.encoders import bundled_minilm_path

    monkeypatch.setenv("KOSEARCH_HOME", str(tmp_path / "home"))
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    model = str(bundled_minilm_path())
    idx = tmp_path / "idx"
    rep = build([corpus], idx, model=model)
    assert rep.embedded == rep.chunks > 0
    s = Searcher.open(idx)
    assert s.manifest.model["id"] == model and s.manifest.model["dim"] == 384
    hits = s.search("medical tourism 의료관광", top_k=3, mode="dense")
    assert len(hits) == 3
    # Re-indexing unchanged files embeds nothing; a changed file embeds only its own chunks.
    f = corpus / "003_1119614ba66d37cc.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\n추가 문장입니다 함\n", encoding="utf-8")
    rep2 = build([corpus], idx, model=model)
    assert rep2.changed == ["003_1119614ba66d37cc.txt"]
    assert 0 < rep2.embedded <= 3
    with pytest.raises(IndexStoreError, match="re-index"):
        Searcher.open(idx, model="bundled:multilingual-e5-small")


def test_live_searcher_follows_a_rebuilt_index(tmp_path, corpus_dir):
    from search.live import LiveSearcher

    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    idx = tmp_path / "idx"
    build([corpus], idx, model="none")
    live = LiveSearcher(Searcher.open(idx), min_interval=0)
    first = live.current
    q = "여의도새병원 협력"
    assert not any("여의도새병원" in h.text for h in first.search(q))
    f = corpus / "002_cbb343025f08b939.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("여의도성모병원", "여의도새병원"), encoding="utf-8")
    build([corpus], idx, model="none")
    s = live.current
    assert s is not first and s.tokenizer is first.tokenizer  # kiwi carried over, not reloaded
    assert any("여의도새병원" in h.text for h in s.search(q))
    assert live.current is s  # nothing changed since: same searcher
    # mid-swap (no index dir) and a damaged new index: the previous index stays in service
    idx.rename(tmp_path / "away")
    assert live.current is s and live.reload_error is None
    (tmp_path / "away").rename(idx)
    (idx / "manifest.json").write_text("{", encoding="utf-8")
    assert live.current is s and "damaged" in live.reload_error
    assert any("여의도새병원" in h.text for h in live.current.search(q))
