"""A question, cleaned once: ``clean_query`` returns the text to search and the notices for the user."""
from __future__ import annotations

import unicodedata
from typing import NamedTuple

from index.config import MAX_QUERY_CHARS, QueryError
from index.textnorm import collapse_ws

EMPTY = "질문이 비어 있습니다. 검색할 내용을 입력하세요."


class Query(NamedTuple):
    """A cleaned question; unpacks as ``text, notices``. ``Searcher.search`` takes it as is."""

    text: str
    notices: list[str]


def clean_query(query) -> Query:
    """NFC, control characters to spaces, whitespace collapsed, cut at MAX_QUERY_CHARS (with a notice).

    A ``Query`` is returned unchanged (already clean). Raises QueryError when nothing is left.
    """
    if isinstance(query, Query):
        return query
    if query is None:
        raise QueryError(EMPTY)
    q = unicodedata.normalize("NFC", str(query))
    q = collapse_ws("".join(ch if (ch.isprintable() or ch in " \t") else " " for ch in q))
    if not q:
        raise QueryError(EMPTY)
    notices = []
    if len(q) > MAX_QUERY_CHARS:
        q = q[:MAX_QUERY_CHARS]
        notices.append(f"질문이 너무 길어 앞부분 {MAX_QUERY_CHARS}자만 검색했습니다.")
    return Query(q, notices)
