"""Answers on top of retrieval: gather the answer units of the top passages (and the rest of
their programmes), read the question, choose, and cite one line or table row.

    answerer = Answerer(searcher)            # once per opened index; cheap
    result = answerer.answer(question, hits) # hits: the searcher's ranked passages
    result.answer, result.message            # Answer | None, the not-found line
"""
from __future__ import annotations

import re
from collections import defaultdict

from index.config import ANSWER_PASSAGES, ANSWER_PROGRAMMES, COMMON_PROPER_SHARE, MAX_LIST_ITEMS
from index.model import Chunk, Unit
from search.answer import AnswerItem, AnswerResult, comparison_kind, choose, pair_answer, side_columns
from search.citations import CIRCLED, report_label
from search.question import Question, analyse, comparison_sides



class Answerer:
    def __init__(self, searcher) -> None:
        self.searcher = searcher
        self.store = searcher.store.chunks          # chunks and units read by id (issue 18)
        self.chunks = _ChunkLookup(self.store)
        self.departments = self.store.facets()["departments"]
        self._available = self.store.has_units()
        self.aliases: dict[str, str] = dict(getattr(searcher.manifest, "aliases", None) or {})

    @property
    def available(self) -> bool:
        return self._available

    def read(self, question: str) -> Question:
        return analyse(question, self.searcher.tokenizer, self.departments, self.aliases)

    def answer(self, question: str, hits) -> AnswerResult:
        q = self.read(question)
        rank = {h.chunk.id: i for i, h in enumerate(hits)}
        ids: list[str] = []
        for i, h in enumerate(hits[:ANSWER_PASSAGES]):
            # the whole programme of the top few (its 소요예산 line may sit in another passage)
            for cid in self.store.programme_ids(h.chunk) if i < ANSWER_PROGRAMMES else [h.chunk.id]:
                if cid not in ids:
                    ids.append(cid)
        if q.total and not q.specific:
            # "비협과 22년 예산 전부 합치면": the department's budget table, wherever it ranked
            for h in self.searcher.search("예산현황 계 예산액", top_k=3, mode="bm25", year=q.years or None,
                                          department=q.departments or None):
                if h.chunk.id not in ids:
                    ids.append(h.chunk.id)
        by_chunk = self.store.units_for_chunks(ids) if ids else {}
        units = [u for cid in ids for u in by_chunk.get(cid, [])]
        idf = self.searcher._idf(set(q.specific)) if q.specific else {}
        if q.specific:
            df = self.searcher.doc_freqs(set(q.specific))
            q.absent = [t for t in q.specific if not df.get(t)]
        if q.kind == "comparison":
            sides = comparison_sides(q)
            if sides:   # two topics side by side: each answered as its own question
                # two departments' figures are never one row's two columns
                one_row = len({tuple(self.read(t).departments) for t in sides}) == 1
                got = side_columns(q, units, idf, rank, self.proper_nouns) if one_row else None
                return got if got is not None else self._pair(q, sides, units, rank)
        programmes = self.programmes(q) if q.kind == "list" and _asks_programmes(q) else None
        return choose(q, units, idf, rank, programmes, proper=self.proper_nouns)

    def _pair(self, q: Question, sides: tuple[str, str], units: list[Unit], rank: dict) -> AnswerResult:
        results = []
        for text in sides:
            sq = self.read(text)
            if sq.kind in ("comparison", "topic", "list"):
                sq.kind = comparison_kind(q)
            res = self._single(sq, units, rank)
            if res.answer is None:   # the side's own passages, when the question's did not hold it
                hits = self.searcher.search(text, top_k=ANSWER_PASSAGES, mode="bm25")   # a side's words: lexical is enough
                more = self.store.units_for_chunks([h.chunk.id for h in hits])
                extra = [u for h in hits for u in more.get(h.chunk.id, [])]
                res = self._single(sq, units + extra, {**{h.chunk.id: i for i, h in enumerate(hits)}, **rank})
            results.append(res)
        return pair_answer(q, _side_labels(sides), *results)

    def _single(self, sq: Question, units: list[Unit], rank: dict) -> AnswerResult:
        idf = self.searcher._idf(set(sq.specific)) if sq.specific else {}
        if sq.specific:
            df = self.searcher.doc_freqs(set(sq.specific))
            sq.absent = [t for t in sq.specific if not df.get(t)]
        return choose(sq, units, idf, rank, None, proper=self.proper_nouns)

    def proper_nouns(self, text: str) -> list[str]:
        """kiwi's proper nouns (NNP) in a value that are not everywhere in the reports: "카자흐스탄",
        "기시와다시" count, "영등포" (the district itself, in most passages) does not."""
        names = [t.form for t in self.searcher.tokenizer.kiwi.tokenize(text) if t.tag == "NNP" and len(t.form) >= 2]
        if not names:
            return []
        n = max(1, len(self.store))
        df = self.searcher.doc_freqs(names) if hasattr(self.searcher, "doc_freqs") else {}
        return [w for w in names if df.get(w, 0) / n < COMMON_PROPER_SHARE]

    def programmes(self, q: Question) -> list[AnswerItem]:
        """The programmes of the department(s), year(s) and chapter kind a list question names."""
        from index.store import Filters

        seen: dict[tuple, AnswerItem] = {}
        # a report's chapters are about its own year, the next year's plan or the last year's results,
        # so reports one year either side are read; the chapter's own years decide below
        near = sorted({y + d for y in q.years for d in (-1, 0, 1)}) or None
        wanted = Filters.of(year=near, department=list(q.departments) or None, chapter_kind=q.chapter_kind or None)
        heads = []   # one chunk per programme, read by columns (issue 18: no scan of the store)
        for c in self.store.programme_heads(wanted):
            chapter_years = [int(y) for y in _years(c.chapter or "")]
            if q.departments and c.department not in q.departments:
                continue
            if q.years and not (set(q.years) & set(chapter_years or [c.year])):
                continue
            if q.chapter_kind and c.chapter_kind != q.chapter_kind:
                continue
            heads.append((c, (chapter_years or [c.year])[0]))
            if len(heads) > MAX_LIST_ITEMS:   # enough to show the list and say there are more
                break
        by_chunk = self.store.units_for_chunks([c.id for c, _ in heads]) if heads else {}
        for c, year in heads:
            units = by_chunk.get(c.id) or self._later_units(c)
            key = _programme_key(c)
            if key in seen or not units:
                continue
            seen[key] = AnswerItem(text=c.programme, value=c.programme, kind="list", unit=units[0],
                                   confidence="high", year=year)
        return list(seen.values())

    def _later_units(self, head: Chunk) -> list[Unit]:
        """The units of the first of a programme's chunks that has any (its head had none)."""
        by_chunk = self.store.units_for_chunks(self.store.programme_ids(head))
        return next((u for u in by_chunk.values() if u), [])


