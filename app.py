"""kosearch web app: search the council work reports from a browser (Gradio).

``python app.py`` or ``kosearch serve`` start it on http://127.0.0.1:7860. The index is opened
once at start (``Searcher.open`` + ``warmup``); every request reuses it.

UI only: HTML rendering (pure functions), ``Handlers`` (what each event does, through
``search.service.SearchService``; tests call it directly) and ``build_app`` (wiring components).
Result formats (JSON, CSV, Markdown) come from ``search.present``; limits from ``index.config``.
"""
from __future__ import annotations

import argparse
import atexit
import collections
import html
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

from index.config import DEFAULT_CORPUS_DIR, DEFAULT_INDEX_DIR, DEFAULT_TOP_K, KIND_LABELS, UI_MAX_TOP_K
from search.present import CONFIDENCE_KO, NO_MATCH, NO_MATCH_CLOSEST, all_low

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 2          # searches running at once (each holds the encoder / BM25 scratch memory)
QUEUE_SIZE = 64          # requests waiting beyond that; more get "queue is full"
SECTION_MAX_CHARS = 20_000
EXPORT_TTL_S = 3600
AUTH_ENV = "KOSEARCH_AUTH"
LOGIN_MAX_FAILURES = 5   # failed logins per client address ...
LOGIN_WINDOW_S = 60.0    # ... in this many seconds; more get 429 and a Korean message

EXAMPLES = [
    "외국인 환자를 대상으로 하는 사업은?",
    "2022년 의료관광 예산은?",
    "청년 거점공간은 언제 문을 여나?",
    "지역사회혁신계획 협치사업에 시 예산이 얼마나 내려오나?",
    "주민참여예산 운영 실적",
]
ALL = "전체"
KIND_CHOICES = [(ALL, "all")] + [(KIND_LABELS[k], k) for k in ("plan", "results", "new")]
VIEW_PASSAGES = "구절별 보기"
VIEW_PROGRAMMES = "사업별 보기"

log = logging.getLogger("kosearch.app")

