"""Plain-text reports: UTF-8 (with or without BOM), CP949/EUC-KR, UTF-16 with BOM."""
from __future__ import annotations

from pathlib import Path

from index.model import Line, SourceText
from index.readers import ReadError

# Tried in order; cp949 is a superset of euc-kr.
_ENCODINGS = ("utf-8", "cp949")


def decode(data: bytes) -> tuple[str, str]:
    """Decode report bytes; returns (text, encoding) or raises ReadError."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data[:4096]:
        raise ReadError("binary file, not text (NUL bytes)")
    for enc in _ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise ReadError("cannot decode text: not UTF-8 or CP949/EUC-KR")


def read_text(path: Path) -> SourceText:
    try:
        text, encoding = decode(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise ReadError(f"cannot decode text: {exc.reason}") from None
    if not text.strip():
        raise ReadError("empty file (no text)")
    bad = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if bad > 50:
        raise ReadError("binary file, not text (control characters)")
    # Split on newlines only: str.splitlines() also breaks on \x0b, \x1c, U+2028…,
    # which would shift line numbers away from what an editor shows.
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    lines = [Line(number=i, text=t) for i, t in enumerate(raw, start=1)]
    return SourceText(path=str(path), format="txt", lines=lines, encoding=encoding)
