"""The storage contract (index/store/base.py), run against every backend in ``BACKENDS``.

Adding a backend: register it in ``index/store/factory.py`` and add its name to ``BACKENDS`` below
(a backend that needs a server can skip in ``backend`` when it is not reachable).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.build import build
from index.model import Chunk, Unit
from index.store import (BACKENDS as REGISTERED, Candidate, Filters, IndexLockedError, IndexStoreError, Manifest,
                         index_exists, open_backend, open_writer, stamp)

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["local", "milvus"]
DIM = 8

from milvus_support import milvus_env, milvus_uri  # noqa: E402,F401  (Milvus Lite on a Unix socket)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    assert request.param in REGISTERED
    if request.param == "milvus":
        request.getfixturevalue("milvus_env")
    return request.param


# ---- a small synthetic index written through the writer (no kiwi, no model) ----------------
def _chunk(file: str, n: int, year: int, dept: str, kind: str, programme: str) -> Chunk:
    return Chunk(id=f"{file}:{n}-{n}", file=file, path=file, start_line=n, end_line=n, text=f"{file} {n}",
                 index_text=f"{file} {n}", year=year, department=dept, chapter_kind=kind, programme=programme)


FILES = {  # file -> (year, department, kind, programme, [terms of each chunk])
    "2021/보고/report.txt": (2021, "비전협력과", "plan", "의료관광", [["의료", "관광", "예산"], ["외국인", "환자"]]),
    "2022/보고/report.txt": (2022, "비전협력과", "results", "의료관광", [["의료", "관광"], ["예산", "집행"]]),
    "other.txt": (2022, "기획 담당관", "plan", "청년", [["청년", "공간"], ["예산"], []]),
}


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _parts(file: str, spec=None):
    year, dept, kind, prog, terms = spec or FILES[file]
    chunks = [_chunk(file, i + 1, year, dept, kind, prog) for i in range(len(terms))]
    units = [Unit(**_unit(c)) for c in chunks]
    pairs = [[a + " " + b for a, b in zip(t, t[1:])] for t in terms]
    vectors = np.stack([_vec(hash(c.id) % 1000) for c in chunks])
    return chunks, units, terms, pairs, vectors


def _unit(c: Chunk) -> dict:
    return {"id": f"{c.file}:{c.start_line}", "kind": "line", "chunk_id": c.id, "file": c.file,
            "line": c.start_line, "text": c.text}


def _write(index_dir: Path, backend: str, files=FILES) -> None:
    with open_writer(index_dir, backend=backend) as w:
        w.clear()
        for f in files:
            w.upsert(f, *_parts(f, files[f]))
        w.commit(Manifest(model={"id": "test", "dim": DIM}))


@pytest.fixture
def index(tmp_path, backend) -> Path:
    d = tmp_path / "idx"
    _write(d, backend)
    return d


# ---- read side ------------------------------------------------------------------------------
def test_manifest_names_the_backend(index, backend):
    b = open_backend(index)
    assert b.manifest.backend == backend and b.manifest.generation == 1
    assert b.manifest.chunk_count == 7 == len(b.chunks.all())
    assert list(b.manifest.files) == list(FILES)


def test_filters_and_facets(index):
    b = open_backend(index)
    facets = b.chunks.facets()
    assert facets["years"] == [2022, 2021]
    assert facets["departments"] == ["기획 담당관", "비전협력과"]
    assert facets["kinds"] == ["plan", "results"]
    assert facets["files"] == list(FILES)
    assert facets["programmes"] == ["의료관광", "청년"]
    cases = [Filters.of(year=2022), Filters.of(year=[2021, 2022]), Filters.of(department="기획담당관"),
             Filters.of(chapter_kind="계획"), Filters.of(file="report.txt"), Filters.of(file="2021/보고/report.txt"),
             Filters.of(year=2021, chapter_kind="results"), Filters()]
    every = b.chunks.all()
    for f in cases:
        want = {c.id for c in every if f.matches(c)}
        assert b.chunks.count(f) == len(want)
        got = {c.id for c in b.lexical.search(["예산", "의료", "청년", "환자", "공간", "집행"], 50, f)}
        assert got <= want and got == {c.id for c in every if f.matches(c) and _terms(c.id) & {"예산", "의료", "청년", "환자", "공간", "집행"}}
        near = b.vectors.search(_vec(1), 50, f)
        assert {c.id for c in near} == want
    assert Filters.of(file="report.txt").matches(every[0]) and not Filters.of(file="2022/보고/report.txt").matches(every[0])
    assert b.lexical.search(["예산"], 10, Filters.of(year=1999)) == [] == b.vectors.search(_vec(1), 10, Filters.of(year=1999))


def test_programme_heads(index):
    """One chunk per programme (the first), latest report year first, under the filters; general
    and other chapters hold no programmes."""
    b = open_backend(index)
    heads = list(b.chunks.programme_heads(Filters()))
    assert [(c.file, c.programme) for c in heads] == [("2022/보고/report.txt", "의료관광"), ("other.txt", "청년"),
                                                      ("2021/보고/report.txt", "의료관광")]
    assert all(c.start_line == 1 for c in heads)
    assert [c.file for c in b.chunks.programme_heads(Filters.of(year=2021))] == ["2021/보고/report.txt"]
    assert [c.programme for c in b.chunks.programme_heads(Filters.of(department="기획담당관"))] == ["청년"]
    assert list(b.chunks.programme_heads(Filters.of(year=1999))) == []


def _terms(chunk_id: str) -> set[str]:
    file, _, n = chunk_id.rpartition(":")
    return set(FILES[file][4][int(n.split("-")[0]) - 1])


def test_lexical_and_vector_search(index):
    b = open_backend(index)
    hits = b.lexical.search(["예산"], 10)
    assert {h.id for h in hits} == {"2021/보고/report.txt:1-1", "2022/보고/report.txt:2-2", "other.txt:2-2"}
    assert all(isinstance(h, Candidate) and h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].id == "other.txt:2-2"   # the shortest chunk with the term
    scores = b.lexical.scores(["예산"], [h.id for h in hits] + ["other.txt:1-1"])
    assert np.allclose(scores[:-1], [h.score for h in hits]) and scores[-1] == 0
    assert len(b.lexical.search(["예산"], 1)) == 1 and b.lexical.search([], 5) == []
    ph = b.phrases.search(["의료 관광"], 10)
    assert {h.id for h in ph} == {"2021/보고/report.txt:1-1", "2022/보고/report.txt:1-1"}
    ids = [c.id for c in b.chunks.all()]
    q = _vec(hash(ids[3]) % 1000)
    near = b.vectors.search(q, 3)
    assert near[0].id == ids[3] and abs(near[0].score - 1.0) < 1e-5
    v = b.vectors.vectors([ids[3], ids[0]])
    assert v.shape == (2, DIM) and np.allclose(v[0], q)


def test_doc_freqs_and_contains(index):
    b = open_backend(index)
    assert b.lexical.doc_count() == 7
    assert b.lexical.doc_freqs(["예산", "의료", "없는말"]) == {"예산": 3, "의료": 2, "없는말": 0}
    ids = ["2021/보고/report.txt:1-1", "other.txt:3-3", "other.txt:1-1"]
    assert b.lexical.contains(ids, {"예산", "청년", "의료", "없는말"}) == {
        "2021/보고/report.txt:1-1": {"예산", "의료"}, "other.txt:3-3": set(), "other.txt:1-1": {"청년"}}


def test_chunks_and_units_by_id_and_file(index):
    b = open_backend(index)
    got = b.chunks.get(["other.txt:2-2", "2021/보고/report.txt:1-1", "nope"])
    assert [c.id for c in got] == ["other.txt:2-2", "2021/보고/report.txt:1-1"]
    assert [u.chunk_id for u in b.chunks.units_for_chunk("other.txt:2-2")] == ["other.txt:2-2"]
    assert {u.file for u in b.chunks.units_for_file("2022/보고/report.txt")} == {"2022/보고/report.txt"}
    assert len(b.chunks.units()) == 7


# ---- write side -----------------------------------------------------------------------------
def test_upsert_and_delete_by_file(index, backend):
    s0 = stamp(index)
    with open_writer(index) as w:
        assert w.previous.generation == 1
        spec = (2023, "비전협력과", "new", "스마트", [["스마트", "특구"]])
        w.upsert("2022/보고/report.txt", *_parts("2022/보고/report.txt", spec))
        w.delete("other.txt")
        w.commit()
    b = open_backend(index)
    assert b.manifest.generation == 2 and stamp(index) != s0
    assert list(b.manifest.files) == ["2021/보고/report.txt", "2022/보고/report.txt"]
    assert [c.id for c in b.chunks.all()] == ["2021/보고/report.txt:1-1", "2021/보고/report.txt:2-2",
                                               "2022/보고/report.txt:1-1"]
    assert b.chunks.get(["2022/보고/report.txt:1-1"])[0].year == 2023
    assert b.lexical.doc_freqs(["예산", "스마트", "청년"]) == {"예산": 1, "스마트": 1, "청년": 0}
    assert not b.chunks.units_for_file("other.txt") and len(b.chunks.units()) == 3
    assert b.vectors.vectors(["2021/보고/report.txt:2-2"]).shape == (1, DIM)   # kept file keeps its vectors
    # a writer left without commit changes nothing
    with open_writer(index) as w:
        w.delete("2021/보고/report.txt")
    assert open_backend(index).manifest.generation == 2


def test_generation_swap_keeps_open_readers_working(index):
    old = open_backend(index)
    with open_writer(index) as w:
        w.delete("other.txt")
        w.commit()
    new = open_backend(index)
    assert (old.manifest.generation, new.manifest.generation) == (1, 2)
    assert len(old.chunks.all()) == 7 and len(new.chunks.all()) == 4
    assert {h.id for h in old.lexical.search(["청년"], 5)} == {"other.txt:1-1"}   # the old generation still reads
    assert old.vectors.search(_vec(3), 2) and not new.lexical.search(["청년"], 5)
    assert not [p for p in index.parent.iterdir() if ".tmp-" in p.name or p.name.endswith(".old")]


def test_unknown_or_unavailable_backend_says_so(index):
    m = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    m["backend"] = "nosuch"
    (index / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexStoreError, match="저장 방식 'nosuch'") as exc:
        open_backend(index)
    assert "\n" not in str(exc.value)
    assert index_exists(index) and not index_exists(index.parent / "none")


# ---- file identity, one writer, crashes (through the real build) -----------------------------
def _report_text() -> str:
    return (ROOT / "corpus" / "003_1119614ba66d37cc.txt").read_text(encoding="utf-8")


def _nested(tmp_path: Path) -> Path:
    corpus = tmp_path / "nested"
    text = _report_text()
    for i, top in enumerate(("a", "b", "c")):
        f = corpus / top / "x" / "r.txt"
        f.parent.mkdir(parents=True)
        f.write_text(text.replace("추진", f"추진{i}", 1), encoding="utf-8")
    for year in ("2021", "2022"):
        f = corpus / year / "보고" / "report.txt"
        f.parent.mkdir(parents=True)
        f.write_text(text, encoding="utf-8")
    return corpus


def test_same_named_files_in_nested_folders(tmp_path, backend):
    corpus = _nested(tmp_path)
    idx = tmp_path / "idx"
    first = build([corpus], idx, model="none", backend=backend)
    assert sorted(first.added) == ["2021/보고/report.txt", "2022/보고/report.txt", "a/x/r.txt", "b/x/r.txt",
                                   "c/x/r.txt"]
    counts = []
    for _ in range(3):
        rep = build([corpus], idx, model="none")
        assert not rep.written and not rep.changed and not rep.added and len(rep.unchanged) == 5
        counts.append(len(open_backend(idx).chunks.all()))
    assert counts == [first.chunks] * 3
    ids = [c.id for c in open_backend(idx).chunks.all()]
    assert len(ids) == len(set(ids))
    # a change in one of them touches only that file
    f = corpus / "b" / "x" / "r.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\n새 문장 함\n", encoding="utf-8")
    rep = build([corpus], idx, model="none")
    assert rep.changed == ["b/x/r.txt"] and rep.chunks == first.chunks


def _cli(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw)


def _wait_for(path: Path, proc, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the build never reached its commit"
        time.sleep(0.1)


def test_second_writer_refuses_or_waits(tmp_path, backend):
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    idx = tmp_path / "idx"
    marker = tmp_path / "in-commit"
    first = _cli("index", str(corpus), "--index-dir", str(idx), "--model", "none",
                 env={"KOSEARCH_STORE_PAUSE": f"write:{marker}:4"})
    _wait_for(marker, first)
    with pytest.raises(IndexLockedError, match="쓰는 중"):
        open_writer(idx, backend=backend)
    second = subprocess.run([sys.executable, "-m", "cli", "index", str(corpus), "--index-dir", str(idx),
                             "--model", "none"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode != 0 and "쓰는 중" in second.stderr and "Traceback" not in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    waiting = _cli("index", str(corpus), "--index-dir", str(idx), "--model", "none",
                   env={"KOSEARCH_INDEX_WAIT": "120"})
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    out2, err2 = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err2
    assert "최신 상태" in out2          # it waited, then found the first build's work complete
    b = open_backend(idx)
    assert len(b.manifest.files) == 5 and b.manifest.generation == 1


def test_crash_mid_commit_leaves_old_index_and_next_build_cleans_up(tmp_path, backend):
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    idx = tmp_path / "idx"
    build([corpus], idx, model="none", backend=backend)
    before = [c.id for c in open_backend(idx).chunks.all()]
    f = corpus / "000_bb8b9f25a68228af.txt"
    f.write_text("Ⅰ. 일반현황\n\n1 조직\n\n새 내용 의료관광\n", encoding="utf-8")
    marker = tmp_path / "in-commit"
    proc = _cli("index", str(corpus), "--index-dir", str(idx), "--model", "none",
                env={"KOSEARCH_STORE_PAUSE": f"write:{marker}"}, start_new_session=True)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert [p for p in tmp_path.iterdir() if ".tmp-" in p.name], "expected the killed build's temp dir"
    assert [c.id for c in open_backend(idx).chunks.all()] == before     # the old generation still opens
    rep = build([corpus], idx, model="none")                             # the lock died with the process
    assert rep.changed == ["000_bb8b9f25a68228af.txt"]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or p.name.endswith(".old")]
    assert open_backend(idx).manifest.generation == 2
