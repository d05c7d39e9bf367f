"""Retrieval-quality evaluation: a public benchmark (AutoRAG format) and our own question set.

Two kinds of gold evidence are supported.

* **AutoRAG format** (``corpus.jsonl`` + ``qa.jsonl``): each question has ``retrieval_gt``, a
  list of *groups*, each group a list of doc_ids. Any doc_id of a group answers that group.
  The metrics below follow AutoRAG's own definitions (``autorag/evaluation/metric/retrieval.py``
  in Marker-Inc-Korea/AutoRAG, with ``top_k`` = k), which is how the figures published for the
  Korean embedding benchmark (quoted in ``SOURCE.md``) were computed:

  - ``recall_at_k``: the fraction of gold *groups* that have at least one of their doc_ids among
    the top k results, averaged over questions. With one group per question (all 114 questions of
    autorag-ko) this is hit@k: 1 if any gold page is in the top k, else 0.
  - ``mrr_at_k``: for each group, the reciprocal rank of its first doc_id within the top k (0 when
    absent); averaged over the groups, then over questions. With one group it is the usual MRR@k.
  - ``ndcg_at_k``: binary relevance (a result is relevant when it is in any group);
    DCG = sum over the top k of rel / log2(rank + 1); the ideal DCG puts
    min(number of distinct gold doc_ids, k) relevant results first. (AutoRAG sizes the ideal list by
    the number of results returned; we size it by k, which is the same whenever the searcher
    returns k results, and does not reward returning fewer.)

* **Quote-based gold** (``tests/data/corpus_qa.jsonl``): independent of chunking, a result is a hit
  when its displayed text contains any of the question's quotes after whitespace normalisation
  (every whitespace run collapsed to one space, ends stripped). ``hit_at_k`` is 1 when one of the
  top k results is a hit; ``quote_mrr_at_k`` is 1 / rank of the first hit within the top k.

Modules: ``metrics`` (the formulas), ``datasets`` (loading and splits), ``runners`` (the two
runs), ``report`` (tables and published figures). ``kosearch eval`` (cli.py) wires them up.
"""
from search.eval.datasets import EvalError, load_benchmark, load_corpus_qa, split_of
from search.eval.metrics import (first_quote_rank, hit_at_k, mrr_at_k, ndcg_at_k, normalise_ws, quote_mrr_at_k,
                                 recall_at_k)
from search.eval.report import format_benchmark, format_corpus_qa, published_figures
from search.eval.runners import MODES, evaluate_benchmark, evaluate_corpus_qa, passages_to_chunks

__all__ = ["EvalError", "load_benchmark", "load_corpus_qa", "split_of", "first_quote_rank", "hit_at_k", "mrr_at_k",
           "ndcg_at_k", "normalise_ws", "quote_mrr_at_k", "recall_at_k", "format_benchmark", "format_corpus_qa",
           "published_figures", "MODES", "evaluate_benchmark", "evaluate_corpus_qa", "passages_to_chunks"]