CSS = """
#ks-results, #ks-status {
  --ks-text: #1f2328; --ks-muted: #6b7280; --ks-border: #d9dde3; --ks-card: #ffffff; --ks-card-low: #fafafa;
  --ks-section: #f8fafc; --ks-here: #e0ecff; --ks-mark: #fde68a; --ks-link: #1d4ed8;
  --ks-info-bg: #eef4ff; --ks-info-bd: #c7d7fe; --ks-info-fg: #1e3a8a;
  --ks-warn-bg: #fff7e6; --ks-warn-bd: #fcd9a0; --ks-warn-fg: #7a4b00;
  --ks-no-bg: #fdecec; --ks-no-bd: #f5b5b5; --ks-no-fg: #8a1c1c;
  --ks-high-bg: #dcfce7; --ks-high-fg: #166534; --ks-high-bd: #86efac;
  --ks-med-bg: #fef9c3; --ks-med-fg: #854d0e; --ks-med-bd: #fde047;
  --ks-low-bg: #f3f4f6; --ks-low-fg: #4b5563; --ks-low-bd: #d1d5db;
  --ks-btn-bg: #f9fafb; --ks-btn-hover: #e5e7eb;
}
.dark #ks-results, .dark #ks-status {
  --ks-text: #e5e7eb; --ks-muted: #9ca3af; --ks-border: #3f4652; --ks-card: #1f242c; --ks-card-low: #1a1e24;
  --ks-section: #14181d; --ks-here: #1e3a5f; --ks-mark: #8a6d0a; --ks-link: #93c5fd;
  --ks-info-bg: #172036; --ks-info-bd: #2c3e6b; --ks-info-fg: #c7d7fe;
  --ks-warn-bg: #2f2410; --ks-warn-bd: #6b5221; --ks-warn-fg: #fcd9a0;
  --ks-no-bg: #3a1616; --ks-no-bd: #7f2d2d; --ks-no-fg: #fecaca;
  --ks-high-bg: #123322; --ks-high-fg: #86efac; --ks-high-bd: #166534;
  --ks-med-bg: #3a3210; --ks-med-fg: #fde68a; --ks-med-bd: #854d0e;
  --ks-low-bg: #2a2f37; --ks-low-fg: #d1d5db; --ks-low-bd: #4b5563;
  --ks-btn-bg: #2a2f37; --ks-btn-hover: #3a404a;
}
#ks-results .ks-msg, #ks-status .ks-msg { border-radius: 8px; padding: 10px 14px; margin: 6px 0 12px; line-height: 1.5; }
#ks-results .ks-msg-info, #ks-status .ks-msg-info { background: var(--ks-info-bg); border: 1px solid var(--ks-info-bd); color: var(--ks-info-fg); }
#ks-results .ks-msg-warn, #ks-status .ks-msg-warn { background: var(--ks-warn-bg); border: 1px solid var(--ks-warn-bd); color: var(--ks-warn-fg); }
#ks-results .ks-msg-nomatch { background: var(--ks-no-bg); border: 1px solid var(--ks-no-bd); color: var(--ks-no-fg); font-weight: 600; }
#ks-results .ks-summary { color: var(--ks-muted); font-size: 0.92em; margin: 4px 0 10px; }
#ks-results .ks-summary b, #ks-results .ks-proglist li { color: var(--ks-text); }
#ks-results .ks-card { border: 1px solid var(--ks-border); border-radius: 10px; padding: 12px 14px; margin: 0 0 14px;
  background: var(--ks-card); color: var(--ks-text); box-shadow: 0 1px 2px rgba(0,0,0,.04); }
#ks-results .ks-card.ks-low { background: var(--ks-card-low); }
#ks-results .ks-head { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 8px; }
#ks-results .ks-rank, #ks-results .ks-title { font-weight: 700; color: var(--ks-text); }
#ks-results .ks-title { font-size: 1.02em; overflow-wrap: anywhere; }
#ks-results .ks-badge { border-radius: 999px; padding: 1px 10px; font-size: 0.85em; font-weight: 600; white-space: nowrap; }
#ks-results .ks-badge.high { background: var(--ks-high-bg); color: var(--ks-high-fg); border: 1px solid var(--ks-high-bd); }
#ks-results .ks-badge.medium { background: var(--ks-med-bg); color: var(--ks-med-fg); border: 1px solid var(--ks-med-bd); }
#ks-results .ks-badge.low { background: var(--ks-low-bg); color: var(--ks-low-fg); border: 1px solid var(--ks-low-bd); }
#ks-results .ks-score, #ks-results .ks-meta { color: var(--ks-muted); font-size: 0.85em; }
#ks-results .ks-score { white-space: nowrap; }
#ks-results .ks-meta { margin-top: 4px; overflow-wrap: anywhere; }
#ks-results .ks-passage, #ks-results .ks-section { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.95em;
  line-height: 1.55; max-width: 100%; overflow-x: auto; margin: 0; font-family: inherit; color: var(--ks-text); }
#ks-results mark { background: var(--ks-mark); color: inherit; padding: 0 1px; border-radius: 2px; }
#ks-results .ks-cite { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-top: 10px;
  padding-top: 8px; border-top: 1px dashed var(--ks-border); font-size: 0.88em; }
#ks-results .ks-cite-text { flex: 1 1 320px; overflow-wrap: anywhere; color: var(--ks-text); }
#ks-results .ks-answer { border: 2px solid var(--ks-low-bd); border-radius: 10px; padding: 12px 14px; margin: 0 0 14px; }
#ks-results .ks-answer-value { font-size: 1.25em; margin: 6px 0; }
#ks-results .ks-answer-line { margin: 4px 0; }
#ks-results .ks-answer-sub { opacity: .75; font-size: .9em; }
#ks-results .ks-copy { border: 1px solid var(--ks-low-bd); background: var(--ks-btn-bg); color: var(--ks-text);
  border-radius: 6px; padding: 3px 10px; cursor: pointer; font-size: 0.9em; white-space: nowrap; }
#ks-results .ks-copy:hover { background: var(--ks-btn-hover); }
#ks-results .ks-card details { margin-top: 8px; }
#ks-results .ks-card summary { cursor: pointer; color: var(--ks-link); font-size: 0.9em; }
#ks-results .ks-section { background: var(--ks-section); border-radius: 6px; padding: 8px 10px; margin-top: 6px;
  max-height: 420px; overflow-y: auto; }
#ks-results .ks-here { background: var(--ks-here); border-radius: 3px; }
#ks-results .ks-proglist { margin: 4px 0 14px 1.2em; padding: 0; }
#ks-results .ks-proglist li { margin: 2px 0; overflow-wrap: anywhere; }
#ks-status table { border-collapse: collapse; font-size: 0.9em; width: 100%; }
#ks-status td, #ks-status th { border-bottom: 1px solid var(--ks-border); padding: 3px 6px; text-align: left;
  overflow-wrap: anywhere; color: var(--ks-text); }
#ks-status .ks-changed td { color: var(--ks-warn-fg); font-weight: 600; }
@media (max-width: 640px) {
  #ks-results .ks-card { padding: 10px; }
  #ks-results .ks-passage, #ks-results .ks-section { font-size: 0.9em; }
}
"""

# Runs once when the results component mounts; one delegated listener serves every card.
COPY_JS = """
element.addEventListener('click', async (ev) => {
  const btn = ev.target.closest('button.ks-copy');
  if (!btn) return;
  ev.preventDefault();
  const text = btn.getAttribute('data-cite') || '';
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; }
  } catch (e) { ok = false; }
  if (!ok) {  // plain-http LAN address: not a secure context, fall back to a hidden textarea
    const ta = document.createElement('textarea');
    ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    ta.remove();
  }
  if (!btn.dataset.label) btn.dataset.label = btn.textContent;
  btn.textContent = ok ? '복사됨 ✓' : '복사 실패 — 출처를 직접 선택하세요';
  btn.classList.toggle('ks-copied', ok);
  setTimeout(() => { btn.textContent = btn.dataset.label; btn.classList.remove('ks-copied'); }, 1800);
});
"""


