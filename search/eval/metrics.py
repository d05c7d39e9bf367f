"""Retrieval metrics: AutoRAG's doc_id metrics and our quote-based ones (definitions: search/eval/__init__.py)."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from index.textnorm import collapse_ws

RECALL_KS = (1, 3, 5, 10)


def _dedupe(ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def recall_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """AutoRAG recall: fraction of gold groups with any doc_id in the top k (0.0 without groups)."""
    if not gold_groups:
        return 0.0
    top = set(ranked_ids[:k])
    hits = sum(1 for group in gold_groups if top.intersection(group))
    return hits / len(gold_groups)


def mrr_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """AutoRAG MRR: per group 1/rank of its first doc_id in the top k (0 if none), averaged."""
    if not gold_groups:
        return 0.0
    top = _dedupe(ranked_ids[:k])
    total = 0.0
    for group in gold_groups:
        gset = set(group)
        for rank, doc_id in enumerate(top, 1):
            if doc_id in gset:
                total += 1.0 / rank
                break
    return total / len(gold_groups)


def ndcg_at_k(ranked_ids: Sequence[str], gold_groups: Sequence[Sequence[str]], k: int) -> float:
    """Binary nDCG@k; relevant = in any group; ideal = min(#distinct gold ids, k) hits first."""
    relevant = {d for group in gold_groups for d in group}
    if not relevant or k <= 0:
        return 0.0
    top = _dedupe(ranked_ids)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(top, 1) if d in relevant)
    ideal = min(len(relevant), k)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal + 1))
    return dcg / idcg


# --------------------------------------------------------------------------- metrics (quote gold)

normalise_ws = collapse_ws  # every whitespace run to one space, ends stripped


def first_quote_rank(texts: Sequence[str], quotes: Sequence[str], k: int | None = None) -> int | None:
    """1-based rank of the first text containing any quote (whitespace-normalised), else None."""
    qs = [normalise_ws(q) for q in quotes if normalise_ws(q)]
    if not qs:
        return None
    limit = len(texts) if k is None else min(k, len(texts))
    for rank in range(1, limit + 1):
        t = normalise_ws(texts[rank - 1])
        if any(q in t for q in qs):
            return rank
    return None


def hit_at_k(texts: Sequence[str], quotes: Sequence[str], k: int) -> float:
    """1.0 when one of the top k displayed texts contains a quote, else 0.0."""
    return 1.0 if first_quote_rank(texts, quotes, k) is not None else 0.0


def quote_mrr_at_k(texts: Sequence[str], quotes: Sequence[str], k: int) -> float:
    """1 / rank of the first displayed text (within the top k) containing a quote, else 0.0."""
    rank = first_quote_rank(texts, quotes, k)
    return 0.0 if rank is None else 1.0 / rank


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def bench_metrics(ranked: Sequence[str], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    m = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in RECALL_KS}
    m["mrr@10"] = mrr_at_k(ranked, gold, 10)
    m["ndcg@10"] = ndcg_at_k(ranked, gold, 10)
    return m


def average(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = [f"recall@{k}" for k in RECALL_KS] + ["mrr@10", "ndcg@10"]
    return {k: round(mean([r[k] for r in rows]), 4) for k in keys}
