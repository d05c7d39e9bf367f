"""PDF via pypdfium2: lines rebuilt from character positions, per physical page.

- Lines come from character boxes, top to bottom and left to right, not from
  the content-stream order (Hancom writes a page's tables after its body text).
- Hancom "shadow" text is drawn twice at almost the same place ("참고참고 11"
  for "참고 1"); a character equal to one already placed within a fraction of
  its width is dropped.
- Ruled tables are found from the page's line and rectangle objects (the edge
  → cell logic is pdfplumber's, fed with pdfium's objects, so no slow pdfminer
  pass) and each table row becomes one ``| a | b |`` line at the table's place.
- ``Line.page`` is the physical page; ``Line.page_label`` is the printed folio
  ("- 3 -" → "3") where it differs. The folio line itself is not emitted.
"""
from __future__ import annotations

from pathlib import Path

from index.model import Line, SourceText
from index.readers import ReadError
from index.readers.clean import clean_line, page_label_of, table_lines

OCR_REASON = "no text layer; OCR not supported yet"


class _Char:
    __slots__ = ("ch", "x0", "x1", "y0", "y1", "sp")

    def __init__(self, ch, x0, y0, x1, y1, sp=False):
        self.ch, self.x0, self.y0, self.x1, self.y1 = ch, x0, y0, x1, y1
        self.sp = sp  # a space came just before it in the content stream

    @property
    def h(self):
        return self.y1 - self.y0

    @property
    def cy(self):
        return (self.y0 + self.y1) / 2


def _page_chars(textpage, page_height: float) -> list[_Char]:
    """Visible characters with top-down boxes (``y0`` = top)."""
    import pypdfium2.raw as R

    n = textpage.count_chars()
    out: list[_Char] = []
    tp = textpage.raw
    high = None
    space = False
    for i in range(n):
        code = R.FPDFText_GetUnicode(tp, i)
        if 0xD800 <= code <= 0xDBFF:
            high = code
            continue
        if 0xDC00 <= code <= 0xDFFF and high is not None:
            code = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
        high = None
        if code <= 0x20 or code in (0xA0, 0x3000, 0xFFFE, 0xFFFF):
            space = space or code in (0x20, 0xA0, 0x3000)
            continue
        try:
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
        except Exception:
            continue
        if right <= left and top <= bottom:
            continue
        out.append(_Char(chr(code), left, page_height - top, right, page_height - bottom, space))
        space = False
    return out


def _dedupe(chars: list[_Char]) -> list[_Char]:
    """Drop Hancom's shadow copies: the same character again, shifted by less than half its width."""
    kept: list[_Char] = []
    recent: dict[str, list[_Char]] = {}
    for c in chars:
        w = max(c.x1 - c.x0, 0.5)
        tol_x = min(3.0, 0.5 * w)
        tol_y = min(3.0, 0.5 * max(c.h, 0.5))
        dup = False
        for k in recent.get(c.ch, ()):
            if abs(k.x0 - c.x0) <= tol_x and abs(k.y0 - c.y0) <= tol_y:
                dup = True
                break
        if dup:
            continue
        kept.append(c)
        recent.setdefault(c.ch, []).append(c)
    return kept


def _group_lines(chars: list[_Char]) -> list[list[_Char]]:
    """Chars into lines: vertical overlap with the line's band, then left to right."""
    chars = sorted(chars, key=lambda c: (c.cy, c.x0))
    lines: list[list[_Char]] = []
    bands: list[list[float]] = []  # [top, bottom] per open line
    for c in chars:
        placed = False
        # Only the last few lines can overlap (chars sorted by centre).
        for j in range(len(lines) - 1, max(len(lines) - 4, -1), -1):
            top, bottom = bands[j]
            overlap = min(bottom, c.y1) - max(top, c.y0)
            if overlap > 0.5 * min(bottom - top, c.h) and abs(c.cy - (top + bottom) / 2) < 0.6 * max(c.h, bottom - top):
                lines[j].append(c)
                placed = True
                break
        if not placed:
            lines.append([c])
            bands.append([c.y0, c.y1])
    for ln in lines:
        ln.sort(key=lambda c: c.x0)
    return lines


def _line_text(chars: list[_Char]) -> str:
    parts: list[str] = []
    prev = None
    for c in chars:
        if prev is not None:
            gap = c.x0 - prev.x1
            size = max(min(prev.h, c.h), 1.0)
            if gap > 0.18 * size or (c.sp and gap > -0.1 * size):
                parts.append(" ")
        parts.append(c.ch)
        prev = c
    return "".join(parts)


# --------------------------------------------------------------------------- #
# Ruled tables from pdfium path objects
# --------------------------------------------------------------------------- #

def _edges(page, page_height: float) -> list[dict]:
    """Horizontal and vertical edges of the page's thin lines and rectangles."""
    import pypdfium2.raw as R

    edges: list[dict] = []
    try:
        objs = list(page.get_objects(filter=[R.FPDF_PAGEOBJ_PATH], max_depth=5))
    except Exception:
        return edges
    if len(objs) > 5000:
        objs = objs[:5000]
    for obj in objs:
        try:
            left, bottom, right, top = obj.get_bounds()
        except Exception:
            continue
        x0, x1 = left, right
        t, b = page_height - top, page_height - bottom
        w, h = x1 - x0, b - t
        if w < 0 or h < 0:
            continue
        if h <= 2.0 and w > 2.0:
            y = (t + b) / 2
            edges.append(_edge(x0, x1, y, y, "h"))
        elif w <= 2.0 and h > 2.0:
            x = (x0 + x1) / 2
            edges.append(_edge(x, x, t, b, "v"))
        elif w > 2.0 and h > 2.0:
            edges.extend([
                _edge(x0, x1, t, t, "h"), _edge(x0, x1, b, b, "h"),
                _edge(x0, x0, t, b, "v"), _edge(x1, x1, t, b, "v"),
            ])
    return edges


