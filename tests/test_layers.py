"""Import rules, checked on the sources: ``index`` imports neither ``search`` nor ``app``/``cli``;
``search`` never imports ``app`` or ``cli``. The CLI and the app sit on top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"index": {"search", "app", "cli"}, "search": {"app", "cli"}}


def imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = imported_top_modules(path) & FORBIDDEN[package]
        if hits:
            bad[str(path.relative_to(ROOT))] = sorted(hits)
    assert not bad, f"imports that run upward: {bad}"


def test_cli_is_top_level_and_packaged():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'kosearch = "cli:main"' in text and '"cli"' in text and '"search.eval"' in text
    assert not (ROOT / "search" / "cli.py").exists()
