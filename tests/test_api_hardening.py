"""Issue 14, app and API items: login rate limit (5), API argument validation and unknown filter
values (11), SIGTERM clean-up (13), manifest paths never steering the status scan (10), and a
replaced index being freed at once (3). CSV (6) and notices (12): tests/test_app.py."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")

import app  # noqa: E402
from conftest import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "외국인 환자를 대상으로 하는 사업은?"


@pytest.fixture(scope="module")
def client(app_server):
    return gradio_client.Client(app_server, verbose=False)


def api_error(client, *args, **kw) -> str:
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name="/search", **kw)
    return str(info.value)


# ---- item 11: every API argument validated, one Korean line, no server traceback -------------
@pytest.mark.parametrize("args, kw, expect", [
    ((QUESTION, 5), {"year": "abc"}, "연도는 2022처럼 네 자리 숫자여야 합니다 (받은 값: abc)"),
    ((QUESTION, 5), {"year": 20225}, "연도는 1900에서 2100 사이"),
    ((QUESTION, 5), {"year": True}, "연도는 2022처럼"),
    ((QUESTION, 5), {"year": {"a": 1}}, "연도는 2022처럼"),
    ((QUESTION, 5), {"department": 123}, "부서는 글자로 적어야 합니다"),
    ((QUESTION, 5), {"department": "가" * 500}, "부서 이름이 너무 깁니다"),
    ((QUESTION, 5), {"chapter_kind": 7}, "알 수 없는 장 종류"),
    ((QUESTION, "abc"), {}, "top_k(결과 수)는 1에서 50 사이의 정수"),
    ((QUESTION, 2.5), {}, "top_k(결과 수)는 1에서 50 사이의 정수"),
    ((123, 5), {}, "질문은 글자로 적어야 합니다"),
    ((["a"], 5), {}, "질문은 글자로 적어야 합니다"),
])
def test_api_arguments_get_a_korean_line_and_no_traceback(client, caplog, args, kw, expect):
    with caplog.at_level(logging.DEBUG):
        msg = api_error(client, *args, **kw)
    assert expect in msg, msg
    assert "Traceback" not in msg and "검색 중 문제가 발생했습니다" not in msg
    assert not [r for r in caplog.records if r.exc_info], "the server logged a traceback"


def test_api_year_as_text_and_lists_are_accepted(client):
    for year in ("2022", "2022년", 2022.0, [2022, "2023"]):
        out = json.loads(client.predict(QUESTION, 3, year=year, api_name="/search"))
        assert out["results"] and all(r["document"]["year"] in (2022, 2023) for r in out["results"]), year


def test_unknown_year_and_department_name_the_values_that_exist(client, searcher_values):
    years, depts = searcher_values
    msg = api_error(client, QUESTION, 5, year=1999)
    assert "색인에 없는 연도: 1999년" in msg and "있는 연도: " + ", ".join(f"{y}년" for y in years) in msg
    msg = api_error(client, QUESTION, 5, department="없는과")
    assert "색인에 없는 부서: 없는과" in msg and "있는 부서: " + ", ".join(depts) in msg


@pytest.fixture(scope="module")
def searcher_values(bm25_searcher):
    return (sorted({c.year for c in bm25_searcher.chunks if c.year}),
            sorted({c.department for c in bm25_searcher.chunks if c.department}))


def test_unknown_filter_values_read_the_same_in_api_app_and_cli(client, bm25_searcher, bm25_dir):
    api = api_error(client, QUESTION, 5, department="없는과")
    expected = api.split("색인에 없는 부서", 1)[1].strip()
    h = app.Handlers(bm25_searcher)
    page, state, _ = h.ui_search(QUESTION, app.ALL, "없는과", "all", 5, app.VIEW_PASSAGES)
    assert state is None and "색인에 없는 부서" + app.esc(expected) in page
    r = subprocess.run([sys.executable, "-m", "cli", "ask", QUESTION, "--index-dir", str(bm25_dir),
                        "--department", "없는과"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip() == "오류: 색인에 없는 부서" + expected, r.stderr
    r = subprocess.run([sys.executable, "-m", "cli", "ask", QUESTION, "--index-dir", str(bm25_dir),
                        "--year", "1999"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("오류: 색인에 없는 연도: 1999년 (있는 연도:"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_year_flag_is_checked_in_korean(bm25_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "ask", QUESTION, "--index-dir", str(bm25_dir), "--year", "abc"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "연도는 2022처럼 네 자리 숫자여야 합니다" in r.stderr and "Traceback" not in r.stderr
    q = tmp_path / "q.txt"
    q.write_text("의료관광 예산\n주민참여예산\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "cli", "batch", str(q), "--index-dir", str(bm25_dir), "--year", "1999"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("색인에 없는 연도: 1999년") == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_department_alias_filter_means_the_full_name(bm25_searcher):
    from search.service import SearchService

    svc = SearchService(bm25_searcher)
    aliases = dict(getattr(bm25_searcher.manifest, "aliases", None) or {})
    if not aliases:
        pytest.skip("this index records no department aliases")
    short, full = next(iter(aliases.items()))
    assert svc.filters(department=short)["department"] == [full]


# ---- item 5: at most 5 failed logins per minute per address ----------------------------------
def test_login_is_rate_limited_per_address_over_real_http(bm25_searcher):
    demo = app.build_app(bm25_searcher)
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               ssr_mode=False, auth=app.parse_auth("staff:s3cret"))
    url = f"http://127.0.0.1:{port}/login"
    try:
        with httpx.Client(timeout=30) as http:
            ok = http.post(url, data={"username": "staff", "password": "s3cret"})
            assert ok.status_code == 200  # a good login is not a failure
            for _ in range(app.LOGIN_MAX_FAILURES):
                assert http.post(url, data={"username": "staff", "password": "wrong"}).status_code == 400
            for password in ("wrong", "s3cret"):  # locked out: even the right password waits
                r = http.post(url, data={"username": "staff", "password": password})
                assert r.status_code == 429
                detail = r.json()["detail"]
                assert "로그인 실패가 너무 많습니다" in detail and "초 뒤에 다시 시도하세요" in detail
                assert 1 <= int(r.headers["retry-after"]) <= 60
            # other routes still answer (the API itself still needs the login cookie: 401 not 429)
            assert http.get(f"http://127.0.0.1:{port}/config").status_code != 429
    finally:
        demo.close()


def _login_call(limiter, host: str, status: int) -> int:
    """One POST /login through the middleware; the wrapped app answers ``status``. Returns the status sent."""
    sent = {}

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    limiter.app = inner
    scope = {"type": "http", "method": "POST", "path": "/login/", "client": (host, 1234), "headers": []}
    asyncio.run(limiter(scope, receive, send))
    return sent["status"]


def test_login_limiter_window_and_addresses():
    now = [1000.0]
    lim = app.LoginLimiter(None, max_failures=5, window=60, clock=lambda: now[0])
    assert [_login_call(lim, "10.0.0.1", 400) for _ in range(5)] == [400] * 5
    assert _login_call(lim, "10.0.0.1", 200) == 429
    assert _login_call(lim, "10.0.0.2", 400) == 400          # another address has its own budget
    assert _login_call(lim, "10.0.0.2", 200) == 200
    now[0] += 59
    assert _login_call(lim, "10.0.0.1", 400) == 429
    now[0] += 1.5                                            # the failures left the minute
    assert _login_call(lim, "10.0.0.1", 200) == 200
    assert [_login_call(lim, "10.0.0.3", 200) for _ in range(20)] == [200] * 20  # successes never count
    # other routes are never counted or limited
    assert not app.LoginLimiter.is_login({"type": "http", "method": "GET", "path": "/login"})
    assert not app.LoginLimiter.is_login({"type": "http", "method": "POST", "path": "/gradio_api/queue/join"})


# ---- item 13: SIGTERM removes the export folder, exit 0 --------------------------------------
def test_sigterm_removes_the_export_folder(bm25_dir, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop(app.AUTH_ENV, None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index-dir", str(bm25_dir), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "app did not start"
            time.sleep(0.3)
        exports = list(tmp.glob("kosearch-export-*"))
        assert len(exports) == 1 and exports[0].is_dir()
        (exports[0] / "x").mkdir()
        (exports[0] / "x" / "kosearch.csv").write_text("a", encoding="utf-8")  # as an export leaves it
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert not list(tmp.glob("kosearch-export-*")), "the export folder was left behind"
    assert "Traceback" not in err


# ---- item 10: a manifest's paths never steer the status scan ----------------------------------
def _tampered_copy(bm25_dir: Path, tmp_path: Path) -> Path:
    idx = tmp_path / "idx"
    shutil.copytree(bm25_dir, idx)
    m = json.loads((idx / "manifest.json").read_text(encoding="utf-8"))
    first = next(iter(m["files"]))
    m["files"][first]["path"] = "/etc/passwd"
    m["files"]["hostname"] = {**m["files"][first], "path": "/etc/hostname"}
    m["files"]["up"] = {**m["files"][first], "path": str(ROOT / "corpus" / ".." / ".." / ".." / "etc" / "hosts")}
    if "root" in m:
        m["root"] = "/etc"
    (idx / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    return idx


def test_tampered_manifest_never_reads_or_lists_outside_the_corpus(bm25_dir, tmp_path, monkeypatch):
    import index.documents as documents
    from search.searcher import Searcher

    idx = _tampered_copy(bm25_dir, tmp_path)
    searcher = Searcher.open(idx)
    read, scanned = [], []
    real_hash, real_collect = documents.file_hash, documents.collect_files
    monkeypatch.setattr(documents, "file_hash", lambda p: read.append(Path(p).resolve()) or real_hash(p))
    monkeypatch.setattr(documents, "collect_files",
                        lambda paths: scanned.extend(Path(p).resolve() for p in paths) or real_collect(paths))
    monkeypatch.chdir(ROOT)  # the default report folder is ./corpus
    state = app.IndexState(searcher)
    changed = state.changed_files(max_age=0)
    corpus = (ROOT / "corpus").resolve()
    assert read and all(p.is_relative_to(corpus) for p in read), read
    assert scanned == [corpus]
    assert not any("etc" in name or "passwd" in name for name, _ in changed if _ == "추가"), changed
    assert sorted(state.outside) == sorted([next(iter(searcher.manifest.files)), "hostname", "up"])
    page = app.status_html(searcher, changed, outside=state.outside, roots=state.checked_roots)
    assert "3개는 확인할 보고서 폴더" in page and "--corpus" in page and "/etc/passwd" not in page


def test_status_scan_looks_only_in_the_given_folders(bm25_dir, tmp_path, corpus_dir):
    from index.freshness import check
    from search.searcher import Searcher

    searcher = Searcher.open(bm25_dir)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "new.txt").write_text("2022년 주요업무 보고\n", encoding="utf-8")
    fresh = check(searcher.manifest, [other])  # reports indexed from corpus/: none of them is looked at
    assert fresh.changed == []   # nor is a folder the index was not built from scanned (issue 16)
    assert sorted(fresh.outside) == sorted(searcher.manifest.files)
    fresh = check(searcher.manifest, [corpus_dir, tmp_path / "missing"])
    assert fresh.changed == [] and fresh.outside == [] and fresh.roots == [corpus_dir.resolve()]


def test_serve_passes_report_folders(monkeypatch):
    import cli

    seen = {}
    monkeypatch.setattr(app, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    cli.main(["serve", "--index-dir", "/x/idx", "--corpus", "/srv/a", "--corpus", "b"])
    assert seen["argv"][-4:] == ["--corpus", "/srv/a", "--corpus", "b"]
    assert app.build_parser().parse_args(["--corpus", "c"]).corpus == ["c"]


# ---- item 3: a replaced index is freed at once, not at Python's next full collection ---------
def test_replaced_index_is_freed_on_reload(bm25_dir, tmp_path):
    from search.live import LiveSearcher
    from search.searcher import Searcher
    from search.service import SearchService

    idx = tmp_path / "idx"
    shutil.copytree(bm25_dir, idx)
    live = LiveSearcher(Searcher.open(idx), min_interval=0)
    svc = SearchService(live)
    svc.ask(QUESTION, top_k=3)  # builds the answerer: a Searcher <-> Answerer cycle
    h = app.Handlers(live)
    h.api_search(QUESTION, 2)
    refs = [weakref.ref(live.current)]
    was = gc.isenabled()
    gc.disable()  # stands for the server's rare full collections
    try:
        for _ in range(3):
            m = idx / "manifest.json"
            m.with_name("manifest.json.new").write_bytes(m.read_bytes())
            os.replace(m.with_name("manifest.json.new"), m)  # what a rebuild's commit does to the live view
            h.api_search(QUESTION, 2)
            refs.append(weakref.ref(live.current))
        assert refs[-1]() is live.current
        assert [r() is None for r in refs[:-1]] == [True] * 3, "a replaced index is still in memory"
    finally:
        if was:
            gc.enable()
