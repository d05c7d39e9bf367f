"""The two evaluation runs: a benchmark indexed as given, and our question set over a corpus index."""
from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from index.config import DEFAULT_MODEL
from index.models import ModelRegistry
from search.eval.datasets import load_corpus_qa, query_domain, split_of
from search.eval.metrics import average, bench_metrics, first_quote_rank, mean

MODES = ("bm25", "dense", "hybrid")
BENCH_TOP_K = 10
QA_TOP_K = 10
QA_DISPLAY_K = 5  # results a user sees by default; used for the average passage length


def passages_to_chunks(passages: Sequence[tuple[str, str]]) -> list:
    """One Chunk per benchmark passage, exactly as given (never re-chunked)."""
    from index.model import Chunk
    return [Chunk(id=doc_id, file=doc_id, path=doc_id, start_line=1, end_line=1,
                  text=contents, index_text=contents) for doc_id, contents in passages]


def evaluate_benchmark(passages: Sequence[tuple[str, str]],
                       queries: Sequence[tuple[str, str, list[list[str]]]],
                       modes: Sequence[str] = MODES, model: str | None = None,
                       index_dir: str | Path | None = None, progress: bool = False,
                       options: dict[str, Any] | None = None, models=None,
                       backend: str | None = None) -> dict[str, Any]:
    """Index the passages as given in a temporary index, search every query in every mode and
    return the report (see the module docstring for the metrics). ``options`` are passed to
    ``Searcher.search`` (fusion, dense_weight, phrase_weight)."""
    from index.build import build_index
    from search.searcher import Searcher

    models = models or ModelRegistry()
    t0 = time.perf_counter()
    chunks = passages_to_chunks(passages)
    with tempfile.TemporaryDirectory(prefix="kosearch-eval-") as tmp:
        idx = Path(index_dir) if index_dir else Path(tmp) / "index"
        build_index(chunks, idx, model=model or DEFAULT_MODEL, progress=progress, models=models, backend=backend)
        t_built = time.perf_counter()
        searcher = Searcher.open(idx, models=models)  # the model it was built with
        built_model = searcher.stats().get("model") or model or DEFAULT_MODEL
        if not searcher.has_vectors:
            if "dense" in modes:
                print("kosearch eval: note: index has no vectors (model none); skipping dense"
                      + ("; hybrid is BM25 + phrase only" if "hybrid" in modes else ""), file=sys.stderr)
            modes = [m for m in modes if m != "dense"]
        modes_out: dict[str, dict] = {}
        per_domain_rows: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        per_query: dict[str, dict] = {q[0]: {"qid": q[0], "domain": query_domain(q[0], q[2])} for q in queries}
        for mode in modes:
            rows = []
            by_split: dict[str, list] = defaultdict(list)
            ts = time.perf_counter()
            for qid, query, gold in queries:
                hits = searcher.search(query, top_k=BENCH_TOP_K, mode=mode, **(options or {}))
                ranked = [h.chunk.id for h in hits]
                m = bench_metrics(ranked, gold)
                rows.append(m)
                by_split[split_of(qid)].append(m)
                per_domain_rows[per_query[qid]["domain"]][mode].append(m)
                gold_ids = {d for g in gold for d in g}
                per_query[qid][mode] = next((r for r, d in enumerate(ranked, 1) if d in gold_ids), None)
            elapsed = time.perf_counter() - ts
            res = average(rows)
            res["qps"] = round(len(queries) / elapsed, 2) if elapsed > 0 else None
            res["seconds"] = round(elapsed, 2)
            res["splits"] = {sp: {**average(by_split[sp]), "queries": len(by_split[sp])} for sp in ("tune", "test")
                             if by_split[sp]}
            modes_out[mode] = res
    t_end = time.perf_counter()
    per_domain = {}
    for dom in sorted(per_domain_rows):
        by_mode = per_domain_rows[dom]
        n = len(next(iter(by_mode.values())))
        per_domain[dom] = {"queries": n, "modes": {m: average(by_mode[m]) for m in modes}}
    return {
        "passages": len(passages),
        "queries": len(queries),
        "model": built_model,
        "index_seconds": round(t_built - t0, 2),
        "seconds": round(t_end - t0, 2),
        "modes": modes_out,
        "per_domain": per_domain,
        "per_query": list(per_query.values()),
    }


