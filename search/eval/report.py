"""Tables of an evaluation report, and the published figures they are compared with."""
from __future__ import annotations

import re
from pathlib import Path

from search.eval.metrics import RECALL_KS

# Published figures for autorag-ko (dense retrieval, each model alone), transcribed from
# /work/shared/benchmarks/autorag-ko/SOURCE.md, which quotes the README of
# Marker-Inc-Korea/AutoRAG-example-korean-embedding-benchmark. Used when the benchmark
# directory has no SOURCE.md table to parse.
PUBLISHED_AUTORAG_KO: list[tuple[str, dict[str, float]]] = [
    ("KU-HIAI-ONTHEIT-large-v1.1 (best R@1)", {"recall@1": 0.719, "recall@3": 0.886, "recall@5": 0.930, "recall@10": 0.947}),
    ("KoE5", {"recall@1": 0.693, "recall@3": 0.877, "recall@5": 0.904, "recall@10": 0.921}),
    ("bge-m3", {"recall@1": 0.675, "recall@3": 0.868, "recall@5": 0.930, "recall@10": 0.965}),
    ("Upstage embedding (API)", {"recall@1": 0.658, "recall@3": 0.842, "recall@5": 0.895, "recall@10": 0.939}),
    ("OpenAI text-embedding-3-large (API)", {"recall@1": 0.605, "recall@3": 0.790, "recall@5": 0.842, "recall@10": 0.904}),
    ("gte-multilingual-base", {"recall@1": 0.588, "recall@3": 0.807, "recall@5": 0.860, "recall@10": 0.921}),
    ("multilingual-e5-large-instruct", {"recall@1": 0.465, "recall@3": 0.667, "recall@5": 0.763, "recall@10": 0.816}),
    ("paraphrase-multilingual-MiniLM-L12-v2", {"recall@1": 0.298, "recall@3": 0.412, "recall@5": 0.491, "recall@10": 0.579}),
]


def published_figures(directory: str | Path | None) -> list[tuple[str, dict[str, float]]]:
    """The published table from ``DIR/SOURCE.md`` when it parses, else :data:`PUBLISHED_AUTORAG_KO`."""
    if directory is not None:
        src = Path(directory) / "SOURCE.md"
        try:
            text = src.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        rows = _parse_published(text)
        if rows:
            return rows
    return list(PUBLISHED_AUTORAG_KO)


def _parse_published(text: str) -> list[tuple[str, dict[str, float]]]:
    header: list[str] | None = None
    rows = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            header = None if rows else header
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            if any(re.fullmatch(r"R@\d+", c) for c in cells):
                header = cells
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        vals = {}
        for h, c in zip(header, cells):
            m = re.fullmatch(r"R@(\d+)", h)
            if m:
                try:
                    vals[f"recall@{m.group(1)}"] = float(c)
                except ValueError:
                    pass
        if vals:
            rows.append((cells[0], vals))
    return rows


def fmt(x: float | None) -> str:
    return "    -" if x is None else f"{x:.3f}"


