"""Hancom documents: HWP 5.x (OLE, via syhwp) and HWPX (OWPML zip, parsed here).

Both readers emit one ``Line`` per paragraph (soft line breaks split it) and one
markdown pipe row per table row (``table_lines``), in reading order.

Pages. Hancom stores the layout it last rendered: every paragraph carries line
segments (``lineseg`` in HWPX, ``PARA_LINE_SEG`` in HWP 5) with a vertical
position on the page; the position goes back to the top when a new page
starts, and every section starts a new page. We count pages from that.

- HWPX: ``page_exact=True`` when every body paragraph has its line segments and
  no table is taller than what is left of its page (a table that splits across
  pages would push later pages off by one); otherwise pages are kept but
  ``page_exact=False``.
- HWP 5: the same count, always ``page_exact=False`` (approximate), as the
  brief asks: never cite an HWP page as exact.
"""
from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

from index.model import Line, SourceText
from index.readers import ReadError
from index.readers.clean import clean_line, clean_text, table_lines

# --------------------------------------------------------------------------- #
# Shared
# --------------------------------------------------------------------------- #

_REPEAT_ROWSPAN_MAX = 24  # repeat a row-spanning cell's text down its rows when it is short


def grid_from_cells(n_rows: int, n_cols: int, cells) -> list[list[str]]:
    """Row-major grid from ``(row, col, row_span, col_span, text)`` cells.

    A short cell that spans rows is repeated in each row it covers, so every row
    line carries its row heading; column-spanned slots stay empty.
    """
    n_rows = max([n_rows] + [r + max(rs, 1) for r, c, rs, cs, t in cells] or [0])
    n_cols = max([n_cols] + [c + max(cs, 1) for r, c, rs, cs, t in cells] or [0])
    if n_rows * n_cols > 200_000:
        raise ReadError("table too large")
    grid = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for r, c, rs, cs, text in cells:
        if not (0 <= r < n_rows and 0 <= c < n_cols):
            continue
        grid[r][c] = text
        if rs > 1 and text and len(text) <= _REPEAT_ROWSPAN_MAX:
            for rr in range(r + 1, min(r + rs, n_rows)):
                if not grid[rr][c]:
                    grid[rr][c] = text
    return grid


def _lines_from(blocks: list[tuple[int | None, str]]) -> list[Line]:
    out: list[Line] = []
    for page, text in blocks:
        for part in text.split("\n"):
            part = part.strip()
            if part:
                out.append(Line(number=len(out) + 1, text=part, page=page))
    return out


class _PageCounter:
    """Counts pages from the vertical positions of line segments."""

    def __init__(self) -> None:
        self.page = 0
        self.prev = None

    def new_section(self) -> None:
        self.page += 1
        self.prev = None

    def paragraph(self, segs: list[tuple[int, int]], pagebreak: bool = False):
        """Feed one body paragraph's line segments ``(textpos, vertpos)``.

        Returns a function from a character offset in the paragraph to its page.
        """
        if self.page == 0:
            self.page = 1
        if not segs:
            page = self.page
            return lambda pos: page
        starts: list[tuple[int, int]] = []
        for i, (textpos, v) in enumerate(segs):
            if self.prev is not None and (v < self.prev or (i == 0 and pagebreak and v == 0)):
                self.page += 1
            starts.append((textpos, self.page))
            self.prev = v

        def page_at(pos: int) -> int:
            page = starts[0][1]
            for textpos, pg in starts:
                if textpos <= pos:
                    page = pg
                else:
                    break
            return page

        return page_at


# --------------------------------------------------------------------------- #
# HWPX
# --------------------------------------------------------------------------- #

def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


_SKIP = {"header", "footer", "linesegarray", "secPr", "colPr", "pageNum", "pageHiding",
         "fieldBegin", "fieldEnd", "bookmark", "autoNum", "newNum"}
_NOTES = {"footNote", "endNote"}


def _t_text(t) -> str:
    parts = [t.text or ""]
    for child in t:
        ln = _local(child.tag)
        if ln == "tab":
            parts.append("\t")
        elif ln == "lineBreak":
            parts.append("\n")
        elif ln in ("nbSpace", "fwSpace"):
            parts.append(" ")
        elif ln == "hyphen":
            parts.append("-")
        parts.append(child.tail or "")
    return "".join(parts)


def _plain_text(node) -> str:
    """All text under ``node``, paragraphs joined with spaces (for table cells)."""
    parts: list[str] = []

    def rec(n):
        for child in n:
            ln = _local(child.tag)
            if ln == "t":
                parts.append(_t_text(child))
            elif ln in _SKIP:
                continue
            elif ln == "p":
                rec(child)
                parts.append(" ")
            else:
                rec(child)

    rec(node)
    return clean_line(" ".join(p.replace("\n", " ") for p in parts))


