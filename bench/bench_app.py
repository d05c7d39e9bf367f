"""Load benchmark for the web app: N concurrent gradio_client users × M questions each.

Starts ``app.py`` as a separate process on a free port, fires the questions at its ``search``
API endpoint, checks every answer arrives as batch JSON, and prints latency p50/p95/max,
throughput and the server's peak memory (VmHWM of the server process, plus a sampled RSS).

    python bench/bench_app.py [--index-dir .kosearch/index] [--clients 20] [--questions 10]
    python bench/bench_app.py --bm25          # build a BM25-only index of corpus/ in a temp dir first
    python bench/bench_app.py --upload-only   # only the upload phase (below)

Then ``--reloads`` (default 20) index swaps under the same load: the server runs on a copy of
the index, whose manifest is rewritten (a new file, as ``kosearch index`` writes one) while the
clients keep asking; the live index reopens it on the next question. It prints the server's RSS
after the 2nd and after the last reload (issue 14: within 50 MiB of each other).

Last, the upload phase (issue 16; ``--no-upload`` skips it, ``--upload-only`` runs only it): a
second server on a temporary copy of ``corpus/`` and a temporary index built from it (the same
model as ``--index-dir``; embeddings cached in a temporary home, so the upload really embeds).
One client asks the questions one after another while idle, then uploads reports through the
manage panel's own upload event (``POST /gradio_api/upload`` + the queue, as the browser does)
and keeps asking until the upload's progress stream says it is indexed and swapped in. The
server runs with counters on kiwi and encoder loads, so "models shared, not loaded twice" is
counted, not assumed. It ends with the line
``bench-app: search p95 idle X ms, during upload Y ms (ratio R, target <= 2.0); server model loads: K``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "외국인 환자를 대상으로 하는 사업은?", "2022년 의료관광 예산은?", "주한미군 대상 광고는 어디에 실었나?",
    "상호결연도시는 어디인가?", "청년 일자리 사업", "지역사회혁신계획 협치사업 예산", "국제금융컨퍼런스 개최 시기",
    "창의 아이디어단 포상 금액", "사회적경제기업 몇 개", "2040 종합발전계획 용역 기간", "평화통일 교육 대상",
    "비전협력과 정원", "CSR 아카데미", "영등포 지식포럼 일정", "의료관광 전문인력 양성", "특별조정교부금 확보",
]



def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the app's process, killing it if it does not stop within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_mem_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (Linux)."""
    rss = hwm = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, hwm


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (gradio may spawn none, but be honest if it does)."""
    total = proc_mem_mb(pid)[0]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(tree_rss_mb(int(c)) for c in children)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    import httpx

    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not start in time")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", default=str(ROOT / ".kosearch" / "index"))
    ap.add_argument("--bm25", action="store_true", help="build a BM25-only index of corpus/ in a temp dir and use it")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10, help="questions per client")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--reloads", type=int, default=20, help="index swaps under load after the load run (0: none)")
    ap.add_argument("--no-upload", dest="upload_phase", action="store_false",
                    help="skip the upload phase (search p95 idle vs during an upload)")
    ap.add_argument("--upload-only", action="store_true", help="run only the upload phase")
    ap.add_argument("--upload", action="append", default=None, metavar="FILE",
                    help="a report to upload in that phase (repeatable; default: the format fixtures in "
                         "../shared/fixtures/formats, else changed copies of corpus/ files)")
    ap.add_argument("--idle-rounds", type=int, default=4, help="passes over the questions while idle (upload phase)")
    ap.add_argument("--upload-timeout", type=float, default=900, help="seconds the upload may take to be indexed")
    args = ap.parse_args(argv)
    if args.upload_only:
        from index.store import index_exists, read_manifest

        index_dir = Path(args.index_dir)
        if not args.bm25 and not index_exists(index_dir):
            print(f"no index at {index_dir}: run `kosearch index corpus` first, or pass --bm25", file=sys.stderr)
            return 2
        return 0 if upload_phase(args, "none" if args.bm25 else read_manifest(index_dir).model.get("id") or "none") else 1

    tmp = None
    index_dir = Path(args.index_dir)
    if args.bm25:
        from index.build import build

        tmp = Path(tempfile.mkdtemp(prefix="kosearch-bench-app-"))
        index_dir = tmp / "index"
        build([ROOT / "corpus"], index_dir, model="none")
    from index.store import index_exists, read_manifest

    if not index_exists(index_dir):
        print(f"no index at {index_dir}: run `kosearch index corpus` first, or pass --bm25", file=sys.stderr)
        return 2
    if args.reloads:  # the swaps rewrite the manifest: never the user's own index
        tmp = tmp or Path(tempfile.mkdtemp(prefix="kosearch-bench-app-"))
        shutil.copytree(index_dir, tmp / "served")
        index_dir = tmp / "served"
    model = read_manifest(index_dir).model.get("id") or "none"

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("KOSEARCH_AUTH", None)
    t_start = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index-dir", str(index_dir), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_sampled = 0.0
    stop = threading.Event()
    reloaded = threading.Semaphore(0)  # one release per "index ... reloaded" line of the server's log
    log_tail: list[str] = []

    def read_log():
        for line in proc.stderr:
            log_tail[:] = (log_tail + [line.rstrip()])[-20:]
            if " reloaded" in line:
                reloaded.release()

    def sample():
        nonlocal peak_sampled
        while not stop.is_set():
            peak_sampled = max(peak_sampled, tree_rss_mb(proc.pid))
            time.sleep(0.05)

    threading.Thread(target=read_log, daemon=True).start()
    reload_rss: list[float] = []
    reload_errors: list[str] = []
    try:
        wait_ready(url, proc)
        startup_s = time.time() - t_start
        idle_rss, _ = proc_mem_mb(proc.pid)
        threading.Thread(target=sample, daemon=True).start()

        from gradio_client import Client

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def user(n: int) -> int:
            client = Client(url, verbose=False)
            got = 0
            for i in range(args.questions):
                q = QUESTIONS[(n + i) % len(QUESTIONS)]
                t0 = time.perf_counter()
                try:
                    out = json.loads(client.predict(q, args.top_k, api_name="/search"))
                    assert out["question"] == q and isinstance(out["results"], list) and out["results"]
                    assert all("citation" in r for r in out["results"])
                except Exception as exc:  # noqa: BLE001 - count every failure, keep going
                    with lock:
                        errors.append(f"client {n} q{i}: {type(exc).__name__}: {exc}")
                    continue
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(dt)
                got += 1
            return got

        cpu0, own0 = cpu_seconds(proc.pid), sum(os.times()[:2])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            answered = sum(pool.map(user, range(args.clients)))
        wall = time.perf_counter() - t0
        server_cpu = cpu_seconds(proc.pid) - cpu0
        client_cpu = sum(os.times()[:2]) - own0
        stop.set()
        time.sleep(0.1)
        rss_now, hwm = proc_mem_mb(proc.pid)
        if args.reloads:
            reload_rss, reload_errors = reload_under_load(url, proc.pid, index_dir, args, reloaded)
    finally:
        stop.set()
        stop_server(proc)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    total = args.clients * args.questions
    print(f"kosearch app load benchmark · index {index_dir} · model {model} · cpus {os.cpu_count()}")
    print(f"  server start (open index + warmup + launch): {startup_s:.1f} s · idle RSS {idle_rss:.0f} MiB")
    print(f"  {args.clients} clients × {args.questions} questions = {total} requests · "
          f"concurrency limit {__import__('app').CONCURRENCY}, queue {__import__('app').QUEUE_SIZE}")
    print(f"  answered {answered}/{total} · errors {len(errors)}")
    if latencies:
        print(f"  latency ms: p50 {pct(latencies, 50):.0f} · p95 {pct(latencies, 95):.0f} · "
              f"max {max(latencies):.0f} · mean {statistics.mean(latencies):.0f}")
    print(f"  throughput: {answered / wall:.1f} answers/s over {wall:.1f} s · server CPU {server_cpu:.1f} s "
          f"({server_cpu / wall * 100:.0f}% of one core) · clients' CPU {client_cpu:.1f} s "
          f"({client_cpu / wall * 100:.0f}%; they share the machine)")
    print(f"  server memory: peak RSS (VmHWM) {hwm:.0f} MiB · sampled peak {peak_sampled:.0f} MiB · "
          f"after load {rss_now:.0f} MiB")
    for e in errors[:10]:
        print("  error:", e)
    ok = answered == total
    if args.reloads:
        done = len(reload_rss)
        print(f"  {args.reloads} index reloads under load ({min(args.clients, 4)} clients asking): "
              f"{done}/{args.reloads} taken into service · errors {len(reload_errors)}")
        if done >= 2:
            print(f"  server RSS after reload 2: {reload_rss[1]:.0f} MiB · after reload {done}: {reload_rss[-1]:.0f} MiB "
                  f"· growth {reload_rss[-1] - reload_rss[1]:+.0f} MiB (target: within 50 MiB)")
            print("  RSS per reload (MiB): " + " ".join(f"{r:.0f}" for r in reload_rss))
        for e in reload_errors[:10]:
            print("  reload error:", e)
        ok = ok and done == args.reloads and not reload_errors
    if args.upload_phase:
        ok = upload_phase(args, model) and ok
    return 0 if ok else 1


def rewrite_manifest(index_dir: Path) -> None:
    """What a finished ``kosearch index`` does: commit a new generation (same content)."""
    from index.store import open_writer

    with open_writer(index_dir, wait=30) as writer:
        writer.commit()


def reload_under_load(url: str, pid: int, index_dir: Path, args, reloaded: threading.Semaphore
                      ) -> tuple[list[float], list[str]]:
    """Swap the index ``args.reloads`` times while clients keep asking; the server's RSS after each."""
    from gradio_client import Client

    stop = threading.Event()
    errors: list[str] = []

    def user(n: int) -> None:
        client = Client(url, verbose=False)
        i = 0
        while not stop.is_set():
            try:
                out = json.loads(client.predict(QUESTIONS[(n + i) % len(QUESTIONS)], args.top_k, api_name="/search"))
                assert out["results"]
            except Exception as exc:  # noqa: BLE001
                errors.append(f"client {n}: {type(exc).__name__}: {exc}")
            i += 1

    rss: list[float] = []
    clients = min(args.clients, 4)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(user, n) for n in range(clients)]
        try:
            for _ in range(args.reloads):
                time.sleep(2.2)  # the live index looks at the manifest at most every 2 s
                rewrite_manifest(index_dir)
                if not reloaded.acquire(timeout=120):
                    errors.append("a rewritten index was not reloaded within 120 s")
                    break
                time.sleep(0.5)  # let the old index go and a few questions run on the new one
                rss.append(proc_mem_mb(pid)[0])
        finally:
            stop.set()
            for f in futures:
                f.result()
    return rss, errors