# ---- rendering (pure functions: no Gradio, easy to test) --------------------------------------
def esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def highlight_html(text: str, spans) -> str:
    """Escape ``text`` and wrap the character ``spans`` in <mark>; bad or overlapping spans are skipped."""
    out, pos = [], 0
    for span in sorted(tuple(s) for s in spans or ()):
        if len(span) != 2:
            continue
        s, e = int(span[0]), int(span[1])
        s, e = max(s, pos), min(e, len(text))
        if e <= s:
            continue
        out.append(esc(text[pos:s]))
        out.append("<mark>" + esc(text[s:e]) + "</mark>")
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def message_html(text: str, kind: str = "info") -> str:
    return f'<div class="ks-msg ks-msg-{kind}" role="status">{esc(text)}</div>'


def answer_html(answer: dict | None, message: str | None) -> str:
    """The answer card above the passages: the value highlighted, its line, citation and copy
    button; or the not-found line at the top when the reports do not say."""
    from search.present import KIND_KO, NOT_FOUND, answer_summary

    if answer is None:
        return (f'<div class="ks-answer ks-answer-none" role="status"><b>답:</b> '
                f'{esc(message or NOT_FOUND + ".")} <span class="ks-answer-sub">아래는 관련 구절이며 답이 아닐 수 있습니다.</span></div>')
    text = answer["text"]
    span = answer.get("highlight")
    line = (esc(text[:span[0]]) + "<mark>" + esc(text[span[0]:span[1]]) + "</mark>" + esc(text[span[1]:])
            if span else esc(text))
    items = "".join(f"<li>{esc(str(i.get('year') or '') + ' ' + (i.get('value') or i['text']))} "
                    f"<span class='ks-cite'>{esc(i['citation'])}</span></li>" for i in answer.get("items") or [])
    level = answer["confidence"]
    return (f'<div class="ks-answer" role="region" aria-label="답">'
            f'<div class="ks-answer-head"><b>답 ({esc(KIND_KO.get(answer["kind"], ""))})</b> '
            f'<span class="ks-badge {esc(level)}">신뢰도 {esc(CONFIDENCE_KO.get(level, ""))}</span></div>'
            f'<div class="ks-answer-value"><mark>{esc(answer_summary(answer))}</mark></div>'
            + (f'<div class="ks-answer-line">{line}</div>' if answer["kind"] != "list" else "")
            + (f"<ol class='ks-answer-items'>{items}</ol>" if items else "")
            + f'<div class="ks-cite">출처: {esc(answer["citation"])} '
            f'<button type="button" class="ks-copy" data-cite="{esc(answer["citation"])}" aria-label="답 출처 복사">출처 복사</button>'
            f"</div></div>")


def section_html(section: str, passage: str) -> str:
    """The whole subsection, escaped, with the passage itself tinted."""
    if len(section) > SECTION_MAX_CHARS:
        section = section[:SECTION_MAX_CHARS] + "\n… (생략)"
    i = section.find(passage) if passage else -1
    if i < 0:
        return esc(section)
    return (esc(section[:i]) + '<span class="ks-here">' + esc(passage) + "</span>"
            + esc(section[i + len(passage):]))


def _programme_title(chunk) -> str:
    from search.citations import programme_label

    return programme_label(chunk) or chunk.chapter or chunk.heading or chunk.file


def card_html(hit, context: tuple[str, str] | None, *, grouped: bool = False) -> str:
    """One result card; ``context`` is (expander label, surrounding text) or None."""
    c = hit.chunk
    conf = hit.confidence if hit.confidence in CONFIDENCE_KO else "low"
    title = _programme_title(c)
    if not grouped and c.heading and c.heading != c.programme:
        title = f"{title} · {c.heading}"
    meta = []
    if c.year:
        meta.append(f"{c.year}년")
    if c.chapter:
        meta.append(c.chapter)
    if c.team:
        meta.append(c.team)
    parts = [
        f'<article class="ks-card ks-{conf}" data-rank="{hit.rank}">',
        '<div class="ks-head">',
        f'<span class="ks-rank">{hit.rank}.</span>',
        f'<span class="ks-title">{esc(title)}</span>',
        f'<span class="ks-badge {conf}" title="검색 신뢰도">신뢰도 {CONFIDENCE_KO[conf]}</span>',
        f'<span class="ks-score">점수 {hit.score:.3f}</span>',
        "</div>",
        f'<div class="ks-passage">{highlight_html(c.text, hit.highlights)}</div>',
        '<div class="ks-cite">',
        f'<span class="ks-cite-text"><b>출처</b> {esc(hit.citation)}</span>',
        f'<button type="button" class="ks-copy" data-cite="{esc(hit.citation)}" '
        f'aria-label="출처 복사">출처 복사</button>',
        "</div>",
    ]
    if meta:
        parts.append(f'<div class="ks-meta">{esc(" · ".join(meta))}</div>')
    if context:
        label, text = context
        parts.append(f"<details><summary>{esc(label)}</summary>"
                     f'<div class="ks-section">{section_html(text, c.text)}</div></details>')
    parts.append("</article>")
    return "".join(parts)


