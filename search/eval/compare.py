"""Two storage backends side by side (issue 19): the AutoRAG benchmark through ``local`` and
``milvus``, and the question set's rankings and confidence labels on two indexes of one corpus.

``make eval`` prints both; the Milvus backend must stay within ``TOLERANCE`` of local on hybrid
R@1 and nDCG@10, with every confidence label unchanged.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

TOLERANCE = 0.01
METRICS = ("recall@1", "recall@5", "ndcg@10", "mrr@10")


def benchmark_both(passages, queries, modes: Sequence[str], *, uri: str, model: str | None = None,
                   options: dict | None = None, models=None) -> dict[str, Any]:
    """``evaluate_benchmark`` once per backend; the Milvus collection is dropped afterwards."""
    from index.store import milvus
    from search.eval.runners import evaluate_benchmark

    out: dict[str, Any] = {"local": evaluate_benchmark(passages, queries, modes, model=model, options=options,
                                                       models=models)}
    old = os.environ.get(milvus.ENV_URI)
    os.environ[milvus.ENV_URI] = uri
    try:
        with tempfile.TemporaryDirectory(prefix="kosearch-eval-milvus-") as tmp:
            idx = Path(tmp) / "index"
            try:
                out["milvus"] = evaluate_benchmark(passages, queries, modes, model=model, options=options,
                                                   models=models, index_dir=idx, backend="milvus")
            finally:
                try:
                    milvus.drop_index(idx)
                except Exception:
                    pass
    finally:
        if old is None:
            os.environ.pop(milvus.ENV_URI, None)
        else:
            os.environ[milvus.ENV_URI] = old
    out["within_tolerance"] = all(
        abs(out["local"]["modes"][m][k] - out["milvus"]["modes"][m][k]) <= TOLERANCE
        for m in out["local"]["modes"] if m == "hybrid" for k in ("recall@1", "ndcg@10"))
    return out


def format_benchmark_both(report: dict[str, Any], name: str = "") -> str:
    lines = [f"AutoRAG {name}: local vs milvus (hybrid R@1 and nDCG@10 must differ by <= {TOLERANCE})".strip(),
             f"{'mode':<8}" + "".join(f"{k:>22}" for k in METRICS) + f"{'q/s':>16}"]
    for mode, loc in report["local"]["modes"].items():
        mil = report["milvus"]["modes"].get(mode, {})
        row = f"{mode:<8}"
        for k in METRICS:
            a, b = loc.get(k, 0.0), mil.get(k, 0.0)
            row += f"{a:>8.4f} {b:>7.4f} {b - a:>+5.3f}"
        row += f"{loc.get('qps') or 0:>8.1f} {mil.get('qps') or 0:>7.1f}"
        lines.append(row)
    lines.append("(each cell: local milvus difference; q/s: local milvus) -> "
                 + ("OK" if report["within_tolerance"] else "OUT OF TOLERANCE"))
    return "\n".join(lines)


def compare_searchers(a, b, questions: Sequence[str], modes: Sequence[str] = ("hybrid", "bm25", "dense"),
                      top_k: int = 5, options: dict | None = None) -> dict[str, Any]:
    """Per mode: questions whose top-1 id, top-k ids and top-k confidence labels agree; latencies."""
    out: dict[str, Any] = {"questions": len(questions), "modes": {}}
    for mode in modes:
        if mode != "bm25" and not (a.has_vectors and b.has_vectors):
            continue
        same1 = samek = labels = 0
        diffs: list[dict] = []
        times = {"a": [], "b": []}
        for q in questions:
            t0 = time.perf_counter()
            ha = a.search(q, top_k=top_k, mode=mode, **(options or {}))
            t1 = time.perf_counter()
            hb = b.search(q, top_k=top_k, mode=mode, **(options or {}))
            t2 = time.perf_counter()
            times["a"].append(t1 - t0)
            times["b"].append(t2 - t1)
            ia, ib = [h.chunk.id for h in ha], [h.chunk.id for h in hb]
            la, lb = [h.confidence for h in ha], [h.confidence for h in hb]
            same1 += ia[:1] == ib[:1]
            samek += ia == ib
            labels += la == lb
            if ia != ib or la != lb:
                diffs.append({"question": q, "a": list(zip(ia, la)), "b": list(zip(ib, lb))})
        out["modes"][mode] = {"same_top1": same1, "same_topk": samek, "same_labels": labels, "diffs": diffs,
                              "ms_p50": [round(1000 * statistics.median(times[k]), 1) for k in ("a", "b")],
                              "ms_p95": [round(1000 * sorted(times[k])[int(0.95 * (len(times[k]) - 1))], 1)
                                         for k in ("a", "b")]}
    return out


def format_compare(report: dict[str, Any], names: tuple[str, str] = ("local", "milvus")) -> str:
    n = report["questions"]
    lines = [f"question set, {names[0]} vs {names[1]} ({n} questions, top 5):",
             f"{'mode':<8}{'same top-1':>12}{'same top-5':>12}{'same labels':>13}   p50 ms ({names[0]}/{names[1]})"
             f"   p95 ms"]
    for mode, r in report["modes"].items():
        lines.append(f"{mode:<8}{r['same_top1']:>8}/{n}{r['same_topk']:>8}/{n}{r['same_labels']:>9}/{n}"
                     f"   {r['ms_p50'][0]:>6} / {r['ms_p50'][1]:<6}   {r['ms_p95'][0]:>6} / {r['ms_p95'][1]}")
        for d in r["diffs"][:3]:
            lines.append(f"  differs: {d['question'][:40]}  {d['a'][:2]} | {d['b'][:2]}")
    return "\n".join(lines)