class _ChunkLookup:
    """``answerer.chunks.get(id)``: a chunk read from the store by id."""

    def __init__(self, store):
        self._store = store

    def many(self, ids) -> dict:
        """Chunks by id, read at once."""
        ids = list(dict.fromkeys(ids))
        return {c.id: c for c in self._store.get(ids)} if ids else {}

    def get(self, chunk_id, default=None):
        got = self._store.get([chunk_id])
        return got[0] if got else default

    def __getitem__(self, chunk_id):
        got = self._store.get([chunk_id])
        if not got:
            raise KeyError(chunk_id)
        return got[0]

    def __contains__(self, chunk_id):
        return bool(self._store.get([chunk_id]))


def _programme_key(c: Chunk) -> tuple:
    return (c.file, c.chapter_number, c.programme_number, c.programme)


def _years(text: str) -> list[str]:
    return re.findall(r"(20\d{2})\s*년", text)


def _asks_programmes(q: Question) -> bool:
    """"비전협력과 22년 사업 뭐 있어?", "추진실적 항목 전부": a department's or a year's programmes."""
    # a question with its own topic words ("의료서비스 체험관에 어떤 측정기들") asks inside a programme
    own = [t for t in q.specific if not re.fullmatch(r"(?:추진|주요|중점|신규|세부)?사업(?:들|계획)?|프로그램", t)]
    return bool(q.departments or q.years) and not own \
        and any(w in q.text for w in ("사업", "추진", "항목", "계획", "실적"))


