"""Load benchmark for the web app: N concurrent gradio_client users × M questions each.

Starts ``app.py`` as a separate process on a free port, fires the questions at its ``search``
API endpoint, checks every answer arrives as batch JSON, and prints latency p50/p95/max,
throughput and the server's peak memory (VmHWM of the server process, plus a sampled RSS).

    python bench/bench_app.py [--index-dir .kosearch/index] [--clients 20] [--questions 10]
    python bench/bench_app.py --bm25          # build a BM25-only index of corpus/ in a temp dir first

Then ``--reloads`` (default 20) index swaps under the same load: the server runs on a copy of
the index, whose manifest is rewritten (a new file, as ``kosearch index`` writes one) while the
clients keep asking; the live index reopens it on the next question. It prints the server's RSS
after the 2nd and after the last reload (issue 14: within 50 MiB of each other).
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
    ap.add_argument("--reloads", type=int, default=20, help="index swaps under load after the load run (0: none)")
    args = ap.parse_args(argv)

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


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