def results_html(question: str, hits, contexts: list, *, grouped: bool = False,
                 notices=(), filters: str = "") -> str:
    out = ['<div class="ks-results">']
    for n in notices:
        out.append(message_html(n, "warn"))
    if not hits:
        out.append(message_html(f"{NO_MATCH}. 다른 낱말로 묻거나 필터를 풀어 보세요.", "nomatch"))
        out.append("</div>")
        return "".join(out)
    if all_low(hits):
        out.append(message_html(NO_MATCH_CLOSEST, "nomatch"))
    summary = f"질문 “{esc(question)}” · 결과 {len(hits)}건" + (f" · 필터: {esc(filters)}" if filters else "")
    out.append(f'<div class="ks-summary">{summary}</div>')
    if grouped:
        out.append(f'<div class="ks-summary"><b>관련 사업 {len(hits)}개</b></div><ol class="ks-proglist">')
        for h in hits:
            c = h.chunk
            meta = " · ".join(str(x) for x in (f"{c.year}년" if c.year else None, c.department) if x)
            out.append(f"<li>{esc(_programme_title(c))}"
                       f"{' <span class=ks-score>(' + esc(meta) + ')</span>' if meta else ''} "
                       f'<span class="ks-badge {h.confidence}">{CONFIDENCE_KO.get(h.confidence, "낮음")}</span></li>')
        out.append("</ol>")
    for h, ctx in zip(hits, contexts):
        out.append(card_html(h, ctx, grouped=grouped))
    out.append("</div>")
    return "".join(out)


def _fmt_created(created: str | None) -> str:
    if not created:
        return "알 수 없음"
    try:
        return datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z").astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created


def status_html(searcher, changed: list[tuple[str, str]], reload_error: str | None = None, *,
                outside: list[str] = (), roots: list = ()) -> str:
    st = searcher.stats()
    mode = "하이브리드 (BM25 + 구문 + 벡터)" if searcher.has_vectors else "BM25 + 구문 (벡터 없음)"
    rows = [("보고서", f"{st['files']}개"), ("청크(구절)", f"{st['chunks']}개"), ("모델", st["model"]),
            ("검색 방식", mode), ("색인 일시", _fmt_created(st.get("created"))), ("색인 위치", st["index_dir"])]
    out = ['<div class="ks-status">']
    if reload_error:
        out.append(message_html(f"새로 만든 색인을 열 수 없어 이전 색인으로 검색합니다: {reload_error}", "warn"))
    if changed:
        names = ", ".join(f"{n} ({why})" for n, why in changed)
        out.append(message_html(f"색인 뒤에 바뀐 파일이 있습니다: {names}. "
                                "`kosearch index corpus`로 다시 색인하면 앱을 다시 시작하지 않아도 새 색인으로 검색합니다.",
                                "warn"))
    elif not outside:
        out.append(message_html("색인한 파일이 모두 최신입니다.", "info"))
    if outside:
        where = ", ".join(str(r) for r in roots) or "(없음)"
        built = getattr(searcher.manifest, "root", "") or ""
        out.append(message_html(
            f"색인 기록의 파일 {len(outside)}개는 확인할 보고서 폴더({where}) 밖에 있어 바뀌었는지 확인하지 않았습니다. "
            f"보고서 폴더를 `kosearch serve --corpus 폴더`로 지정하세요"
            + (f" (이 색인은 {built}에서 만들었습니다)." if built else "."), "warn"))
    out.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>")
    changed_names = {n for n, _ in changed}
    out.append("<br><table><tr><th>파일</th><th>보고서</th><th>부서</th><th>연도</th><th>구절</th></tr>")
    for name, e in sorted(searcher.manifest.files.items()):
        cls = ' class="ks-changed"' if name in changed_names else ""
        out.append(f"<tr{cls}><td>{esc(name)}</td><td>{esc(e.title or '(표지 없음)')}</td>"
                   f"<td>{esc(e.department or '')}</td><td>{esc(e.year or '')}</td><td>{esc(e.chunks)}</td></tr>")
    out.append("</table></div>")
    return "".join(out)


# ---- app ---------------------------------------------------------------------------------------
def _choices(searcher) -> tuple[list[str], list[str]]:
    years = sorted({e.year for e in searcher.manifest.files.values() if e.year}, reverse=True)
    depts = sorted({e.department for e in searcher.manifest.files.values() if e.department})
    if not years:
        years = sorted({c.year for c in searcher.chunks if c.year}, reverse=True)
    if not depts:
        depts = sorted({c.department for c in searcher.chunks if c.department})
    return [ALL] + [str(y) for y in years], [ALL] + depts