def unit_citation(u: Unit, chunk: Chunk | None) -> str:
    """A chunk-style citation narrowed to the unit's own line (or page)."""
    parts = []
    if chunk is not None:
        label = report_label(chunk)
        if label not in (chunk.file, chunk.file.rsplit(".", 1)[0]):
            parts.append(label)
        if chunk.department:
            parts.append(chunk.department)
        if chunk.programme:
            num = ""
            if chunk.chapter_number and chunk.programme_number and 0 < chunk.programme_number <= len(CIRCLED):
                num = f"{chunk.chapter_number}-{CIRCLED[chunk.programme_number - 1]} "
            parts.append(f"{num}{chunk.programme}")
    if u.section and u.section != "(사업 목적)" and not any(u.section in p for p in parts):
        parts.append(u.section)
    end = max(u.line, u.end_line or u.line)
    lines = f"{u.line}" if end == u.line else f"{u.line}-{end}"
    if u.page is not None:
        prefix = "p." if u.page_exact else "약 p."
        parts.append(f"{u.file} {prefix}{u.page}")
    elif chunk is None or chunk.format == "txt":
        parts.append(f"{u.file}:{lines}")
    else:
        parts.append(u.file)
    return " · ".join(parts)


_TIERS = {"high": 0, "medium": 1, "low": 2}


def evidence_first(hits, result: AnswerResult) -> list:
    """The passage holding a 높음 answer first, then those holding all the question's specific
    terms (stable); a passage holding the answer is labelled at least as the answer is; then
    labels made monotone: a label never rises as rank falls, and with no
    answer none is 높음. (A 보통 answer does not move passages: on the tune halves that cost the
    topic questions nothing but the answer set one question at hit@1, 0.915 -> 0.894, and kept
    a doubtful answer from pushing the right passage down.)"""
    from search.answer import evidence_text

    terms = result.question.specific
    if terms:
        def holds(h) -> bool:
            ev = evidence_text(h.chunk.index_text)
            return all(t in ev for t in terms)

        hits = sorted(hits, key=lambda h: not holds(h))
    if result.answer is not None:
        cited = {result.answer.unit.chunk_id} | {i.unit.chunk_id for i in result.answer.items}
        if result.answer.confidence == "high":
            hits = sorted(hits, key=lambda h: h.chunk.id not in cited)
        # the passage holding the answer's evidence is as sure as the answer: a 높음 answer over a
        # passage marked 낮음 ("관련 내용을 찾지 못했습니다") would contradict itself
        for h in hits:
            if h.chunk.id in cited and _TIERS.get(h.confidence, 2) > _TIERS[result.answer.confidence]:
                h.confidence = result.answer.confidence
    worst = 0
    if result.answer is None:
        worst = _TIERS["medium"]
    names = {v: k for k, v in _TIERS.items()}
    for i, h in enumerate(hits):
        worst = max(worst, _TIERS.get(h.confidence, 2))
        h.confidence = names[worst]
        h.rank = i + 1
    return hits


def _side_labels(sides: tuple[str, str]) -> tuple[str, str]:
    """Short names of two sides: the words one side has and the other lacks."""
    a, b = sides[0].split(), sides[1].split()
    return (" ".join(w for w in a if w not in b) or sides[0], " ".join(w for w in b if w not in a) or sides[1])
