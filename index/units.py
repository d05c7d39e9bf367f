"""Answer units: the body lines and table rows a passage is made of, each citable on its own.

A table row becomes a self-contained fact carrying its column headers, the table's unit
(``단위: 천원``) and its context, e.g.::

    2022 · 비전협력과 · 예산현황 (단위: 천원) · 의료관광 활성화 · 예산액 487,492 · 전년도 예산액 289,673 · …

Tables come in three shapes: pipe rows (``| a | b |``, from the text corpus and every
reader), tab-separated rows, and layout text whose empty cells were lost ("정 원 12 1 4 3").
Cells of the last kind cannot be matched to headers; such lines stay line units marked
``aligned=False`` so the answerer never reads a value from a guessed column.
"""
from __future__ import annotations

import re

from index.config import UNIT_MAX_CHARS, UNIT_MAX_PIECES
from index.model import Chapter, Chunk, DocumentMeta, Line, Unit
from index.textnorm import collapse_ws, is_noise_line, join_spaced_letters, strip_html

_YEAR4 = re.compile(r"(?<!\d)(20\d{2})\s*년?")
_YEAR2 = re.compile(r"(?<![\d.])[`'‘’](\d{2})\.?(?!\d)|(?<!\d)(\d{2})년(?!도?\s*\d)")
_UNIT = re.compile(r"\(?\s*단\s*위\s*[:：]\s*([^)\n]{1,12}?)\s*\)?\s*$")
_NUMERIC = re.compile(r"^[\s△▲\-+]*[\d][\d,.]*\s*(?:%|천원|원|명|개|건|회)?$|^[-–]$|^△\s*[\d,.]+$")
_RULE = re.compile(r"^\s*\|?[\s|:\-]*-{3,}[\s|:\-]*\|?\s*$")
_HANGUL_WORD = re.compile(r"[가-힣A-Za-z]")


def is_numeric_cell(cell: str) -> bool:
    return bool(_NUMERIC.match(cell.strip()))


def split_cells(text: str) -> list[str] | None:
    """Cells of a pipe or tab table row, or None for a line that is not one."""
    s = text.strip()
    if s.startswith("|") and s.count("|") >= 2:
        inner = s[1:-1] if s.endswith("|") else s[1:]
        return [strip_html(c).strip() for c in re.split(r"(?<!\\)\|", inner)]
    if "\t" in text:
        cells = [strip_html(c).strip() for c in text.rstrip("\n").split("\t")]
        if sum(1 for c in cells if c) >= 2:
            return cells
    return None


def years_in(text: str) -> list[int]:
    """Years named in a text: "2022년", "2022", "'22.", "22년"."""
    out = [int(m.group(1)) for m in _YEAR4.finditer(text)]
    for m in _YEAR2.finditer(text):
        yy = m.group(1) or m.group(2)
        out.append(2000 + int(yy))
    return sorted(set(out))


def _header_cell(cell: str) -> str:
    return collapse_ws(join_spaced_letters(cell.replace("**", "")))


def _chapter_year(chapter: Chapter | None, meta: DocumentMeta) -> int | None:
    if chapter is not None:
        ys = [int(y) for y in re.findall(r"(20\d{2})\s*년", chapter.title)]
        if ys:
            return ys[0]
    return meta.year


def _layout(chapters: list[Chapter]) -> dict[int, tuple[Chapter, object, str]]:
    """line number -> (chapter, programme, section heading)."""
    where: dict[int, tuple] = {}
    for ch in chapters:
        for prog in ch.programmes:
            for sec in prog.sections:
                for n in range(sec.start, sec.end + 1):
                    where[n] = (ch, prog, sec.heading)
    return where


def _section_name(heading: str | None) -> str | None:
    if not heading:
        return None
    return collapse_ws(join_spaced_letters(heading.lstrip("□ ").split(":")[0])) or None


