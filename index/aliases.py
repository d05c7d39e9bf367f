"""Short forms staff type, kept by users in ``aliases.txt`` beside ``userdict.txt`` and recorded in
the index manifest at build time: department names (사경과 → 사회적경제과) and other terms
(추경 → 추가경정예산), which a question is read with."""
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


def expand_terms(text: str, aliases: dict[str, str], departments) -> str:
    """``text`` with each short form of a term (not a department: those are filters and names)
    replaced by its full form: "20년 1회 추경" -> "20년 1회 추가경정예산"."""
    depts = {d.replace(" ", "") for d in departments}
    for short, full in sorted(aliases.items(), key=lambda kv: -len(kv[0])):
        if full.replace(" ", "") not in depts and short in text and full not in text:
            text = text.replace(short, full)
    return text