def _direct(el, name: str) -> list:
    """Descendants named ``name`` without entering nested tables."""
    found = []

    def rec(node):
        for child in node:
            ln = _local(child.tag)
            if ln == "tbl":
                continue
            if ln == name:
                found.append(child)
            else:
                rec(child)

    rec(el)
    return found


def _hwpx_table(tbl) -> list[str]:
    out: list[str] = []
    for node in tbl:
        if _local(node.tag) == "caption":
            cap = _plain_text(node)
            if cap:
                out.append(cap)
    cells = []
    for r, tr in enumerate(_direct(tbl, "tr")):
        for c, tc in enumerate(_direct(tr, "tc")):
            row, col, rs, cs = r, c, 1, 1
            for child in tc:
                ln = _local(child.tag)
                if ln == "cellAddr":
                    col = int(child.get("colAddr", col))
                    row = int(child.get("rowAddr", row))
                elif ln == "cellSpan":
                    cs = int(child.get("colSpan", 1))
                    rs = int(child.get("rowSpan", 1))
            cells.append((row, col, rs, cs, _plain_text(tc)))
    try:
        n_rows = int(tbl.get("rowCnt", 0))
        n_cols = int(tbl.get("colCnt", 0))
    except ValueError:
        n_rows = n_cols = 0
    out.extend(table_lines(grid_from_cells(n_rows, n_cols, cells)))
    return out


def _hwpx_paragraph(p) -> list[tuple[int, str]]:
    """A paragraph's lines as ``(char offset, text)``: its text, tables anchored
    in it, then its notes. Offsets follow Hancom's count (an object is 8
    characters, as in HWP 5), so they can be matched to ``lineseg/@textpos``."""
    out: list[tuple[int, str]] = []
    notes: list[str] = []
    buf: list[str] = []
    pos = 0
    start = [0]

    def flush():
        if buf:
            text = clean_text("".join(buf))
            out.extend((start[0], t) for t in (clean_line(x) for x in text.split("\n")) if t)
            buf.clear()
        start[0] = pos

    def t_text(t):
        nonlocal pos
        if not buf:
            start[0] = pos
        text = t.text or ""
        buf.append(text)
        pos += len(text)
        for child in t:
            ln = _local(child.tag)
            if ln == "tab":
                buf.append("\t")
                pos += 8
            elif ln == "lineBreak":
                buf.append("\n")
                pos += 1
            elif ln in ("nbSpace", "fwSpace"):
                buf.append(" ")
                pos += 1
            elif ln == "hyphen":
                buf.append("-")
                pos += 1
            tail = child.tail or ""
            buf.append(tail)
            pos += len(tail)

    def rec(node, in_run=False):
        nonlocal pos
        for child in node:
            ln = _local(child.tag)
            if ln == "t":
                t_text(child)
                continue
            if ln == "run":
                rec(child, True)
                continue
            if ln == "linesegarray":
                continue
            if ln == "tbl":
                flush()
                out.extend((pos, t) for t in _hwpx_table(child))
            elif ln in _NOTES:
                for q in _direct(child, "p"):
                    notes.extend(t for _, t in _hwpx_paragraph(q))
            elif ln in _SKIP:
                pass
            elif ln == "p":  # text box, nested list
                flush()
                out.extend((pos, t) for _, t in _hwpx_paragraph(child))
            elif not in_run:
                rec(child)
                continue
            else:
                rec(child)
            if in_run:
                pos += 8  # an inline object or control takes 8 characters

    rec(p)
    flush()
    return out + [(pos, t) for t in notes]


def _segments(p) -> list[tuple[int, int]]:
    """``(textpos, vertpos)`` of a paragraph's line segments."""
    out = []
    for child in p:
        if _local(child.tag) == "linesegarray":
            for seg in child:
                try:
                    out.append((int(seg.get("textpos", 0)), int(seg.get("vertpos"))))
                except (TypeError, ValueError):
                    pass
    return out


def _body_height(root) -> int | None:
    for el in root.iter():
        if _local(el.tag) == "pagePr":
            try:
                h = int(el.get("height"))
                m = next(c for c in el if _local(c.tag) == "margin")
                return h - sum(int(m.get(k, 0)) for k in ("top", "bottom", "header", "footer"))
            except (TypeError, ValueError, StopIteration):
                return None
    return None


def _table_overflows(p, segs: list[tuple[int, int]], body: int | None) -> bool:
    """True when an inline table is taller than what is left of its page, so it
    splits and the page count after it may be off."""
    if body is None or not segs:
        return False
    for tbl in _direct_tables(p):
        inline, h = True, 0
        for child in tbl:
            ln = _local(child.tag)
            if ln == "pos":
                inline = child.get("treatAsChar", "1") == "1"
            elif ln == "sz":
                try:
                    h = int(child.get("height", 0))
                except ValueError:
                    return True
        if inline and segs[0][1] + h > body + 600:  # ~2 mm slack
            return True
    return False


