"""How results are shown, in every form: JSON, CSV, Markdown brief and terminal text.

Everything here takes the JSON dicts of hits (``hit_dict``, the ``kosearch batch`` schema), so
the CLI, ``kosearch batch``, the API endpoint, the web app and its exports write the same thing,
and the app can keep plain JSON in its session state. A new output format goes here.

JSON of one question (``envelope``)::

    {"id": ..., "question": ..., "notices": [...], "results": [hit, ...], "answer": null | {...}}

``answer`` is reserved for a generated answer beside the ranked passages; it is ``null`` until a
caller passes one.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime

from index.textnorm import display_name, terminal_safe

CONFIDENCE_KO = {"high": "높음", "medium": "보통", "low": "낮음"}
NO_MATCH = "관련 내용을 찾지 못했습니다"
NO_MATCH_CLOSEST = f"{NO_MATCH}. 아래는 가장 가까운 구절이며 질문의 답이 아닐 수 있습니다."


# ---- JSON ---------------------------------------------------------------------------------------
def hit_dict(hit) -> dict:
    """The JSON schema of one hit (``Hit.to_dict``)."""
    from search.citations import source_fields

    return {"rank": hit.rank, "score": round(float(hit.score), 6), "confidence": hit.confidence,
            "text": hit.chunk.text, "citation": hit.citation, **source_fields(hit.chunk),
            "highlights": [list(h) for h in hit.highlights]}


NOT_FOUND = "보고서에서 찾지 못했습니다"
KIND_KO = {"amount": "금액", "count": "수", "date": "일정·기간", "place": "장소·기관·이름", "rate": "비율",
           "list": "목록", "comparison": "비교", "topic": "내용"}


def _answer_item(item, chunks: dict) -> dict:
    u = item.unit
    end = max(u.line, u.end_line or u.line)
    from search.answerer import unit_citation

    return {"text": item.text, "value": item.value, "kind": item.kind,
            "citation": unit_citation(u, chunks.get(u.chunk_id)),
            "source": {"file": u.file, "lines": [u.line, end], "page": u.page},
            "confidence": item.confidence, "reading": item.reading, "year": item.year,
            "highlight": list(item.span) if item.span else None,
            **({"label": item.label} if getattr(item, "label", None) else {})}


def answer_dict(result, answerer) -> dict | None:
    """The ``"answer"`` object: ``null`` when the reports do not say (the reason is a notice),
    else ``{"text", "value", "kind", "citation", "source": {"file", "lines", "page"}, "confidence",
    "items": [...]}``; ``items`` only for list and comparison answers, each with the same fields."""
    a = result.answer
    if a is None:
        return None
    chunks = answerer.chunks.many([x.unit.chunk_id for x in (a, *a.items)])   # one read for all items
    d = _answer_item(a, chunks)
    if a.kind in ("list", "comparison") or a.items:
        d["items"] = [_answer_item(i, chunks) for i in a.items]
    if a.note:
        d["note"] = a.note
    return d


def not_found_line(result) -> str | None:
    """The honest "not found" line of a question with no answer (None when there is one)."""
    if result is None or result.answer is not None:
        return None
    return (result.message or NOT_FOUND).rstrip(".") + "."


def answer_lines(answer: dict | None, message: str | None = None) -> list[str]:
    """The answer as terminal lines: value first, then its line and citation; items below."""
    if answer is None:
        return [f"답: {message or NOT_FOUND + '.'}"]
    head = f"답 ({KIND_KO.get(answer['kind'], answer['kind'])}, 신뢰도 {confidence_ko(answer['confidence'])}): "
    value = answer.get("value") or answer["text"]
    out = [head + value + (f" ({answer['reading']})" if answer.get("reading") else "")]
    if answer["kind"] != "list":
        out.append(f"    근거: {answer['text']}")
        out.append(f"    출처: {display_name(answer['citation'])}")
    if answer.get("note"):
        out.append(f"    {answer['note']}")
    for i, it in enumerate(answer.get("items") or [], 1):
        year = f"{it['label']} " if it.get("label") else \
            f"{it['year']}년 " if it.get("year") and answer["kind"] != "list" else ""
        reading = f" ({it['reading']})" if it.get("reading") else ""
        out.append(f"  {i}. {year}{it.get('value') or it['text']}{reading} · {display_name(it['citation'])}")
    return out


def question_id(question: str) -> str:
    """A stable id for a question that came without one (the API)."""
    return "q-" + hashlib.sha1(question.encode("utf-8")).hexdigest()[:12]


def envelope(question: str, results: list[dict], *, id: str | None = None, notices=(),
             answer: dict | None = None, answer_message: str | None = None) -> dict:
    """The JSON object of one question: batch line, API response and ``kosearch ask --json``.

    ``answer`` is null when the reports do not say; ``answer_message`` then says so in Korean."""
    return {"id": id if id is not None else question_id(question), "question": question,
            "notices": list(notices), "answer": answer, "answer_message": answer_message, "results": results}


def to_json(env: dict, *, indent: int | None = None) -> str:
    return json.dumps(env, ensure_ascii=False, indent=indent)


# ---- labels and the not-found rule --------------------------------------------------------------
def confidence_ko(level: str | None) -> str:
    """높음 | 보통 | 낮음 (anything unknown reads as 낮음)."""
    return CONFIDENCE_KO.get(level or "", CONFIDENCE_KO["low"])


def _level(r) -> str | None:
    return r.get("confidence") if isinstance(r, dict) else getattr(r, "confidence", None)


def all_low(results) -> bool:
    """True when nothing matched well: no results, or every one is low confidence (hits or dicts)."""
    return all(_level(r) == "low" for r in results)


# ---- CSV ----------------------------------------------------------------------------------------
# One schema for `kosearch batch --format csv` and the app's export: (key, Korean header).
CSV_COLUMNS = [("id", "번호"), ("question", "질문"), ("answer", "답"), ("answer_confidence", "답 신뢰도"), ("answer_citation", "답 출처"), ("rank", "순위"), ("score", "점수"), ("confidence", "신뢰도"),
               ("citation", "출처"), ("file", "파일"), ("lines", "행"), ("page", "쪽"), ("title", "보고서"),
               ("department", "부서"), ("year", "연도"), ("session", "회기"), ("chapter", "장"),
               ("programme", "사업"), ("team", "팀"), ("heading", "소항목"), ("text", "구절")]
CSV_HEADER = [label for _, label in CSV_COLUMNS]
CSV_BOM = "\ufeff"
# Spreadsheet programs run a cell that starts with one of these as a formula ("- 규모: …" becomes
# #NAME?, "=HYPERLINK(…)" becomes a link), also after leading spaces; a leading apostrophe keeps
# the cell text. U+FF1D is the full-width equals sign some spreadsheets also accept; leading
# spaces include the full-width U+3000 of Korean text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\n", "\r", "\uff1d")
LEADING_SPACES = " \u3000"


def csv_cell(value) -> str:
    if value is None:
        return ""
    s = str(value)
    return "'" + s if s.lstrip(LEADING_SPACES).startswith(FORMULA_START) else s


def answer_summary(answer: dict | None, message: str | None = None) -> str:
    """The answer in one cell: value (reading) · items, or the not-found line."""
    if answer is None:
        return message or NOT_FOUND + "."
    head = answer.get("value") or answer["text"]
    if answer.get("reading"):
        head += f" ({answer['reading']})"
    items = answer.get("items") or []
    if items and answer["kind"] != "list":
        head += " — " + "; ".join(f"{i.get('year') or ''} {i.get('value') or i['text']}".strip() for i in items)
    if answer.get("note"):
        head += f" ({answer['note']})"
    return head


def csv_rows(question: str, results: list[dict], *, id: str = "", answer: dict | None = None,
             answer_message: str | None = None) -> list[list[str]]:
    """One row per result, in ``CSV_COLUMNS`` order, every cell guarded; the answer repeats on
    each row of its question (a question with no results still gets one row)."""
    rows = []
    ans = {"answer": answer_summary(answer, answer_message),
           "answer_confidence": confidence_ko(answer["confidence"]) if answer else "",
           "answer_citation": answer["citation"] if answer else ""}
    if not results:
        empty = {k: "" for k, _ in CSV_COLUMNS}
        rows.append([csv_cell({**empty, "id": id, "question": question, **ans}[k]) for k, _ in CSV_COLUMNS])
    for r in results:
        src, doc, sec = r.get("source") or {}, r.get("document") or {}, r.get("section") or {}
        lines = src.get("lines") or []
        row = {"id": id, "question": question, "rank": r.get("rank"), "score": r.get("score"),
               "confidence": confidence_ko(r.get("confidence")), "citation": r.get("citation"),
               "file": src.get("file"), "lines": "-".join(str(x) for x in lines) if lines else "",
               "page": src.get("page"),
               **{k: doc.get(k) for k in ("title", "department", "year", "session")},
               **{k: sec.get(k) for k in ("chapter", "programme", "team", "heading")},
               "text": r.get("text"), **ans}
        rows.append([csv_cell(row[k]) for k, _ in CSV_COLUMNS])
    return rows


class CsvWriter:
    """Writes the CSV schema to a text stream: BOM and header first, then rows per question."""

    def __init__(self, fh):
        self._fh = fh
        self._w = csv.writer(fh, lineterminator="\r\n")
        fh.write(CSV_BOM)
        self._w.writerow(CSV_HEADER)

    def write(self, question: str, results: list[dict], *, id: str = "", answer: dict | None = None,
              answer_message: str | None = None) -> None:
        self._w.writerows(csv_rows(question, results, id=id, answer=answer, answer_message=answer_message))


def to_csv(question: str, results: list[dict], *, id: str = "", answer: dict | None = None,
           answer_message: str | None = None) -> str:
    """The CSV of one question, BOM included (Excel then reads the Korean): write it as UTF-8."""
    buf = io.StringIO()
    CsvWriter(buf).write(question, results, id=id, answer=answer, answer_message=answer_message)
    return buf.getvalue()


# ---- Markdown brief -----------------------------------------------------------------------------
def md_escape(text) -> str:
    """Keep user or report text from turning into Markdown structure or raw HTML."""
    return (str(text or "").replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("`", "\\`"))


def _quote(text: str) -> str:
    """A cited passage as a Markdown block quote: every line, escaped, never cut short."""
    lines = md_escape((text or "").strip()).splitlines()
    return "\n".join("> " + line if line.strip() else ">" for line in lines) or ">"


def to_markdown(question: str, results: list[dict], *, grouped: bool = False, filters: str = "",
                index_info: str = "", notices=(), now: datetime | None = None, answer: dict | None = None,
                answer_message: str | None = None) -> str:
    """A short brief: the question, each result's whole passage and its citation."""
    now = now or datetime.now()
    out = [f"# 검색 요약: {md_escape(question)}", "",
           f"- 작성: {now:%Y-%m-%d %H:%M}" + (f" · 색인: {md_escape(index_info)}" if index_info else ""),
           f"- 보기: {'사업별' if grouped else '구절별'}" + (f" · 필터: {md_escape(filters)}" if filters else "")]
    out += [f"- 알림: {md_escape(n)}" for n in notices]
    out.append("")
    out += ["## 답", ""]
    if answer is None:
        out += [f"**{md_escape(answer_message or NOT_FOUND + '.')}**", ""]
    else:
        out += [f"**{md_escape(answer_summary(answer))}** (신뢰도 {confidence_ko(answer['confidence'])})", "",
                _quote(answer["text"]), "", f"출처: {md_escape(answer['citation'])}", ""]
        for i in answer.get("items") or []:
            out.append(f"- {md_escape(str(i.get('year') or '') + ' ' + (i.get('value') or i['text'])).strip()}"
                       f" · {md_escape(i['citation'])}")
        out.append("")
    if not results:
        out += [f"**{NO_MATCH}.**", ""]
        return "\n".join(out)
    if all_low(results):
        out += [f"**{NO_MATCH}.** 아래는 가장 가까운 구절이며 질문에 대한 답이 아닐 수 있습니다.", ""]
    if grouped:
        out += ["## 관련 사업", ""]
        for r in results:
            sec, doc = r.get("section") or {}, r.get("document") or {}
            name = sec.get("programme") or sec.get("chapter") or "(사업명 없음)"
            meta = " · ".join(str(x) for x in (doc.get("year"), doc.get("department")) if x)
            out.append(f"{r['rank']}. {md_escape(name)}" + (f" ({md_escape(meta)})" if meta else ""))
        out.append("")
    out += ["## 근거 구절", ""]
    for r in results:
        out += [f"### {r['rank']}. 신뢰도 {confidence_ko(r.get('confidence'))}", "", _quote(r.get("text") or ""), "",
                f"출처: {md_escape(r.get('citation') or '')}", ""]
    return "\n".join(out)


# ---- terminal -----------------------------------------------------------------------------------
def to_text(results: list[dict], *, color: bool = False) -> str:
    """``kosearch ask`` output: the not-found line, then per result its label, citation and passage."""
    if not results:
        return f"{NO_MATCH}."
    out = []
    if all_low(results):
        out.append(f"{NO_MATCH}. 가장 가까운 구절입니다:\n")
    for r in results:
        text = r.get("text") or ""
        # report text is data: control sequences in it are removed (terminal_safe) before our colours go in
        if color:
            pieces, pos = [], 0
            for s, e in sorted(tuple(h) for h in r.get("highlights") or ()):
                s = max(s, pos)
                if e > s:
                    pieces += [terminal_safe(text[pos:s]), "\033[1;33m" + terminal_safe(text[s:e]) + "\033[0m"]
                    pos = e
            text = "".join(pieces) + terminal_safe(text[pos:])
        else:
            text = terminal_safe(text)
        out.append(f"[{r['rank']}] 신뢰도 {confidence_ko(r.get('confidence'))} · 점수 {r['score']:.3f}")
        out.append(f"    출처: {display_name(str(r.get('citation')))}")
        out.extend("    " + line for line in text.splitlines())
        out.append("")
    return "\n".join(out).rstrip()
