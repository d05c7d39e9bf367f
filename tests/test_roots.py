"""Issue 16: indexing a path never drops what it was not asked to drop (roots, --remove, rebuilds)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"


def kosearch(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "cli", "index", *map(str, args), "--model", "none", "-q"],
                       cwd=cwd or ROOT, capture_output=True, text=True, env=None)
    return p


def manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture()
def folders(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    new = tmp_path / "newreports"
    (new / "2023").mkdir(parents=True)
    shutil.copy(FIXTURES / "pdf_nikl_2022_work_plan_hancom.pdf", new / "2023" / "plan.pdf")
    shutil.copy(FIXTURES / "report_ko.docx", new / "report.docx")
    # the same relative name as a corpus file: must not collide
    shutil.copy(CORPUS / "000_bb8b9f25a68228af.txt", new / "000_bb8b9f25a68228af.txt")
    return corpus, new, tmp_path / "index"


def test_second_folder_keeps_the_first_then_drop_and_remove(folders):
    corpus, new, idx = folders
    first = kosearch(corpus, "--index-dir", idx)
    assert first.returncode == 0, first.stderr
    ids_first = set(manifest(idx)["files"])
    assert ids_first and all("/" not in i for i in ids_first)          # single-root ids unchanged

    second = kosearch(new, "--index-dir", idx)
    assert second.returncode == 0, second.stderr
    m = manifest(idx)
    assert ids_first <= set(m["files"]), "indexing another folder dropped the first"
    assert {"newreports/2023/plan.pdf", "newreports/report.docx", "newreports/000_bb8b9f25a68228af.txt"} <= set(m["files"])
    assert [r["prefix"] for r in m["roots"]] == ["", "newreports"]
    assert "삭제 0" in second.stdout and "추가 3" in second.stdout

    # delete a file under a root and re-index that root: dropped (and only it)
    (new / "report.docx").unlink()
    third = kosearch(new, "--index-dir", idx)
    assert third.returncode == 0, third.stderr
    m = manifest(idx)
    assert "newreports/report.docx" not in m["files"] and ids_first <= set(m["files"])
    assert "삭제: newreports/report.docx (디스크에서 없어짐)" in third.stderr

    # --remove a file still on disk: out, and the next index of its folder does not bring it back
    gone = corpus / "001_d2cafe401e804f46.txt"
    rm = kosearch("--index-dir", idx, "--remove", gone)
    assert rm.returncode == 0, rm.stderr
    assert "001_d2cafe401e804f46.txt" not in manifest(idx)["files"]
    again = kosearch(corpus, "--index-dir", idx)
    assert again.returncode == 0, again.stderr
    assert "001_d2cafe401e804f46.txt" not in manifest(idx)["files"]
    assert "제외 유지" in again.stderr
    # naming it explicitly brings it back
    back = kosearch(gone, "--index-dir", idx)
    assert back.returncode == 0, back.stderr
    assert "001_d2cafe401e804f46.txt" in manifest(idx)["files"]

    # --remove a whole root: forgotten
    rm_root = kosearch("--index-dir", idx, "--remove", new)
    assert rm_root.returncode == 0, rm_root.stderr
    m = manifest(idx)
    assert not any(i.startswith("newreports/") for i in m["files"]) and len(m["roots"]) == 1

    # unknown target: one line, nothing changed
    before = manifest(idx)["generation"]
    bad = kosearch("--index-dir", idx, "--remove", corpus / "nope.txt")
    assert bad.returncode == 2 and "색인에 없는" in bad.stderr and "Traceback" not in bad.stderr
    assert manifest(idx)["generation"] == before


def test_full_rebuild_rereads_every_root(folders):
    corpus, new, idx = folders
    assert kosearch(corpus, "--index-dir", idx).returncode == 0
    assert kosearch(new, "--index-dir", idx).returncode == 0
    ids = set(manifest(idx)["files"])
    # a user dictionary change forces a full rebuild; index only the second folder
    (corpus / "userdict.txt").write_text("스마트메디컬특구 NNP\n", encoding="utf-8")
    p = kosearch(new, "--index-dir", idx)
    assert p.returncode == 0, p.stderr
    assert "전체 재색인" in p.stderr
    assert set(manifest(idx)["files"]) == ids, "a full rebuild lost a remembered root"
    # no PATH: every remembered root
    p = kosearch("--index-dir", idx)
    assert p.returncode == 0 and "색인이 최신 상태입니다" in p.stdout, p.stdout + p.stderr


def test_single_file_is_its_own_root(tmp_path):
    d = tmp_path / "some"
    d.mkdir()
    for f in CORPUS.glob("00[0-2]_*.txt"):
        shutil.copy(f, d / f.name)
    idx = tmp_path / "index"
    p = kosearch(d / "000_bb8b9f25a68228af.txt", "--index-dir", idx)
    assert p.returncode == 0, p.stderr
    m = manifest(idx)
    assert list(m["files"]) == ["000_bb8b9f25a68228af.txt"]
    assert m["roots"][0]["path"].endswith("000_bb8b9f25a68228af.txt")
    from index.freshness import check
    from index.store import read_manifest

    fresh = check(read_manifest(idx), [tmp_path])
    assert fresh.changed == [], "neighbours of a file indexed alone were listed"
