"""Outline of documents as JSON-ready dicts and as readable text (``kosearch outline``)."""
from __future__ import annotations

from index.model import Document, Skipped


def outline_dict(doc: Document) -> dict:
    m = doc.meta
    return {
        "file": doc.file, "path": doc.path, "format": doc.format,
        "title": m.title, "department": m.department, "year": m.year, "session": m.session,
        "session_dates": m.session_dates, "year_source": m.year_source,
        "chapters": [
            {"number": c.number, "title": c.title, "kind": c.kind, "lines": [c.start, c.end],
             "programmes": [
                 {"number": p.number, "title": p.title, "team": p.team, "title_source": p.title_source,
                  "lines": [p.start, p.end],
                  "sections": [{"heading": s.heading, "lines": [s.start, s.end]} for s in p.sections]}
                 for p in c.programmes]}
            for c in doc.chapters],
        "chunks": len(doc.chunks),
    }


def outline_json(docs: list[Document], skipped: list[Skipped]) -> dict:
    return {"documents": [outline_dict(d) for d in docs],
            "skipped": [{"file": s.file, "reason": s.reason} for s in skipped]}


def outline_text(doc: Document) -> str:
    m = doc.meta
    out = [f"📄 {doc.file}",
           f"   {m.title or '(제목 없음)'} · {m.department or '(부서 미상)'} · {m.year or '?'}년"
           + (f" · {m.session}" if m.session else "") + (f" ({m.session_dates})" if m.session_dates else "")]
    if m.year_source == "body dates":
        out.append("   (표지 없음: 연도는 본문 날짜에서 추정)")
    for c in doc.chapters:
        out.append(f"   {c.number or ''}. {c.title}  [{c.kind}]  {c.start}-{c.end}")
        for p in c.programmes:
            team = f" · {p.team}" if p.team else ""
            src = {"body": "본문", "contents": "목차", "none": "제목 없음"}.get(p.title_source, p.title_source)
            out.append(f"      {p.number or '-'} {p.title or '(제목 없음)'}{team}  ({src})  {p.start}-{p.end}")
            for s in p.sections:
                out.append(f"         {s.heading}  {s.start}-{s.end}")
    out.append(f"   청크 {len(doc.chunks)}개")
    return "\n".join(out)
