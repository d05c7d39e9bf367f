"""Retrieval over a kosearch index: ``from search import Searcher``."""
from __future__ import annotations

__all__ = ["Searcher", "Hit"]


def __getattr__(name: str):
    # Lazy so that `kosearch outline` does not import faiss/torch.
    if name in __all__:
        from search import searcher

        return getattr(searcher, name)
    raise AttributeError(name)