def _direct_tables(p) -> list:
    found = []

    def rec(node):
        for child in node:
            if _local(child.tag) == "tbl":
                found.append(child)
            else:
                rec(child)

    rec(p)
    return found


def read_hwpx(path: str | Path) -> SourceText:
    import re

    from index.readers.zipped import open_zip, read_member

    zf = open_zip(path)
    with zf:
        names = [n for n in zf.namelist() if re.search(r"(?:^|/)section(\d+)\.xml$", n, re.I)]
        if not names:
            raise ReadError("not an HWPX document (no Contents/section*.xml)")
        names.sort(key=lambda n: int(re.search(r"section(\d+)\.xml$", n, re.I).group(1)))
        counter = _PageCounter()
        blocks: list[tuple[int | None, str]] = []
        exact = True
        for name in names:
            data = read_member(zf, name)
            try:
                root = ET.fromstring(data)
            except ET.ParseError as exc:
                raise ReadError(f"corrupt HWPX: {name} is not well-formed XML ({exc})") from None
            body = _body_height(root)
            counter.new_section()
            for p in root:
                if _local(p.tag) != "p":
                    continue
                segs = _segments(p)
                if not segs:
                    exact = False
                if _table_overflows(p, segs, body):
                    exact = False
                page_at = counter.paragraph(segs, p.get("pageBreak") == "1")
                for pos, text in _hwpx_paragraph(p):
                    blocks.append((page_at(pos), text))
    lines = _lines_from(blocks)
    if not lines:
        raise ReadError("no text in HWPX document")
    return SourceText(path=str(path), format="hwpx", lines=lines, page_exact=exact)


# --------------------------------------------------------------------------- #
# HWP 5
# --------------------------------------------------------------------------- #

_HWPTAG_PARA_HEADER = 0x10 + 50
_HWPTAG_PARA_LINE_SEG = 0x10 + 53


def _hwp5_segments(node) -> list[tuple[int, int]]:
    out = []
    for c in node.children:
        if c.tag == _HWPTAG_PARA_LINE_SEG:
            data = c.payload
            for off in range(0, len(data) - 35, 36):
                out.append(struct.unpack_from("<Ii", data, off))
    return out


def _hwp5_block_lines(block) -> list[str]:
    import syhwp

    if isinstance(block, syhwp.Table):
        cells = [(c.row, c.col, c.row_span, c.col_span, clean_line(c.text)) for c in block.cells]
        return table_lines(grid_from_cells(block.n_rows, block.n_cols, cells))
    if isinstance(block, syhwp.Paragraph):
        return [clean_text(block.text)]
    if isinstance(block, syhwp.Equation):
        return [clean_text(block.text)] if block.script else []
    return []  # images: no text


def _hwp5_blocks_with_pages(path) -> list[tuple[int | None, str]]:
    """Blocks with approximate pages, using syhwp's record tree (private API).

    Falls back to ``syhwp.open`` without pages when that API is not there.
    """
    import syhwp

    try:
        from syhwp import _hwp5 as H

        read, build, emit = H._read_hwp5, H._build_tree, H._emit_paragraph
    except (ImportError, AttributeError):
        doc = syhwp.open(str(path))
        return [(None, t) for b in doc.blocks for t in _hwp5_block_lines(b)]
    _version, sections = read(str(path))
    counter = _PageCounter()
    out: list[tuple[int | None, str]] = []
    for records in sections:
        counter.new_section()
        root = build(records)
        for node in root.children:
            if node.tag != _HWPTAG_PARA_HEADER:
                continue
            page = counter.paragraph(_hwp5_segments(node))(0)
            blocks: list = []
            emit(node, blocks)
            for b in blocks:
                for t in _hwp5_block_lines(b):
                    out.append((page, t))
    return out


def read_hwp(path: str | Path) -> SourceText:
    import syhwp

    try:
        blocks = _hwp5_blocks_with_pages(path)
    except syhwp.EncryptedDocumentError:
        raise ReadError("password-protected HWP document") from None
    except syhwp.SyhwpError as exc:
        raise ReadError(f"corrupt HWP file ({exc})") from None
    except ReadError:
        raise
    except Exception as exc:  # olefile/struct/zlib errors on damaged files
        raise ReadError(f"corrupt HWP file ({type(exc).__name__}: {exc})") from None
    lines = _lines_from(blocks)
    if not lines:
        raise ReadError("no text in HWP document")
    # Pages are counted from the stored layout but never claimed exact for HWP 5.
    return SourceText(path=str(path), format="hwp", lines=lines, page_exact=False)
