"""DOCX via python-docx: paragraphs and tables in body order, heading levels from styles.

DOCX stores no page layout (only explicit breaks and, from Word, the last
rendered breaks), so lines carry no page; citations use the headings.
"""
from __future__ import annotations

import re
from pathlib import Path

from index.model import Line, SourceText
from index.readers import ReadError
from index.readers.clean import clean_line, clean_text, table_lines

_HEADING = re.compile(r"^(?:heading|제목)\s*(\d)$", re.I)


def _heading_level(paragraph) -> int | None:
    """Level from the paragraph style (or a style it is based on), or its outline level."""
    style = paragraph.style
    depth = 0
    while style is not None and depth < 5:
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 1
        m = _HEADING.match(name)
        if m:
            return int(m.group(1))
        style = style.base_style
        depth += 1
    ppr = paragraph._p.pPr
    if ppr is not None:
        for el in ppr.iterchildren():
            if el.tag.endswith("}outlineLvl"):
                try:
                    level = int(el.get(el.tag.replace("outlineLvl", "val"))) + 1
                except (TypeError, ValueError):
                    return None
                return level if level <= 9 else None
    return None


def _table_grid(table) -> list[list[str]]:
    grid = []
    for row in table.rows:
        cells, seen = [], []
        for cell in row.cells:
            if any(cell._tc is s for s in seen):  # a horizontally merged cell repeats
                continue
            seen.append(cell._tc)
            text = " ".join(clean_line(p.text) for p in cell.paragraphs)
            for inner in cell.tables:  # nested tables flatten into the cell
                text += " " + " ".join(" ".join(r) for r in _table_grid(inner))
            cells.append(text.strip())
        grid.append(cells)
    return grid


def read_docx(path: str | Path) -> SourceText:
    from index.readers.zipped import open_zip

    # zipfile never inflates past a member's declared size, so checking the
    # directory before python-docx opens the package is enough.
    open_zip(path).close()
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(str(path))
        body = document.element.body
        lines: list[Line] = []

        def add(text: str, level: int | None = None) -> None:
            lines.append(Line(number=len(lines) + 1, text=text, heading_level=level))

        for el in body.iterchildren():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(el, document)
                level = _heading_level(para)
                for part in clean_text(para.text).split("\n"):
                    part = clean_line(part)
                    if part:
                        add(part, level)
            elif tag == "tbl":
                for row in table_lines(_table_grid(Table(el, document))):
                    add(row)
            elif tag == "sdt":  # content controls (e.g. a table of contents)
                for t in el.iter():
                    if t.tag.endswith("}p"):
                        text = clean_line("".join(x.text or "" for x in t.iter() if x.tag.endswith("}t")))
                        if text:
                            add(text)
    except ReadError:
        raise
    except Exception as exc:  # python-docx, lxml and zipfile errors on damaged files
        raise ReadError(f"corrupt DOCX ({type(exc).__name__}: {exc})") from None
    if not lines:
        raise ReadError("no text in DOCX document")
    return SourceText(path=str(path), format="docx", lines=lines, page_exact=False)
