"""Question sets: an AutoRAG-format benchmark folder and our quote-based corpus_qa.jsonl."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence


class EvalError(Exception):
    """Bad input for an evaluation; the message is one line, meant for the user."""


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    if not path.is_file():
        raise EvalError(f"{path}: file not found")
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise EvalError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise EvalError(f"{path}:{lineno}: expected a JSON object")
                yield lineno, obj
        except UnicodeDecodeError:
            raise EvalError(f"{path}: not UTF-8 text") from None


def _need_str(obj: dict, key: str, where: str) -> str:
    val = obj.get(key)
    if not isinstance(val, str) or not val.strip():
        raise EvalError(f"{where}: missing or empty string field {key!r}")
    return val


def load_benchmark(directory: str | Path) -> tuple[list[tuple[str, str]], list[tuple[str, str, list[list[str]]]]]:
    """Read an AutoRAG-format benchmark: ``corpus.jsonl`` (doc_id, contents) and ``qa.jsonl``
    (qid, query, retrieval_gt as a list of lists of doc_ids).

    Returns ``(passages, queries)``: ``[(doc_id, contents)]`` and ``[(qid, query, gold_groups)]``.
    Raises :class:`EvalError` with a one-line message on a missing or malformed file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise EvalError(f"{d}: benchmark directory not found")
    passages: list[tuple[str, str]] = []
    seen: set[str] = set()
    cpath = d / "corpus.jsonl"
    for lineno, obj in _read_jsonl(cpath):
        where = f"{cpath}:{lineno}"
        doc_id = _need_str(obj, "doc_id", where)
        contents = obj.get("contents")
        if not isinstance(contents, str):
            raise EvalError(f"{where}: missing string field 'contents'")
        if doc_id in seen:
            raise EvalError(f"{where}: duplicate doc_id {doc_id!r}")
        seen.add(doc_id)
        passages.append((doc_id, contents))
    if not passages:
        raise EvalError(f"{cpath}: no passages")
    queries: list[tuple[str, str, list[list[str]]]] = []
    qids: set[str] = set()
    qpath = d / "qa.jsonl"
    for lineno, obj in _read_jsonl(qpath):
        where = f"{qpath}:{lineno}"
        qid = obj.get("qid")
        if isinstance(qid, int):
            qid = str(qid)
        if not isinstance(qid, str) or not qid:
            raise EvalError(f"{where}: missing field 'qid'")
        if qid in qids:
            raise EvalError(f"{where}: duplicate qid {qid!r}")
        qids.add(qid)
        query = _need_str(obj, "query", where)
        gt = obj.get("retrieval_gt")
        if (not isinstance(gt, list) or not gt
                or not all(isinstance(g, list) and g and all(isinstance(x, str) for x in g) for g in gt)):
            raise EvalError(f"{where}: 'retrieval_gt' must be a non-empty list of non-empty lists of doc_ids")
        for g in gt:
            for x in g:
                if x not in seen:
                    raise EvalError(f"{where}: retrieval_gt doc_id {x!r} is not in corpus.jsonl")
        queries.append((qid, query, [list(g) for g in gt]))
    if not queries:
        raise EvalError(f"{qpath}: no questions")
    return passages, queries


def load_corpus_qa(path: str | Path) -> list[dict]:
    """Read our quote-based question set (see tests/data/corpus_qa.jsonl)."""
    p = Path(path)
    items = []
    qids: set[str] = set()
    for lineno, obj in _read_jsonl(p):
        where = f"{p}:{lineno}"
        qid = _need_str(obj, "qid", where)
        if qid in qids:
            raise EvalError(f"{where}: duplicate qid {qid!r}")
        qids.add(qid)
        _need_str(obj, "query", where)
        quotes = obj.get("quotes", [])
        if not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
            raise EvalError(f"{where}: 'quotes' must be a list of strings")
        answerable = obj.get("answerable", bool(quotes))
        if answerable and not quotes:
            raise EvalError(f"{where}: answerable question without quotes")
        item = dict(obj)
        item["answerable"] = bool(answerable)
        item.setdefault("category", "unanswerable" if not answerable else "other")
        item.setdefault("split", split_of(qid))
        items.append(item)
    if not items:
        raise EvalError(f"{p}: no questions")
    return items


def split_of(qid: str) -> str:
    """Tuning split: even qid numbers are 'tune', odd ones the held-out 'test'."""
    m = re.search(r"(\d+)\s*$", qid) or re.search(r"(\d+)", qid)  # "q07" and autorag's "7_finance"
    if not m:
        return "test"
    return "tune" if int(m.group(1)) % 2 == 0 else "test"


def domain_of(doc_id: str) -> str:
    """Domain of an AutoRAG doc_id: ``"law - file.pdf - 3"`` -> ``"law"`` (else prefix before ``_``)."""
    if " - " in doc_id:
        return doc_id.split(" - ", 1)[0].strip()
    if "_" in doc_id:
        return doc_id.split("_", 1)[0]
    return doc_id


def query_domain(qid: str, gold_groups: Sequence[Sequence[str]]) -> str:
    doms = Counter(domain_of(d) for g in gold_groups for d in g)
    if doms:
        return doms.most_common(1)[0][0]
    return qid.rsplit("_", 1)[-1] if "_" in qid else "other"
