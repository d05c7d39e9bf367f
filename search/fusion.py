"""Combining BM25, phrase and dense scores into one ranking.

The searcher hands over id-keyed candidate lists from the index backend (``index.store.Candidate``);
:func:`fuse_candidates` lines them up over one candidate order and blends them, as pyserini's
hybrid searcher does. A candidate absent from a list scores 0 there.
"""
from __future__ import annotations

import numpy as np

from index.config import DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION, DEFAULT_PHRASE_WEIGHT, RRF_K, validate_weights

# The defaults and why they were chosen: index/config.py.


def minmax(scores: np.ndarray) -> np.ndarray:
    if scores.size == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.where(scores > 0, 1.0, 0.0) if hi > 0 else np.zeros_like(scores)
    return (scores - lo) / (hi - lo)


def by_max(scores: np.ndarray) -> np.ndarray:
    """BM25-style scores divided by their maximum; 0 (no shared term) stays 0."""
    return scores / scores.max() if scores.size and scores.max() > 0 else np.zeros_like(scores)


def blend(bm25: np.ndarray, dense: np.ndarray, dense_weight: float = DEFAULT_DENSE_WEIGHT,
          phrase: np.ndarray | None = None, phrase_weight: float = DEFAULT_PHRASE_WEIGHT) -> np.ndarray:
    """Convex combination of per-query normalised scores over the candidate set.

    BM25 and phrase-BM25 are divided by their maxima, dense cosine is min-max scaled over the
    candidates; BM25 gets whatever weight the other two leave.
    """
    if phrase is None:
        phrase, phrase_weight = np.zeros_like(bm25), 0.0
    return ((1 - dense_weight - phrase_weight) * by_max(bm25) + dense_weight * minmax(dense)
            + phrase_weight * by_max(phrase))


def rrf(bm25: np.ndarray, dense: np.ndarray, dense_weight: float = DEFAULT_DENSE_WEIGHT,
        phrase: np.ndarray | None = None, phrase_weight: float = DEFAULT_PHRASE_WEIGHT, k: int = RRF_K) -> np.ndarray:
    """Weighted reciprocal-rank fusion over the candidate set."""
    def ranks(s: np.ndarray) -> np.ndarray:
        order = np.argsort(-s, kind="stable")
        r = np.empty_like(order)
        r[order] = np.arange(1, len(s) + 1)
        return r

    if phrase is None:
        phrase, phrase_weight = np.zeros_like(bm25), 0.0
    return ((1 - dense_weight - phrase_weight) / (k + ranks(bm25)) + dense_weight / (k + ranks(dense))
            + phrase_weight / (k + ranks(phrase)))


def fuse(bm25: np.ndarray, dense: np.ndarray, method: str = DEFAULT_FUSION,
         dense_weight: float = DEFAULT_DENSE_WEIGHT, phrase: np.ndarray | None = None,
         phrase_weight: float = DEFAULT_PHRASE_WEIGHT) -> np.ndarray:
    dense_weight, phrase_weight = validate_weights(dense_weight, phrase_weight)
    if method == "rrf":
        return rrf(bm25, dense, dense_weight, phrase, phrase_weight)
    if method == "blend":
        return blend(bm25, dense, dense_weight, phrase, phrase_weight)
    raise ValueError(f"unknown fusion method: {method}")


def aligned(candidates, ids) -> np.ndarray:
    """float32 scores of ``ids`` from an id-keyed candidate list (0 for an id not in it)."""
    by_id = {c.id: c.score for c in candidates}
    return np.array([by_id.get(i, 0.0) for i in ids], dtype=np.float32)


def fuse_candidates(bm25, dense, phrase, ids, method: str = DEFAULT_FUSION,
                    dense_weight: float = DEFAULT_DENSE_WEIGHT, phrase_weight: float = DEFAULT_PHRASE_WEIGHT) -> np.ndarray:
    """Fused scores over ``ids`` (the candidate union, in the order ties are broken) from the
    BM25, dense and phrase candidate lists."""
    return fuse(aligned(bm25, ids), aligned(dense, ids), method, dense_weight, aligned(phrase, ids), phrase_weight)