def _edge(x0, x1, top, bottom, orientation):
    return {
        "x0": x0, "x1": x1, "top": top, "bottom": bottom,
        "width": x1 - x0, "height": bottom - top, "orientation": orientation,
        "object_type": "line",
    }


def _tables(page, page_height: float) -> list[list[tuple[float, float, float, float] | None]]:
    """Tables as lists of rows of cell boxes ``(x0, top, x1, bottom)``; None for covered slots."""
    edges = _edges(page, page_height)
    if len(edges) < 8:
        return []
    try:
        from pdfplumber import table as T
    except ImportError:  # tables in PDFs need pdfplumber; text still reads without it
        return []
    try:
        edges = T.merge_edges(edges, snap_x_tolerance=3, snap_y_tolerance=3,
                              join_x_tolerance=3, join_y_tolerance=3)
        edges = [e for e in edges if (e["width"] if e["orientation"] == "h" else e["height"]) >= 3]
        inter = T.edges_to_intersections(edges, 1, 1)
        cells = T.intersections_to_cells(inter)
        groups = T.cells_to_tables(cells)
    except Exception:
        return []
    out = []
    for group in groups:
        if len(group) < 2:
            continue
        tbl = T.Table(None, group)
        rows = []
        for row in tbl.rows:
            rows.append(list(row.cells))
        out.append(rows)
    return out


def _inside(c: _Char, box) -> bool:
    x0, top, x1, bottom = box
    cx, cy = (c.x0 + c.x1) / 2, c.cy
    return x0 <= cx <= x1 and top <= cy <= bottom


def _table_block(rows, chars: list[_Char]):
    """Pipe rows for one table, its top, and the ids of the chars it used.

    Returns None when the ruling does not explain the text: characters inside
    the table's box that fall in no cell (a column without its rule), or many
    cells holding several lines (rows without their rules). The page's text
    then reads as plain positional lines, which keep one-line rows together.
    """
    boxes = [box for row in rows for box in row if box]
    if not boxes:
        return None
    bx0 = min(b[0] for b in boxes)
    btop = min(b[1] for b in boxes)
    bx1 = max(b[2] for b in boxes)
    bbot = max(b[3] for b in boxes)
    region = [c for c in chars if _inside(c, (bx0, btop, bx1, bbot))]
    if not region:
        return None
    used: set[int] = set()
    grid: list[list[str]] = []
    filled = multi = 0
    for row in rows:
        cells = []
        for box in row:
            if box is None:
                cells.append("")
                continue
            inside = [c for c in region if id(c) not in used and _inside(c, box)]
            used.update(id(c) for c in inside)
            lines = _group_lines(inside)
            if lines:
                filled += 1
                multi += len(lines) > 1
            cells.append(" ".join(_line_text(ln) for ln in lines))
        grid.append(cells)
    if len(used) < len(region) or multi > 0.3 * max(filled, 1):
        return None
    return btop, table_lines(grid), used


# --------------------------------------------------------------------------- #

def _open(path: Path):
    import pypdfium2 as pdfium

    data = path.read_bytes()
    if b"%%EOF" not in data[-4096:]:
        raise ReadError("truncated or corrupt PDF (no end-of-file marker)")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise ReadError("encrypted PDF (password required)") from None
        raise ReadError(f"corrupt PDF ({msg})") from None


def read_pdf(path: str | Path, tables: bool = True) -> SourceText:
    """Read a PDF; ``tables=False`` skips ruled-table detection (text only)."""
    p = Path(path)
    pdf = _open(p)
    lines: list[Line] = []
    n_chars = 0
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise ReadError("PDF has no pages")
        for index in range(n_pages):
            try:
                page = pdf[index]
                height = page.get_height()
                textpage = page.get_textpage()
                chars = _dedupe(_page_chars(textpage, height))
            except ReadError:
                raise
            except Exception as exc:
                raise ReadError(f"corrupt PDF page {index + 1} ({type(exc).__name__}: {exc})") from None
            n_chars += len(chars)
            blocks: list[tuple[float, str]] = []
            if tables and chars:
                for rows in _tables(page, height):
                    found = _table_block(rows, chars)
                    if found is None:
                        continue
                    top, rows_text, used = found
                    chars = [c for c in chars if id(c) not in used]
                    for k, t in enumerate(rows_text):
                        blocks.append((top + k * 1e-3, t))
            for ln in _group_lines(chars):
                blocks.append((min(c.y0 for c in ln), _line_text(ln)))
            blocks.sort(key=lambda b: b[0])
            texts = [clean_line(t) if not t.startswith("| ") else t for _, t in blocks]
            texts = [t for t in texts if t]
            label = None
            for cand in (texts[:2] + texts[-2:]) if texts else []:
                label = page_label_of(cand)
                if label:
                    texts.remove(cand)
                    break
            page_no = index + 1
            if label == str(page_no):
                label = None
            for t in texts:
                lines.append(Line(number=len(lines) + 1, text=t, page=page_no, page_label=label))
    finally:
        pdf.close()
    if n_chars == 0:
        raise ReadError(f"scanned PDF: {OCR_REASON}")
    bad = sum(1 for ln in lines for ch in ln.text if ch == "\ufffd" or 0xE000 <= ord(ch) <= 0xF8FF)
    if bad > 0.3 * max(n_chars, 1):
        raise ReadError("PDF text layer cannot be decoded (fonts without a Unicode map)")
    return SourceText(path=str(p), format="pdf", lines=lines, page_exact=True)
