"""Citation text and structured source fields for a chunk."""
from __future__ import annotations

from index.model import Chunk

CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
KIND_LABELS = {"plan": "계획", "results": "실적", "new": "신규", "general": "일반현황", "other": "기타"}


def report_label(c: Chunk) -> str:
    if c.title:
        return c.title
    if c.format != "txt":
        return c.file
    return f"{c.year}년 주요업무 보고(표지 없음)" if c.year else c.file


def programme_label(c: Chunk) -> str | None:
    if c.programme_number is None and not c.programme:
        return None
    num = ""
    if c.chapter_number and c.programme_number:
        circ = CIRCLED[c.programme_number - 1] if 0 < c.programme_number <= len(CIRCLED) else str(c.programme_number)
        num = f"{c.chapter_number}-{circ} "
    return f"{num}{c.programme or '(제목 없음)'}".strip()


def location(c: Chunk) -> str:
    """file:lines for text, page for PDF/HWPX, approximate page for HWP, heading for DOCX."""
    if c.page is not None:
        pages = f"{c.page}" if c.page_end in (None, c.page) else f"{c.page}-{c.page_end}"
        label = f" (인쇄 쪽 {c.page_label})" if c.page_label and c.page_label != str(c.page) else ""
        prefix = "p." if c.page_exact else "약 p."
        return f"{c.file} {prefix}{pages}{label}"
    if c.format == "txt":
        return f"{c.file}:{c.start_line}-{c.end_line}"
    return c.file  # DOCX and page-less formats: the headings above locate the passage


def citation(c: Chunk) -> str:
    """``2022년 주요업무 보고 · 비전협력과 · 제235회 구의회 임시회 · Ⅱ-⑤ 스마트메디컬특구 활성화 · □ 사업개요 · file:201-219``."""
    parts = [] if report_label(c) in (c.file, c.file.rsplit(".", 1)[0]) else [report_label(c)]
    if c.department:
        parts.append(c.department)
    if c.session:
        parts.append(c.session)
    prog = programme_label(c)
    if prog and c.programme is None and c.chapter:  # untitled part of a non-report chapter
        prog = c.chapter
    if prog:
        parts.append(prog)
    elif c.chapter:
        parts.append(c.chapter)
    if c.heading and c.heading != c.programme:
        heads = c.heading.split(" · ")
        parts.append(heads[0] if len(heads) == 1 else f"{heads[0]} ~ {heads[-1]}")
    parts.append(location(c))
    out: list[str] = []
    for p in parts:  # generic outlines can repeat a heading at several levels
        if p and (not out or p != out[-1]) and p not in (c.file, c.file.rsplit(".", 1)[0]):
            out.append(p)
    return " · ".join(out)


def source_fields(c: Chunk) -> dict:
    """The structured part of a result, as in ``kosearch batch`` JSON."""
    return {
        "source": {"file": c.file, "path": c.path, "lines": [c.start_line, c.end_line], "page": c.page,
                   "page_end": c.page_end, "page_label": c.page_label, "page_exact": c.page_exact,
                   "format": c.format},
        "document": {"title": c.title, "department": c.department, "year": c.year, "session": c.session},
        "section": {"chapter": c.chapter, "chapter_kind": c.chapter_kind, "programme": c.programme,
                    "programme_number": c.programme_number, "team": c.team, "heading": c.heading},
    }
