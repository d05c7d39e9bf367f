"""Hostile-corpus run: every bad file through the real ``build``, one file at a time.

    python bench/bench_hostile.py [--no-big] [--model none]

Files: the format fixtures (tests/fixtures, ../shared/fixtures/formats), damaged copies of them
(truncated, scrambled), generated bad files (zip bombs, an encrypted and an image-only PDF, empty,
binary, NUL bytes, HTML with script payloads, a name with a newline and terminal escapes), a link
to /etc/passwd inside a corpus folder, a 1 MB single-line Korean file and a 50 MB Korean text file.
For each it prints the wall time of ``build``, what happened (indexed with N chunks, skipped and
why, capped) and the process's peak RSS during that build (VmHWM, reset before each file).

Embeddings go to a temporary cache (the model export is reused), so times are cold.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIXTURE_DIRS = [ROOT / "tests" / "fixtures", ROOT.parent / "shared" / "fixtures" / "formats"]

_WORDS = ("구청 주민 복지 예산 사업 추진 계획 실적 지원 확대 개선 운영 관리 조성 시설 교육 청년 일자리 문화 관광 의료 "
          "안전 환경 도시 재생 교통 주차 공원 녹지 보건 건강 아동 노인 장애인 가족 여성 지역 경제 기업 소상공인 시장 "
          "축제 행사 홍보 협력 국제 교류 정보 통신 디지털 스마트 행정 민원 서비스 개발 정비 점검 평가 조사 연구 용역").split()
_ENDS = ("을 추진함.", "를 확대한다.", " 사업을 운영하였다.", "에 대한 지원을 강화함.", " 계획을 수립함.", "의 성과를 점검한다.")


def korean_sentences(seed: int):
    """Endless distinct report-like Korean sentences (numbers make each one unique)."""
    rng = random.Random(seed)
    n = 0
    while True:
        n += 1
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 14)))
        yield f"{words} {n}건{rng.choice(_ENDS)}"


def write_one_line(path: Path, chars: int) -> None:
    """A file whose body is one line of ``chars`` characters (sentences separated by spaces)."""
    parts, size = [], 0
    for s in korean_sentences(1):
        if size >= chars:
            break
        parts.append(s)
        size += len(s) + 1
    path.write_text("긴 한 줄 시험 파일\n" + " ".join(parts) + "\n", encoding="utf-8")


def write_big_text(path: Path, nbytes: int) -> None:
    """A UTF-8 Korean text file of about ``nbytes`` bytes, paragraphs of ~5 sentences a line."""
    with path.open("w", encoding="utf-8") as fh:
        size, para = 0, []
        for s in korean_sentences(2):
            para.append(s)
            if len(para) == 5:
                line = " ".join(para) + "\n"
                fh.write(line)
                size += len(line.encode("utf-8"))
                para = []
                if size >= nbytes:
                    break


def _bomb(path: Path, kind: str, size: int = 64 * 1024 * 1024) -> None:
    member = "Contents/section0.xml" if kind == "hwpx" else "word/document.xml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if kind == "hwpx":
            zf.writestr("mimetype", "application/hwp+zip")
        else:
            zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(member, "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                fh.write(block)


def hostile_files(d: Path) -> list[Path]:
    """Write the generated bad files into ``d`` (one per case) and return them with the fixtures."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_readers import encrypted_pdf, image_only_pdf

    d.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    seen: set[str] = set()
    for fd in FIXTURE_DIRS:
        for f in sorted(fd.glob("*")) if fd.is_dir() else []:
            if f.is_file() and f.suffix.lower() in (".pdf", ".hwp", ".hwpx", ".docx", ".txt") and f.name not in seen:
                seen.add(f.name)
                out.append(f)
    for f in list(out):
        data = f.read_bytes()
        cut = d / f"truncated_{f.name}"
        cut.write_bytes(data[: len(data) // 2])
        bad = bytearray(data)
        for i in range(16, len(bad), 7):
            bad[i] = (bad[i] * 31 + 17) & 0xFF
        scr = d / f"scrambled_{f.name}"
        scr.write_bytes(bytes(bad))
        out += [cut, scr]
    for kind in ("hwpx", "docx"):
        p = d / f"zipbomb.{kind}"
        _bomb(p, kind)
        out.append(p)
    cases = {
        "encrypted.pdf": encrypted_pdf(),
        "scanned.pdf": image_only_pdf(),
        "empty.txt": b"",
        "binary.txt": bytes(range(256)) * 64,
        "nul.txt": "보고서".encode() + b"\x00" * 100,
        "not_a_pdf.pdf": b"%PDF-1.7\n" + os.urandom(4096),
        "html_payload.txt": ("□ 사업개요\n<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>\n"
                             "<br>&lt;img src=x onerror=alert(1)&gt; 예산 1억원\n").encode(),
        "terminal\n\x1b]0;pwned\x07\x1b[2J.txt": "□ 사업개요\n제목 \x1b]0;x\x07\x1b[2J 본문 예산\n".encode(),
    }
    for name, data in cases.items():
        p = d / name
        p.write_bytes(data)
        out.append(p)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "not a document")
    (d / "unknown_zip.docx").write_bytes(buf.getvalue())
    out.append(d / "unknown_zip.docx")
    return out


def vm_hwm_mb() -> float:
    """Peak RSS of this process since the last reset (Linux VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # peak then counts from the start of the run


def run_one(target: Path, label: str, tmp: Path, model, models) -> None:
    from index.build import build
    from index.textnorm import display_name

    idx = tmp / "idx"
    shutil.rmtree(idx, ignore_errors=True)
    before = vm_rss_mb()
    reset_peak()
    t, cpu = time.perf_counter(), time.process_time()
    try:
        rep = build([target], idx, model=model, models=models)
        what = f"색인 {rep.chunks}개 구절"
        why = [n.split(": ", 1)[-1] for n in rep.notices]
        why += [f"건너뜀 {display_name(Path(s.file).name)}: {s.reason}" for s in rep.skipped]
    except Exception as exc:  # the only file skipped: "nothing to index: ... (name: reason)"
        msg = str(exc)
        what = "건너뜀"
        why = [msg[msg.index(" (") + 2:-1] if msg.startswith("nothing to index") and " (" in msg
               else f"{type(exc).__name__}: {msg}"]
    dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"{display_name(label)[:48]:48s} {dt:6.1f} s (cpu {cpu:5.1f} s) {vm_hwm_mb():6.0f} MB (before {before:4.0f})  {what}"
          + "".join(f" · {w}" for w in why), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="for the two big files (default: the bundled e5 model); "
                    "'none' for BM25 only. The other files are built BM25-only: what matters there is the skip")
    ap.add_argument("--no-big", action="store_true", help="skip the 1 MB-line and 50 MB files")
    ap.add_argument("--big-mb", type=int, default=50)
    args = ap.parse_args(argv)

    from index.config import DEFAULT_MODEL
    from index.files import kosearch_home
    from index.models import ModelRegistry

    model = args.model or DEFAULT_MODEL
    real_home = kosearch_home()
    with tempfile.TemporaryDirectory(prefix="kosearch-hostile-") as d:
        tmp = Path(d)
        home = tmp / "home"
        home.mkdir()
        if (real_home / "models").is_dir():  # reuse the model export, not the embedding cache
            (home / "models").symlink_to(real_home / "models")
        os.environ["KOSEARCH_HOME"] = str(home)
        models = ModelRegistry()
        t = time.perf_counter()
        if model.lower() not in ("none", "bm25", ""):
            models.encoder(model).dim
        models.tokenizer().kiwi  # load kiwi before timing files
        print(f"hostile corpus (BM25-only builds; the 1 MB-line and {args.big_mb} MB files with {model}, loaded "
              f"in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n"
              "per file: build wall time (CPU time of this process: all threads), peak RSS during it (RSS before), "
              "outcome", flush=True)
        for f in hostile_files(tmp / "bad"):
            run_one(f, f.name, tmp, "none", models)

        linkdir = tmp / "linked"
        linkdir.mkdir()
        shutil.copy(ROOT / "corpus" / sorted(p.name for p in (ROOT / "corpus").glob("0*.txt"))[0], linkdir / "report.txt")
        (linkdir / "passwd.txt").symlink_to("/etc/passwd")
        run_one(linkdir, "folder with link to /etc/passwd", tmp, "none", models)

        if not args.no_big:
            line = tmp / "big" / "one_line_1mb.txt"
            line.parent.mkdir()
            write_one_line(line, 1_000_000)
            run_one(line, f"{line.name} ({line.stat().st_size / 1e6:.1f} MB, one line)", tmp, model, models)
            line.unlink()
            big = tmp / "big" / f"korean_{args.big_mb}mb.txt"
            t = time.perf_counter()
            write_big_text(big, args.big_mb * 1_000_000)
            gen = time.perf_counter() - t
            run_one(big, f"{big.name} ({big.stat().st_size / 1e6:.0f} MB, made in {gen:.0f} s)", tmp, model, models)
    import resource

    print(f"hostile corpus: peak RSS of the whole run {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