def format_benchmark(report: dict, published: list[tuple[str, dict[str, float]]], name: str = "") -> str:
    cols = [f"recall@{k}" for k in RECALL_KS] + ["mrr@10", "ndcg@10"]
    heads = [f"R@{k}" for k in RECALL_KS] + ["MRR@10", "nDCG@10"]
    width = max([len(n) + 2 for n, _ in published] + [24])
    out = []
    out.append(f"{name or 'benchmark'}: {report['passages']} passages, {report['queries']} queries, "
               f"model {report['model']}; index {report['index_seconds']:.1f} s, total {report['seconds']:.1f} s")
    out.append("")
    out.append(f"{'system':<{width}}  " + "  ".join(f"{h:>7}" for h in heads) + "      q/s")
    out.append("-" * (width + 2 + 9 * len(heads) + 9))
    for mode, res in report["modes"].items():
        qps = res.get("qps")
        out.append(f"{'kosearch ' + mode:<{width}}  " + "  ".join(f"{fmt(res[c]):>7}" for c in cols)
                   + f"  {qps if qps is not None else '-':>7}")
    out.append("published (dense retrieval, README of Marker-Inc-Korea/AutoRAG-example-korean-embedding-benchmark):")
    for pname, vals in published:
        out.append(f"{'  ' + pname:<{width}}  " + "  ".join(f"{fmt(vals.get(c)):>7}" for c in cols))
    out.append("")
    modes = list(report["modes"])
    out.append("halves (tune = even qids, used to choose the defaults; test = odd qids, held out):")
    for mode, res in report["modes"].items():
        for sp, vals in res.get("splits", {}).items():
            out.append(f"{'  ' + mode + ' ' + sp + ' (' + str(vals['queries']) + ')':<{width}}  "
                       + "  ".join(f"{fmt(vals.get(c)):>7}" for c in cols))
    out.append("")
    out.append("per domain (R@5 / MRR@10):")
    out.append(f"{'domain':<10} {'n':>4}  " + "  ".join(f"{m:>15}" for m in modes))
    for dom, d in report["per_domain"].items():
        cells = [f"{d['modes'][m]['recall@5']:.3f} / {d['modes'][m]['mrr@10']:.3f}" for m in modes]
        out.append(f"{dom:<10} {d['queries']:>4}  " + "  ".join(f"{c:>15}" for c in cells))
    return "\n".join(out)


def format_corpus_qa(report: dict) -> str:
    k = report["top_k"]
    out = [f"corpus question set: {report['questions']} questions "
           f"({report['answerable']} answerable, {report['unanswerable']} unanswerable)", ""]
    out.append(f"{'mode':<7} {'split':<5} {'n':>3}  {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR@' + str(k):>7}")
    for mode, res in report["modes"].items():
        for split in ("tune", "test", "all"):
            s = res["splits"][split]
            out.append(f"{mode:<7} {split:<5} {s['questions']:>3}  {s['hit@1']:>6.3f} {s['hit@3']:>6.3f} "
                       f"{s['hit@5']:>6.3f} {s[f'mrr@{k}']:>7.3f}")
    out.append("")
    out.append(f"{'mode':<7} {'avg chars':>9} {'q/s':>7}  {'unans. top low':>14} {'ans. top not low':>16}  "
               "top label, answerable (high/medium/low/no hit) | unanswerable")
    for mode, res in report["modes"].items():
        c = res["confidence"]
        a, u = c["top_labels"]["answerable"], c["top_labels"]["unanswerable"]
        out.append(f"{mode:<7} {res['avg_passage_chars']:>9.1f} {res['qps'] or 0:>7.1f}  "
                   f"{fmt(c['unanswerable_top_low']):>14} {fmt(c['answerable_top_not_low']):>16}  "
                   f"{a['high']}/{a['medium']}/{a['low']}/{a['none']} | {u['high']}/{u['medium']}/{u['low']}/{u['none']}")
    out.append("")
    for mode, res in report["modes"].items():
        missed = [r["qid"] for r in res["per_query"] if r["answerable"] and not (r["rank"] and r["rank"] <= 5)]
        out.append(f"{mode}: answerable questions without a hit in the top 5: {', '.join(missed) or '-'}")
    out.append("")
    modes = list(report["modes"])
    out.append(f"{'per category (hit@5)':<22}" + "  ".join(f"{m:>6}" for m in modes))
    cats = list(next(iter(report["modes"].values()))["per_category"])
    for c in cats:
        n = report["modes"][modes[0]]["per_category"][c]["questions"]
        out.append(f"  {c:<13} n={n:<3} " + "  ".join(f"{report['modes'][m]['per_category'][c]['hit@5']:>6.3f}" for m in modes))
    return "\n".join(out)
