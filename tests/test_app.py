"""The web app: its `search` API through gradio_client, rendering and escaping, export, start-up errors."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

import app  # noqa: E402
from conftest import free_port  # noqa: E402
from search import present as export  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "외국인 환자를 대상으로 하는 사업은?"
CITED_LINES = re.compile(r"000_bb8b9f25a68228af\.txt:\d+-\d+$")


@pytest.fixture(scope="session")
def app_index(bm25_dir):
    return bm25_dir  # BM25 only: fast; the app does not depend on the mode


@pytest.fixture(scope="session")
def searcher(bm25_searcher):
    return bm25_searcher


@pytest.fixture(scope="session")
def server(app_server):
    return app_server


@pytest.fixture(scope="session")
def client(server):
    return gradio_client.Client(server, verbose=False)


def ask(client, *args, **kw) -> dict:
    return json.loads(client.predict(*args, api_name="/search", **kw))


# ---- API ----------------------------------------------------------------------------------------
def test_search_api_cites_programmes_and_line_ranges(client):
    out = ask(client, QUESTION, 5)
    assert set(out) >= {"id", "question", "notices", "results", "answer"}
    assert out["notices"] == []
    assert out["question"] == QUESTION and out["id"]
    cites = [r["citation"] for r in out["results"]]
    assert len(cites) == 5
    assert any("스마트메디컬특구" in c or "의료관광" in c for c in cites), cites
    assert any(CITED_LINES.search(c) for c in cites), cites
    for r in out["results"]:
        assert r["confidence"] in ("high", "medium", "low")
        assert r["source"]["lines"][0] <= r["source"]["lines"][1]
        for s, e in r["highlights"]:
            assert 0 <= s < e <= len(r["text"])


def test_search_api_matches_batch_json(client, searcher, tmp_path, capsys):
    from search.batch import run_batch

    qfile = tmp_path / "q.txt"
    qfile.write_text(QUESTION + "\n", encoding="utf-8")
    run_batch(searcher, qfile, top_k=3)
    batch = json.loads(capsys.readouterr().out.splitlines()[0])
    api = ask(client, QUESTION, 3)
    assert api["results"] == batch["results"]
    assert api["question"] == batch["question"]


def test_search_api_top_k_and_defaults(client):
    assert len(ask(client, QUESTION, 1)["results"]) == 1
    assert len(ask(client, QUESTION)["results"]) == 5  # top_k defaults to 5


@pytest.mark.parametrize("kw, check", [
    ({"year": 2023}, lambda r: r["document"]["year"] == 2023),
    ({"department": "기획예산과"}, lambda r: r["document"]["department"] == "기획예산과"),
    ({"chapter_kind": "results"}, lambda r: r["section"]["chapter_kind"] == "results"),
    ({"chapter_kind": "계획"}, lambda r: r["section"]["chapter_kind"] == "plan"),
])
def test_search_api_filters(client, kw, check):
    out = ask(client, "사업 예산", 5, **kw)
    assert out["results"], kw
    assert all(check(r) for r in out["results"]), [r["citation"] for r in out["results"]]


def test_search_api_filter_with_no_chunks_returns_empty(client, searcher):
    pairs = {(c.year, c.department) for c in searcher.chunks}
    year, dept = next((y, d) for y in {y for y, _ in pairs if y} for d in {d for _, d in pairs if d}
                      if (y, d) not in pairs)
    assert ask(client, QUESTION, 5, year=year, department=dept)["results"] == []  # each value exists, not together
    with pytest.raises(Exception) as info:  # a year the index does not hold: say which ones it does
        client.predict(QUESTION, 5, year=1999, api_name="/search")
    assert "색인에 없는 연도: 1999년 (있는 연도: " in str(info.value)


@pytest.mark.parametrize("bad", ["", "   ", "\x00\x07\x1b", "\n\t\n"])
def test_search_api_empty_question_is_a_friendly_error(client, bad):
    with pytest.raises(Exception) as info:
        client.predict(bad, 5, api_name="/search")
    assert "질문이 비어 있습니다" in str(info.value)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("k", [0, -3, 51])
def test_search_api_bad_top_k(client, k):
    with pytest.raises(Exception) as info:
        client.predict(QUESTION, k, api_name="/search")
    assert "top_k" in str(info.value)


def test_search_api_unknown_kind_is_a_friendly_error(client):
    with pytest.raises(Exception) as info:
        client.predict(QUESTION, 5, chapter_kind="budget", api_name="/search")
    assert "장 종류" in str(info.value)


def test_search_api_html_question_is_data_not_markup(client):
    q = "<script>alert(1)</script> 의료관광"
    out = ask(client, q, 3)
    assert out["question"] == q  # JSON carries it as text; nothing is rendered
    assert out["results"]


def test_search_api_100kb_paste_is_truncated(client):
    q = ("의료관광 예산 " * 20000)[:100_000]
    out = ask(client, q, 3)
    assert len(out["question"]) == 300
    assert out["results"]
    assert any("300자" in n for n in out["notices"])


def test_ui_events_are_not_public_api(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert list(info["named_endpoints"]) == ["/search"]


def test_login_from_auth(searcher):
    demo = app.build_app(searcher)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                auth=app.parse_auth("staff:s3cret"))
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception):
            gradio_client.Client(url, verbose=False)
        c = gradio_client.Client(url, auth=("staff", "s3cret"), verbose=False)
        assert ask(c, QUESTION, 1)["results"]
    finally:
        demo.close()


# ---- rendering ----------------------------------------------------------------------------------
def test_highlight_escapes_then_marks():
    text = "<b>외국인</b> 환자 & 가족"
    html = app.highlight_html(text, [(3, 6), (11, 13)])
    assert html == "&lt;b&gt;<mark>외국인</mark>&lt;/b&gt; <mark>환자</mark> &amp; 가족"
    # out-of-range, reversed and overlapping spans are tolerated
    assert app.highlight_html("abc", [(2, 99), (0, 2), (1, 2), (3, 1)]) == "<mark>ab</mark><mark>c</mark>"


def test_cards_escape_html_and_show_citation(searcher):
    hits = searcher.search(QUESTION, top_k=3)
    page = app.results_html("<script>alert(1)</script>", hits, [None] * len(hits), notices=["<i>알림</i>"])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;i&gt;알림&lt;/i&gt;" in page
    assert page.count('class="ks-card') == 3 and page.count('class="ks-copy"') == 3
    assert "<mark>" in page
    assert hits[0].citation.split(" · ")[-1] in page
    assert "신뢰도 " in page


def test_no_match_message(searcher):
    assert app.NO_MATCH in app.results_html("asdfqwer", [], [])
    hits = searcher.search("구립 도서관 운영 시간", top_k=3)
    if hits and all(h.confidence == "low" for h in hits):
        page = app.results_html("구립 도서관 운영 시간", hits, [None] * len(hits))
        assert app.NO_MATCH in page and page.count('class="ks-card') == len(hits)
    good = app.results_html(QUESTION, searcher.search(QUESTION, top_k=3), [None] * 3)
    assert app.NO_MATCH not in good


def test_grouped_view_lists_programmes(searcher):
    hits = searcher.search(QUESTION, top_k=5, group_by="programme")
    page = app.results_html(QUESTION, hits, [None] * len(hits), grouped=True)
    assert page.count("<li>") == len(hits)
    assert "스마트메디컬특구" in page and "의료관광" in page


def test_status_shows_counts_and_changed_files(searcher):
    page = app.status_html(searcher, [("000_bb8b9f25a68228af.txt", "변경")])
    assert "보고서" in page and "5개" in page and str(searcher.stats()["chunks"]) in page
    assert "BM25 전용" in page and "000_bb8b9f25a68228af.txt (변경)" in page
    assert "모두 최신" in app.status_html(searcher, [])


# ---- export -------------------------------------------------------------------------------------
def test_export_csv_and_markdown(searcher):
    results = [h.to_dict() for h in searcher.search(QUESTION, top_k=3)]
    text = export.to_csv(QUESTION, results)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert len(rows) == 3 and rows[0]["출처"] == results[0]["citation"]
    assert all(not r["구절"].startswith(("=", "+", "-", "@")) for r in rows)
    md = export.to_markdown(QUESTION, results)
    assert md.startswith(f"# 검색 요약: {QUESTION}")
    assert all(f"출처: {r['citation']}" in md for r in results)
    assert export.NO_MATCH in export.to_markdown("asdfqwer", [])


def test_export_csv_neutralises_formulas():
    rows = list(csv.DictReader(io.StringIO(export.to_csv("=HYPERLINK(\"x\")", [
        {"rank": 1, "score": 1.0, "confidence": "low", "citation": "c", "text": "- 규모: 10억원",
         "source": {"file": "f", "lines": [1, 2]}, "document": {}, "section": {}}])[1:])))
    assert rows[0]["질문"].startswith("'=") and rows[0]["구절"] == "'- 규모: 10억원" and rows[0]["신뢰도"] == "낮음"


GUARDED = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\nx", "\rx", "\uff1d1+1", "  =1+1", " +1", "   @x",
           "  -1", " \tx", "  \nx", " \r=1", "  \uff1d1", "\u3000=1", " \u3000@x"]  # also after leading spaces


@pytest.mark.parametrize("cell", GUARDED)
def test_csv_guards_each_formula_prefix(cell):
    assert export.csv_cell(cell) == "'" + cell
    assert export.csv_cell("예산 =1") == "예산 =1" and export.csv_cell(12) == "12"


@pytest.mark.parametrize("cell", GUARDED)
def test_app_export_csv_guards_each_prefix(searcher, cell):
    h = app.Handlers(searcher)
    page, state, _ = h.ui_search(QUESTION, app.ALL, app.ALL, "all", 2, app.VIEW_PASSAGES)
    state["results"][0]["text"] = cell
    state["results"][0]["citation"] = cell
    path = h.export_csv(state)
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0]["구절"] == "'" + cell and rows[0]["출처"] == "'" + cell
    assert rows[0]["신뢰도"] in ("높음", "보통", "낮음")


def test_handlers_are_plain_functions(searcher):
    h = app.Handlers(searcher)
    page, state, _ = h.ui_search("   ", app.ALL, app.ALL, "all", 5, app.VIEW_PASSAGES)
    assert "질문이 비어 있습니다" in page and state is None
    page, state, _ = h.ui_search(QUESTION, "2022", app.ALL, "plan", 3, app.VIEW_PROGRAMMES)
    assert state["results"] and "answer" in state and 'class="ks-card' in page
    out = json.loads(h.api_search(QUESTION, 2))
    assert len(out["results"]) == 2 and out["notices"] == []
    md = Path(h.export_md(state)).read_text(encoding="utf-8")
    assert "# 검색 요약" in md and h.export_csv(None) is None


def test_markdown_keeps_whole_passages_and_escapes_html():
    text = "\n".join(f"○ {i}번째 줄 <b>굵게</b> & 기호" for i in range(60))  # ~1,500 chars: no cut
    md = export.to_markdown("<script>x</script>", [{"rank": 1, "confidence": "high", "citation": "c", "text": text}])
    assert "<b>" not in md and "<script>" not in md and "&lt;b&gt;" in md
    assert all(f"{i}번째 줄" in md for i in range(60)) and "…" not in md


# ---- command line -------------------------------------------------------------------------------
def test_parse_auth():
    assert app.parse_auth(None) is None and app.parse_auth(" ") is None
    assert app.parse_auth("a:b") == [("a", "b")]
    assert app.parse_auth("a:b, c:d:e") == [("a", "b"), ("c", "d:e")]
    for bad in ("nouser", ":pw", "user:"):
        with pytest.raises(ValueError):
            app.parse_auth(bad)


def test_missing_index_is_one_line_and_nonzero(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--index-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode != 0
    assert "kosearch index corpus" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_serve_passes_host_port_and_index(monkeypatch):
    import cli

    seen = {}
    monkeypatch.setattr(app, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    cli.main(["serve", "--index-dir", "/x/idx", "--port", "9999"])
    assert seen["argv"] == ["--host", "127.0.0.1", "--port", "9999", "--index-dir", "/x/idx"]
    args = app.build_parser().parse_args([])
    assert (args.host, args.port, args.index_dir) == ("127.0.0.1", 7860, ".kosearch/index")


def test_bad_auth_env_is_one_line(tmp_path):
    env = {**__import__("os").environ, "KOSEARCH_AUTH": "nocolon"}
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--index-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert r.returncode == 2 and "KOSEARCH_AUTH" in r.stderr and "Traceback" not in r.stderr


def test_app_answers_from_a_rebuilt_index_without_restart(tmp_path, corpus_dir):
    import shutil

    from index.build import build
    from search.live import LiveSearcher
    from search.searcher import Searcher

    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    idx = tmp_path / "idx"
    build([corpus], idx, model="none")
    demo = app.build_app(LiveSearcher(Searcher.open(idx), min_interval=0))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        c = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        q = "여의도새병원 협력"
        assert not any("여의도새병원" in r["text"] for r in ask(c, q, 5)["results"])
        f = corpus / "002_cbb343025f08b939.txt"
        f.write_text(f.read_text(encoding="utf-8").replace("여의도성모병원", "여의도새병원"), encoding="utf-8")
        build([corpus], idx, model="none")
        assert any("여의도새병원" in r["text"] for r in ask(c, q, 5)["results"])
    finally:
        demo.close()


def test_answer_card_leads_and_exports_carry_the_answer(searcher):
    h = app.Handlers(searcher)
    page, state, _ = h.ui_search("22년 의료관광 활성화 예산 얼마야?", app.ALL, app.ALL, "all", 3, app.VIEW_PASSAGES)
    assert page.index('class="ks-answer"') < page.index('class="ks-card')
    assert "<mark>487,492천원" in page and 'data-cite="' in page
    rows = list(csv.DictReader(io.StringIO(Path(h.export_csv(state)).read_text(encoding="utf-8-sig"), newline="")))
    assert rows[0]["답"].startswith("487,492천원") and rows[0]["답 출처"].endswith("000_bb8b9f25a68228af.txt:59")
    md = Path(h.export_md(state)).read_text(encoding="utf-8")
    assert "## 답" in md and "487,492천원" in md
    out = json.loads(h.api_search("22년 의료관광 활성화 예산 얼마야?", 3))
    assert out["answer"]["value"] == "487,492천원" and out["answer"]["source"]["lines"] == [59, 59]
    page, state, _ = h.ui_search("기시와다시랑 자매결연 몇 년도에 맺었어?", app.ALL, app.ALL, "all", 3, app.VIEW_PASSAGES)
    assert 'ks-answer-none' in page and state["answer"] is None


# ---- issue 15: answer first, compact passages, facets, shared links, the source viewer -----------
def test_compact_passage_shows_lines_around_the_first_mark():
    text = "\n".join(f"{i}번째 줄" for i in range(20))
    at = text.index("10번째")
    html_ = app.passage_html(text, [(at, at + 2)])
    short = html_.split('<div class="ks-short">')[1].split("</div>")[0]
    assert all(f"{i}번째" in short for i in (8, 9, 11, 12)) and "7번째" not in short and "13번째" not in short
    assert "<mark>10</mark>" in short and "(위 8줄)" in short and "(아래 7줄)" in short
    assert 'class="ks-full" hidden' in html_ and "19번째" in html_ and "더 보기 (전체 20줄)" in html_
    short_text = "a\nb\nc"
    assert "ks-more" not in app.passage_html(short_text, [(0, 1)])
    assert "&lt;b&gt;" in app.passage_html("<b>\n" * 30, [])  # escaped in both views


def test_facet_counts_label_each_filter_choice(searcher):
    h = app.Handlers(searcher)
    page, state, facets = h.search_page(QUESTION, app.ALL, app.ALL, "all", 5, app.VIEW_PASSAGES)
    counts = h.facet_counts(QUESTION)
    assert counts["total"] > 0 and sum(counts["year"].values()) == counts["total"]
    years = dict((v, lab) for lab, v in facets["year"])
    assert years[app.ALL] == f"{app.ALL} ({counts['total']})"
    assert years["2022"] == f"2022 ({counts['year']['2022']})" and counts["year"]["2022"] > 0
    assert all(re.search(r"\(\d+\)$", lab) for lab, _ in facets["department"] + facets["kind"])
    assert h.facet_choices(None)["year"][0] == (app.ALL, app.ALL)  # no question: plain choices


def test_filter_that_removes_everything_is_named(searcher):
    h = app.Handlers(searcher)
    counts = h.facet_counts(QUESTION)
    _, depts = h.current().choices
    empty = next(d for d in depts[1:] if counts["department"].get(d, 0) == 0)
    page, _, _ = h.search_page(QUESTION, app.ALL, empty, "all", 5, app.VIEW_PASSAGES)
    assert f"부서 {empty} 필터 때문에 결과가 없습니다" in page and f"필터 없이 {counts['total']}건" in page
    page, _, _ = h.search_page(QUESTION, "2022", app.ALL, "all", 5, app.VIEW_PASSAGES)
    assert "필터 때문에" not in page  # a filter that keeps results says nothing


def test_shared_link_restores_only_known_values(searcher):
    h = app.Handlers(searcher)
    r = h.restore({"q": QUESTION, "year": "2022", "dept": "<script>x</script>", "kind": "plan", "k": "99",
                   "view": "programme"})
    assert (r["question"], r["year"], r["department"], r["kind"], r["top_k"], r["view"]) == (
        QUESTION, "2022", app.ALL, "plan", app.UI_MAX_TOP_K, app.VIEW_PROGRAMMES)
    assert any("부서" in n for n in r["notices"])
    r = h.restore({"year": "abc", "kind": "../x", "k": "x"})
    assert r["question"] == "" and r["year"] == app.ALL and r["kind"] == "all" and r["top_k"] == 5
    assert len(r["notices"]) == 2


def test_viewer_opens_an_indexed_text_citation_with_the_lines_marked(searcher):
    h = app.Handlers(searcher)
    hit = searcher.search(QUESTION, top_k=1)[0]
    c = hit.chunk
    out = h.ui_view({"file": c.file, "a": str(c.start_line), "b": str(c.end_line), "page": ""})
    assert 'class="ks-modal"' in out and "ks-view-error" not in out
    cited = re.findall(r'<div class="ks-line ks-cited"><span class="ks-ln">(\d+)</span>', out)
    assert [int(n) for n in cited] == list(range(c.start_line, c.end_line + 1))
    assert f"{c.start_line}-{c.end_line}행" in out


@pytest.mark.parametrize("data", [
    {"file": "../000_bb8b9f25a68228af.txt", "a": "1", "b": "2"},
    {"file": "../../etc/passwd", "a": "1", "b": "2"},
    {"file": "/etc/passwd", "a": "1", "b": "2"},
    {"file": "..\\..\\windows\\win.ini", "a": "1", "b": "2"},
    {"file": "C:/windows/win.ini", "a": "1", "b": "2"},
    {"file": "~/.ssh/id_rsa", "a": "1", "b": "2"},
    {"file": "corpus/../../etc/passwd", "a": "1", "b": "2"},
    {"file": "<img src=x onerror=alert(1)>", "a": "1", "b": "2"},
    {"file": "nope.txt", "a": "1", "b": "2"},
    {"file": "000_bb8b9f25a68228af.txt", "a": "x", "b": "2"},
    {"file": "000_bb8b9f25a68228af.txt", "a": "5", "b": "2"},
    {"file": "000_bb8b9f25a68228af.txt", "a": "1", "b": "2", "page": "-1"},
    {"file": ["000_bb8b9f25a68228af.txt"], "a": "1", "b": "2"},
    None, "../etc/passwd", 42,
])
def test_viewer_refuses_paths_and_bad_requests_in_one_korean_line(searcher, data):
    out = app.Handlers(searcher).ui_view(data)
    msg = re.search(r'class="ks-msg ks-msg-warn ks-view-error" role="alert">([^<]*)<', out)
    assert msg and re.search(r"[가-힣]", msg.group(1)) and "\n" not in msg.group(1), out
    assert "<img" not in out and "ks-line" not in out and "root:" not in out and "Traceback" not in out


@pytest.fixture(scope="module")
def pdf_searcher(tmp_path_factory):
    import shutil

    from index.build import build
    from search.searcher import Searcher

    d = tmp_path_factory.mktemp("app_pdf")
    shutil.copy(ROOT / "tests" / "fixtures" / PDF_FIXTURE, d / PDF_FIXTURE)
    build([d], d / "index", model="none")
    return Searcher.open(d / "index")


PDF_FIXTURE = "pdf_moef_fdi_2025q2_press_hancom.pdf"


def test_viewer_renders_a_pdf_citation_on_its_page(pdf_searcher):
    import base64

    from search.viewer import view

    h = app.Handlers(pdf_searcher)
    c = next(c for c in pdf_searcher.chunks if c.page == 9)
    out = h.ui_view({"file": c.file, "a": c.start_line, "b": c.end_line, "page": c.page})
    assert 'data-format="pdf" data-page="9"' in out and "9쪽" in out and "노란 상자" in out
    src = re.search(r'src="data:image/png;base64,([^"]+)"', out).group(1)
    assert base64.b64decode(src) == view(pdf_searcher, c.file, (c.start_line, c.end_line), 9).png
    page, _, _ = h.search_page("해외직접투자의 정의", app.ALL, app.ALL, "all", 3, app.VIEW_PASSAGES)
    files = re.findall(r'class="ks-open" data-file="([^"]*)"', page)
    assert files and set(files) == {PDF_FIXTURE}  # the index's name for the file, never its path


def test_programme_view_reads_the_whole_programme_by_id(searcher):
    """A passage that is a whole subsection expands to its programme, read from the store by id."""
    state = app.IndexState(searcher)
    chunks = list(searcher.chunks)
    shown = 0
    for c in chunks:
        if c.programme is None:
            continue
        same = [x for x in chunks if (x.file, x.chapter_number, x.programme_number, x.programme)
                == (c.file, c.chapter_number, c.programme_number, c.programme)]
        ctx = state.context_for(c)
        if ctx and ctx[0].startswith("사업 전체 보기"):
            assert len(same) > 1
            assert all(x.text.strip()[:40] in ctx[1] for x in same)
            shown += 1
    assert shown >= 3
    assert app._choices(searcher)[0][1:] == [str(y) for y in searcher.store.chunks.facets()["years"]]