class _Table:
    """Consecutive table rows inside one section: header rows, then data rows."""

    def __init__(self) -> None:
        self.rows: list[tuple[Line, list[str]]] = []

    def units(self, make) -> list[Unit]:
        rows = [(ln, cells) for ln, cells in self.rows if not _RULE.match(ln.text)]
        if not rows:
            return []
        width = max(len(c) for _, c in rows)
        grid = [(ln, cells + [""] * (width - len(cells))) for ln, cells in rows]
        # Spacer columns empty in every row carry nothing (layout tables).
        keep = [j for j in range(width) if any(c[j] for _, c in grid)]
        grid = [(ln, [c[j] for j in keep]) for ln, c in grid]
        width = len(keep)
        n_head = 0
        for _, cells in grid:
            values = [c for c in cells[1:] if c]
            if values and sum(is_numeric_cell(c) for c in values) >= max(1, len(values) // 2):
                break
            n_head += 1
        if n_head == len(grid):  # a table of words (e.g. 도시명 lists): every row is a fact of its own
            n_head = 1 if len(grid) > 1 else 0
        headers = [""] * width
        for r, (_, cells) in enumerate(grid[:n_head]):
            filled = list(cells)
            if r < n_head - 1:  # a spanning cell ("일 반 직" over 4급…9급) covers the empty cells after it
                below = grid[r + 1][1]
                for j in range(1, width):
                    if not filled[j] and filled[j - 1] and below[j]:
                        filled[j] = filled[j - 1]
            for j, c in enumerate(filled):
                c = _header_cell(c)
                if c and c not in headers[j].split(" "):
                    headers[j] = f"{headers[j]} {c}".strip()
        out = []
        for ln, cells in grid[n_head:]:
            if not any(cells):
                continue
            label = _header_cell(cells[0]) if cells[0] and not re.match(r"[\s△(]*\d", cells[0]) else None
            start = 1 if label else 0
            pairs = [[headers[j] or f"{j + 1}열", cells[j]] for j in range(start, width) if cells[j]]
            if not pairs:
                continue
            out.append(make(ln, label, pairs, headers))
        return out


_HEADER_WORD = re.compile(r"액|[률율]|%|^계$|수$|인원|횟수|명칭|구분|사업명|현황")
_LABEL_HEADER = re.compile(r"구분|사업명|명칭|항목")
_ROW = re.compile(r"^(?P<label>[^\d△()\-][^\d]*?)\s+(?P<nums>(?:[△\-]?\s?\d[\d,.]*%?\s*)+)$")
_LONE_NUM = re.compile(r"^[△\-]?\s?\d[\d,.]*%?$")
_PAREN = re.compile(r"^\(.*\)$")


def _header_words(text: str) -> list[str] | None:
    """Column headers of a layout-text table ("단위사업명 예 산 액 집 행 액"), or None."""
    s = collapse_ws(join_spaced_letters(text.replace("**", "")))
    if not s or re.search(r"\d", re.sub(r"\([^)]*\)", "", s)) or len(s) > 60:
        return None
    words = []
    for w in s.split(" "):
        if not _PAREN.match(w):
            # letter-spaced neighbours run together ("예 산 액 집 행 액" -> "예산액집행액")
            words.extend(re.findall(r".+?액(?=.)|.+$", w) if len(w) > 3 else [w])
    if not 1 <= len(words) <= 8 or any(len(w) > 12 for w in words):
        return None
    return words if sum(bool(_HEADER_WORD.search(w)) for w in words) >= min(2, len(words)) else None


def layout_tables(lines: list[Line], lo: int, hi: int) -> list[tuple[list[Line], str | None, list[list[str]]]]:
    """Rows of layout-text tables in lines[lo..hi] whose values match their headers one to one.

    Two shapes: "label n n n" rows under a header line, and a header line followed by one
    number per line (a programme's 예산액 / 집행액 / 집행률 box). Rows whose count of values
    differs from the headers (cells lost in extraction) are not returned.
    """
    body = [ln for ln in lines[lo:hi + 1] if ln.text.strip() and split_cells(ln.text) is None]
    out = []
    i = 0
    while i < len(body):
        head = _header_words(body[i].text)
        if head is None:
            i += 1
            continue
        j = i + 1
        while j < len(body):  # continuation header lines ("집행률(%)", "(5.31.기준)")
            more = _header_words(body[j].text)
            t = body[j].text.strip()
            if _PAREN.match(t) and not re.search(r"\d{2,}[,\d]*$", t.strip("()")):
                j += 1
            elif more is not None and len(more) <= 2:
                head, j = head + more, j + 1
            else:
                break
        labelled = bool(_LABEL_HEADER.search(head[0]))
        cols = head[1:] if labelled else head
        rows = []
        k = j
        while k < len(body):
            t = collapse_ws(body[k].text)
            m = _ROW.match(t)
            if m and len(m.group("nums").split()) == len(cols):
                rows.append(([body[k]], join_spaced_letters(m.group("label").strip()), m.group("nums").split()))
                k += 1
            elif _PAREN.match(t) or _is_unit_caption(t):
                k += 1
            else:
                break
        if not rows and not labelled:  # one value per line
            vals, used, k = [], [], j
            while k < len(body) and len(vals) < len(cols):
                t = collapse_ws(body[k].text)
                if _LONE_NUM.match(t):
                    vals.append(t)
                    used.append(body[k])
                elif not (_PAREN.match(t) or _is_unit_caption(t)):
                    break
                k += 1
            if len(vals) == len(cols):
                rows.append((used, None, vals))
        for used, label, vals in rows:
            out.append((used, label, [[h, v] for h, v in zip(cols, vals)]))
        i = k if rows else j
    return out


def extract_units(lines: list[Line], chapters: list[Chapter], meta: DocumentMeta, chunks: list[Chunk]) -> list[Unit]:
    """Every body line and table row of a document as answer units, in line order."""
    chunk_of: dict[int, Chunk] = {}
    for c in chunks:
        for n in range(c.start_line, c.end_line + 1):
            chunk_of.setdefault(n, c)
    where = _layout(chapters)
    by_number = {ln.number: ln for ln in lines}
    units: list[Unit] = []
    table: _Table | None = None
    table_key = None

    def base(ln: Line, chunk: Chunk, ch, prog, heading) -> dict:
        cy = _chapter_year(ch, meta)
        section = _section_name(heading)
        parts = [str(cy) if cy else None, meta.department]
        title = _programme_label(prog, by_number)
        if title and title != section:
            parts.append(title)
        if section and section != "(사업 목적)":
            parts.append(section)
        return dict(file=chunk.file, chunk_id=chunk.id, line=ln.number, year=meta.year,
                    department=meta.department, chapter_kind=ch.kind if ch else None,
                    programme=_programme_label(prog, by_number), section=section,
                    context=" · ".join(p for p in parts if p), page=ln.page, page_label=ln.page_label,
                    page_exact=chunk.page_exact), cy

    def flush():
        nonlocal table
        if table is None:
            return
        first, last = table.rows[0][0], table.rows[-1][0]
        unit_label = _unit_nearby(by_number, first.number, -1) or _unit_nearby(by_number, last.number, +1)
        chunk = chunk_of[first.number]
        ch, prog, heading = where.get(first.number, (None, None, None))

        def make(ln: Line, label, pairs, headers) -> Unit:
            fields, cy = base(ln, chunk_of.get(ln.number, chunk), ch, prog, heading)
            cell_years = []
            for h, _ in pairs:
                named = years_in(h)
                cell_years.append(named[0] if named else (cy - 1 if cy and "전년" in h.replace(" ", "") else cy))
            caption = fields["section"] or ""
            if unit_label:
                caption = f"{caption} (단위: {unit_label})".strip()
            head = [fields["context"].rsplit(" · ", 1)[0] if fields["section"] else fields["context"], caption]
            text = " · ".join([p for p in head if p] + ([label] if label else [])
                              + [f"{h} {v}" for h, v in pairs])
            fact_years = sorted({y for y in cell_years if y} | set(years_in(label or "")))
            return Unit(id=f"{fields['file']}:{ln.number}#row", kind="row", text=text, label=label,
                        cells=pairs, cell_years=cell_years, unit=unit_label, fact_years=fact_years, **fields)

        units.extend(table.units(make))
        table = None

    pos = {ln.number: i for i, ln in enumerate(lines)}
    consumed: set[int] = set()
    for ch in chapters:
        for prog in ch.programmes:
            for sec in prog.sections:
                if sec.start not in pos or sec.end not in pos:
                    continue
                for used, label, pairs in layout_tables(lines, pos[sec.start], pos[sec.end]):
                    first = used[0]
                    chunk = chunk_of.get(first.number)
                    if chunk is None:
                        continue
                    fields, cy = base(first, chunk, ch, prog, sec.heading)
                    unit_label = _unit_nearby(by_number, first.number, -1) or _unit_nearby(by_number, used[-1].number, +1)
                    for _ in range(6):  # the caption may sit above the header lines
                        unit_label = unit_label or _unit_nearby(by_number, first.number - 2 - _, -1)
                    caption = (fields["section"] or "") + (f" (단위: {unit_label})" if unit_label else "")
                    head = fields["context"].rsplit(" · ", 1)[0] if fields["section"] else fields["context"]
                    text = " · ".join([p for p in (head, caption.strip(), label) if p] + [f"{h} {v}" for h, v in pairs])
                    units.append(Unit(id=f"{fields['file']}:{first.number}#row", kind="row", text=text, label=label,
                                      cells=pairs, cell_years=[cy] * len(pairs), unit=unit_label,
                                      fact_years=[cy] if cy else [], end_line=used[-1].number, **fields))
                    consumed.update(u.number for u in used)

    parents: list[tuple[int, str]] = []   # open item lines above: (depth, text)
    parent_key = None
    # the last line unit's pieces, so a wrapped line can be joined to it: (key, line, end, text, fields, chunk)
    last = None
    for ln in lines:
        text = ln.text
        if not text.strip() or ln.number in consumed:
            continue
        chunk = chunk_of.get(ln.number)
        if chunk is None or is_noise_line(text):
            last = None
            continue
        ch, prog, heading = where.get(ln.number, (None, None, None))
        key = (ch.number if ch else None, id(prog), heading)
        cells = split_cells(text)
        if cells is not None:
            last = None
            if table is None or table_key != key or (ln.number - table.rows[-1][0].number) > 2:
                flush()
                table, table_key = _Table(), key
            table.rows.append((ln, cells))
            continue
        flush()
        if _is_unit_caption(text):
            last = None
            continue  # a "(단위: 천원)" line is a caption, not a fact
        fields, cy = base(ln, chunk, ch, prog, heading)
        shown = collapse_ws(strip_html(text).replace("**", ""))
        depth = _depth(text)
        if (last is not None and depth is None and fields["section"] not in (None, "(사업 목적)") and last[0] == key and last[5] is chunk
                and ln.number - last[2] <= 2 and _wraps(last[3], shown)):
            # a line the layout wrapped ("… 우리동네키움센터 스마트폰 과의존" / "예방교육(5월~)") is one
            # fact with the line above: one unit over both lines, cited as a range
            first_line, text_so_far, fields = last[1], last[3] + " " + shown, last[4]
            while units and units[-1].kind == "line" and units[-1].line == first_line and units[-1].file == fields["file"]:
                units.pop()
            if parents and parents[-1][1] == last[3]:
                parents[-1] = (parents[-1][0], text_so_far)
            _emit_line(units, fields, text_so_far, cy, end_line=ln.number)
            last = (key, first_line, ln.number, text_so_far, fields, chunk)
            continue
        # a sub-item ("- 강남성심병원 외 3개 기관") is read with the item above it ("○ 협력 기관 통·번역 …")
        if parent_key != key:
            parents, parent_key = [], key
        if depth is not None:
            while parents and parents[-1][0] >= depth:
                parents.pop()
            if parents:
                fields["context"] += " · " + parents[-1][1][:80]
            parents.append((depth, shown))
        if not _HANGUL_WORD.search(shown) and not re.search(r"\d", shown):
            last = None
            continue
        lost = _emit_line(units, fields, shown, cy)
        last = None if lost else (key, ln.number, ln.number, shown, fields, chunk)
    flush()
    units.sort(key=lambda u: (u.line, u.kind))
    return units


def _emit_line(units: list[Unit], fields: dict, shown: str, cy: int | None, end_line: int = 0) -> bool:
    """Append a line (or a wrapped line's lines) as units; True when it is a table row whose
    cells were lost."""
    fact_years = sorted({cy} | set(years_in(shown))) if cy else years_in(shown)
    lost = _looks_like_lost_table_row(shown)
    label = join_spaced_letters(re.split(r"\s[△\-]?\d", shown, maxsplit=1)[0]).strip() if lost else None
    pieces = _pieces(shown)
    for k, piece in enumerate(pieces):
        uid = f"{fields['file']}:{fields['line']}" + (f"#{k + 1}" if len(pieces) > 1 else "")
        units.append(Unit(id=uid, kind="line", text=piece, fact_years=fact_years, end_line=end_line,
                          aligned=not lost, label=label or None, **fields))
    return lost


# A line that ends a statement ("… 지원하고자 함", "… 완료.") or a label with its value is complete.
_COMPLETE = re.compile(r"(?:함|임|음|다|됨|요|[.。!?])\s*$")
_ENUMERATED = re.compile(r"^\s*(?:\d{1,2}\s*[.)]|[가-하]\s*[.)]|\(\s*\d{1,2}\s*\)|[①-⑳]|[A-Za-z]\s*[.)])\s")


def _wraps(above: str, line: str) -> bool:
    """Does ``line`` (with no item marker) carry on the unfinished line ``above``?"""
    # a one-word line ("평가팀", "3") is a label, not the start of a wrapped sentence
    if (_COMPLETE.search(above) or " " not in above.strip() or _ENUMERATED.match(line)
            or _looks_like_lost_table_row(above)):
        return False
    return not _looks_like_lost_table_row(line)


_MARKS = {"□": 0, "■": 0, "○": 1, "ㅇ": 1, "◦": 1, "❍": 1, "▣": 1, "◎": 1, "-": 2, "–": 2, "•": 2, "∙": 3, "·": 3,
          "※": 3, "*": 3}


def _depth(text: str) -> int | None:
    """An item line's depth from its marker (□ > ○ > - > ·) and indentation; None for other lines."""
    stripped = text.lstrip(" \t")
    if not stripped or stripped[0] not in _MARKS:
        return None
    return _MARKS[stripped[0]] * 4 + min(len(text) - len(stripped), 3)


def _programme_label(prog, by_number: dict[int, Line]) -> str | None:
    """A programme's title, or where it has none, its opening (purpose) sentence."""
    if prog is None:
        return None
    if prog.title:
        return prog.title
    for n in range(prog.start, prog.end + 1):
        ln = by_number.get(n)
        if ln is not None and ln.text.strip() and not ln.text.strip().startswith("□"):
            return collapse_ws(ln.text)[:200]
    return None


def _pieces(text: str) -> list[str]:
    """A line as answer-sized pieces, cut at spaces (hard cuts where there are none)."""
    out = []
    while text and len(out) < UNIT_MAX_PIECES:
        if len(text) <= UNIT_MAX_CHARS:
            out.append(text)
            break
        cut = text.rfind(" ", UNIT_MAX_CHARS // 2, UNIT_MAX_CHARS)
        cut = cut if cut > 0 else UNIT_MAX_CHARS
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    return out


def _is_unit_caption(text: str) -> bool:
    s = text.strip()
    return len(s) < 24 and bool(_UNIT.search(s))


def _unit_nearby(by_number: dict[int, Line], n: int, step: int) -> str | None:
    """The "(단위: …)" caption within four lines before (step -1) or after (+1) a table."""
    for k in range(n + step, n + (5 if step < 0 else 14) * step, step):
        ln = by_number.get(k)
        if ln is None or not ln.text.strip():
            continue
        if _is_unit_caption(ln.text):
            return _UNIT.search(ln.text.strip()).group(1).strip()
        if step > 0 and not re.search(r"\d", ln.text):
            break  # below a table, only its own rows lie between it and its caption
    return None


def _looks_like_lost_table_row(text: str) -> bool:
    """A layout-text table row ("정 원 12 1 4 3 3 1"): a label and three or more bare numbers,
    whose cells can no longer be matched to column headers."""
    if ":" in text:
        return False
    toks = text.split()
    nums = [t for t in toks if re.fullmatch(r"[△\-]?\d[\d,]*(?:\.\d+)?%?", t)]
    return len(nums) >= 3 and len(nums) >= 0.6 * len(toks)


def cover_units(lines: list[Line], chunk: Chunk, meta: DocumentMeta) -> list[Unit]:
    """Each cover line as a unit whose context is the whole cover ("제235회 구의회 임시회 ·
    2022년 주요업무 보고"), so the dates line answers "업무보고 한 임시회 기간"."""
    context = " · ".join(str(p) for p in (meta.year, meta.department, chunk.heading, meta.session, meta.title) if p)
    return [Unit(id=f"{chunk.file}:{ln.number}", kind="line", file=chunk.file, chunk_id=chunk.id, line=ln.number,
                 text=ln.text.strip(), context=context, year=meta.year, fact_years=[meta.year] if meta.year else [],
                 department=meta.department, chapter_kind="general", section=chunk.heading,
                 page=ln.page, page_label=ln.page_label, page_exact=chunk.page_exact)
            for ln in lines if chunk.start_line <= ln.number <= chunk.end_line and ln.text.strip()]
