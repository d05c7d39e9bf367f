"""The web app in real headless Chromium (Debian's `chromium`, driven by Playwright's Python API).

Skipped only when Chromium is not installed; `.ci/run` installs it when missing.
"""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (apt-get install chromium)")

import app  # noqa: E402

QUESTION = "외국인 환자를 대상으로 하는 사업은?"
NO_MATCH_QUESTION = "구립 도서관 운영 시간"   # nothing about libraries in the corpus
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def searcher(bm25_searcher):
    return bm25_searcher


@pytest.fixture(scope="module")
def url(app_server):
    return app_server.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(url + "/")
    pg.wait_for_selector("#ks-question textarea, #ks-question input")
    yield pg
    ctx.close()


def ask(pg, question: str) -> None:
    box = pg.locator("#ks-question textarea, #ks-question input").first
    box.fill(question)
    box.press("Enter")


def test_enter_searches_and_shows_cited_card(page, tmp_path):
    ask(page, QUESTION)
    card = page.locator("#ks-results .ks-card").first
    card.wait_for()
    cite = card.locator(".ks-cite-text").inner_text()
    assert "비전협력과" in cite and (".txt:" in cite), cite
    assert page.locator("#ks-results .ks-card").count() == 5
    assert card.locator(".ks-passage mark").count() >= 1
    assert card.locator(".ks-badge").inner_text().startswith("신뢰도 ")
    page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
    assert (tmp_path / "desktop.png").stat().st_size > 10_000


def test_copy_citation_puts_it_on_the_clipboard(page):
    ask(page, QUESTION)
    card = page.locator("#ks-results .ks-card").first
    card.wait_for()
    btn = card.locator("button.ks-copy")
    expected = btn.get_attribute("data-cite")
    btn.click()
    page.wait_for_function("b => b.textContent.includes('복사됨')", arg=btn.element_handle())
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_expander_shows_the_surrounding_text(page):
    ask(page, QUESTION)
    page.locator("#ks-results .ks-card").first.wait_for()
    details = page.locator("#ks-results .ks-card details").first
    details.locator("summary").click()
    sec = details.locator(".ks-section")
    sec.wait_for()
    assert len(sec.inner_text()) > len(page.locator("#ks-results .ks-passage").first.inner_text())


def test_grouped_view_lists_programmes(page):
    ask(page, QUESTION)
    page.locator("#ks-results .ks-card").first.wait_for()
    page.locator("#ks-view").get_by_text("사업별 보기").click()
    page.locator("#ks-results .ks-proglist li").first.wait_for()
    items = page.locator("#ks-results .ks-proglist li").all_inner_texts()
    assert len(items) >= 2
    joined = " ".join(items)
    assert "스마트메디컬특구" in joined and "의료관광" in joined, items


def test_no_match_message_then_nearest_passages(page, searcher):
    hits = searcher.search(NO_MATCH_QUESTION, top_k=5)
    assert all(h.confidence == "low" for h in hits), "pick a question the index cannot answer"
    ask(page, NO_MATCH_QUESTION)
    msg = page.locator("#ks-results .ks-msg-nomatch")
    msg.wait_for()
    assert app.NO_MATCH in msg.inner_text()
    assert page.locator("#ks-results .ks-card").count() == len(hits)


def test_html_question_is_shown_as_text(page):
    ask(page, "<img src=x onerror=alert(1)><script>alert(2)</script>")
    page.locator("#ks-results .ks-summary, #ks-results .ks-msg").first.wait_for()
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.locator("#ks-results img").count() == 0
    assert "<script>alert(2)</script>" in page.locator("#ks-results .ks-summary").first.inner_text()


def test_empty_question_is_a_friendly_message(page):
    ask(page, "   ")
    msg = page.locator("#ks-results .ks-msg-warn")
    msg.wait_for()
    assert "질문이 비어 있습니다" in msg.inner_text()
    assert "Traceback" not in page.content()


