"""The sources an index remembers (issue 16): its roots, the ids of their files, and what was removed.

A root is a folder (or a file indexed on its own) given to ``kosearch index``. The manifest lists
them (``Manifest.roots``: ``{"path", "prefix"}``); a file's stable id is its path relative to the
root that holds it (the deepest one), behind that root's prefix. The first root has no prefix, so
an index of one folder keeps the ids it always had (``2022/보고/report.hwp``); a folder added
later gets its own name as prefix (``newreports/2023/a.pdf``), made unique among the roots.

``Manifest.excluded`` lists paths taken out with ``kosearch index --remove`` that are still on
disk: indexing their folder again does not bring them back; naming one explicitly does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Root:
    path: Path          # absolute (os.path.abspath: links not resolved, as the ids are)
    prefix: str = ""

    @property
    def is_file(self) -> bool:
        return self.path.is_file() and not self.path.is_dir()

    def to_dict(self) -> dict:
        return {"path": str(self.path), "prefix": self.prefix}


def absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def under(path: Path, top: Path) -> bool:
    """``path`` is ``top`` or lies inside it (plain path comparison, both absolute)."""
    return path == top or top in path.parents


def roots_of(manifest) -> list[Root]:
    """The manifest's roots; an index from before roots were recorded has its one ``root``."""
    if manifest is None:
        return []
    out = []
    for r in getattr(manifest, "roots", None) or ():
        try:
            out.append(Root(absolute(r["path"]), str(r.get("prefix") or "")))
        except (KeyError, TypeError, AttributeError):
            continue
    if not out and getattr(manifest, "root", ""):
        out.append(Root(absolute(manifest.root), ""))
    return out


def owner(path: Path, roots: list[Root]) -> Root | None:
    """The deepest root holding ``path`` (a file root holds only itself)."""
    best = None
    for r in roots:
        if under(path, r.path) and (best is None or len(r.path.parts) > len(best.path.parts)):
            best = r
    return best


def file_id(path: Path, root: Root) -> str:
    rel = path.name if path == root.path else path.relative_to(root.path).as_posix()
    return f"{root.prefix}/{rel}" if root.prefix else rel


def entry_path(entry) -> Path | None:
    """Where a manifest entry's file is (absolute), or None for ready-made chunks with no file."""
    if not getattr(entry, "path", None) or not getattr(entry, "hash", ""):
        return None
    return absolute(entry.path)


def new_root(path: Path, roots: list[Root], ids, base: Path | None = None) -> Root:
    """A root for ``path``: no prefix when it is the first (or its path relative to ``base``, the
    common folder of the paths that start a new index); else its own name, made unique."""
    if base is not None:
        rel = Path(os.path.relpath(path if path.is_dir() else path.parent, base)).as_posix()
        return Root(path, "" if rel == "." else rel)
    if not roots:
        return Root(path, "")
    name = (path.name if path.is_dir() or not path.exists() else path.parent.name) or "root"
    taken = {r.prefix for r in roots}
    prefix, n = name, 1
    while prefix in taken or any(i == prefix or i.startswith(prefix + "/") for i in ids):
        n += 1
        prefix = f"{name}-{n}"
    return Root(path, prefix)


def is_excluded(path: Path, excluded: list[str], explicit: list[Path]) -> bool:
    """Removed with --remove, and not named again (a given path inside the removed one that holds it)."""
    for x in excluded:
        xp = Path(x)
        if under(path, xp) and not any(under(path, p) and under(p, xp) for p in explicit):
            return True
    return False
