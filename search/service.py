"""The request path, shared by the CLI, ``kosearch batch``, the API endpoint and the web app:
validate -> search -> present.

    svc = SearchService(Searcher.open(index_dir))          # or a LiveSearcher (the app)
    res = svc.ask("외국인 환자 사업은?", top_k=3, year=2022)
    res.hits, res.notices, res.to_dict()                   # Hit objects, Korean notices, the JSON

Settings left as None come from the index's manifest, then the defaults (``index.config.resolve``).
Bad input raises one of ``USER_ERRORS`` with a one-line Korean message.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from index import config
from index.aliases import expand_terms
from index.config import SettingError
from index.encoders import EncoderError
from index.store import IndexStoreError
from search import present
from search.answerer import ANSWER_PASSAGES, evidence_first
from search.query import Query, clean_query

USER_ERRORS = (SettingError, IndexStoreError, EncoderError)


@dataclass
class SearchResult:
    """One answered question: what was searched, the notices, the hits and their JSON."""

    id: str
    question: str
    notices: list[str]
    hits: list = field(default_factory=list)
    answer: dict | None = None
    answer_message: str | None = None   # the not-found line when ``answer`` is None

    @property
    def results(self) -> list[dict]:
        return [h.to_dict() for h in self.hits]

    def to_dict(self) -> dict:
        return present.envelope(self.question, self.results, id=self.id, notices=self.notices, answer=self.answer,
                                answer_message=self.answer_message)


class SearchService:
    """Validates a request, searches the current index and returns a :class:`SearchResult`."""

    def __init__(self, searcher):
        self._source = searcher  # a Searcher, or a LiveSearcher that follows a rebuilt index

    @property
    def searcher(self):
        src = self._source
        return src.current if hasattr(src, "current") else src

    def settings(self, **flags) -> dict:
        """Search settings: the given flags (not None) > the index's manifest > the defaults."""
        return config.resolve(flags, getattr(self.searcher.manifest, "search", None))

    def ask(self, question, *, top_k=None, mode=None, year=None, department=None, chapter_kind=None,
            file=None, group_by=None, fusion=None, dense_weight=None, phrase_weight=None,
            id: str | None = None, answers: bool = True) -> SearchResult:
        if not isinstance(question, Query):
            config.validate_question(question)
        query = clean_query(question)  # the one place a question is cleaned
        s = self.settings(top_k=top_k, mode=mode, fusion=fusion, dense_weight=dense_weight,
                          phrase_weight=phrase_weight)
        if group_by not in (None, "", *config.GROUP_BY):
            raise SettingError(f"알 수 없는 묶음 방식: {group_by} ({'|'.join(config.GROUP_BY)})")
        searcher = self.searcher
        f = self.filters(year=year, department=department, chapter_kind=chapter_kind, searcher=searcher)
        _, known_depts, aliases = _known(searcher)
        asked = expand_terms(query.text, aliases, known_depts)   # 추경 -> 추가경정예산 (corpus/aliases.txt)
        try:
            answering = answers and not group_by and searcher.answerer.available
            hits = searcher.search(Query(asked, query.notices), top_k=max(s["top_k"], ANSWER_PASSAGES) if answering else s["top_k"],
                                   mode=s["mode"], **f, file=_none(file),
                                   group_by=group_by or None, fusion=s["fusion"], dense_weight=s["dense_weight"],
                                   phrase_weight=s["phrase_weight"])
            result = searcher.answerer.answer(asked, hits) if answering else None
        except USER_ERRORS:
            raise
        except Exception:
            searcher.validate()  # a damaged index: raises IndexStoreError naming the damaged part
            raise
        answer = message = None
        if answering:
            hits = evidence_first(hits, result)[:s["top_k"]]
            answer = present.answer_dict(result, searcher.answerer)
            message = present.not_found_line(result)
        return SearchResult(id=id if id is not None else present.question_id(query.text), question=query.text,
                            notices=list(query.notices), hits=hits, answer=answer, answer_message=message)


    def filters(self, *, year=None, department=None, chapter_kind=None, searcher=None) -> dict:
        """Validated filters for ``Searcher.search``; SettingError (Korean, one line) for a value of
        the wrong kind, and for a year or department the index does not hold, naming those it does.
        The CLI, ``kosearch batch``, the API and the app all come through here."""
        searcher = searcher or self.searcher
        years = config.validate_years(year)
        depts = config.validate_names(department, "부서")
        kinds = sorted(config.parse_kinds(chapter_kind)) if _none(chapter_kind) is not None else None
        known_years, known_depts, aliases = _known(searcher)
        if years:
            config.check_known(years, known_years, "연도", unit="년")
        if depts:
            depts = [aliases.get(d.replace(" ", ""), d) for d in depts]  # 사경과 -> 사회적경제과 (corpus/aliases.txt)
            config.check_known(depts, known_depts, "부서", key=lambda d: d.replace(" ", ""))
        return {"year": years, "department": depts, "chapter_kind": kinds}


_KNOWN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # searcher -> its filter values (no strong ref)


def _known(searcher) -> tuple[list[int], list[str], dict[str, str]]:
    """The years and departments an index holds (what its filters can match) and its department aliases."""
    try:
        return _KNOWN[searcher]
    except (KeyError, TypeError):
        pass
    store = getattr(getattr(searcher, "store", None), "chunks", None)
    if store is not None:   # the backend's facets: no pass over every chunk (issue 18)
        facets = store.facets()
        years, depts = sorted(facets["years"]), sorted(facets["departments"])
    else:
        chunks = getattr(searcher, "chunks", None) or []
        years = sorted({c.year for c in chunks if c.year})
        depts = sorted({c.department for c in chunks if c.department})
    aliases = {str(k).replace(" ", ""): str(v) for k, v in
               (getattr(getattr(searcher, "manifest", None), "aliases", None) or {}).items()}
    out = (years, depts, aliases)
    try:
        _KNOWN[searcher] = out
    except TypeError:  # not weak-referenceable: compute each time
        pass
    return out


def _none(value):
    return None if value in ("", [], ()) else value