def _filters(year, department, kind) -> tuple[dict, str]:
    f, desc = {}, []
    if year not in (None, "", ALL):
        try:
            f["year"] = int(year)
            desc.append(f"{int(year)}년")
        except (TypeError, ValueError):
            pass
    if department not in (None, "", ALL):
        f["department"] = str(department)
        desc.append(str(department))
    if kind not in (None, "", "all", ALL):
        f["chapter_kind"] = str(kind)
        desc.append(dict((v, k) for k, v in KIND_CHOICES).get(kind, str(kind)))
    return f, " · ".join(desc)


def _prune(root: Path, ttl: float = EXPORT_TTL_S) -> None:
    now = time.time()
    for d in root.iterdir() if root.is_dir() else ():
        try:
            if now - d.stat().st_mtime > ttl:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


class IndexState:
    """What the app derives from one opened index; replaced when the index on disk is rebuilt.

    ``roots``: the report folders the operator named (``--corpus``); the changed-files check looks
    only there, whatever paths the manifest records (index.freshness).
    """

    def __init__(self, searcher, roots=(DEFAULT_CORPUS_DIR,)):
        self.searcher = searcher
        self.roots = list(roots)
        self.outside: list[str] = []
        self.checked_roots: list = []
        stats = searcher.stats()
        self.info = f"{stats['files']}개 보고서 · {_fmt_created(stats.get('created'))}"
        self.choices = _choices(searcher)
        self._sections: dict[str, tuple[str, str] | None] = {}
        self._changed: list[tuple[str, str]] = []
        self._changed_at = 0.0
        self._lock = threading.Lock()
        self._programmes: dict[tuple, list] = {}
        for ch in searcher.chunks:
            if ch.programme_number is not None or ch.programme:
                self._programmes.setdefault((ch.file, ch.chapter_number, ch.programme_number, ch.programme),
                                            []).append(ch)

    def context_for(self, chunk) -> tuple[str, str] | None:
        """The whole subsection around a passage; where the passage is the whole subsection,
        the whole programme instead. Cached per chunk."""
        key = chunk.id
        if key not in self._sections:
            ctx = None
            try:
                section = self.searcher.section_text(chunk)
                if section.strip() != chunk.text.strip():
                    ctx = (f"소항목 전체 보기 ({chunk.heading or '소항목'})", section)
                else:
                    parts = self._programmes.get((chunk.file, chunk.chapter_number, chunk.programme_number,
                                                  chunk.programme), [])
                    if len(parts) > 1:
                        text = "\n".join(p.text for p in sorted(parts, key=lambda p: p.start_line))
                        ctx = (f"사업 전체 보기 ({_programme_title(chunk)})", text)
            except Exception:  # the expander is a nicety; never fail a search for it
                log.exception("context failed for %s", key)
            self._sections[key] = ctx
        return self._sections[key]

    def changed_files(self, max_age: float = 30.0) -> list[tuple[str, str]]:
        with self._lock:
            if time.time() - self._changed_at > max_age:
                from index.freshness import check

                try:
                    fresh = check(self.searcher.manifest, self.roots)
                    self._changed, self.outside, self.checked_roots = fresh.changed, fresh.outside, fresh.roots
                except OSError:
                    log.exception("changed_files failed")
                self._changed_at = time.time()
            return self._changed


