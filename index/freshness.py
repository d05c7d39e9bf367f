"""Which indexed report files changed on disk since the build, looked up only under trusted roots
(and, for new files, only in the folders the index was built from: ``scan_folders``).

The manifest is data (it could be copied from elsewhere or edited): its file paths must not
steer the app to read, hash or list arbitrary places such as ``/etc``. So the folders to look in
come from the operator (``kosearch serve --corpus``, default ``corpus``), never from the
manifest; a manifest entry whose path (links resolved) lies outside them is neither read nor
hashed, only counted as unchecked, and new files are looked for only inside the roots (links
out of them are not followed, as when indexing).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Freshness:
    changed: list[tuple[str, str]] = field(default_factory=list)   # (name, "변경"|"삭제"|"추가")
    outside: list[str] = field(default_factory=list)               # manifest names not under a root: unchecked
    roots: list[Path] = field(default_factory=list)


def trusted_roots(roots) -> list[Path]:
    """The operator's folders, resolved (links followed once, here); those that do not exist are dropped."""
    out = []
    for r in roots or ():
        try:
            p = Path(r).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if p.is_dir() and p not in out:
            out.append(p)
    return out


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def _resolve(raw: str) -> Path | None:
    """A manifest path made absolute (a relative one against the current folder), links resolved."""
    try:
        return Path(raw).resolve()
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a link loop
        return None


def scan_folders(manifest, roots: list[Path]) -> list[Path]:
    """Where new report files are looked for: the index's folder roots, cut to the trusted folders
    (a folder root inside a trusted one, or a trusted one inside a folder root). A file indexed on
    its own is a root of its own, so its neighbours are never listed (issue 16). An index that
    records no roots falls back to the trusted folders."""
    from index.roots import roots_of

    recorded = roots_of(manifest)
    if not recorded:
        return list(roots)
    out: list[Path] = []
    for r in recorded:
        rp = _resolve(str(r.path))
        if rp is None or not rp.is_dir():
            continue   # a file root, or a folder gone from disk
        for t in roots:
            pick = rp if _inside(rp, [t]) else t if _inside(t, [rp]) else None
            if pick is not None and pick not in out:
                out.append(pick)
    return out


def check(manifest, roots) -> Freshness:
    """Compare ``manifest.files`` with the report files on disk under ``roots`` (see the module doc)."""
    from index.documents import collect_files, file_hash

    roots = trusted_roots(roots)
    out = Freshness(roots=roots)
    indexed: set[Path] = set()
    for name, entry in manifest.files.items():
        if not entry.hash:
            continue
        p = _resolve(str(entry.path)) if entry.path else None
        if p is None or not roots or not _inside(p, roots):
            out.outside.append(name)
            continue
        indexed.add(p)
        try:
            st = os.stat(p)
        except OSError:
            out.changed.append((name, "삭제"))
            continue
        if not stat.S_ISREG(st.st_mode):  # a fifo or device put in its place: never read it
            out.changed.append((name, "변경"))
            continue
        try:
            if file_hash(p) != entry.hash:
                out.changed.append((name, "변경"))
        except OSError:
            out.changed.append((name, "삭제"))
    scan = scan_folders(manifest, roots)
    if scan:
        from index.roots import absolute, is_excluded

        on_disk, _ = collect_files(scan)
        for f in on_disk:
            try:
                rf = f.resolve()
            except (OSError, RuntimeError):
                continue
            if rf not in indexed and _inside(rf, roots) and not is_excluded(absolute(f), manifest.excluded or [], []):
                out.changed.append((str(rf.relative_to(next(r for r in roots if _inside(rf, [r])))), "추가"))
    return out
