"""Read files into outlined, chunked documents; collect a corpus; report what was skipped."""
from __future__ import annotations

import hashlib
from pathlib import Path

from index.chunking import chunk_outline
from index.model import Chapter, Document, DocumentMeta, Programme, Section, Skipped, SourceText
from index.readers import SUPPORTED_SUFFIXES, ReadError, read
from index.report import parse_report

# Files in a corpus folder that are configuration, not reports.
NOT_REPORTS = {"userdict.txt", "readme.txt", "readme.md"}


def collect_files(paths: list[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and directories (recursively) into report files, in a stable order."""
    files: list[Path] = []
    missing: list[Skipped] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts) \
                        and f.suffix.lower() in SUPPORTED_SUFFIXES and f.name.lower() not in NOT_REPORTS:
                    files.append(f)
        elif p.is_file():
            files.append(p)
        else:
            missing.append(Skipped(file=str(raw), reason="no such file or directory"))
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, missing


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fallback_outline(source: SourceText) -> list[Chapter]:
    """Outline for documents that are not work reports: the format's own headings, else one section."""
    try:
        from index.outline_generic import generic_outline
    except ImportError:
        generic_outline = None
    if generic_outline is not None:
        chapters = generic_outline(source)
        if chapters and not uncovered_lines(source, chapters, {}):
            return chapters
    nonblank = [ln.number for ln in source.lines if ln.text.strip()]
    sec = Section(heading=Path(source.path).stem, start=nonblank[0], end=nonblank[-1])
    prog = Programme(number=None, title=None, team=None, title_source="none", start=sec.start, end=sec.end, sections=[sec])
    return [Chapter(number=None, title="", kind="other", start=sec.start, end=sec.end, programmes=[prog])]


def uncovered_lines(source: SourceText, chapters: list[Chapter], skipped: dict[str, list[int]]) -> list[int]:
    """Non-blank lines that no section and no left-out region holds (must be none)."""
    held = {n for ns in skipped.values() for n in ns}
    for c in chapters:
        for p in c.programmes:
            for s in p.sections:
                held.update(range(s.start, s.end + 1))
    return [ln.number for ln in source.lines if ln.text.strip() and ln.number not in held]


def looks_like_work_report(outline) -> bool:
    """A 주요업무보고: a cover, or chapters of the usual kinds (일반현황, 추진계획/실적, 신규사업)."""
    kinds = {c.kind for c in outline.chapters}
    return bool(outline.meta.title or outline.meta.session or kinds & {"general", "plan", "results", "new"})


def document_from_source(source: SourceText, *, file: str, content_hash: str = "") -> Document:
    outline = parse_report(source.lines)
    if outline is not None and looks_like_work_report(outline) \
            and not uncovered_lines(source, outline.chapters, outline.skipped):
        meta, chapters, skipped = outline.meta, outline.chapters, outline.skipped
    else:
        meta, chapters, skipped = DocumentMeta(title=Path(file).stem), fallback_outline(source), {}
    chunks = chunk_outline(source.lines, chapters, meta, file=file, path=source.path, fmt=source.format,
                           page_exact=source.page_exact)
    return Document(path=source.path, file=file, format=source.format, meta=meta, chapters=chapters,
                    chunks=chunks, skipped_lines=skipped, content_hash=content_hash)


def load_document(path: Path, *, name: str | None = None) -> Document:
    """Read, outline and chunk one file. Raises ``ReadError`` with a one-line reason."""
    source = read(path)
    if not any(ln.text.strip() for ln in source.lines):
        raise ReadError("no text")
    return document_from_source(source, file=name or path.name, content_hash=file_hash(path))


def load_documents(paths: list[str | Path]) -> tuple[list[Document], list[Skipped]]:
    """Load every report under ``paths``; unreadable files are skipped with a reason, never raised."""
    files, skipped = collect_files(paths)
    docs: list[Document] = []
    for f in files:
        try:
            docs.append(load_document(f))
        except ReadError as exc:
            skipped.append(Skipped(file=str(f), reason=str(exc)))
        except Exception as exc:  # a broken file must not stop the corpus
            skipped.append(Skipped(file=str(f), reason=f"unreadable ({type(exc).__name__}: {exc})"))
    return docs, skipped