class Handlers:
    """What each UI event and the API endpoint do; plain methods over a ``LiveSearcher``.

    Searching goes through ``SearchService`` (validate -> search -> present); the session state
    kept for export is the JSON envelope of ``search.present``.
    """

    def __init__(self, searcher, roots=(DEFAULT_CORPUS_DIR,)):
        from search.live import LiveSearcher
        from search.service import SearchService

        self.live = searcher if isinstance(searcher, LiveSearcher) else LiveSearcher(searcher)
        self.service = SearchService(self.live)
        self.roots = list(roots)
        self._state = IndexState(self.live.current, self.roots)
        self.export_root = Path(tempfile.mkdtemp(prefix="kosearch-export-"))
        atexit.register(shutil.rmtree, self.export_root, True)  # any normal exit (SIGTERM: see main)

    def current(self) -> IndexState:
        s = self.live.current
        if self._state.searcher is not s:
            self._state = IndexState(s, self.roots)
        return self._state

    def ui_search(self, question, year, department, kind, top_k, view):
        """Results page, session state for export, and a cleared download (it belonged to the last question)."""
        from search.service import USER_ERRORS

        grouped = view == VIEW_PROGRAMMES
        filters, desc = _filters(year, department, kind)
        try:
            k = max(1, min(UI_MAX_TOP_K, int(top_k or DEFAULT_TOP_K)))
        except (TypeError, ValueError):
            k = DEFAULT_TOP_K
        try:
            st = self.current()
            res = self.service.ask(question, top_k=k, group_by="programme" if grouped else None, **filters)
            page = results_html(res.question, res.hits, [st.context_for(h.chunk) for h in res.hits], grouped=grouped,
                                notices=res.notices, filters=desc)
            if not grouped:
                page = answer_html(res.answer, res.answer_message) + page
            state = {**res.to_dict(), "grouped": grouped, "filters": desc}
        except USER_ERRORS as exc:
            return message_html(str(exc), "warn"), None, None
        except Exception:
            log.exception("search failed for %r", str(question)[:80])
            return (message_html("검색 중 문제가 발생했습니다. 잠시 뒤 다시 시도하거나 관리자에게 알려 주세요.", "warn"),
                    None, None)
        return page, state, None

    def _export_path(self, suffix: str) -> Path:
        _prune(self.export_root)
        d = self.export_root / uuid.uuid4().hex
        d.mkdir(parents=True)
        return d / f"kosearch-{datetime.now():%Y%m%d-%H%M%S}{suffix}"

    def export_csv(self, state) -> str | None:
        """The CSV of the last results (search.present: BOM, Korean headers, formula guard); None without one."""
        from search import present

        if not state or "results" not in state:
            return None
        p = self._export_path(".csv")
        p.write_text(present.to_csv(state["question"], state["results"], id=state.get("id") or "",
                                    answer=state.get("answer"), answer_message=state.get("answer_message")),
                     encoding="utf-8")
        return str(p)

    def export_md(self, state) -> str | None:
        from search import present

        if not state or "results" not in state:
            return None
        p = self._export_path(".md")
        p.write_text(present.to_markdown(state["question"], state["results"], grouped=state.get("grouped", False),
                                         filters=state.get("filters", ""), index_info=self.current().info,
                                         notices=state.get("notices") or (), answer=state.get("answer"),
                                         answer_message=state.get("answer_message")), encoding="utf-8")
        return str(p)

    def status_now(self, max_age: float = 30.0) -> str:
        st = self.current()
        changed = st.changed_files(max_age)
        return status_html(st.searcher, changed, self.live.reload_error, outside=st.outside,
                           roots=st.checked_roots or st.roots)

    def api_search(self, question, top_k=DEFAULT_TOP_K, year=None, department=None, chapter_kind=None) -> str:
        """The ``search`` endpoint's JSON (a string); raises the service's errors."""
        from search import present

        self.current()  # follow a rebuilt index here too, so the state never holds a replaced one
        res = self.service.ask(question, top_k=top_k, year=year, department=department, chapter_kind=chapter_kind)
        return present.to_json(res.to_dict())