# ---- upload phase (issue 16): search p95 idle vs while an upload is indexed ------------------------
SERVE_COUNTED = "--serve-counted"   # argv[1] of this script: run app.py with model-load counters
LOAD_TAG = "bench-model-load:"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "formats"
FIXTURE_UPLOADS = ("pdf_nikl_2022_work_plan_hancom.pdf", "hwpx_gangbuk_festival_rfp_2023.hwpx",
                   "hwpx_moef_fdi_2025q2_press.hwpx", "generated/report_ko.docx")


def serve_counted(argv: list[str]) -> int:
    """``app.py`` with every kiwi construction and every encoder weight load written to stderr as a
    ``bench-model-load:`` line (kind, thread, the kosearch code that asked), then the app as usual."""
    import traceback

    import kiwipiepy

    from index.encoders import Encoder

    def caller(skip: str) -> str:
        for fr in reversed(traceback.extract_stack()[:-2]):
            f = Path(fr.filename)
            if ROOT in f.parents and ".venv" not in f.parts and f.parent.name != "bench" and f.name != skip:
                return f"{f.relative_to(ROOT)}:{fr.lineno}"
        return "?"

    def say(kind: str, where: str, seconds: float) -> None:
        print(f"{LOAD_TAG} kind={kind} thread={threading.current_thread().name} at={where} s={seconds:.1f}",
              file=sys.stderr, flush=True)

    class CountedKiwi(kiwipiepy.Kiwi):
        def __init__(self, *a, **kw):
            t = time.perf_counter()
            super().__init__(*a, **kw)
            say("kiwi", caller(""), time.perf_counter() - t)

    kiwipiepy.Kiwi = CountedKiwi   # kosearch imports Kiwi inside the functions that build one

    def counted(load, slot: str):
        def wrapper(self):
            fresh = getattr(self, slot, None) is None
            t = time.perf_counter()
            body = load(self)
            if fresh:
                say(f"encoder:{self.model_id}", caller("encoders.py"), time.perf_counter() - t)
            return body
        return wrapper

    # the weights' loaders and the attribute each caches its result in (fp32 torch, int8 ONNX)
    for method, slot in (("_model", "_st"), ("_onnx_body", "_onnx")):
        if hasattr(Encoder, method):
            setattr(Encoder, method, counted(getattr(Encoder, method), slot))
    import app

    return app.main(argv)


