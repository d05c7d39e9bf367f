"""Load benchmark for the web app: N concurrent gradio_client users × M questions each.

Starts ``app.py`` as a separate process on a free port, fires the questions at its ``search``
API endpoint, checks every answer arrives as batch JSON, and prints latency p50/p95/max,
throughput and the server's peak memory (VmHWM of the server process, plus a sampled RSS).

    python bench/bench_app.py [--index-dir .kosearch/index] [--clients 20] [--questions 10]
    python bench/bench_app.py --bm25          # build a BM25-only index of corpus/ in a temp dir first
"""
from __future__ import annotations

import argparse
import json
import os
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
    args = ap.parse_args(argv)

    tmp = None
    index_dir = Path(args.index_dir)
    if args.bm25:
        from index.build import build

        tmp = Path(tempfile.mkdtemp(prefix="kosearch-bench-app-"))
        index_dir = tmp / "index"
        build([ROOT / "corpus"], index_dir, model="none")
    if not (index_dir / "manifest.json").is_file():
        print(f"no index at {index_dir}: run `kosearch index corpus` first, or pass --bm25", file=sys.stderr)
        return 2
    model = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8")).get("model", {}).get("id") or "none"

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("KOSEARCH_AUTH", None)
    t_start = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index-dir", str(index_dir), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_sampled = 0.0
    stop = threading.Event()

    def sample():
        nonlocal peak_sampled
        while not stop.is_set():
            peak_sampled = max(peak_sampled, tree_rss_mb(proc.pid))
            time.sleep(0.05)

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
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
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
    return 0 if answered == total else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
