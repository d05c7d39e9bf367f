"""Read files into outlined, chunked documents; collect a corpus; report what was skipped."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from index import config
from index.chunking import chunk_outline, cover_chunk
from index.files import file_sha256
from index.model import Chapter, Document, DocumentMeta, Programme, Section, Skipped, SourceText
from index.readers import SUPPORTED_SUFFIXES, ReadError, read
from index.report import parse_report
from index.units import cover_units, extract_units

# Files in a corpus folder that are configuration, not reports.
NOT_REPORTS = {"userdict.txt", "aliases.txt", "readme.txt", "readme.md"}


OUTSIDE_LINK = "색인 폴더 밖을 가리키는 링크라 건너뜀"
BROKEN_LINK = "가리키는 파일이 없는 링크라 건너뜀"


def collect_files(paths: list[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and directories (recursively) into report files, in a stable order.

    A symbolic link found inside a folder is followed only when it points inside one of the folders
    being indexed; one pointing elsewhere (``/etc/passwd``) is skipped with a reason. A file named
    on its own is read even if it is a link: the user chose it.
    """
    files: list[Path] = []
    missing: list[Skipped] = []
    roots = [Path(r).resolve() for r in paths if Path(r).is_dir()]
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                why = _bad_link(p, rel, roots)
                if why:
                    if f.is_dir() or f.suffix.lower() in SUPPORTED_SUFFIXES:
                        missing.append(Skipped(file=str(f), reason=why))
                    continue
                if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES and f.name.lower() not in NOT_REPORTS:
                    files.append(f)
        elif p.is_file():
            files.append(p)
        else:
            missing.append(Skipped(file=str(raw), reason="no such file or directory"))
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, missing


def _bad_link(top: Path, rel: Path, roots: list[Path]) -> str | None:
    """Why ``top/rel`` must not be read: it passes through a symbolic link (itself or a folder on
    the way) whose target is missing or lies outside every indexed root; else None."""
    cur = top
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            try:
                target = cur.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling or looping link
                return BROKEN_LINK
            if not any(target.is_relative_to(r) for r in roots):
                return OUTSIDE_LINK
    return None


file_hash = file_sha256  # a report file's content hash, as the manifest records it


def fallback_outline(source: SourceText) -> list[Chapter]:
    """Outline for documents that are not work reports: the format's own headings, else one section."""
    from index.outline_generic import generic_outline

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
    units = extract_units(source.lines, chapters, meta, chunks)
    cover = cover_chunk(source.lines, skipped.get("cover", []), meta, file=file, path=source.path,
                        fmt=source.format, page_exact=source.page_exact) if skipped.get("cover") else None
    if cover is not None:   # the session and its dates: "22년 업무보고 한 임시회 기간"
        chunks = [cover] + chunks
        units = cover_units(source.lines, cover, meta) + units
        skipped = {**skipped, "cover": []}   # indexed now, no longer left out
    return Document(path=source.path, file=file, format=source.format, meta=meta, chapters=chapters,
                    chunks=chunks, skipped_lines=skipped, content_hash=content_hash, units=units)


def load_document(path: Path, *, name: str | None = None, max_chars: int | None = None,
                  embed_chars: int | None = None) -> Document:
    """Read, outline and chunk one file. Raises ``ReadError`` with a one-line reason.

    Only the first ``max_chars`` characters are indexed, and only chunks within the first
    ``embed_chars`` characters get vectors (defaults: ``config.MAX_FILE_CHARS`` and
    ``config.MAX_FILE_EMBED_CHARS``); ``Document.notices`` says when either limit cut.
    """
    max_chars = config.MAX_FILE_CHARS if max_chars is None else max_chars
    embed_chars = config.MAX_FILE_EMBED_CHARS if embed_chars is None else embed_chars
    source = read(path, max_chars=max_chars)
    notices = []
    total = cap_source(source, max_chars)
    if total is not None:
        notices.append(f"앞 {max_chars:,}자만 색인함 (파일 {total:,}자)")
    if not any(ln.text.strip() for ln in source.lines):
        raise ReadError("no text")
    doc = document_from_source(source, file=name or path.name, content_hash=file_hash(path))
    doc.notices = notices
    size = 0
    for i, c in enumerate(doc.chunks):
        size += len(c.text)
        if size > embed_chars:
            doc.dense_chunks = i
            doc.notices.append(f"의미 검색은 앞 {embed_chars:,}자만, 나머지 {len(doc.chunks) - i:,}개 구절은 낱말 검색만")
            break
    return doc


def cap_source(source: SourceText, max_chars: int) -> int | None:
    """Cut ``source`` to its first ``max_chars`` characters (newlines counted); returns the length
    of the whole text when it was longer (or when the reader already kept only a prefix), else None."""
    kept, size = [], 0
    for ln in source.lines:
        if size + len(ln.text) > max_chars:
            if max_chars - size > 0:
                kept.append(replace(ln, text=ln.text[:max_chars - size]))
            total = source.total_chars or sum(len(x.text) + 1 for x in source.lines)
            source.lines = kept
            return total
        kept.append(ln)
        size += len(ln.text) + 1
    return source.total_chars


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
