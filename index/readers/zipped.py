"""Zip-based formats (HWPX, DOCX): tell them apart by content, and guard against zip bombs."""
from __future__ import annotations

import zipfile
from pathlib import Path

from index.config import MAX_ZIP_MEMBER_BYTES, MAX_ZIP_TOTAL_BYTES
from index.readers import ReadError

# Limits checked on the central directory before anything is decompressed, and
# again while reading (a zip can lie about its sizes).
MAX_MEMBERS = 5000
MAX_TOTAL_BYTES = MAX_ZIP_TOTAL_BYTES    # all members, decompressed (index/config.py)
MAX_MEMBER_BYTES = MAX_ZIP_MEMBER_BYTES  # one member, decompressed
MAX_RATIO = 200                          # decompressed / compressed, for members over 1 MiB
_RATIO_FLOOR = 1024 * 1024


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """Open a zip and check its directory against the size limits; ReadError if unsafe or corrupt."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ReadError(f"corrupt zip container ({exc})") from None
    except (OSError, EOFError, ValueError) as exc:
        raise ReadError(f"corrupt zip container ({exc})") from None
    try:
        check_zip(zf)
    except ReadError:
        zf.close()
        raise
    return zf


def check_zip(zf: zipfile.ZipFile) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ReadError(f"zip bomb suspected: {len(infos)} members")
    total = 0
    for info in infos:
        if info.file_size > MAX_MEMBER_BYTES:
            raise ReadError(
                f"zip bomb suspected: {info.filename} decompresses to {info.file_size} bytes"
            )
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ReadError(
                f"zip bomb suspected: {info.filename} compression ratio "
                f"{info.file_size // max(info.compress_size, 1)}:1"
            )
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise ReadError(f"zip bomb suspected: {total} bytes decompressed in all")


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """Read one member, never inflating more than the limit even if the header lies."""
    try:
        with zf.open(name) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
    except KeyError:
        raise ReadError(f"missing part {name}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ReadError(f"corrupt zip member {name} ({exc})") from None
    except Exception as exc:  # zlib.error and friends
        raise ReadError(f"corrupt zip member {name} ({type(exc).__name__}: {exc})") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise ReadError(f"zip bomb suspected: {name} decompresses past {MAX_MEMBER_BYTES} bytes")
    return data


def zip_kind(path: str | Path) -> str:
    """``"hwpx"`` or ``"docx"`` from what a zip holds; ReadError for anything else."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ReadError(f"corrupt zip container ({exc})") from None
    with zf:
        names = set(zf.namelist())
        mimetype = b""
        if "mimetype" in names:
            info = zf.getinfo("mimetype")
            if info.file_size < 256:
                try:
                    mimetype = zf.read("mimetype").strip()
                except Exception:
                    mimetype = b""
        if mimetype.startswith(b"application/hwp") or any(
            n.lower().startswith("contents/section") for n in names
        ):
            return "hwpx"
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            raise ReadError("unsupported zip document (spreadsheet, xlsx)")
        if "ppt/presentation.xml" in names:
            raise ReadError("unsupported zip document (presentation, pptx)")
        if mimetype.startswith(b"application/vnd.oasis.opendocument"):
            raise ReadError(f"unsupported zip document ({mimetype.decode('ascii', 'replace')})")
    raise ReadError("unsupported zip archive (not HWPX or DOCX)")
