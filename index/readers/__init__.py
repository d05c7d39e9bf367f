"""Readers turn one file into ``SourceText`` lines. Dispatch is on content, not only the extension."""
from __future__ import annotations

from pathlib import Path

from index.model import SourceText

SUPPORTED_SUFFIXES = {".txt", ".hwp", ".hwpx", ".pdf", ".docx"}


class ReadError(Exception):
    """A file that cannot be read; the message is the one-line reason shown to the user."""


def sniff_format(path: Path, head: bytes) -> str:
    """Guess the format from the first bytes, falling back to the extension."""
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2 compound file: HWP 5
        return "hwp"
    if head.startswith(b"PK\x03\x04"):
        from index.readers.zipped import zip_kind

        return zip_kind(path)
    return "txt"


def read(path: str | Path, max_chars: int | None = None) -> SourceText:
    """Read any supported file; raises ``ReadError`` with a reason when it cannot.

    ``max_chars``: a text file is read only as far as that many characters (the caller cuts
    other formats after reading; their readers bound what they decompress)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ReadError(f"cannot open: {exc.strerror or exc}") from None
    if p.stat().st_size == 0:
        raise ReadError("empty file")
    kind = sniff_format(p, head)
    if kind == "txt":
        from index.readers.text import read_text

        return read_text(p, max_chars)
    if kind == "pdf":
        from index.readers.pdf import read_pdf

        return read_pdf(p)
    if kind == "hwp":
        from index.readers.hwp import read_hwp

        return read_hwp(p)
    if kind == "hwpx":
        from index.readers.hwp import read_hwpx

        return read_hwpx(p)
    if kind == "docx":
        from index.readers.docx import read_docx

        return read_docx(p)
    raise ReadError(f"unsupported format ({kind})")
