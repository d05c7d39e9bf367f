"""Cleaning shared by the HWP, HWPX, PDF and DOCX readers.

- Hancom documents carry symbol-font bullets as private-use characters: a
  Symbol/Wingdings glyph ``0xNN`` is stored as ``U+F0NN``, and Hancom's own
  symbols (book-title brackets, numbers in boxes) sit in plane 15 (``U+F0000``+).
  ``clean_text`` maps the ones we know to real characters and drops the rest.
- HWP stores text as UTF-16 code units; characters outside the BMP come out of
  syhwp as lone surrogates. ``clean_text`` re-pairs them.
- Control characters, U+FFFD and zero-width characters are removed.
"""
from __future__ import annotations

import re
import unicodedata

# Symbol-font (Wingdings / Symbol) glyphs stored at U+F000 + code, as Hancom and
# Word write them. Only bullets and marks that reports use as list markers.
_SYMBOL_FONT = {
    0xF06C: "●",  # Wingdings l
    0xF06D: "○",  # Wingdings m (shadowed white circle), used as a bullet
    0xF06E: "■",  # Wingdings n
    0xF06F: "□",  # Wingdings o
    0xF070: "□",  # Wingdings p (white medium square)
    0xF071: "□",  # Wingdings q (shadowed square)
    0xF072: "□",  # Wingdings r
    0xF075: "◆",  # Wingdings u
    0xF076: "◆",  # Wingdings v (❖)
    0xF077: "◆",  # Wingdings w (small diamond)
    0xF09E: "·",  # Wingdings small middle dot
    0xF09F: "·",  # Wingdings bullet
    0xF0A0: "▪",  # Wingdings small square
    0xF0A1: "○",  # Wingdings white circle
    0xF0A4: "◉",
    0xF0A7: "▪",  # Wingdings black small square
    0xF0A8: "□",  # Wingdings white square
    0xF0D8: "▶",  # Wingdings arrowhead bullet
    0xF0E0: "→",
    0xF0E8: "→",
    0xF0F0: "⇒",
    0xF0FC: "✓",
    0xF0FE: "☑",
    0xF0B7: "·",  # Symbol font bullet
    0xF02D: "-",
    0xF0A2: "○",
}

# Hancom's own private-use symbols (plane 15), identified from context in the
# fixtures: U+F0854/F0855 wrap a report title where the printed page shows
# 『…』; U+F02B1.. number the sub-items "1-1", "1-2" of the contents page.
_HANCOM_PLANE15 = {
    0xF0854: "『",
    0xF0855: "』",
    0xF0856: "「",
    0xF0857: "」",
}
for _i in range(20):
    _HANCOM_PLANE15[0xF02B1 + _i] = chr(0x2460 + _i)  # ① .. ⑳


_SURROGATES = re.compile("[\ud800-\udfff]")
_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b-\u200d\u2060\ufeff\ufffd\u00ad\ue000-\uf8ff\U000f0000-\U0010ffff]")


def _fix_surrogates(text: str) -> str:
    if not _SURROGATES.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")


def _map_special(m: re.Match) -> str:
    cp = ord(m.group())
    if cp in _SYMBOL_FONT:
        return _SYMBOL_FONT[cp]
    if cp in _HANCOM_PLANE15:
        return _HANCOM_PLANE15[cp]
    if cp == 0x09:
        return "\t"
    return ""


def clean_text(text: str) -> str:
    """Map private-use symbols, re-pair surrogates, drop control/zero-width chars.

    Newlines and tabs are kept; everything else below U+0020 is dropped. The
    result is NFC-normalised (Hangul jamo sequences become syllables).
    """
    if not text:
        return ""
    text = _fix_surrogates(text)
    text = _SPECIAL.sub(_map_special, text)
    return unicodedata.normalize("NFC", text)


_WS = re.compile(r"[ \t\u00a0\u3000]+")


def clean_line(text: str) -> str:
    """``clean_text`` for one line: also collapses runs of spaces and strips."""
    return _WS.sub(" ", clean_text(text).replace("\n", " ")).strip()


def table_row(cells: list[str]) -> str:
    """One table row as a markdown pipe row: ``| a | b |`` (pipes in cells escaped)."""
    return "| " + " | ".join(clean_line(c).replace("|", "\\|") for c in cells) + " |"


def table_lines(grid: list[list[str]]) -> list[str]:
    """A table as pipe rows, header row first; empty rows are dropped.

    A one-cell table (a boxed heading such as ``Ⅰ. 2021년 평가``) is returned as
    its plain text, so headings are not hidden inside pipes.
    """
    rows = [[clean_line(c) for c in row] for row in grid]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    nonempty = {c for r in rows for c in r if c}
    if width == 1 or (len(rows) == 1 and len(nonempty) == 1):
        return [c for r in rows for c in r if c]
    # Drop columns that are empty in every row (spacer columns in layout tables).
    keep = [j for j in range(width) if any(j < len(r) and r[j] for r in rows)]
    out = []
    for r in rows:
        r = r + [""] * (width - len(r))
        out.append(table_row([r[j] for j in keep]))
    return out


_PAGE_LABEL = re.compile(r"^\s*[-–—]\s*([0-9]{1,4}|[ivxlcIVXLC]{1,6})\s*[-–—]\s*$")


def page_label_of(text: str) -> str | None:
    """The printed folio in a line such as ``- 3 -``, or None."""
    m = _PAGE_LABEL.match(text)
    return m.group(1) if m else None


_SQUASH = re.compile(r"\s+")


def squash(text: str) -> str:
    """Text with all whitespace removed, for comparing extractions of one document."""
    return _SQUASH.sub("", text)