def build_app(searcher, roots=(DEFAULT_CORPUS_DIR,)):
    """The Gradio Blocks over an index (a ``Searcher`` or ``LiveSearcher``), wired to ``Handlers``.
    A rebuilt index is picked up on the next question. ``roots``: the report folders whose files
    the status panel compares with the index. Start it with :func:`launch` (login rate limit)."""
    import gradio as gr

    from search.service import USER_ERRORS

    h = Handlers(searcher, roots)

    def maybe_search(question, year, department, kind, top_k, view):
        """Filters and the view re-run the search, but only once there is a question."""
        if not (question or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        return h.ui_search(question, year, department, kind, top_k, view)

    def export(fn):
        def run(state):
            path = fn(state)
            if path is None:
                gr.Warning("먼저 검색하세요. 내보낼 결과가 없습니다.")
            return path
        return run

    def load_page():
        """On each page load: the index status, and filter choices of the index now in service."""
        years, depts = h.current().choices
        return h.status_now(), gr.update(choices=years), gr.update(choices=depts)

    def api_search(question: str, top_k: int = 5, year: int | None = None, department: str | None = None,
                   chapter_kind: str | None = None) -> str:
        """Search the reports. Returns one line of `kosearch batch` JSON:
        {"id", "question", "notices", "results", "answer"}.

        The JSON comes as a string: each result has ``source.path``, and gradio_client would take any
        dict with a "path" key for a file to download.

        Args:
            question: 질문 (최대 300자까지 검색)
            top_k: 결과 수 (1-50)
            year: 연도 필터, 예: 2022
            department: 부서 필터, 예: 비전협력과
            chapter_kind: 장 종류 필터: plan | results | new (계획 | 실적 | 신규)
        """
        try:
            return h.api_search(question, top_k, year, department, chapter_kind)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("api search failed")
            raise gr.Error("검색 중 문제가 발생했습니다.", print_exception=False) from None

    with gr.Blocks(title="kosearch · 주요업무보고 검색", analytics_enabled=False) as demo:
        gr.HTML(f"<style>{CSS}</style>", padding=False)
        gr.Markdown("## 주요업무보고 검색\n부서별 주요업무보고에서 질문과 관련된 구절을 찾아 출처와 함께 보여 줍니다.")
        question = gr.Textbox(label="질문", placeholder="예: 외국인 환자를 대상으로 하는 사업은?  (Enter로 검색)",
                              lines=1, max_lines=3, max_length=2000, autofocus=True, submit_btn="검색",
                              elem_id="ks-question")
        gr.Examples(EXAMPLES, inputs=question, label="예시 질문")
        with gr.Row():
            year_choices, dept_choices = h.current().choices
            year = gr.Dropdown(year_choices, value=ALL, label="연도", min_width=120, elem_id="ks-year")
            department = gr.Dropdown(dept_choices, value=ALL, label="부서", min_width=140, elem_id="ks-dept")
            kind = gr.Radio(KIND_CHOICES, value="all", label="장 종류", min_width=200, elem_id="ks-kind")
            top_k = gr.Slider(1, UI_MAX_TOP_K, value=5, step=1, label="결과 수", min_width=160, elem_id="ks-topk")
        view = gr.Radio([VIEW_PASSAGES, VIEW_PROGRAMMES], value=VIEW_PASSAGES, label="보기", elem_id="ks-view")
        results = gr.HTML(message_html("질문을 입력하고 Enter를 누르세요."), js_on_load=COPY_JS, elem_id="ks-results",
                          padding=False)
        last = gr.State(None)
        with gr.Accordion("결과 내보내기", open=False):
            with gr.Row():
                csv_btn = gr.Button("CSV 파일 만들기", size="sm", elem_id="ks-export-csv")
                md_btn = gr.Button("요약(Markdown) 만들기", size="sm", elem_id="ks-export-md")
            export_file = gr.File(label="내려받기", interactive=False, elem_id="ks-export-file")
        with gr.Accordion("색인 상태", open=False):
            status = gr.HTML(h.status_now(), elem_id="ks-status")
            refresh = gr.Button("상태 새로 고침", size="sm")

        inputs = [question, year, department, kind, top_k, view]
        common = dict(concurrency_limit=CONCURRENCY, concurrency_id="search", api_visibility="private")
        outputs = [results, last, export_file]
        gr.on([question.submit], h.ui_search, inputs, outputs, **common)
        gr.on([view.change, year.change, department.change, kind.change, top_k.release], maybe_search, inputs,
              outputs, trigger_mode="always_last", **common)
        csv_btn.click(export(h.export_csv), last, export_file, api_visibility="private")
        md_btn.click(export(h.export_md), last, export_file, api_visibility="private")
        refresh.click(lambda: h.status_now(max_age=0), None, status, api_visibility="private")
        demo.load(load_page, None, [status, year, department], api_visibility="private")
        gr.api(api_search, api_name="search", concurrency_limit=CONCURRENCY, concurrency_id="search")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.kosearch_export_dir = h.export_root  # for tests / cleanup
    demo.kosearch_handlers = h
    return demo


# ---- login rate limit --------------------------------------------------------------------------
class LoginLimiter:
    """ASGI middleware: at most ``max_failures`` failed ``POST /login`` per client address in
    ``window`` seconds; further attempts (right password or not) get 429 and a Korean message
    until the oldest failure leaves the window.

    Gradio calls a password check with no request, so the count is kept here, around its
    ``/login`` route, by ``request.client.host`` (behind a reverse proxy that is the proxy's
    address: every user then shares one budget). An attempt in flight holds a slot, so parallel
    guesses cannot overrun the limit; a successful login frees its slot.
    """

    MAX_ADDRESSES = 10_000  # addresses remembered at once (the oldest are forgotten first)

    def __init__(self, app, max_failures: int = LOGIN_MAX_FAILURES, window: float = LOGIN_WINDOW_S,
                 clock=time.monotonic):
        self.app, self.max_failures, self.window, self.clock = app, max_failures, window, clock
        self._failures: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def is_login(scope) -> bool:
        return (scope.get("type") == "http" and scope.get("method") == "POST"
                and scope.get("path", "").rstrip("/").endswith("/login"))

    def _take(self, host: str) -> tuple[float | None, float]:
        """Reserve a slot for one attempt: (its stamp, 0) or (None, seconds to wait)."""
        now = self.clock()
        with self._lock:
            q = self._failures.get(host)
            if q is None:
                q = self._failures[host] = collections.deque()
                while len(self._failures) > self.MAX_ADDRESSES:
                    self._failures.popitem(last=False)
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.max_failures:
                return None, max(1.0, self.window - (now - q[0]))
            q.append(now)
            self._failures.move_to_end(host)
            return now, 0.0

    def _release(self, host: str, stamp: float) -> None:
        with self._lock:
            q = self._failures.get(host)
            if q is not None:
                try:
                    q.remove(stamp)
                except ValueError:
                    pass
                if not q:
                    del self._failures[host]

    async def __call__(self, scope, receive, send):
        if not self.is_login(scope):
            return await self.app(scope, receive, send)
        host = (scope.get("client") or ("unknown", 0))[0] or "unknown"
        stamp, wait = self._take(host)
        if stamp is None:
            body = json.dumps({"detail": f"로그인 실패가 너무 많습니다. {int(wait + 0.999)}초 뒤에 다시 시도하세요."},
                              ensure_ascii=False).encode("utf-8")
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"retry-after", str(int(wait + 0.999)).encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        status = {"code": 500}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if 200 <= status["code"] < 400:
                self._release(host, stamp)  # logged in (or sent on): not a failure


def launch(demo, **kwargs):
    """``demo.launch`` with the login rate limit (:class:`LoginLimiter`) in front of Gradio's routes."""
    from starlette.middleware import Middleware

    app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(LoginLimiter)]
    return demo.launch(app_kwargs=app_kwargs, **kwargs)