def test_long_paste_shows_a_notice(page):
    page.locator("#ks-question textarea, #ks-question input").first.evaluate(
        "(el) => { el.value = '의료관광 예산 '.repeat(250); el.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.locator("#ks-question textarea, #ks-question input").first.press("Enter")
    msg = page.locator("#ks-results .ks-msg-warn")
    msg.wait_for()
    assert "너무 길어" in msg.inner_text()
    assert page.locator("#ks-results .ks-card").count() >= 1


def test_filters_narrow_the_results(page):
    ask(page, "사업 예산")
    page.locator("#ks-results .ks-card").first.wait_for()
    page.locator("#ks-dept input").click()
    page.get_by_role("option", name="기획예산과").click()
    page.wait_for_function(
        "() => { const c = document.querySelector('#ks-results .ks-summary');"
        " return c && c.textContent.includes('필터: 기획예산과'); }")
    cites = page.locator("#ks-results .ks-cite-text").all_inner_texts()
    assert cites and all("기획예산과" in c for c in cites), cites


def test_export_csv_download(page):
    ask(page, QUESTION)
    page.locator("#ks-results .ks-card").first.wait_for()
    page.get_by_text("결과 내보내기").click()
    page.locator("#ks-export-csv").click()
    link = page.locator("#ks-export-file a").first
    link.wait_for()
    with page.expect_download() as dl:
        link.click()
    raw = open(dl.value.path(), "rb").read()
    data = raw.decode("utf-8-sig")
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Korean
    assert data.startswith("번호,질문,답,") and QUESTION in data  # the Korean headers of search.present


def test_narrow_window_has_no_sideways_scroll(browser, url, tmp_path):
    ctx = browser.new_context(viewport={"width": 800, "height": 900}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(url + "/")
        ask(pg, QUESTION)
        pg.locator("#ks-results .ks-card").first.wait_for()
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, width
        pg.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    finally:
        ctx.close()


CONTRAST_JS = """(sel) => {
  const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
      .map(x => x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const el = document.querySelector(sel);
  const card = el.closest('.ks-card');
  const fg = lum(getComputedStyle(el).color), bg = lum(getComputedStyle(card).backgroundColor);
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_cards_are_readable_in_light_and_dark_mode(browser, url, scheme):
    ctx = browser.new_context(viewport={"width": 1000, "height": 900}, color_scheme=scheme)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(url + "/")
        ask(pg, QUESTION)
        pg.locator("#ks-results .ks-card").first.wait_for()
        for sel in ("#ks-results .ks-passage", "#ks-results .ks-cite-text", "#ks-results .ks-title"):
            ratio = pg.evaluate(CONTRAST_JS, sel)
            assert ratio >= 4.5, (scheme, sel, ratio)
    finally:
        ctx.close()


def test_answer_card_sits_above_the_passages(page):
    ask(page, "22년 의료관광 활성화 예산 얼마야?")
    card = page.locator("#ks-results .ks-answer").first
    card.wait_for()
    assert "487,492천원" in card.locator(".ks-answer-value").inner_text()
    first = page.locator("#ks-results .ks-card").first
    assert card.bounding_box()["y"] < first.bounding_box()["y"]


# ---- issue 15: answer first, compact passages, facets, shared links, the source viewer -----------
ANSWER_QUESTION = "22년 의료관광 활성화 예산 얼마야?"
PDF_FIXTURE = "pdf_moef_fdi_2025q2_press_hancom.pdf"
PDF_QUESTION = "해외직접투자의 정의"


@pytest.fixture
def small_page(browser, url):
    """A 1280×800 window: the first screen the issue asks about."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    ctx.close()


def _inside_viewport(pg, locator) -> bool:
    box = locator.bounding_box()
    vp = pg.viewport_size
    return box is not None and box["y"] >= 0 and box["x"] >= 0 and box["y"] + box["height"] <= vp["height"] \
        and box["x"] + box["width"] <= vp["width"]


def test_answer_and_first_passage_fit_the_first_screen(small_page, url, tmp_path):
    pg = small_page
    pg.goto(url + "/")
    ask(pg, ANSWER_QUESTION)
    answer = pg.locator("#ks-results .ks-answer").first
    answer.wait_for()
    assert "487,492천원" in answer.inner_text()
    assert pg.evaluate("window.scrollY") == 0
    assert _inside_viewport(pg, answer), answer.bounding_box()
    first = pg.locator("#ks-results .ks-card").first
    assert _inside_viewport(pg, first.locator(".ks-passage")), first.bounding_box()
    assert _inside_viewport(pg, first.locator(".ks-cite-text")), first.bounding_box()
    pg.screenshot(path=str(tmp_path / "first-screen.png"))


def test_more_expands_a_passage_in_place(page):
    ask(page, QUESTION)
    card = page.locator("#ks-results .ks-card").filter(has=page.locator("button.ks-more")).first
    card.wait_for()
    short = card.locator(".ks-short")
    before = card.locator(".ks-passage").bounding_box()["height"]
    assert short.is_visible() and not card.locator(".ks-full").is_visible()
    assert short.locator("mark").count() >= 1
    btn = card.locator("button.ks-more")
    assert btn.inner_text().startswith("더 보기")
    btn.click()
    full = card.locator(".ks-full")
    full.wait_for()
    assert not short.is_visible() and btn.get_attribute("aria-expanded") == "true" and btn.inner_text() == "접기"
    assert card.locator(".ks-passage").bounding_box()["height"] > before * 1.5
    assert len(full.inner_text()) > len(short.text_content())
    btn.click()
    short.wait_for()
    assert not full.is_visible()


def test_filter_choices_show_facet_counts(page):
    import re

    ask(page, QUESTION)
    page.locator("#ks-results .ks-card").first.wait_for()
    page.wait_for_function("() => /\\(\\d+\\)$/.test(document.querySelector('#ks-year input').value)")
    total = int(re.search(r"\((\d+)\)$", page.locator("#ks-year input").input_value()).group(1))
    assert total > 0
    page.locator("#ks-year input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert any(re.fullmatch(r"2022 \(\d+\)", o.strip()) for o in options), options
    counts = [int(re.search(r"\((\d+)\)$", o.strip()).group(1)) for o in options if "전체" not in o]
    assert sum(counts) == total, options


def test_url_with_a_question_restores_the_search(browser, url):
    from urllib.parse import parse_qs, quote, urlparse

    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(f"{url}/?q={quote(QUESTION)}&year=2022&kind=plan")
        card = pg.locator("#ks-results .ks-card").first
        card.wait_for()
        assert pg.locator("#ks-question textarea, #ks-question input").first.input_value() == QUESTION
        assert pg.locator("#ks-year input").input_value().startswith("2022")
        assert pg.locator("#ks-kind input").input_value().startswith("계획")
        assert "필터: 2022년 · 계획" in pg.locator("#ks-results .ks-summary").first.inner_text()
        assert all("2022" in c for c in pg.locator("#ks-results .ks-cite-text").all_inner_texts())
        # a new search writes its own link into the address bar, and into this browser's recent list
        ask(pg, ANSWER_QUESTION)
        pg.wait_for_function("q => new URLSearchParams(location.search).get('q') === q", arg=ANSWER_QUESTION)
        params = parse_qs(urlparse(pg.url).query)
        assert params["year"] == ["2022"] and params["kind"] == ["plan"]
        recent = pg.locator("#ks-recent a")
        recent.first.wait_for()
        assert recent.first.inner_text() == ANSWER_QUESTION
        assert QUESTION in recent.all_inner_texts()
        recent.filter(has_text=QUESTION).first.click()  # one click repeats it
        pg.wait_for_function("q => new URLSearchParams(location.search).get('q') === q", arg=QUESTION)
        pg.locator("#ks-results .ks-card").first.wait_for()
        assert pg.locator("#ks-question textarea, #ks-question input").first.input_value() == QUESTION
    finally:
        ctx.close()
    other = browser.new_context(locale="ko-KR")  # another user (another browser profile) sees none of it
    try:
        pg = other.new_page()
        pg.goto(url + "/")
        pg.locator("#ks-recent .ks-recent-head").wait_for()
        assert pg.locator("#ks-recent a").count() == 0
    finally:
        other.close()


@pytest.fixture(scope="module")
def pdf_app(tmp_path_factory):
    """The app over an index of one PDF (BM25 only): (url, searcher)."""
    from conftest import free_port
    from index.build import build
    from search.searcher import Searcher

    d = tmp_path_factory.mktemp("browser_pdf")
    src = d / "reports"
    src.mkdir()
    shutil.copy(app.Path(__file__).parent / "fixtures" / PDF_FIXTURE, src / PDF_FIXTURE)
    build([src], d / "index", model="none")
    s = Searcher.open(d / "index")
    demo = app.build_app(s, roots=[src])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}", s
    demo.close()


def _highlight_shares(img) -> tuple[float, float]:
    """Shares of pixels tinted by the viewer's highlight (search.viewer.HIGHLIGHT_RGBA over white
    paper) and of its box outline (BOX_RGBA) in a PIL image."""
    px = list(img.convert("RGB").getdata())
    tint = sum(1 for r, g, b in px if r > 235 and 200 < g < 245 and 110 < b < 185)
    edge = sum(1 for r, g, b in px if abs(r - 230) < 25 and abs(g - 120) < 35 and b < 60)
    return tint / len(px), edge / len(px)


def test_viewer_opens_a_pdf_citation_on_its_page_with_the_highlight(browser, pdf_app, tmp_path):
    from urllib.parse import quote

    base, searcher = pdf_app
    hit = searcher.search(PDF_QUESTION, top_k=1)[0]
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(f"{base}/?q={quote(PDF_QUESTION)}")
        card = pg.locator("#ks-results .ks-card").first
        card.wait_for()
        btn = card.locator("button.ks-open")
        assert btn.get_attribute("data-file") == PDF_FIXTURE
        assert int(btn.get_attribute("data-page")) == hit.chunk.page
        btn.click()
        img = pg.locator("#ks-viewer .ks-modal img.ks-page")
        img.wait_for()
        pg.wait_for_function("() => { const i = document.querySelector('#ks-viewer img.ks-page');"
                             " return i && i.complete && i.naturalWidth > 0; }")
        pg.wait_for_timeout(300)  # scrolled to the boxes on load
        modal = pg.locator("#ks-viewer .ks-modal")
        assert modal.get_attribute("data-page") == str(hit.chunk.page)
        assert f"{hit.chunk.page}쪽" in pg.locator("#ks-viewer .ks-modal-where").inner_text()
        # the pixels on screen: the visible part of the page image carries the highlight colour
        shot = pg.screenshot(path=str(tmp_path / "viewer.png"))
        box = img.bounding_box()
        top, bottom = max(0, box["y"]), min(800, box["y"] + box["height"])
        assert bottom - top > 200
        from PIL import Image
        import io as _io

        region = Image.open(_io.BytesIO(shot)).crop((int(box["x"]), int(top), int(box["x"] + box["width"]), int(bottom)))
        tint, edge = _highlight_shares(region)
        assert tint > 0.01 and edge > 0.002, (tint, edge)
        page_only = Image.open(_io.BytesIO(pdf_page_png(searcher, hit.chunk.page)))  # the same page, unmarked
        assert _highlight_shares(page_only) == (0.0, 0.0)
        pg.locator("#ks-viewer .ks-modal-close").click()
        modal.wait_for(state="detached")
    finally:
        ctx.close()


def pdf_page_png(searcher, page: int) -> bytes:
    from search.viewer import indexed_path, render_pdf_page

    return render_pdf_page(indexed_path(searcher, PDF_FIXTURE), page, [])[0]


@pytest.mark.parametrize("forged", ["../../../../etc/passwd", "/etc/passwd", "../" + PDF_FIXTURE])
def test_viewer_refuses_a_traversal_path(browser, pdf_app, forged):
    """A forged citation button (as a hostile page could make) gets one Korean line and no file."""
    base, _ = pdf_app
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        pg.goto(base + "/")
        pg.locator("#ks-results .ks-msg").wait_for()
        pg.evaluate("""(f) => { const b = document.createElement('button');
            b.className = 'ks-open'; b.id = 'forged'; b.dataset.file = f; b.dataset.a = '1'; b.dataset.b = '3';
            b.textContent = 'x'; document.querySelector('#ks-results .ks-msg').appendChild(b); }""", forged)
        pg.locator("#forged").click()
        err = pg.locator("#ks-viewer .ks-view-error")
        err.wait_for()
        assert "열 수 없습니다" in err.inner_text() or "색인에 없는" in err.inner_text()
        assert pg.locator("#ks-viewer img").count() == 0 and "root:" not in pg.content()
    finally:
        ctx.close()