def pick_uploads(explicit: list[str] | None, work: Path) -> list[Path]:
    """The reports to upload: those named, else the format fixtures (new content for this corpus),
    else copies of ``corpus/`` reports with changed lines under new names."""
    if explicit:
        return [Path(p) for p in explicit]
    found = [FIXTURES / n for n in FIXTURE_UPLOADS if (FIXTURES / n).is_file()]
    if found:
        return found
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(sorted((ROOT / "corpus").glob("[0-9]*.txt"))[:3]):
        lines = src.read_text(encoding="utf-8").splitlines()
        lines = [f"{line} (벤치마크 업로드 {i}-{n})" if n % 7 == 0 and line.strip() else line for n, line in enumerate(lines)]
        dst = work / f"bench_upload_{i}.txt"
        dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append(dst)
    return out


def manage_upload(url: str, files: list[Path], timeout: float) -> dict:
    """Upload ``files`` the way the browser does: ``POST /gradio_api/upload``, then the 보고서 관리
    panel's upload event on the queue, then its progress stream until the event completes.
    Returns ``{"state", "summary", "ok", "rejected", "progress", "seconds", "error"}``."""
    import uuid

    import httpx

    out = {"state": "?", "summary": "", "ok": 0, "rejected": 0, "progress": [], "seconds": float("nan"), "error": None}
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=60)) as http:
            config = http.get("config").json()
            ids = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
            button = ids["ks-upload-btn"]
            dep = next(d for d in config["dependencies"] if [button, "click"] in [list(t) for t in d["targets"]])
            handles = [(p.name, p.open("rb")) for p in files]
            try:
                r = http.post("gradio_api/upload", files=[("files", (n, fh, "application/octet-stream")) for n, fh in handles])
            finally:
                for _, fh in handles:
                    fh.close()
            r.raise_for_status()
            data = [{"path": path, "orig_name": p.name, "meta": {"_type": "gradio.FileData"}}
                    for path, p in zip(r.json(), files)]
            session = uuid.uuid4().hex[:11]
            r = http.post("gradio_api/queue/join", json={
                "data": [data, None], "fn_index": dep["id"], "trigger_id": button, "session_hash": session,
                "event_data": None})
            r.raise_for_status()
            event = r.json()["event_id"]
            last_html = ""
            with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
                for line in stream.iter_lines():
                    if time.monotonic() > deadline:
                        out["error"] = f"not indexed within {timeout:.0f} s"
                        break
                    if not line.startswith("data:"):
                        continue
                    msg = json.loads(line[5:])
                    if msg.get("event_id") not in (None, event):
                        continue
                    text = json.dumps(msg, ensure_ascii=False)
                    for piece in _strings(msg):
                        if "ks-manage-progress" in piece or "ks-manage-gate" in piece:
                            last_html = piece
                    m = re.search(r"<span>(\d+)%</span>", text)
                    if m and (not out["progress"] or out["progress"][-1] != int(m.group(1))):
                        out["progress"].append(int(m.group(1)))
                    if msg.get("msg") == "process_completed":
                        if not msg.get("success", False):
                            out["error"] = f"upload event failed: {str(msg.get('output'))[:200]}"
                        break
                    if msg.get("msg") in ("unexpected_error", "close_stream"):
                        out["error"] = f"upload stream ended: {text[:200]}"
                        break
            html = last_html
            state = re.search(r'data-state="([^"]*)"', html)
            out["state"] = state.group(1) if state else ("거부" if "ks-manage-gate" in html else "?")
            stage = re.search(r'ks-manage-stage">(.*?)</div>', html) or re.search(r'ks-manage-gate[^>]*>(.*?)</div>', html)
            out["summary"] = re.sub(r"<[^>]+>", "", stage.group(1)) if stage else html[:200]
            out["ok"], out["rejected"] = html.count("✔"), html.count("✘")
    except Exception as exc:  # noqa: BLE001 - the bench reports it and goes on
        out["error"] = out["error"] or f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - t0
    return out