# ---- command line ------------------------------------------------------------------------------
def parse_auth(value: str | None):
    """``user:pass`` or ``u1:p1,u2:p2`` → list of (user, pass); None when unset. ValueError when malformed."""
    if not value or not value.strip():
        return None
    pairs = []
    for item in value.split(","):
        user, sep, pw = item.strip().partition(":")
        if not sep or not user or not pw:
            raise ValueError(f"{AUTH_ENV}는 'user:pass' 또는 'u1:p1,u2:p2' 형식이어야 합니다")
        pairs.append((user, pw))
    return pairs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app.py", description="kosearch 웹 앱 (기본 http://127.0.0.1:7860)")
    p.add_argument("--host", default=DEFAULT_HOST, help="바인딩 주소 (기본 127.0.0.1, 다른 주소는 명시해야 함)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="포트 (기본 7860)")
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR, help=f"색인 위치 (기본 {DEFAULT_INDEX_DIR})")
    p.add_argument("--corpus", action="append", default=None, metavar="FOLDER",
                   help=f"보고서 폴더: 색인 상태가 바뀐 파일을 이 폴더 안에서만 찾음 (여러 번 가능, 기본 {DEFAULT_CORPUS_DIR})")
    return p


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so ``main`` closes the server and cleans up as on Ctrl+C."""


def open_searcher(index_dir: str | Path):
    """Open and warm the index; prints one line and returns None when it cannot."""
    from index.store import IndexStoreError, index_exists
    from search.searcher import Searcher

    index_dir = Path(index_dir)
    try:
        searcher = Searcher.open(index_dir)
        searcher.warmup()
    except IndexStoreError as exc:
        if not index_exists(index_dir):
            print(f"오류: 색인이 없습니다 ({index_dir}). 먼저 `kosearch index corpus --index-dir {index_dir}` "
                  "(또는 `make run`)을 실행하세요.", file=sys.stderr)
        else:
            print(f"오류: 색인을 열 수 없습니다: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # e.g. the encoder cannot load; one line, KOSEARCH_DEBUG=1 shows the traceback
        if os.environ.get("KOSEARCH_DEBUG"):
            raise
        print(f"오류: 색인 또는 모델을 불러오지 못했습니다 ({type(exc).__name__}: {exc}). "
              "KOSEARCH_DEBUG=1 로 다시 실행하면 자세한 내용이 나옵니다.", file=sys.stderr)
        return None
    return searcher


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kosearch").setLevel(logging.INFO)  # app and live-index messages
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        auth = parse_auth(os.environ.get(AUTH_ENV))
    except ValueError as exc:
        print(f"오류: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"오류: 포트 번호가 잘못되었습니다: {args.port}", file=sys.stderr)
        return 2
    searcher = open_searcher(args.index_dir)
    if searcher is None:
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1") and not auth:
        print(f"경고: {args.host}에 로그인 없이 공개합니다. {AUTH_ENV}='user:pass'로 로그인을 켤 수 있습니다.",
              file=sys.stderr)
    demo = build_app(searcher, args.corpus or [DEFAULT_CORPUS_DIR])

    def on_sigterm(signum, frame):
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)  # `kill`, systemd, docker stop: like Ctrl+C
    try:
        launch(demo, server_name=args.host, server_port=args.port, auth=auth,
               auth_message="kosearch 로그인" if auth else None, show_error=False, ssr_mode=False,
               footer_links=["api"], quiet=True, share=False, prevent_thread_lock=True)
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"kosearch 웹 앱: http://{shown}:{args.port}/ (보고서 {searcher.stats()['files']}개, "
              f"{'로그인 필요' if auth else '로그인 없음'}) · 끝내려면 Ctrl+C", flush=True)
        demo.block_thread()
    except OSError as exc:
        print(f"오류: {args.host}:{args.port}에서 시작할 수 없습니다 ({exc}). --port로 다른 포트를 지정하세요.",
              file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Terminated):
        print("kosearch 웹 앱을 끝냅니다.", file=sys.stderr, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        try:
            demo.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the export folder still goes
            log.debug("close failed", exc_info=True)
        shutil.rmtree(getattr(demo, "kosearch_export_dir", ""), ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
