"""Results of one question as a CSV table or a short Markdown brief with citations.

Both take the ``Hit.to_dict()`` dicts (the ``kosearch batch`` JSON), so the web app can keep
plain JSON in its session state and export without the searcher.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

CSV_FIELDS = ["question", "rank", "score", "confidence", "citation", "file", "lines", "page",
              "title", "department", "year", "session", "chapter", "programme", "team", "heading", "text"]
CONFIDENCE_KO = {"high": "높음", "medium": "보통", "low": "낮음"}
NO_MATCH = "관련 내용을 찾지 못했습니다"
# Spreadsheet programs run a cell that starts with one of these as a formula ("- 규모: …" becomes
# #NAME?, "=HYPERLINK(…)" becomes a link); a leading apostrophe keeps the cell text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    s = str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def all_low(results: list[dict]) -> bool:
    """True when nothing matched well: no results, or every one is low confidence."""
    return all(r.get("confidence") == "low" for r in results)


def to_csv(question: str, results: list[dict]) -> str:
    """One row per result; UTF-8 text (write it with a BOM so Excel reads the Korean)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    w.writeheader()
    for r in results:
        src, doc, sec = r.get("source", {}), r.get("document", {}), r.get("section", {})
        lines = src.get("lines") or []
        row = {"question": question, "rank": r.get("rank"), "score": r.get("score"),
               "confidence": CONFIDENCE_KO.get(r.get("confidence"), r.get("confidence")),
               "citation": r.get("citation"), "file": src.get("file"),
               "lines": "-".join(str(x) for x in lines) if lines else "", "page": src.get("page"),
               **{k: doc.get(k) for k in ("title", "department", "year", "session")},
               **{k: sec.get(k) for k in ("chapter", "programme", "team", "heading")},
               "text": r.get("text")}
        w.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _quote(text: str, limit: int = 600) -> str:
    text = text.strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return "\n".join("> " + line if line.strip() else ">" for line in text.splitlines())


def _md_inline(text: str) -> str:
    """Keep user text from turning into Markdown structure or HTML in a brief."""
    return (text or "").replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\\`")


def to_markdown(question: str, results: list[dict], *, grouped: bool = False, filters: str = "",
                index_info: str = "", now: datetime | None = None) -> str:
    """A short brief: the question, each result's passage and its citation."""
    now = now or datetime.now()
    out = [f"# 검색 요약: {_md_inline(question)}", "",
           f"- 작성: {now:%Y-%m-%d %H:%M}" + (f" · 색인: {index_info}" if index_info else ""),
           f"- 보기: {'사업별' if grouped else '구절별'}" + (f" · 필터: {filters}" if filters else ""), ""]
    if not results:
        out += [f"**{NO_MATCH}.**", ""]
        return "\n".join(out)
    if all_low(results):
        out += [f"**{NO_MATCH}.** 아래는 가장 가까운 구절이며 질문에 대한 답이 아닐 수 있습니다.", ""]
    if grouped:
        out += ["## 관련 사업", ""]
        for r in results:
            sec, doc = r.get("section", {}), r.get("document", {})
            name = sec.get("programme") or sec.get("chapter") or "(사업명 없음)"
            meta = " · ".join(str(x) for x in (doc.get("year"), doc.get("department")) if x)
            out.append(f"{r['rank']}. {_md_inline(name)}" + (f" ({meta})" if meta else ""))
        out.append("")
    out += ["## 근거 구절", ""]
    for r in results:
        conf = CONFIDENCE_KO.get(r.get("confidence"), r.get("confidence"))
        out += [f"### {r['rank']}. 신뢰도 {conf}", "", _quote(r.get("text") or ""), "",
                f"출처: {_md_inline(r.get('citation') or '')}", ""]
    return "\n".join(out)
