"""Outline for documents that are not work reports (press releases, notices, RFPs, plans).

Contract of ``generic_outline(source) -> list[Chapter]``:

- Every non-blank line of ``source.lines`` lies in exactly one ``Section``; sections
  do not overlap, and each ``Programme`` and ``Chapter`` range is the union of its
  sections. Ranges are 1-based and inclusive over ``Line.number`` and start and
  end on non-blank lines. Blank lines between sections belong to none.
- Headings come from the format's own heading styles (``Line.heading_level``,
  DOCX) when there are any, else from government numbering at the start of a
  line, ranked ``Ⅰ.`` > ``1.`` > ``가.`` > ``□`` > ``ㅇ``/``○`` > ``※``.
  The highest rank present makes chapters, the next one sections. A top rank
  seen only once, on the document's first line, is its title, not a chapter.
  Table rows (``| a | b |``) and contents-page lines (dot leaders and a page
  number) are never headings.
- Text before the first chapter heading is a chapter with ``title=""``.
  Text between a chapter heading and its first section heading is a section
  headed by the chapter heading.
- Each chapter has one ``Programme`` (``number``/``title``/``team`` None,
  ``title_source="none"``); ``Chapter.kind`` is ``"other"``; ``Chapter.number``
  is the Roman numeral of a ``Ⅰ.`` heading, else None.
- With no headings at all: one chapter, one programme, one section over the
  whole text, headed by the file's stem. No non-blank line at all: ``[]``.
"""
from __future__ import annotations

import re
from pathlib import Path

from index.model import Chapter, Line, Programme, Section, SourceText

_ROMAN = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ"
_RANKS: list[tuple[int, re.Pattern]] = [
    (0, re.compile(rf"^\s*(?P<num>[{_ROMAN}]|(?:X{{0,3}})(?:IX|IV|V?I{{0,3}}))\s*[.．]\s*(?P<title>\S.*)$")),
    (1, re.compile(r"^\s*(?P<num>[0-9]{1,2})\s*[.．]\s+(?P<title>\S.*)$")),
    (2, re.compile(r"^\s*(?P<num>[가-하])\s*[.．]\s*(?P<title>\S.*)$")),
    (3, re.compile(r"^\s*[□■]\s*(?P<title>\S.*)$")),
    (4, re.compile(r"^\s*[ㅇ○◦●]\s*(?P<title>\S.*)$")),
    (5, re.compile(r"^\s*※\s*(?P<title>\S.*)$")),
]
_TOC = re.compile(r"(?:[·.․‥…ㆍ]\s*){3,}\s*\d+\s*$")
_MAX_HEADING = 60      # a numbered line longer than this is a list item, not a heading


def _rank(text: str) -> tuple[int, str | None] | None:
    if text.startswith("|") or _TOC.search(text):
        return None
    for rank, pattern in _RANKS:
        m = pattern.match(text)
        if not m:
            continue
        if rank == 0 and not m.group("num"):
            continue  # the empty Roman alternative
        if rank <= 2 and len(text) > _MAX_HEADING:
            return None
        number = m.group("num") if rank == 0 else None
        return rank, number
    return None


def _heading_text(text: str, limit: int = 80) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def generic_outline(source: SourceText) -> list[Chapter]:
    lines = [ln for ln in source.lines if ln.text.strip()]
    if not lines:
        return []

    # 1. Each line's rank: heading styles first, numbering otherwise.
    styled = any(ln.heading_level for ln in lines)
    ranks: dict[int, tuple[int, str | None]] = {}
    for ln in lines:
        if styled:
            if ln.heading_level:
                ranks[ln.number] = (ln.heading_level, _rank(ln.text.strip())[1] if _rank(ln.text.strip()) else None)
        else:
            r = _rank(ln.text)
            if r is not None:
                ranks[ln.number] = r
    present = sorted({r for r, _ in ranks.values()})
    # A top rank seen once, on the first line, is the title.
    if present:
        top = [n for n, (r, _) in ranks.items() if r == present[0]]
        if len(top) == 1 and top[0] == lines[0].number and len(present) > 1:
            del ranks[top[0]]
            present = present[1:]
    if not present:
        return [_single(source, lines)]
    chapter_rank = present[0]
    section_rank = present[1] if len(present) > 1 else None

    # 2. Chapters: split at chapter headings.
    chapter_starts = [i for i, ln in enumerate(lines) if ranks.get(ln.number, (None,))[0] == chapter_rank]
    bounds = ([0] if chapter_starts[0] != 0 else []) + chapter_starts + [len(lines)]
    chapters: list[Chapter] = []
    for a, b in zip(bounds, bounds[1:]):
        block = lines[a:b]
        head = block[0]
        is_heading = ranks.get(head.number, (None,))[0] == chapter_rank
        number = ranks[head.number][1] if is_heading else None
        title = _heading_text(head.text) if is_heading else ""
        if is_heading and number:
            title = _heading_text(re.sub(r"^\s*\S+?\s*[.．]\s*", "", head.text, count=1))
        # 3. Sections inside the chapter.
        starts = [0] + [
            i for i, ln in enumerate(block)
            if i > 0 and section_rank is not None and ranks.get(ln.number, (None,))[0] == section_rank
        ]
        sections: list[Section] = []
        for s, e in zip(starts, starts[1:] + [len(block)]):
            first = block[s]
            heading = _heading_text(first.text) if (s > 0 or is_heading) else (title or _stem(source))
            sections.append(Section(heading=heading, start=first.number, end=block[e - 1].number))
        prog = Programme(number=None, title=None, team=None, title_source="none",
                         start=block[0].number, end=block[-1].number, sections=sections)
        chapters.append(Chapter(number=number, title=title, kind="other",
                                start=block[0].number, end=block[-1].number, programmes=[prog]))
    return chapters


def _stem(source: SourceText) -> str:
    return Path(source.path).stem


def _single(source: SourceText, lines: list[Line]) -> Chapter:
    sec = Section(heading=_stem(source), start=lines[0].number, end=lines[-1].number)
    prog = Programme(number=None, title=None, team=None, title_source="none",
                     start=sec.start, end=sec.end, sections=[sec])
    return Chapter(number=None, title="", kind="other", start=sec.start, end=sec.end, programmes=[prog])
