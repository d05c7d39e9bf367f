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