def _hit_text(hit) -> str:
    """The text a user is shown for a hit."""
    for attr in ("display_text", "text"):
        val = getattr(hit, attr, None)
        if isinstance(val, str) and val:
            return val
    return hit.chunk.text


def evaluate_corpus_qa(searcher, qa_path: str | Path, modes: Sequence[str] = MODES,
                       top_k: int = QA_TOP_K, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Quote-based evaluation of ``searcher`` on our question set.

    Per mode: hit@1/3/5 and MRR@top_k over the answerable questions, for the splits tune (even
    qids), test (odd) and all, plus per category; the average displayed passage length (characters,
    over the top 5 hits of every question); and how the top hit's ``confidence`` label separates
    answerable from unanswerable questions.
    """
    # the precise-fact questions (task "answer") are scored by search.eval.answers
    items = [i for i in load_corpus_qa(qa_path) if i.get("task") != "answer"]
    report: dict[str, Any] = {
        "questions": len(items),
        "answerable": sum(1 for i in items if i["answerable"]),
        "unanswerable": sum(1 for i in items if not i["answerable"]),
        "top_k": top_k,
        "modes": {},
    }
    for mode in modes:
        per_q = []
        lengths: list[int] = []
        ts = time.perf_counter()
        for it in items:
            hits = searcher.search(it["query"], top_k=top_k, mode=mode, **(options or {}))
            texts = [_hit_text(h) for h in hits]
            lengths.extend(len(t) for t in texts[:QA_DISPLAY_K])
            rank = first_quote_rank(texts, it["quotes"], top_k) if it["answerable"] else None
            top_conf = getattr(hits[0], "confidence", None) if hits else None
            per_q.append({
                "qid": it["qid"], "split": it["split"], "category": it["category"],
                "answerable": it["answerable"], "rank": rank,
                "top_confidence": top_conf if hits else "none",
                "top_file": hits[0].chunk.file if hits else None,
            })
        elapsed = time.perf_counter() - ts

        def summary(rows):
            rows = [r for r in rows if r["answerable"]]
            out = {"questions": len(rows)}
            for k in (1, 3, 5):
                out[f"hit@{k}"] = round(mean([1.0 if r["rank"] and r["rank"] <= k else 0.0 for r in rows]), 4)
            out[f"mrr@{top_k}"] = round(mean([1.0 / r["rank"] if r["rank"] else 0.0 for r in rows]), 4)
            return out

        splits = {s: summary([r for r in per_q if r["split"] == s]) for s in ("tune", "test")}
        splits["all"] = summary(per_q)
        cats = sorted({r["category"] for r in per_q if r["answerable"]})
        ans = [r for r in per_q if r["answerable"]]
        una = [r for r in per_q if not r["answerable"]]
        labels = ("high", "medium", "low", "none")
        conf = {
            "unanswerable_top_low": round(mean([1.0 if r["top_confidence"] in ("low", "none") else 0.0 for r in una]), 4) if una else None,
            "answerable_top_not_low": round(mean([1.0 if r["top_confidence"] not in ("low", "none") else 0.0 for r in ans]), 4) if ans else None,
            "answerable_hit_top_not_low": round(mean([1.0 if r["top_confidence"] not in ("low", "none") else 0.0
                                                       for r in ans if r["rank"] == 1]), 4) if any(r["rank"] == 1 for r in ans) else None,
            "top_labels": {
                "answerable": {lab: sum(1 for r in ans if r["top_confidence"] == lab) for lab in labels},
                "unanswerable": {lab: sum(1 for r in una if r["top_confidence"] == lab) for lab in labels},
            },
        }
        report["modes"][mode] = {
            "splits": splits,
            "per_category": {c: summary([r for r in per_q if r["category"] == c]) for c in cats},
            "avg_passage_chars": round(mean(lengths), 1),
            "confidence": conf,
            "qps": round(len(items) / elapsed, 2) if elapsed > 0 else None,
            "per_query": per_q,
        }
    return report
