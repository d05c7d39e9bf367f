"""Cut an outline's subsections into bounded, citable chunks.

A chunk is a subsection or a part of one. Splits fall only between items: a list item
with its sub-items, a whole table (with its header row), a paragraph. A table or item too
large on its own is split at row / sub-item boundaries, and a table's header row is
repeated in the index text of its later parts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from index.model import Chapter, Chunk, DocumentMeta, Line, Programme, Section
from index.textnorm import is_noise_line, normalise_for_index, strip_html

MAX_CHARS = 800
MIN_CHARS = 300  # joined below this; tune half: BM25 hit@1 0.77 (200) -> 0.88 (300), hybrid equal
MAX_UNIT = 1200
MERGE_TAIL = MIN_CHARS  # tuned on the tune half of corpus_qa: 200 > 80 > 0 for hit@1

_TOP_ITEM = re.compile(r"^(?:[-○ㅇ※▣□•◦▪■◆◇▶►]|\d+[.)]\s|[가-하][.)]\s|[①-⑳])")


def split_long_lines(lines: list[Line], limit: int = MAX_CHARS) -> list[Line]:
    """Lines longer than ``limit`` cut into pieces of at most ``limit`` characters.

    Each piece keeps its line's number and page, so a citation still names the source line;
    the pieces of a line joined give the line back. Cuts fall at a sentence end (kiwi's sentence
    splitter), else after a space, else anywhere (text without boundaries).
    """
    if all(len(ln.text) <= limit for ln in lines):
        return lines
    out: list[Line] = []
    for ln in lines:
        if len(ln.text) <= limit:
            out.append(ln)
        else:
            out.extend(replace(ln, text=piece) for piece in split_text(ln.text, limit))
    return out


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """``text`` as consecutive pieces of at most ``limit`` characters, each at least half of it
    (but the last): a piece ends at a sentence end in the last quarter of its window, else after a
    space in the second half, else at ``limit``."""
    pieces: list[str] = []
    pos = 0
    while len(text) - pos > limit:
        window = text[pos:pos + limit]
        cut = _sentence_cut(window, limit * 3 // 4) or _space_cut(window, limit // 2) or limit
        pieces.append(text[pos:pos + cut])
        pos += cut
    pieces.append(text[pos:])
    return pieces


def _sentence_cut(window: str, lo: int) -> int:
    """The last sentence end in ``window[lo:]`` (with the spaces after it), or 0. Only that tail
    goes through kiwi (a quarter of the text: 1 MB of one line costs ~5 s on 2 cores, not ~20)."""
    tail = window[lo:]
    try:
        sents = _kiwi().split_into_sents(tail)
    except Exception:  # kiwi refusing odd text must not stop indexing: fall back to spaces
        return 0
    ends = [s.end for s in sents[:-1]]  # the last sentence runs into the cut: not an end
    if not ends:
        return 0
    end = lo + ends[-1]
    while end < len(window) and window[end].isspace():
        end += 1
    return end if end < len(window) else 0


def _space_cut(window: str, lo: int) -> int:
    k = max(window.rfind(" ", lo), window.rfind("\t", lo))
    return k + 1 if k >= lo else 0


_KIWI = None


def _kiwi():
    global _KIWI
    if _KIWI is None:
        from kiwipiepy import Kiwi

        _KIWI = Kiwi(load_multi_dict=False)   # sentence splits only: the multi-word dictionary adds ~2 s
    return _KIWI


@dataclass
class _Unit:
    first: int          # index into lines
    last: int
    rows: list[int]     # indices of its non-blank lines
    table: bool = False

    def size(self, lines: list[Line]) -> int:
        return sum(len(lines[i].text.strip()) + 1 for i in self.rows)


def _is_table(text: str) -> bool:
    s = text.strip()
    return s.startswith("|") or ("\t" in text and len(text.split("\t")) >= 2)


def _units(lines: list[Line], lo: int, hi: int) -> list[_Unit]:
    """Group lines[lo:hi+1] into indivisible items: table blocks, list items with sub-items, paragraphs."""
    units: list[_Unit] = []
    for i in range(lo, hi + 1):
        text = lines[i].text
        if not text.strip():
            continue
        table = _is_table(text)
        cur = units[-1] if units else None
        if cur is not None and table == cur.table:
            indented = text[:1] in (" ", "\t")
            if table or indented or (not _TOP_ITEM.match(text.strip()) and _continues(lines, cur, text)):
                cur.rows.append(i)
                cur.last = i
                continue
        units.append(_Unit(first=i, last=i, rows=[i], table=table))
    return units


def _continues(lines: list[Line], cur: _Unit, text: str) -> bool:
    """A wrapped line: previous line of the unit does not end a sentence or a figure."""
    prev = lines[cur.rows[-1]].text.strip()
    if is_noise_line(text) or is_noise_line(prev):
        return False
    return not re.search(r"(?:함|임|음|다|\.|\)|:)$", prev) and bool(re.match(r"^[가-힣A-Za-z(「‘'\"]", text.strip()))


def _split_unit(lines: list[Line], unit: _Unit) -> list[_Unit]:
    """Break an oversized unit at row (table) or line (sub-item) boundaries."""
    parts: list[_Unit] = []
    cur: list[int] = []
    size = 0
    for i in unit.rows:
        n = len(lines[i].text.strip()) + 1
        if cur and size + n > MAX_CHARS:
            parts.append(_Unit(first=cur[0], last=cur[-1], rows=cur, table=unit.table))
            cur, size = [], 0
        cur.append(i)
        size += n
    if cur:
        parts.append(_Unit(first=cur[0], last=cur[-1], rows=cur, table=unit.table))
    return parts


def _pack(lines: list[Line], units: list[_Unit]) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    cur: list[_Unit] = []
    size = 0
    for u in units:
        n = u.size(lines)
        if cur and size + n > MAX_CHARS:
            groups.append(cur)
            cur, size = [], 0
        cur.append(u)
        size += n
    if cur:
        # Fold a small tail into the previous group rather than leave a fragment.
        if groups and size < MIN_CHARS // 2 and sum(x.size(lines) for x in groups[-1]) + size <= MAX_CHARS * 1.25:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


# Words staff use when asking for what a subsection type holds; added to the index text of
# that subsection so "언제…?" finds □ 추진일정 and "얼마…?" finds □ 소요예산.
SECTION_TERMS = (
    (("소요예산", "예산현황", "사업예산", "예산"), "예산 얼마 금액 비용 사업비 재원"),
    (("추진일정", "일정"), "일정 언제 시기 기간"),
    (("주요추진실적", "추진실적", "실적"), "실적 성과 결과 추진 현황"),
    (("향후계획", "향후"), "향후 계획 예정 앞으로"),
    (("사업개요", "개요"), "개요 대상 내용 기간"),
    (("세부추진계획", "세부"), "세부 계획 내용 방법"),
    (("추진방향", "추진배경"), "방향 배경 목표"),
    (("(사업목적)",), "목적 취지 목표"),
    (("인력",), "인력 정원 현원 직원 인원 몇 명"),
    (("조직",), "조직 팀 부서 구성"),
    (("주요시설및장비", "시설및장비"), "시설 장비 차량"),
)


def section_terms(heading: str | None) -> str:
    key = (heading or "").replace("□", "").replace(" ", "")
    for prefixes, terms in SECTION_TERMS:
        if key.startswith(prefixes):
            return terms
    return ""


def context_header(meta: DocumentMeta, chapter: Chapter | None, prog: Programme | None, heading: str | None) -> str:
    parts = []
    if meta.year:
        parts.append(f"{meta.year}년")
    if meta.department:
        parts.append(meta.department)
    if chapter is not None and chapter.title:
        parts.append(chapter.title)
    if prog is not None and prog.title:
        parts.append(prog.title + (f" ({prog.team})" if prog.team else ""))
    if heading and (prog is None or heading != prog.title):
        parts.append(heading.lstrip("□ ").strip() or heading)
    extra = section_terms(heading)
    return " · ".join(parts) + (f" ({extra})" if extra else "")


def chunk_section(
    lines: list[Line], by_number: dict[int, int], *, file: str, path: str, fmt: str, page_exact: bool,
    meta: DocumentMeta, chapter: Chapter | None, prog: Programme | None, section: Section,
    last_of: dict[int, int] | None = None,
) -> list[Chunk]:
    lo, hi = by_number[section.start], (last_of or by_number)[section.end]
    units: list[_Unit] = []
    for u in _units(lines, lo, hi):
        units.extend(_split_unit(lines, u) if u.size(lines) > MAX_UNIT else [u])
    header = context_header(meta, chapter, prog, section.heading)
    chunks = []
    for group in _pack(lines, units):
        rows = [i for u in group for i in u.rows]
        display = "\n".join(strip_html(t).rstrip() for t in _joined(lines, rows))
        body = display
        first_unit = group[0]
        if first_unit.table and first_unit.first != _table_start(lines, first_unit.first, lo):
            hdr = lines[_table_start(lines, first_unit.first, lo)].text
            body = hdr + "\n" + body
        first, last = lines[rows[0]], lines[rows[-1]]
        chunks.append(Chunk(
            id=f"{file}:{first.number}-{last.number}", file=file, path=path,
            start_line=first.number, end_line=last.number,
            text=display, index_text=header + "\n" + normalise_for_index(body),
            title=meta.title, department=meta.department, year=meta.year, session=meta.session,
            chapter=_chapter_label(chapter), chapter_number=chapter.number if chapter else None,
            chapter_kind=chapter.kind if chapter else None,
            programme_number=prog.number if prog else None, programme=prog.title if prog else None,
            team=prog.team if prog else None, title_source=prog.title_source if prog else None,
            heading=section.heading, page=first.page, page_end=last.page,
            page_label=first.page_label, page_exact=page_exact, format=fmt,
        ))
    return chunks


def _joined(lines: list[Line], rows: list[int]) -> list[str]:
    """The texts of ``rows``, pieces of one split source line joined back into one line."""
    out: list[str] = []
    prev = None
    for i in rows:
        if prev is not None and lines[i].number == lines[prev].number:
            out[-1] += lines[i].text
        else:
            out.append(lines[i].text)
        prev = i
    return out


def _table_start(lines: list[Line], i: int, lo: int) -> int:
    while i > lo and _is_table(lines[i - 1].text):
        i -= 1
    return i


def _chapter_label(chapter: Chapter | None) -> str | None:
    if chapter is None:
        return None
    return f"{chapter.number}. {chapter.title}" if chapter.number else chapter.title


def merge_small(chunks: list[Chunk], meta: DocumentMeta, chapter: Chapter, prog: Programme) -> list[Chunk]:
    """Join a programme's subsections shorter than ``MIN_CHARS`` with their neighbour.

    Work-report subsections are often one line (□ 소요예산: 총 …) or one sentence (the
    purpose); alone they lack the context a question matches on. Parts of one long
    subsection are never joined with another subsection.
    """
    out: list[Chunk] = []
    for c in chunks:
        prev = out[-1] if out else None
        if prev is not None and (len(prev.text) < MIN_CHARS or len(c.text) < MERGE_TAIL) \
                and len(prev.text) + len(c.text) + 1 <= MAX_CHARS and prev.heading != c.heading:
            heading = f"{prev.heading} · {c.heading}"
            header = context_header(meta, chapter, prog, prev.heading)
            extra = section_terms(c.heading)
            body = prev.index_text.split("\n", 1)[1] if "\n" in prev.index_text else ""
            cbody = c.index_text.split("\n", 1)[1] if "\n" in c.index_text else ""
            out[-1] = Chunk(**{**prev.__dict__, "id": f"{prev.file}:{prev.start_line}-{c.end_line}",
                               "end_line": c.end_line, "page_end": c.page_end, "text": prev.text + "\n" + c.text,
                               "heading": heading,
                               "index_text": f"{header} · {c.heading.lstrip('□ ')}" + (f" ({extra})" if extra else "")
                               + "\n" + body + "\n" + cbody})
        else:
            out.append(c)
    return out


def chunk_outline(lines: list[Line], chapters: list[Chapter], meta: DocumentMeta, *, file: str, path: str,
                  fmt: str = "txt", page_exact: bool = False) -> list[Chunk]:
    lines = split_long_lines(lines)
    by_number: dict[int, int] = {}      # line number -> its first piece; last_of: -> its last piece
    last_of: dict[int, int] = {}
    for i, ln in enumerate(lines):
        by_number.setdefault(ln.number, i)
        last_of[ln.number] = i
    out: list[Chunk] = []
    for chapter in chapters:
        for prog in chapter.programmes:
            parts: list[Chunk] = []
            for section in prog.sections:
                parts.extend(chunk_section(lines, by_number, file=file, path=path, fmt=fmt, page_exact=page_exact,
                                           meta=meta, chapter=chapter, prog=prog, section=section,
                                           last_of=last_of))
            out.extend(merge_small(parts, meta, chapter, prog))
    # Parts of one split line share its line range: number them so that ids stay unique.
    seen: dict[str, int] = {}
    for c in out:
        n = seen[c.id] = seen.get(c.id, 0) + 1
        if n > 1:
            c.id = f"{c.id}#{n}"
    return out


COVER = "표지"


def cover_chunk(lines: list[Line], numbers: list[int], meta: DocumentMeta, *, file: str, path: str, fmt: str,
                page_exact: bool) -> Chunk | None:
    """The report's cover (session, its dates, title, department) as a passage of its own:
    "22년 업무보고 한 임시회 기간 언제야" is answered there. None when there is no cover."""
    by_number = {ln.number: ln for ln in lines}
    rows = [by_number[n] for n in numbers if n in by_number and by_number[n].text.strip()]
    if not rows or not (meta.session or meta.session_dates):
        return None
    display = "\n".join(strip_html(r.text).strip() for r in rows)
    # indexed: the session, its dates and the report's title only. The year and department are
    # every passage's; on a passage this short they would outrank the body for "2020년 기획예산과 …"
    indexed = " ".join(p for p in (meta.session, meta.session_dates, meta.title) if p)
    return Chunk(id=f"{file}:{rows[0].number}-{rows[-1].number}", file=file, path=path,
                 start_line=rows[0].number, end_line=rows[-1].number, text=display,
                 index_text=COVER + "\n" + normalise_for_index(indexed), title=meta.title,
                 department=meta.department, year=meta.year, session=meta.session, chapter=COVER,
                 chapter_kind="general", heading=COVER, page=rows[0].page, page_end=rows[-1].page,
                 page_label=rows[0].page_label, page_exact=page_exact, format=fmt)
