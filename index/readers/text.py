"""Plain-text reports: UTF-8 (with or without BOM), CP949/EUC-KR, UTF-16 with BOM."""
from __future__ import annotations

import codecs
from pathlib import Path

from index.model import Line, SourceText
from index.readers import ReadError

# Tried in order; cp949 is a superset of euc-kr.
_ENCODINGS = ("utf-8", "cp949")


def decode(data: bytes, final: bool = True) -> tuple[str, str]:
    """Decode report bytes; returns (text, encoding) or raises ReadError.

    ``final=False``: ``data`` is a prefix of the file; a character cut at its end is dropped.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode(data[3:], "utf-8", final), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(data, "utf-16", final), "utf-16"
    if b"\x00" in data[:4096]:
        raise ReadError("binary file, not text (NUL bytes)")
    for enc in _ENCODINGS:
        try:
            return _decode(data, enc, final), enc
        except UnicodeDecodeError:
            continue
    raise ReadError("cannot decode text: not UTF-8 or CP949/EUC-KR")


def _decode(data: bytes, encoding: str, final: bool) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="strict").decode(data, final=final)


def count_chars(path: Path, encoding: str, block: int = 1 << 20) -> int:
    """Characters in the whole file, decoded block by block (memory stays at one block)."""
    dec = codecs.getincrementaldecoder(encoding)(errors="replace")
    n = 0
    with path.open("rb") as fh:
        for data in iter(lambda: fh.read(block), b""):
            n += len(dec.decode(data))
    return n + len(dec.decode(b"", final=True))


def read_text(path: Path, max_chars: int | None = None) -> SourceText:
    """Read a text report. With ``max_chars``, only the bytes that can hold that many characters
    are read (4 per character at most); ``total_chars`` then says how long the whole file is."""
    try:
        with path.open("rb") as fh:
            data = fh.read(max_chars * 4 + 4) if max_chars is not None else fh.read()
            whole = max_chars is None or not fh.read(1)
        text, encoding = decode(data, final=whole)
    except UnicodeDecodeError as exc:
        raise ReadError(f"cannot decode text: {exc.reason}") from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    del data
    total = None
    if max_chars is not None and (not whole or len(text) > max_chars):
        total = len(text) if whole else count_chars(path, encoding)
        text = text[:max_chars]
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
    return SourceText(path=str(path), format="txt", lines=lines, encoding=encoding, total_chars=total)
