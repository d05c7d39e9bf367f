"""Issue 18 (build throughput): ``kosearch index --workers N`` reads, parses, chunks and kiwi-analyses
in worker processes and yields exactly the index one process builds; ``--device`` picks where the
encoder runs. BM25-only builds (``model="none"``) keep these fast."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from index import config
from index.build import build
from index.tokens import TokenizerConfig
from index.workers import FileLoader, load_file

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared" / "fixtures" / "formats"


def fixture(name: str) -> Path:
    """A real document from ../shared/fixtures (else its copy in tests/fixtures)."""
    for d in (SHARED, SHARED / "generated", ROOT / "tests" / "fixtures"):
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(name)


def manifest(index_dir: Path) -> dict:
    """The manifest without what differs between any two builds (times)."""
    m = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    m.pop("created")
    for entry in m["files"].values():
        entry.pop("indexed")
    return m


def chunk_rows(index_dir: Path) -> list[tuple]:
    with sqlite3.connect(index_dir / "store.sqlite") as db:
        return db.execute("SELECT row, id, data FROM chunks ORDER BY row").fetchall()


def lexicon(index_dir: Path) -> list:
    """Each chunk's kiwi terms and term pairs, as the writer stored them."""
    return [json.loads(line) for line in (index_dir / "lexicon.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_same_index(a: Path, b: Path) -> None:
    assert chunk_rows(a) == chunk_rows(b)
    assert lexicon(a) == lexicon(b)
    assert manifest(a) == manifest(b)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name != "manifest.json")
    for rel in files:  # postings, columns, chunk store: byte for byte
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def twice(paths, tmp_path, **kw):
    """The same build with one worker and with two: (report, index dir, on_file calls, log) each."""
    out = []
    for n in (1, 2):
        calls, logs = [], []
        rep = build(paths, tmp_path / f"idx{n}", model="none", workers=n, log=logs.append,
                    on_file=lambda done, total, name: calls.append((done, total, name)), **kw)
        out.append((rep, tmp_path / f"idx{n}", calls, logs))
    return out


def same_report(r1, r2) -> None:
    for field in ("added", "changed", "removed", "unchanged", "excluded", "notices", "why", "chunks", "roots"):
        assert getattr(r1, field) == getattr(r2, field), field
    assert [(s.file, s.reason) for s in r1.skipped] == [(s.file, s.reason) for s in r2.skipped]


def test_two_workers_build_the_same_index_as_one_then_the_same_update(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (one, d1, calls1, logs1), (two, d2, calls2, logs2) = twice([corpus], tmp_path)
    assert len(one.added) == 5 and one.chunks > 50
    same_report(one, two)
    assert_same_index(d1, d2)
    assert calls1 == calls2 and [c[0] for c in calls1] == list(range(5))   # progress as before
    assert not logs1 and logs2 == ["작업 프로세스 2개로 읽음 (새로 읽은 파일 5개)"]

    # an incremental update: one file changed, one new, one gone, one only touched
    changed = corpus / "001_d2cafe401e804f46.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n□ 추가 사업\n ㅇ 청년 일자리 확대 추진\n", encoding="utf-8")
    (corpus / "new").mkdir()
    shutil.copy(fixture("report_ko.docx"), corpus / "new" / "report.docx")
    (corpus / "004_0c03f9222fb96e53.txt").unlink()
    touched = corpus / "000_bb8b9f25a68228af.txt"
    touched.write_bytes(touched.read_bytes())
    (one, d1, _, _), (two, d2, _, logs2) = twice([corpus], tmp_path)
    assert one.changed == ["001_d2cafe401e804f46.txt"] and one.added == ["new/report.docx"]
    assert one.removed == ["004_0c03f9222fb96e53.txt"] and "000_bb8b9f25a68228af.txt" in one.unchanged
    same_report(one, two)
    assert_same_index(d1, d2)
    assert logs2 == ["작업 프로세스 2개로 읽음 (새로 읽은 파일 2개)"]


def hostile_folder(tmp_path: Path) -> Path:
    """Two corpus reports beside real files made bad: cut in half, scrambled, empty, a zip of nothing."""
    import zipfile

    d = tmp_path / "reports"
    d.mkdir()
    for name in ("000_bb8b9f25a68228af.txt", "003_1119614ba66d37cc.txt"):
        shutil.copy(CORPUS / name, d / name)
    hwp = fixture("hwp_nikl_2022_work_plan.hwp").read_bytes()
    (d / "cut.hwp").write_bytes(hwp[: len(hwp) // 2])
    pdf = bytearray(fixture("pdf_moef_fdi_2025q2_press_hancom.pdf").read_bytes())
    for i in range(16, len(pdf), 7):
        pdf[i] = (pdf[i] * 31 + 17) & 0xFF
    (d / "scrambled.pdf").write_bytes(bytes(pdf))
    (d / "empty.hwp").write_bytes(b"")
    with zipfile.ZipFile(d / "nothing.hwpx", "w") as zf:
        zf.writestr("hello.txt", "hi")
    return d


def test_bad_files_in_workers_are_skipped_with_the_same_reasons(tmp_path, monkeypatch):
    folder = hostile_folder(tmp_path)
    monkeypatch.setattr(config, "MAX_FILE_CHARS", 3_000)   # the workers must see the caller's limits too
    (one, d1, _, _), (two, d2, _, logs2) = twice([folder], tmp_path)
    assert {Path(s.file).name for s in one.skipped} == {"cut.hwp", "scrambled.pdf", "empty.hwp", "nothing.hwpx"}
    assert all(s.reason and "\n" not in s.reason for s in one.skipped)
    assert len(one.notices) == 2 and "앞 3,000자만 색인함" in one.notices[0]
    same_report(one, two)
    assert_same_index(d1, d2)
    assert logs2 == ["작업 프로세스 2개로 읽음 (새로 읽은 파일 2개)"]


def test_a_file_read_in_a_worker_gives_what_it_gives_here(tmp_path):
    folder = hostile_folder(tmp_path)
    jobs = [(folder / n, n) for n in ("cut.hwp", "000_bb8b9f25a68228af.txt", "empty.hwp")]
    with FileLoader(2) as loader:
        loader.prefetch(jobs, TokenizerConfig())
        assert loader.processes == 2
        got = [loader.load(p, n) for p, n in jobs]
    for (p, n), (doc, why) in zip(jobs, got):
        here, why_here = load_file(p, n)
        assert why == why_here
        assert (doc is None) == (here is None)
        if doc is not None:
            assert [c.id for c in doc.chunks] == [c.id for c in here.chunks]
    assert list(loader.analysed) == ["000_bb8b9f25a68228af.txt"]      # kiwi ran in the worker
    with FileLoader(4) as loader:
        loader.prefetch(jobs[:1], TokenizerConfig())                   # one file: no pool for it
        assert loader.processes == 0 and loader.load(*jobs[0])[1] == load_file(*jobs[0])[1]


@pytest.mark.parametrize("value", ["0", "-1", "x", "2.5", str((os.cpu_count() or 1) * config.MAX_WORKERS_PER_CPU + 1)])
def test_bad_workers_is_one_korean_line(value, tmp_path, capsys):
    import cli

    assert cli.main(["index", str(CORPUS), "--index-dir", str(tmp_path / "i"), "--model", "none", "-q",
                     f"--workers={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers" in err and "정수" in err and "Traceback" not in err
    assert not (tmp_path / "i").exists()


def test_workers_and_device_settings():
    assert config.validate_workers(None) == config.DEFAULT_WORKERS == 1
    assert config.validate_workers("2") == config.validate_workers(2) == 2
    for bad in (0, -1, "x", "", True, 2.5, 10_000):
        with pytest.raises(config.SettingError):
            config.validate_workers(bad)
    assert config.validate_device(None) == config.DEFAULT_DEVICE == "cpu"
    assert config.validate_device("CUDA") == "cuda"
    with pytest.raises(config.SettingError):
        config.validate_device("gpu")
    assert config.device_precision("cpu", None) is None and config.device_precision("cpu", "int8") == "int8"
    assert config.device_precision("cuda", None) == "fp32" == config.device_precision("cuda", "fp32")
    with pytest.raises(config.SettingError, match="CPU 전용"):
        config.device_precision("cuda", "int8")


def test_registry_keeps_one_encoder_per_device():
    from index.models import ModelRegistry

    reg = ModelRegistry()
    gpu = reg.encoder("bundled:multilingual-e5-small", "fp32", "cuda")   # nothing loads until it encodes
    assert gpu.device == "cuda" and gpu is reg.encoder("bundled:multilingual-e5-small", "fp32", "cuda")
    assert reg.encoder("bundled:multilingual-e5-small", "fp32").device == "cpu"


def _cli_lines(capsys, *args) -> tuple[int, list[str]]:
    import cli

    rc = cli.main(["index", str(CORPUS), "-q", *args])
    return rc, capsys.readouterr().err.splitlines()


def test_int8_with_cuda_is_one_korean_line(tmp_path, capsys):
    rc, err = _cli_lines(capsys, "--index-dir", str(tmp_path / "i"), "--device", "cuda", "--precision", "int8")
    assert rc == 2 and len(err) == 1 and "CPU 전용" in err[0]
    rc, err = _cli_lines(capsys, "--index-dir", str(tmp_path / "i"), "--device", "gpu")
    assert rc == 2 and len(err) == 1 and "--device" in err[0]
    assert not (tmp_path / "i").exists()


def test_cuda_without_a_gpu_is_one_korean_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, err = _cli_lines(capsys, "--index-dir", str(tmp_path / "i"), "--device", "cuda")
    assert rc == 2 and len(err) == 1 and "CUDA" in err[0] and "--device cpu" in err[0]
    assert not (tmp_path / "i").exists()


def test_a_broken_pool_reads_the_rest_here(tmp_path):
    import signal

    folder = hostile_folder(tmp_path)
    jobs = [(folder / n, n) for n in ("000_bb8b9f25a68228af.txt", "cut.hwp", "003_1119614ba66d37cc.txt")]
    with FileLoader(2) as loader:
        loader.prefetch(jobs, TokenizerConfig())
        for proc in list(loader._pool._processes.values()):   # workers killed while they load kiwi
            os.kill(proc.pid, signal.SIGKILL)
        got = [loader.load(p, n) for p, n in jobs]
    assert loader.fallbacks == 3 and not loader.analysed
    assert "3개는 이 프로세스에서 읽음" in loader.summary(2)
    for (p, n), (doc, why) in zip(jobs, got):
        here, why_here = load_file(p, n)
        assert why == why_here and (doc is None) == (here is None)
        if doc is not None:
            assert [c.id for c in doc.chunks] == [c.id for c in here.chunks]


def test_no_processes_to_be_had_reads_here_and_says_so(tmp_path, monkeypatch):
    import index.workers

    def refuse():
        raise OSError("no /dev/shm")

    monkeypatch.setattr(index.workers, "_context", refuse)
    logs: list[str] = []
    rep = build([CORPUS], tmp_path / "idx", model="none", workers=2, log=logs.append)
    assert len(rep.added) == 5 and not rep.skipped
    assert logs == ["작업 프로세스를 시작하지 못해 한 프로세스로 읽음 (OSError: no /dev/shm)"]
