"""Plain dataclasses shared by every stage: source lines, documents, outline, chunks."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Line:
    """One line of extracted text and where it sits in its source.

    ``number`` is the 1-based line in the source text file; for formats without
    lines (HWP, PDF, DOCX) it is the 1-based line of the extracted text, and the
    citation uses ``page`` (PDF, HWPX) or the headings (DOCX) instead.
    """

    number: int
    text: str
    page: int | None = None          # physical page, 1-based
    page_label: str | None = None    # printed page label ("- 3 -" -> "3") where it differs
    heading_level: int | None = None  # from a format's own heading styles (DOCX)


@dataclass
class SourceText:
    """What a reader returns: the text of one file as lines, plus how to cite it."""

    path: str
    format: str                      # "txt", "hwp", "hwpx", "pdf", "docx"
    lines: list[Line]
    encoding: str | None = None      # for text files
    page_exact: bool = False         # True when ``Line.page`` is a real page (PDF, HWPX layout)
    total_chars: int | None = None   # characters in the whole file when the reader kept only a prefix


@dataclass
class DocumentMeta:
    title: str | None = None         # e.g. "2022년 주요업무 보고"
    department: str | None = None    # e.g. "비전협력과"
    year: int | None = None          # the report's year
    session: str | None = None       # e.g. "제235회 구의회 임시회"
    session_dates: str | None = None
    year_source: str | None = None   # "cover" | "body dates" | None


@dataclass
class Section:
    """A □ subsection (or, in a non-report document, a heading's body)."""

    heading: str
    start: int
    end: int


@dataclass
class Programme:
    """A programme (사업) inside a chapter."""

    number: int | None
    title: str | None
    team: str | None
    title_source: str                # "body" | "contents" | "none"
    start: int
    end: int
    sections: list[Section] = field(default_factory=list)


@dataclass
class Chapter:
    number: str | None               # "Ⅰ", "Ⅱ", ...
    title: str
    kind: str                        # "general" | "results" | "plan" | "new" | "other"
    start: int
    end: int
    programmes: list[Programme] = field(default_factory=list)


@dataclass
class Chunk:
    """A search-ready passage and everything needed to cite it."""

    id: str                          # "<file>:<start>-<end>", unique in an index
    file: str                        # file name as stored in the corpus
    path: str                        # path given at index time
    start_line: int                  # 1-based inclusive range in the source text
    end_line: int
    text: str                        # display text, as the source has it
    index_text: str                  # context header + normalised text, for indexing
    title: str | None = None
    department: str | None = None
    year: int | None = None
    session: str | None = None
    chapter: str | None = None       # "Ⅱ. 2022년 주요업무 추진계획"
    chapter_number: str | None = None
    chapter_kind: str | None = None
    programme_number: int | None = None
    programme: str | None = None
    team: str | None = None
    title_source: str | None = None
    heading: str | None = None       # "□ 사업개요"
    page: int | None = None
    page_end: int | None = None
    page_label: str | None = None
    page_exact: bool = False
    format: str = "txt"


@dataclass
class Unit:
    """An answer unit: one body line, or one table row made a self-contained fact.

    Units are lexical only (no vector): a question's terms rank them inside and beside the
    top passages, and the answerer picks the one holding the asked kind of value.
    """

    id: str                          # "<file>:<line>" (line) or "<file>:<line>#row"
    kind: str                        # "line" | "row"
    file: str
    chunk_id: str                    # the passage holding it
    line: int                        # 1-based line in the source text
    end_line: int = 0                # last line (a row laid out over several lines), 0: same as line
    text: str = ""                   # display: the line as written, or "header value · …" for a row
    context: str = ""                # year · department · chapter · programme · section (· table caption)
    year: int | None = None          # the report's year
    fact_years: list[int] = field(default_factory=list)  # years the fact is about
    department: str | None = None
    chapter_kind: str | None = None
    programme: str | None = None
    section: str | None = None       # "소요예산", "인력", …
    cells: list[list[str]] = field(default_factory=list)  # [[header, value], …] for a row
    cell_years: list[int | None] = field(default_factory=list)  # per cell, where a header names a year
    label: str | None = None         # a row's first (label) cell
    unit: str | None = None          # "천원" from the table's (단위: …) line
    aligned: bool = True             # False: a table line whose cells cannot be matched to headers
    page: int | None = None
    page_label: str | None = None
    page_exact: bool = False


@dataclass
class Document:
    path: str
    file: str
    format: str
    meta: DocumentMeta
    chapters: list[Chapter]
    chunks: list[Chunk]
    skipped_lines: dict[str, list[int]] = field(default_factory=dict)  # region name -> line numbers
    content_hash: str = ""
    notices: list[str] = field(default_factory=list)  # one line each, e.g. that only a prefix was indexed
    dense_chunks: int | None = None  # chunks given vectors; the rest are searched by words only (None: all)
    units: list[Unit] = field(default_factory=list)


@dataclass
class Skipped:
    """A file that could not be read, and why."""

    file: str
    reason: str