def _strings(value):
    """Every string inside a JSON value (a queue message's outputs, diffs included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def upload_phase(args, model: str) -> bool:
    """Search p95 from one client while idle, then while an upload is indexed; model loads counted.
    Prints the ``bench-app:`` line; False when the upload or any question failed."""
    from gradio_client import Client

    tmp = Path(tempfile.mkdtemp(prefix="kosearch-bench-upload-"))
    reports, index_dir, home = tmp / "reports", tmp / "index", tmp / "home"
    shutil.copytree(ROOT / "corpus", reports, ignore=shutil.ignore_patterns(".*"))
    (home / "embeddings").mkdir(parents=True)
    real_models = Path(os.environ.get("KOSEARCH_HOME") or "~/.cache/kosearch").expanduser() / "models"
    if real_models.is_dir():   # the exported model is reused; the embedding cache starts empty
        (home / "models").symlink_to(real_models)
    uploads = pick_uploads(args.upload, tmp / "made")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "KOSEARCH_HOME": str(home)}
    for k in ("KOSEARCH_AUTH", "KOSEARCH_ADMIN", "KOSEARCH_DATA"):
        env.pop(k, None)
    print(f"bench-app upload phase · model {model} · reports copy {reports} · uploading "
          f"{', '.join(p.name for p in uploads)} ({sum(p.stat().st_size for p in uploads) / 2**20:.1f} MiB)", flush=True)
    t = time.time()
    built = subprocess.run([sys.executable, str(ROOT / "cli.py"), "index", str(reports), "--index-dir", str(index_dir),
                            "--model", model, "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if built.returncode != 0:
        print(f"  could not build the temporary index: {(built.stderr or built.stdout).strip()[-400:]}")
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    print(f"  temporary index of the corpus copy built in {time.time() - t:.0f} s", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), SERVE_COUNTED, "--index-dir", str(index_dir),
                             "--corpus", str(reports), "--port", str(port)],
                            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    loads: list[tuple[float, str]] = []
    log_tail: list[str] = []
    reloads = [0]

    def read_log() -> None:
        for line in proc.stderr:
            line = line.rstrip()
            log_tail[:] = (log_tail + [line])[-30:]
            if line.startswith(LOAD_TAG):
                loads.append((time.monotonic(), line[len(LOAD_TAG):].strip()))
            elif " reloaded" in line:
                reloads[0] += 1

    rss: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss.append((time.monotonic(), tree_rss_mb(proc.pid)))
            time.sleep(0.1)

    threading.Thread(target=read_log, daemon=True).start()
    errors: list[str] = []
    idle: list[float] = []
    during: list[float] = []
    result: dict = {}
    try:
        wait_ready(url, proc)
        threading.Thread(target=sample, daemon=True).start()
        client = Client(url, verbose=False)

        def ask(q: str) -> float | None:
            t0 = time.perf_counter()
            try:
                out = json.loads(client.predict(q, args.top_k, api_name="/search"))
                assert out["question"] == q and out["results"], "no results"
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                errors.append(f"{q}: {type(exc).__name__}: {exc}")
                return None
            return (time.perf_counter() - t0) * 1000

        for q in QUESTIONS[:3]:
            ask(q)   # warm: first-call costs are not the idle figure
        for i in range(args.idle_rounds * len(QUESTIONS)):
            ms = ask(QUESTIONS[i % len(QUESTIONS)])
            if ms is not None:
                idle.append(ms)
        rss_before = tree_rss_mb(proc.pid)
        t_up = time.monotonic()
        worker = threading.Thread(target=lambda: result.update(manage_upload(url, uploads, args.upload_timeout)), daemon=True)
        worker.start()
        i = 0
        while worker.is_alive() and time.monotonic() - t_up < args.upload_timeout + 30:
            ms = ask(QUESTIONS[i % len(QUESTIONS)])
            i += 1
            if ms is not None:
                during.append(ms)
        worker.join(timeout=60)
        t_done = time.monotonic()
        rss_peak = max((r for t, r in rss if t_up <= t <= t_done), default=float("nan"))
        time.sleep(0.5)
        rss_after = tree_rss_mb(proc.pid)
        found = searchable_after_upload(client, index_dir, args.top_k)
    except (SystemExit, Exception) as exc:  # noqa: BLE001 - the server did not start, or the client failed
        errors.append(f"{type(exc).__name__}: {exc}")
        found, rss_before, rss_peak, rss_after, t_up = (0, 0, 0), float("nan"), float("nan"), float("nan"), float("inf")
    finally:
        stop.set()
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    before = [w for t, w in loads if t < t_up]
    after = [w for t, w in loads if t >= t_up]
    p_idle, p_during = pct(idle, 95), pct(during, 95)
    ratio = p_during / p_idle if idle and during else float("nan")
    print(f"  idle: {len(idle)} questions, p50 {pct(idle, 50):.0f} ms, p95 {p_idle:.0f} ms · during upload: "
          f"{len(during)} questions, p50 {pct(during, 50):.0f} ms, p95 {p_during:.0f} ms, max {max(during, default=float('nan')):.0f} ms")
    print(f"  upload: {result.get('seconds', float('nan')):.1f} s until its progress stream completed · state "
          f"{result.get('state')} · {result.get('summary')} · indexed {result.get('ok', 0)}, rejected "
          f"{result.get('rejected', 0)} · chunks added {found[2]} · progress "
          f"{'/'.join(map(str, result.get('progress', [])[:12]))}% · index reloads {reloads[0]} · "
          f"uploaded reports found by their titles {found[0]}/{found[1]}")
    print(f"  server RSS: before upload {rss_before:.0f} MiB · peak during {rss_peak:.0f} MiB · after {rss_after:.0f} MiB")
    for w in before:
        print(f"  model load at start: {w}")
    for w in after:
        print(f"  model load during/after upload: {w}")
    if result.get("error"):
        errors.append(f"upload: {result['error']}")
    elif result.get("state") != "완료":
        errors.append(f"upload ended in state {result.get('state')}: {result.get('summary')}")
    for e in errors[:10]:
        print("  error:", e)
    if errors and log_tail:
        print("  server log tail:\n    " + "\n    ".join(log_tail[-25:]))
    kinds: dict[str, int] = {}
    for w in before + after:
        k = w.split()[0].split("=", 1)[1].split(":")[0]
        kinds[k] = kinds.get(k, 0) + 1
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"bench-app: search p95 idle {p_idle:.0f} ms, during upload {p_during:.0f} ms (ratio {ratio:.2f}, target <= 2.0); "
          f"server model loads: {len(before) + len(after)} ({detail}; {len(after)} after the upload began)", flush=True)
    return not errors and result.get("ok", 0) > 0 and found[0] == found[1]


def searchable_after_upload(client, index_dir: Path, top_k: int) -> tuple[int, int, int]:
    """(found, asked, chunks): each uploaded report (the files in the reports copy's subfolders),
    asked for by its title, comes back among the results; their chunks, all embedded by the upload
    (the bench's embedding cache held only the corpus)."""
    from index.store import read_manifest

    m = read_manifest(index_dir)
    new = {fid: e for fid, e in m.files.items() if e.hash and "/" in fid}
    hits = 0
    for fid, e in new.items():
        q = (e.title or Path(fid).stem)[:200]
        try:
            out = json.loads(client.predict(q, top_k, api_name="/search"))
        except Exception:  # noqa: BLE001
            continue
        hits += any(fid in json.dumps(r, ensure_ascii=False) for r in out["results"])
    return hits, len(new), sum(e.chunks for e in new.values())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == [SERVE_COUNTED]:
        sys.exit(serve_counted(sys.argv[2:]))
    sys.exit(main())
