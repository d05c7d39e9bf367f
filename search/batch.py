"""``kosearch batch``: many questions from .txt / .csv / .jsonl, results as JSONL or CSV."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Iterator

from index.config import MAX_QUESTIONS_FILE_BYTES
from search import present
from search.service import USER_ERRORS, SearchService

FORMATS = ("jsonl", "csv")


class BatchError(Exception):
    """The batch cannot run at all (missing or unreadable file)."""


def read_questions(path: str | Path) -> Iterator[tuple[str, str | None, str | None]]:
    """Yield (id, question, error) per input record; a bad record yields an error, not an exception."""
    p = Path(path)
    if not p.is_file():
        raise BatchError(f"질문 파일이 없습니다: {path}")
    if p.stat().st_size > MAX_QUESTIONS_FILE_BYTES:
        raise BatchError(f"질문 파일이 너무 큽니다 (최대 {MAX_QUESTIONS_FILE_BYTES // (1024 * 1024)} MiB): {path}")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = p.read_bytes().decode("cp949")
        except UnicodeDecodeError:
            raise BatchError(f"질문 파일을 읽을 수 없습니다 (UTF-8/CP949 아님): {path}") from None
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                yield str(n), None, f"{n}행: JSON이 아닙니다 ({exc})"
                continue
            q = rec.get("question")
            rid = str(rec.get("id", n))
            yield (rid, q, None) if isinstance(q, str) else (rid, None, f"{n}행: 'question' 필드가 없습니다")
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "question" not in [f.strip() for f in reader.fieldnames]:
            raise BatchError(f"CSV에 'question' 열이 없습니다: {path}")
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip(): v for k, v in row.items()}
            rid = (row.get("id") or "").strip() or str(n - 1)
            yield rid, row.get("question"), None
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield str(n), line, None


def run_batch(searcher, path: str | Path, *, top_k: int | None = None, fmt: str = "jsonl", out: str | None = None,
              mode: str | None = None, filters: dict | None = None) -> int:
    """Search every question; bad records are reported on stderr and skipped. Returns an exit code.

    ``searcher`` is a ``SearchService`` (or a ``Searcher``, wrapped in one). JSONL lines and CSV
    rows are written by search/present.py, the same schema as the API and the app's export.
    """
    service = searcher if isinstance(searcher, SearchService) else SearchService(searcher)
    if fmt not in FORMATS:
        raise BatchError(f"알 수 없는 출력 형식: {fmt} ({'|'.join(FORMATS)})")
    f = filters or {}
    try:  # a filter the index cannot match fails once, before any question, not once per line
        service.filters(year=f.get("year"), department=f.get("department"), chapter_kind=f.get("chapter_kind"))
    except USER_ERRORS as exc:
        raise BatchError(str(exc)) from None
    questions = read_questions(path)
    target = Path(out) if out else None
    tmp = target.with_name(target.name + ".part") if target else None
    fh = tmp.open("w", encoding="utf-8", newline="") if tmp else sys.stdout
    done = failed = 0
    try:
        writer = present.CsvWriter(fh) if fmt == "csv" else None
        for rid, question, error in questions:
            res = None
            if error is None:
                try:
                    res = service.ask(question or "", top_k=top_k, mode=mode, id=rid, **(filters or {}))
                except USER_ERRORS as exc:
                    error = f"id {rid}: {exc}"
            if error is not None:
                print(f"건너뜀: {error}", file=sys.stderr)
                failed += 1
                continue
            for n in res.notices:
                print(f"알림: id {rid}: {n}", file=sys.stderr)
            if writer:
                writer.write(res.question, res.results, id=rid, answer=res.answer, answer_message=res.answer_message)
            else:
                fh.write(present.to_json(res.to_dict()) + "\n")
            done += 1
    except BaseException:
        if tmp:
            fh.close()
            tmp.unlink(missing_ok=True)  # no half-written output left behind
        raise
    if tmp:
        fh.close()
        tmp.replace(target)
    print(f"일괄 검색 완료: {done}개 질문, 건너뜀 {failed}개" + (f" → {target}" if target else ""), file=sys.stderr)
    return 0 if done or not failed else 1
