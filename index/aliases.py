"""Department short forms (사경과 → 사회적경제과), kept by users in ``aliases.txt`` beside
``userdict.txt``; recorded in the index manifest at build time."""
from __future__ import annotations

from pathlib import Path


def load_aliases(path: str | Path | None) -> dict[str, str]:
    """Department short forms from a user-editable file: ``사경과 = 사회적경제과`` per line."""
    out: dict[str, str] = {}
    if path is None or not Path(path).is_file():
        return out
    for raw in Path(path).read_text(encoding="utf-8-sig").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" not in line:
            continue
        short, full = (p.strip() for p in line.split("=", 1))
        if short and full:
            out[short] = full
    return out
