"""Work-report structure: cover metadata, chapters, programmes and □ subsections.

A 부서별 주요업무보고 has a cover (session, dates, title, department), a 보고 순서
contents page, chapter Ⅰ 일반현황 (조직/인력/시설·장비/예산) and chapters of
programmes (추진실적, 추진계획, 신규·중점 추진사업). Programme titles often exist only
in the chapter's own contents table (연번 · 사업 명 · 쪽), so they are recovered from it
in order; a title in the body (with its team) wins where there is one.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from index.model import Chapter, DocumentMeta, Line, Programme, Section
from index.textnorm import compact, is_noise_line

ROMAN = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ"
_ASCII_ROMAN = {"I": "Ⅰ", "II": "Ⅱ", "III": "Ⅲ", "IV": "Ⅳ", "V": "Ⅴ", "VI": "Ⅵ", "VII": "Ⅶ"}

_CHAPTER = re.compile(r"^\s*(?P<num>[Ⅰ-Ⅹ]|I{1,3}|IV|VI{0,2}|V)\s*\.\s*(?P<title>\S.*?)\s*$")
_LEADER = re.compile(r"(?:[.·…]\s*){3,}|·{3,}|\*\*\d+\*\*\s*$")
_SUBHEAD = re.compile(r"^\s*□\s*(?P<rest>.*)$")
_BODY_TITLE = re.compile(r"^\s*(?P<num>\d{1,2})\s+(?P<title>\S.*?)\s*$")
_LONE_NUM = re.compile(r"^\s*(?P<num>\d{1,2})\s*$")
_TEAM_TAIL = re.compile(r"^(?P<title>.*\S)\s+(?P<team>[가-힣A-Za-z]{1,12}팀)$")
_TEAM_LINE = re.compile(r"^\s*(?P<team>[가-힣A-Za-z]{1,12}팀)\s*$")
_TOC_ROW = re.compile(
    r"^[\s|\-]*(?P<circ>[①-⑳])?[\s|]*(?P<title>[^\s|].*?)[\s|]*(?P<leader>(?:[·.…]\s*){3,})?[\s|]*(?P<page>\d{1,3})[\s|]*$"
)
_SESSION = re.compile(r"제\s*\d+\s*회\s*(?:\S+\s*)?(?:구의회|의회)\s*.*?(?:임시회|정례회)")
_DATES = re.compile(r"^\s*(\d{4})\.\s*\d{1,2}\.\s*\d{1,2}\.?\s*~")
_TITLE = re.compile(r"(?P<year>\d{4})\s*년\s*주요\s*업무\s*(?:계획\s*)?보\s*고")
_DEPT = re.compile(r"^[가-힣]{2,}(?:과|담당관|실|국|단|소|센터|본부)$")
_SHORT_YEAR = re.compile(r"[`'‘’]\s?(\d{2})\.\s*\d{1,2}\.")
_LONG_YEAR = re.compile(r"(?<!\d)(20\d{2})(?:\s*년|\.\s*\d{1,2}\.)")
_ORG_DEPT = re.compile(r"([가-힣]{2,}(?:과|담당관))\s*-?\s*\(\s*\d+\s*\)\s*개\s*팀")

GENERAL_ITEMS = {"조직": "조직", "인력": "인력", "주요시설및장비": "주요시설 및 장비",
                 "시설및장비": "시설 및 장비", "예산현황": "예산현황", "예산": "예산현황"}
OPENING_HEADINGS = ("사업개요", "추진방향", "추진배경", "추진목적")
BUDGET_HEADINGS = ("소요예산", "예산현황", "사업예산", "예산")
INTRO_HEADING = "(사업 목적)"

_LIST_MARK = re.compile(r"^\s*(?:[-○ㅇ※▣•·◦▪■◆◇▶►∙]|\d+[.)]|[가-하][.)])")
_NUMERICISH = re.compile(r"^[\s\d,.%()△\-+~:/구시국비천원백만억]*$")


def chapter_kind(title: str) -> str:
    t = compact(title)
    if "신규" in t or "투자사업" in t or "중점사업" in t:
        return "new"
    if "일반" in t and "현황" in t:
        return "general"
    if "실적" in t:
        return "results"
    if "계획" in t:
        return "plan"
    return "other"


def normalise_heading(rest: str) -> str:
    """"□ **소요예산: 총 553,600천원(구비)**" -> "□ 소요예산"."""
    rest = rest.replace("*", "").strip()
    rest = re.split(r"\s*[:：]\s*", rest, maxsplit=1)[0].strip()
    return f"□ {rest}" if rest else "□"


def is_table_row(text: str) -> bool:
    s = text.strip()
    return s.startswith("|") or "\t" in text


def is_prose(text: str) -> bool:
    """A sentence line: not a list item, table row, heading or figure."""
    s = text.strip()
    if not s or is_table_row(text) or _LIST_MARK.match(s) or _SUBHEAD.match(s):
        return False
    if _NUMERICISH.match(s) or s.startswith(("(", "<")):
        return False
    return bool(re.search(r"[가-힣]{2}", s))


@dataclass
class _Toc:
    start: int
    end: int
    titles: list[str] = field(default_factory=list)


def find_chapter_headings(lines: list[Line]) -> list[tuple[int, str, str]]:
    """(index, roman numeral, title) of each real chapter heading, skipping contents entries."""
    found = []
    for i, ln in enumerate(lines):
        m = _CHAPTER.match(ln.text)
        if not m or _LEADER.search(ln.text) or "\t" in ln.text.strip():
            continue
        title = m.group("title").replace("*", "").strip()
        if not re.search(r"[가-힣]", title) or len(title) > 40:
            continue
        if _in_contents_list(lines, i):
            continue
        num = _ASCII_ROMAN.get(m.group("num"), m.group("num"))
        found.append((i, num, title))
    # Keep an increasing sequence Ⅰ, Ⅱ, ...: a repeated numeral is a running header.
    out, last = [], -1
    for i, num, title in found:
        rank = ROMAN.index(num) if num in ROMAN else -1
        if rank > last:
            out.append((i, num, title))
            last = rank
    return out


def _in_contents_list(lines: list[Line], i: int) -> bool:
    """A heading-like line inside a 목차 (both neighbours carry leader dots and page numbers)."""
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(lines) and not lines[j].text.strip():
            j += step
        if not (0 <= j < len(lines) and _LEADER.search(lines[j].text)):
            return False
    return True


def parse_meta(lines: list[Line], first_chapter: int) -> tuple[DocumentMeta, int, int | None]:
    """Cover metadata. Returns (meta, end of cover region (exclusive), start of 보고 순서 or None)."""
    meta = DocumentMeta()
    toc_at = None
    for i in range(first_chapter):
        if compact(lines[i].text) in ("보고순서", "목차", "보고순서및목차"):
            toc_at = i
            break
    cover_end = toc_at if toc_at is not None else first_chapter
    title_at = None
    for i in range(cover_end):
        text = lines[i].text.strip()
        if meta.session is None and (m := _SESSION.search(text)):
            meta.session = re.sub(r"\s+", " ", m.group(0)).strip()
        elif meta.session_dates is None and _DATES.match(text):
            meta.session_dates = text
        elif meta.title is None and (m := _TITLE.search(text)):
            meta.title = re.sub(r"\s+", " ", text.replace("*", "")).strip()
            meta.year, meta.year_source = int(m.group("year")), "cover"
            title_at = i
    if title_at is not None:
        for i in range(title_at + 1, cover_end):
            cand = compact(lines[i].text)
            if _DEPT.match(cand):
                meta.department = cand
                break
    if meta.session is None and meta.title is None:
        cover_end = 0 if toc_at is None else toc_at
    return meta, cover_end, toc_at


def infer_department(lines: list[Line]) -> str | None:
    """From the 조직 section ("비전협력과 - (3)개팀") when there is no cover."""
    for ln in lines[:80]:
        if m := _ORG_DEPT.search(compact(ln.text).replace("-", " - ")):
            return m.group(1)
        if m := _ORG_DEPT.search(ln.text):
            return compact(m.group(1))
    return None


def infer_year(lines: list[Line]) -> int | None:
    """Most frequent year in body dates (`23. 4. / 2023. 4.)."""
    short = Counter(2000 + int(m.group(1)) for ln in lines for m in _SHORT_YEAR.finditer(ln.text))
    if short:
        return short.most_common(1)[0][0]
    long = Counter(int(m.group(1)) for ln in lines for m in _LONG_YEAR.finditer(ln.text))
    return long.most_common(1)[0][0] if long else None


def parse_toc(lines: list[Line], start: int, end: int) -> _Toc | None:
    """A chapter's own contents table (연번 · 사업 명 · 쪽) right after its heading."""
    i = start
    while i < end and not lines[i].text.strip():
        i += 1
    if i >= end:
        return None
    head = compact(lines[i].text).replace("|", "")
    if not ("연번" in head and "사업명" in head):
        return None
    toc = _Toc(start=i, end=i + 1)
    j = i + 1
    while j < end:
        text = lines[j].text
        if not text.strip() or is_noise_line(text):
            j += 1
            continue
        m = _TOC_ROW.match(text.replace("\t", " | "))
        if not m or not (m.group("circ") or m.group("leader")):
            break
        toc.titles.append(re.sub(r"\s+", " ", m.group("title").strip(" |·.")).strip())
        toc.end = j + 1
        j += 1
    while toc.end < end and is_noise_line(lines[toc.end].text) and lines[toc.end].text.strip():
        toc.end += 1
    return toc


def _next_nonblank(lines: list[Line], i: int, end: int) -> int | None:
    while i < end and not lines[i].text.strip():
        i += 1
    return i if i < end else None


def match_body_title(lines: list[Line], i: int, end: int, expected: int):
    """A programme title in the body: "6 title team", or "3" / title / team on separate lines.

    Returns (title, team, last index used) or None.
    """
    text = lines[i].text
    m = _LONE_NUM.match(text)
    if m and int(m.group("num")) == expected:
        j = _next_nonblank(lines, i + 1, end)
        if j is None or not is_prose(lines[j].text) or lines[j].text.strip().endswith("함"):
            return None
        title, team, last = lines[j].text.strip(), None, j
        if t := _TEAM_TAIL.match(title):
            title, team = t.group("title"), t.group("team")
        else:
            k = _next_nonblank(lines, j + 1, end)
            if k is not None and (t := _TEAM_LINE.match(lines[k].text)):
                team, last = t.group("team"), k
        return title, team, last
    m = _BODY_TITLE.match(text)
    if not m or int(m.group("num")) != expected or is_table_row(text):
        return None
    title, team, last = m.group("title"), None, i
    if not re.search(r"[가-힣]{2}", title) or title.endswith("함"):
        return None
    if t := _TEAM_TAIL.match(title):
        title, team = t.group("title"), t.group("team")
    else:
        k = _next_nonblank(lines, i + 1, end)
        if k is not None and (t := _TEAM_LINE.match(lines[k].text)):
            team, last = t.group("team"), k
    return title.strip(), team, last


def _purpose_start(lines: list[Line], lo: int, hi: int) -> int | None:
    """Start of the purpose paragraph ending just before index ``hi`` ("…하고자 함"), if any."""
    j = hi - 1
    while j >= lo and not lines[j].text.strip():
        j -= 1
    if j < lo or not is_prose(lines[j].text) or not lines[j].text.rstrip(" .").endswith("함"):
        return None
    start = j
    while j >= lo:
        text = lines[j].text
        if text.strip():
            if not is_prose(text) or _SUBHEAD.match(text):
                break
            start = j
        j -= 1
    return start


def parse_general(lines: list[Line], body_start: int, end: int) -> list[Programme]:
    """Chapter Ⅰ items in lines[body_start:end]: 1 조직 / 2 인력 / 3 주요시설 및 장비 / 4 예산현황."""
    items: list[tuple[int, int, str]] = []  # (start index, number, title)
    i = body_start
    while i < end:
        text = lines[i].text
        m = _BODY_TITLE.match(text) or _LONE_NUM.match(text)
        if m:
            num = int(m.group("num"))
            title = m.groupdict().get("title")
            if title is None:
                j = _next_nonblank(lines, i + 1, end)
                title = lines[j].text if j is not None else ""
            key = compact(title)
            if key in GENERAL_ITEMS and (num == items[-1][1] + 1 if items else num <= 4):
                items.append((i, num, GENERAL_ITEMS[key]))
        i += 1
    progs: list[Programme] = []
    for k, (s, num, title) in enumerate(items):
        e = items[k + 1][0] if k + 1 < len(items) else end
        first, last = lines[s].number, lines[_last_nonblank(lines, s, e)].number
        progs.append(Programme(number=num, title=title, team=None, title_source="body",
                               start=first, end=last,
                               sections=[Section(heading=title, start=first, end=last)]))
    if items and items[0][0] > body_start and any(lines[x].text.strip() for x in range(body_start, items[0][0])):
        first = lines[body_start].number
        progs[0].start = first
        progs[0].sections[0].start = first
    return progs


def parse_programmes(lines: list[Line], body_start: int, end_idx: int, toc: _Toc | None) -> list[Programme]:
    """Split lines[body_start:end_idx] of a programme chapter into programmes and □ subsections."""
    starts: list[dict] = []  # {"idx", "title", "team", "source"}
    sections: list[list[tuple[int, str]]] = []  # per programme: (start idx, heading)
    seen_budget = False
    i = body_start
    while i < end_idx:
        text = lines[i].text
        if not text.strip():
            i += 1
            continue
        bt = match_body_title(lines, i, end_idx, len(starts) + 1)
        if bt:
            title, team, last = bt
            starts.append({"idx": i, "title": title, "team": team, "source": "body"})
            sections.append([(i, INTRO_HEADING)])
            seen_budget = False
            i = last + 1
            continue
        sm = _SUBHEAD.match(text)
        if sm:
            heading = normalise_heading(sm.group("rest"))
            key = compact(heading[1:])
            if not starts:
                first = _next_nonblank(lines, body_start, i)
                starts.append({"idx": first if first is not None else i, "title": None, "team": None, "source": "none"})
                sections.append([(first, INTRO_HEADING)] if first is not None else [])
            else:
                cur = sections[-1]
                lo = cur[-1][0] + 1 if cur else starts[-1]["idx"]
                has_opening = any(compact(h[1:]).startswith(OPENING_HEADINGS) for _, h in cur)
                p = _purpose_start(lines, lo, i)
                if p is not None and (seen_budget or (key.startswith(OPENING_HEADINGS) and has_opening)):
                    starts.append({"idx": p, "title": None, "team": None, "source": "none"})
                    sections.append([(p, INTRO_HEADING)])
                    seen_budget = False
            sections[-1].append((i, heading))
            if key.startswith(BUDGET_HEADINGS):
                seen_budget = True
        i += 1

    first_text = _next_nonblank(lines, body_start, end_idx)
    if first_text is None:
        return []
    if not starts:  # no programme structure (not a 주요업무 chapter): one untitled part
        starts.append({"idx": first_text, "title": None, "team": None, "source": "none"})
        sections.append([(first_text, INTRO_HEADING)])
    elif starts[0]["idx"] > first_text:  # text before the first programme belongs to it
        starts[0]["idx"] = first_text
        if sections[0] and sections[0][0][0] is not None:
            sections[0][0] = (first_text, sections[0][0][1])
    if toc:
        for k, st in enumerate(starts):
            if st["source"] == "none" and k < len(toc.titles):
                st["title"], st["source"] = toc.titles[k], "contents"
    progs: list[Programme] = []
    for k, st in enumerate(starts):
        e = starts[k + 1]["idx"] if k + 1 < len(starts) else end_idx
        last = _last_nonblank(lines, st["idx"], e)
        secs = []
        heads = [h for h in sections[k] if h[0] is not None]
        for n, (s, h) in enumerate(heads):
            se = heads[n + 1][0] if n + 1 < len(heads) else e
            if not any(lines[x].text.strip() for x in range(s, se)):
                continue
            secs.append(Section(heading=h, start=lines[s].number, end=lines[_last_nonblank(lines, s, se)].number))
        progs.append(Programme(number=k + 1, title=st["title"], team=st["team"], title_source=st["source"],
                               start=lines[st["idx"]].number, end=lines[last].number, sections=secs))
    return progs


def _last_nonblank(lines: list[Line], lo: int, hi: int) -> int:
    j = hi - 1
    while j > lo and not lines[j].text.strip():
        j -= 1
    return j


@dataclass
class Outline:
    meta: DocumentMeta
    chapters: list[Chapter]
    skipped: dict[str, list[int]]    # region -> line numbers deliberately left out of chunks


def parse_report(lines: list[Line]) -> Outline | None:
    """Outline of a work report, or None when the text is not one (no chapter headings)."""
    heads = find_chapter_headings(lines)
    if not heads:
        return None
    first = heads[0][0]
    meta, cover_end, toc_at = parse_meta(lines, first)
    if meta.department is None:
        meta.department = infer_department(lines)
    if meta.year is None:
        meta.year = infer_year(lines)
        meta.year_source = "body dates" if meta.year else None
    if meta.title is None and meta.year:
        meta.year_source = meta.year_source or "body dates"

    skipped: dict[str, list[int]] = {"cover": [], "contents": [], "headings": []}
    for i in range(cover_end):
        if lines[i].text.strip():
            skipped["cover"].append(lines[i].number)
    toc_end = first if toc_at is not None else cover_end
    for i in range(cover_end, toc_end):
        if lines[i].text.strip():
            skipped["contents"].append(lines[i].number)
    # Text before the first heading that is neither cover nor contents belongs to chapter Ⅰ
    # (a report without a cover whose first page header was extracted late).
    chapter_starts = [h[0] for h in heads]
    chapter_starts[0] = toc_end

    chapters: list[Chapter] = []
    for k, (idx, num, title) in enumerate(heads):
        s = chapter_starts[k]
        e = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        chap = Chapter(number=num, title=re.sub(r"\s+", " ", title), kind=chapter_kind(title),
                       start=lines[s].number, end=lines[_last_nonblank(lines, s, e)].number)
        skipped["headings"].append(lines[idx].number)
        toc = parse_toc(lines, idx + 1, e)
        body_start = toc.end if toc else idx + 1
        if toc:
            skipped["contents"].extend(lines[x].number for x in range(toc.start, toc.end) if lines[x].text.strip())
        if chap.kind == "general":
            chap.programmes = parse_general(lines, body_start, e)
        else:
            chap.programmes = parse_programmes(lines, body_start, e, toc)
        if s < idx and any(lines[x].text.strip() for x in range(s, idx)):
            chap.programmes = _prepend(lines, chap.programmes, s, idx)
        chapters.append(chap)
    return Outline(meta=meta, chapters=chapters, skipped={k: v for k, v in skipped.items() if v})


def _prepend(lines: list[Line], progs: list[Programme], s: int, idx: int) -> list[Programme]:
    """Attach lines [s, idx) before a late chapter heading to the chapter's first items.

    With a no-cover report the heading can come after 조직/인력; those items are re-found here.
    """
    early = parse_general(lines, s, idx)
    if early:
        merged = early + [p for p in progs if p.title not in {e.title for e in early}]
        for n, p in enumerate(merged, start=1):
            p.number = n
        return merged
    if progs:
        progs[0].start = lines[s].number
        if progs[0].sections:
            progs[0].sections[0].start = lines[s].number
    return progs
