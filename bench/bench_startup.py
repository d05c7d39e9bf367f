"""Start-up and per-question wall times of the entry points, each in a fresh process.

    python bench/bench_startup.py [--root DIR] [--runs 3]

Measures (median of ``--runs``): a no-op ``kosearch index``; ``kosearch ask`` in BM25 and hybrid
mode; per question in ``kosearch batch``; the web app answering HTTP; per question through the
running server's API. ``--root`` points at another checkout (e.g. the code before a change).
Prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
QUESTIONS = ["외국인 환자를 대상으로 하는 사업은?", "2022년 의료관광 예산은?", "청년 일자리 사업", "비전협력과 정원",
             "주한미군 대상 광고는 어디에 실었나?", "상호결연도시는 어디인가?", "CSR 아카데미", "특별조정교부금 확보"]


def _wall(cmd, cwd) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[2:5]} failed: {r.stderr.strip()[-300:]}")
    return time.perf_counter() - t


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=HERE, help="checkout to measure (default: this one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--index-dir", type=Path, default=None, help="a built index (default: build one in a temp dir)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    py = sys.executable
    cli = [py, "-m", "cli" if (root / "cli.py").is_file() else "search.cli"]
    env_cwd = str(root)
    with tempfile.TemporaryDirectory(prefix="kosearch-startup-") as d:
        idx = args.index_dir or Path(d) / "idx"
        if args.index_dir is None:
            _wall(cli + ["index", str(root / "corpus"), "--index-dir", str(idx), "-q"], env_cwd)
        med = lambda f: statistics.median(f() for _ in range(args.runs))  # noqa: E731
        noop = med(lambda: _wall(cli + ["index", str(root / "corpus"), "--index-dir", str(idx), "-q"], env_cwd))
        q = QUESTIONS[0]
        bm25 = med(lambda: _wall(cli + ["ask", q, "--index-dir", str(idx), "--mode", "bm25"], env_cwd))
        hybrid = med(lambda: _wall(cli + ["ask", q, "--index-dir", str(idx), "--mode", "hybrid"], env_cwd))
        one, many = Path(d) / "one.txt", Path(d) / "many.txt"
        one.write_text(q + "\n", encoding="utf-8")
        many.write_text("\n".join(QUESTIONS * 4) + "\n", encoding="utf-8")
        n = len(QUESTIONS) * 4
        b1 = med(lambda: _wall(cli + ["batch", str(one), "--index-dir", str(idx)], env_cwd))
        bn = med(lambda: _wall(cli + ["batch", str(many), "--index-dir", str(idx)], env_cwd))
        per_batch = max(0.0, (bn - b1) / (n - 1))
        print(f"startup: no-op `kosearch index` {noop:.2f} s (target <= 2 s)")
        print(f"startup: `kosearch ask` bm25 {bm25:.2f} s (target <= 3 s), hybrid {hybrid:.2f} s (target <= 6 s)")
        print(f"startup: `kosearch batch` hybrid, 1 question {b1:.2f} s, {n} questions {bn:.2f} s -> "
              f"{per_batch * 1000:.0f} ms per question (target <= 500 ms)")
        port = _free_port()
        t = time.perf_counter()
        srv = subprocess.Popen([py, str(root / "app.py"), "--port", str(port), "--index-dir", str(idx)], cwd=env_cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            up = None
            while time.perf_counter() - t < 180 and srv.poll() is None:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read(1)
                    up = time.perf_counter() - t
                    break
                except OSError:
                    time.sleep(0.1)
            if up is None:
                print("startup: web app did not answer HTTP within 180 s")
                return
            from gradio_client import Client

            c = Client(f"http://127.0.0.1:{port}/", verbose=False)
            c.predict(q, 5, api_name="/search")
            ms = []
            for question in QUESTIONS * 2:
                t1 = time.perf_counter()
                json.loads(c.predict(question, 5, api_name="/search"))
                ms.append((time.perf_counter() - t1) * 1000)
            print(f"startup: web app answering HTTP {up:.1f} s (target <= 10 s); "
                  f"API per question p50 {statistics.median(ms):.0f} ms (target <= 500 ms)")
        finally:
            srv.terminate()
            try:
                srv.wait(timeout=10)
            except subprocess.TimeoutExpired:
                srv.kill()


if __name__ == "__main__":
    main()
