"""A damaged index never gives a traceback or a vague line: opening or searching it either
works or says which part is damaged and to rebuild with `kosearch index`; a running app keeps
its index in service when the rebuilt one is damaged (issue 14, items 1 and 2)."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from index.store import IndexStoreError
from search.live import LiveSearcher
from search.searcher import Searcher
from search.service import SearchService

QUESTION = "22년 의료관광 활성화 예산 얼마야?"


def _files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def _corruptions(index_dir: Path):
    """(name, function that damages a copy of the index) for every file of the index."""
    out = []
    for f in _files(index_dir):
        rel = f.relative_to(index_dir)
        out.append((f"{rel}:deleted", lambda d, r=rel: (d / r).unlink()))
        out.append((f"{rel}:empty", lambda d, r=rel: (d / r).write_bytes(b"")))
        out.append((f"{rel}:half", lambda d, r=rel: (d / r).write_bytes((d / r).read_bytes()[: max(1, (d / r).stat().st_size // 2)])))
        out.append((f"{rel}:garbage", lambda d, r=rel: (d / r).write_bytes(os.urandom(64))))
        if f.suffix in (".json", ".jsonl"):
            out.append((f"{rel}:[]", lambda d, r=rel: (d / r).write_text("[]", encoding="utf-8")))

    def unknown_key(d: Path):
        m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        first = next(iter(m["files"]))
        m["files"][first]["surprise"] = 1
        (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")

    def wrong_count(d: Path):
        m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        m["chunk_count"] = m["chunk_count"] + 7
        (d / "manifest.json").write_text(json.dumps(m), encoding="utf-8")

    out += [("manifest:unknown file key", unknown_key), ("manifest:chunk count", wrong_count)]
    return out


@pytest.fixture(scope="module")
def built(bm25_dir):
    return bm25_dir


def _cases(bm25_dir):
    return [name for name, _ in _corruptions(bm25_dir)]


def test_every_corruption_opens_or_names_the_damaged_part(built, tmp_path):
    vague = []
    for name, damage in _corruptions(built):
        d = tmp_path / name.replace("/", "_").replace(":", "_").replace(" ", "_")
        shutil.copytree(built, d)
        damage(d)
        try:
            res = SearchService(Searcher.open(d)).ask(QUESTION, top_k=3)
            assert isinstance(res.hits, list)
        except IndexStoreError as exc:
            if "kosearch index" not in str(exc):
                vague.append((name, str(exc)))
        except Exception as exc:  # what a user would see as "예기치 않은 문제"
            vague.append((name, f"{type(exc).__name__}: {exc}"))
    assert not vague, vague


def _live_cases(index_dir: Path) -> list[str]:
    """The manifest cases, and each of the three largest files emptied and garbled."""
    names = dict(_corruptions(index_dir))
    big = sorted((f for f in _files(index_dir) if f.name != "manifest.json"), key=lambda f: -f.stat().st_size)[:3]
    picked = ["manifest:unknown file key", "manifest:chunk count"]
    for f in big:
        rel = f.relative_to(index_dir)
        picked += [f"{rel}:garbage", f"{rel}:half"]
    return [p for p in picked if p in names]


def test_a_damaged_rebuild_leaves_the_running_index_in_service(built, tmp_path):
    cases = _live_cases(built)
    assert len(cases) >= 6
    fns = dict(_corruptions(built))
    for i, damage in enumerate(cases):
        live_dir = tmp_path / f"index{i}"
        shutil.copytree(built, live_dir)
        live = LiveSearcher(Searcher.open(live_dir), min_interval=0.0)
        before = live.current
        new = tmp_path / f"new{i}"
        shutil.copytree(built, new)
        fns[damage](new)
        m = json.loads((new / "manifest.json").read_text(encoding="utf-8"))
        m["created"] = time.strftime("%Y-%m-%dT%H:%M:%S") + f"-rebuilt-{i}"  # a newer generation
        m["generation"] = (m.get("generation") or 0) + 1
        (new / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
        shutil.rmtree(live_dir)
        os.replace(new, live_dir)
        assert live.current is before, damage
        res = SearchService(live).ask(QUESTION, top_k=3)
        assert res.answer and res.answer["value"] == "487,492천원", damage
        assert live.reload_error and "kosearch index" in live.reload_error, (damage, live.reload_error)
