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
from index.config import MAX_UPLOAD_BYTES
from search.present import CONFIDENCE_KO, NO_MATCH, NO_MATCH_CLOSEST, all_low

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 2          # searches running at once (each holds the encoder / BM25 scratch memory)
QUEUE_SIZE = 64          # requests waiting beyond that; more get "queue is full"
SECTION_MAX_CHARS = 20_000
EXPORT_TTL_S = 3600
COMPACT_LINES = 2        # a compact passage shows this many lines either side of its first highlight
FACET_TOP_K = 50         # facet counts: this question's top results (above 낮음) per year, department, kind
AUTH_ENV = "KOSEARCH_AUTH"
ADMIN_ENV = "KOSEARCH_ADMIN"          # 보고서 관리: who may upload and remove (index.manage.ManagePolicy)
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
#ks-results, #ks-status, #ks-viewer, #ks-recent {
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
.dark #ks-results, .dark #ks-status, .dark #ks-viewer, .dark #ks-recent {
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
#ks-results .ks-more, #ks-results .ks-open { border: 1px solid var(--ks-low-bd); background: var(--ks-btn-bg);
  color: var(--ks-link); border-radius: 6px; padding: 2px 10px; cursor: pointer; font-size: 0.88em; white-space: nowrap; }
#ks-results .ks-more { margin-top: 4px; }
#ks-results .ks-more:hover, #ks-results .ks-open:hover { background: var(--ks-btn-hover); }
#ks-results .ks-elided { color: var(--ks-muted); }
#ks-results .ks-answer { margin-top: 4px; }
#ks-results .ks-answer-items .ks-open { margin-left: 6px; padding: 0 8px; }
.ks-title-line { margin: 0 0 2px; font-size: 1.05em; }
.ks-title-line b { font-size: 1.15em; }
.ks-title-line span { opacity: .7; font-size: 0.9em; margin-left: 8px; }
#ks-filters { gap: 8px; }
#ks-filters > * { min-width: 0; }
.ks-hidden { display: none !important; }
#ks-recent .ks-recent-head { display: flex; justify-content: space-between; align-items: center; font-weight: 600;
  color: var(--ks-text); margin-bottom: 4px; }
#ks-recent ol { margin: 0; padding: 0 0 0 1.3em; }
#ks-recent li { margin: 2px 0; overflow-wrap: anywhere; font-size: 0.92em; }
#ks-recent a { color: var(--ks-link); text-decoration: none; }
#ks-recent a:hover { text-decoration: underline; }
#ks-recent .ks-recent-f { color: var(--ks-muted); font-size: 0.85em; }
#ks-recent .ks-recent-none { color: var(--ks-muted); font-size: 0.9em; }
#ks-recent button { border: 0; background: none; color: var(--ks-muted); cursor: pointer; font-size: 0.85em; }
#ks-viewer .ks-modal { position: fixed; inset: 0; z-index: 1000; background: rgba(15, 23, 42, .55);
  display: flex; align-items: center; justify-content: center; padding: 16px; }
#ks-viewer .ks-modal-box { background: var(--ks-card); color: var(--ks-text); border-radius: 10px; width: min(1040px, 100%);
  max-height: calc(100vh - 32px); display: flex; flex-direction: column; box-shadow: 0 10px 40px rgba(0,0,0,.35); }
#ks-viewer .ks-modal-head { display: flex; gap: 8px 12px; align-items: center; flex-wrap: wrap; padding: 10px 14px;
  border-bottom: 1px solid var(--ks-border); }
#ks-viewer .ks-modal-where { flex: 1 1 300px; overflow-wrap: anywhere; font-size: .92em; }
#ks-viewer .ks-modal-close { border: 1px solid var(--ks-low-bd); background: var(--ks-btn-bg); color: var(--ks-text);
  border-radius: 6px; padding: 3px 12px; cursor: pointer; }
#ks-viewer .ks-modal-body { position: relative; overflow: auto; padding: 10px 14px; }
#ks-viewer .ks-modal-note { color: var(--ks-muted); font-size: .88em; margin: 0 0 6px; }
#ks-viewer img.ks-page { display: block; width: 100%; height: auto; border: 1px solid var(--ks-border); }
#ks-viewer .ks-lines { font-size: .93em; line-height: 1.55; }
#ks-viewer .ks-line { display: flex; gap: 10px; white-space: pre-wrap; overflow-wrap: anywhere; padding: 0 4px; }
#ks-viewer .ks-ln { flex: 0 0 3.5em; text-align: right; color: var(--ks-muted); user-select: none; }
#ks-viewer .ks-line.ks-cited { background: var(--ks-mark); }
#ks-viewer .ks-line.ks-cited .ks-ln { color: var(--ks-text); font-weight: 700; }
@media (max-width: 640px) {
  #ks-results .ks-card { padding: 10px; }
  #ks-results .ks-passage, #ks-results .ks-section { font-size: 0.9em; }
}
"""

# Runs once when the results component mounts; one delegated listener serves every card.
COPY_JS = """
element.addEventListener('click', async (ev) => {
  const more = ev.target.closest('button.ks-more');
  if (more) {  // 더 보기 / 접기: the whole passage in place of the lines around the match
    const box = more.previousElementSibling;
    const open = more.getAttribute('aria-expanded') !== 'true';
    box.querySelector('.ks-short').hidden = open;
    box.querySelector('.ks-full').hidden = !open;
    more.setAttribute('aria-expanded', open ? 'true' : 'false');
    more.textContent = open ? '접기' : more.dataset.more;
    return;
  }
  const src = ev.target.closest('button.ks-open');
  if (src) {  // 원문 보기: the server checks the file is one the index holds (Handlers.ui_view)
    ev.preventDefault();
    trigger('click', {file: src.dataset.file || '', a: src.dataset.a || '', b: src.dataset.b || '',
                      page: src.dataset.page || ''});
    return;
  }
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

# Runs once when the viewer mounts: scroll the cited part into view on each new source; close it.
VIEWER_JS = """
const place = () => {
  const m = element.querySelector('.ks-modal');
  if (!m || m.dataset.placed) return;
  m.dataset.placed = '1';
  const body = m.querySelector('.ks-modal-body');
  const img = m.querySelector('img.ks-page');
  const go = () => {
    if (img) {
      const s = img.clientWidth / (img.naturalWidth || 1);
      body.scrollTop = Math.max(0, parseFloat(img.dataset.top || '0') * s - 60);
    } else {
      const c = m.querySelector('.ks-cited');
      if (c) body.scrollTop = Math.max(0, c.offsetTop - 60);
    }
  };
  if (img && !img.complete) img.addEventListener('load', go, {once: true}); else go();
  const close = m.querySelector('.ks-modal-close');
  if (close) close.focus({preventScroll: true});
};
watch('value', place);
place();
const shut = () => { const m = element.querySelector('.ks-modal'); if (m) m.remove(); };
element.addEventListener('click', (ev) => {
  if (ev.target.closest('.ks-modal-close') || ev.target.classList.contains('ks-modal')) shut();
});
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') shut(); });
"""

# Recent searches: this browser's localStorage only (never sent to the server, never shared).
RECENT_JS = """
const KEY = 'kosearch.recent';
const read = () => { try { const v = JSON.parse(localStorage.getItem(KEY) || '[]'); return Array.isArray(v) ? v : []; }
                     catch (e) { return []; } };
window.ksRenderRecent = () => {
  const items = read();
  element.replaceChildren();
  const head = document.createElement('div');
  head.className = 'ks-recent-head';
  head.textContent = '최근 검색';
  if (items.length) {
    const clear = document.createElement('button');
    clear.type = 'button'; clear.textContent = '지우기'; clear.className = 'ks-recent-clear';
    clear.addEventListener('click', () => { localStorage.removeItem(KEY); window.ksRenderRecent(); });
    head.appendChild(clear);
  }
  element.appendChild(head);
  if (!items.length) {
    const p = document.createElement('div');
    p.className = 'ks-recent-none';
    p.textContent = '이 브라우저에만 저장됩니다.';
    element.appendChild(p);
    return;
  }
  const ol = document.createElement('ol');
  for (const it of items) {
    if (!it || typeof it.q !== 'string') continue;
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '?' + new URLSearchParams(it.p || {q: it.q}).toString();
    a.textContent = it.q;
    li.appendChild(a);
    if (it.f) { const f = document.createElement('span'); f.className = 'ks-recent-f'; f.textContent = ' · ' + it.f; li.appendChild(f); }
    ol.appendChild(li);
  }
  element.appendChild(ol);
};
window.ksRenderRecent();
"""

# After each search: the question and filters go into the address bar (a link to this search),
# and into this browser's recent searches.
AFTER_SEARCH_JS = """
(q, year, dept, kind, k, view) => {
  q = (q || '').trim();
  if (!q) return;
  const p = {q: q.slice(0, 300)};
  if (year && year !== '전체') p.year = year;
  if (dept && dept !== '전체') p.dept = dept;
  if (kind && kind !== 'all') p.kind = kind;
  if (k && Number(k) !== 5) p.k = String(k);
  if (view === '사업별 보기') p.view = 'programme';
  const qs = new URLSearchParams(p).toString();
  try { history.replaceState(null, '', location.pathname + '?' + qs); } catch (e) {}
  try {
    const KEY = 'kosearch.recent';
    let items = [];
    try { items = JSON.parse(localStorage.getItem(KEY) || '[]'); } catch (e) { items = []; }
    if (!Array.isArray(items)) items = [];
    const f = [p.year ? p.year + '년' : '', p.dept || '', p.kind ? ({plan: '계획', results: '실적', new: '신규'}[p.kind] || '') : '']
      .filter(Boolean).join(' · ');
    items = [{q: p.q, p: p, f: f}].concat(items.filter(it => it && new URLSearchParams(it.p || {}).toString() !== qs)).slice(0, 8);
    localStorage.setItem(KEY, JSON.stringify(items));
    if (window.ksRenderRecent) window.ksRenderRecent();
  } catch (e) {}
}
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


def open_button(source: dict | None, label: str = "원문 보기") -> str:
    """The button that opens the viewer on a citation (index file name, lines, page; never a path)."""
    if not source or not source.get("file") or not source.get("lines"):
        return ""
    a, b = source["lines"][0], source["lines"][-1]
    page = source.get("page") or ""
    where = f"{page}쪽" if page else f"{a}-{b}행"
    return (f'<button type="button" class="ks-open" data-file="{esc(source["file"])}" data-a="{esc(a)}" '
            f'data-b="{esc(b)}" data-page="{esc(page)}" aria-label="원문 보기: {esc(source["file"])} {esc(where)}" '
            f'title="원문에서 인용한 부분 보기">{esc(label)}</button>')


def passage_html(text: str, spans, context: int = COMPACT_LINES) -> str:
    """The passage, compact: the lines around the first highlight, and the whole of it behind 더 보기
    (the toggle is in the results' click handler). Short passages show whole."""
    lines = text.split("\n")
    if len(lines) <= 2 * context + 2:
        return f'<div class="ks-passage">{highlight_html(text, spans)}</div>'
    starts = sorted(int(sp[0]) for sp in spans or () if len(sp) == 2 and 0 <= int(sp[0]) < int(sp[1]) <= len(text))
    at = text.count("\n", 0, starts[0]) if starts else 0
    lo, hi = max(0, at - context), min(len(lines), at + context + 1)
    if hi - lo < 2 * context + 1:  # near an end: keep the window as tall
        lo, hi = (0, 2 * context + 1) if lo == 0 else (len(lines) - 2 * context - 1, len(lines))
    begin = sum(len(ln) + 1 for ln in lines[:lo])
    end = begin + len("\n".join(lines[lo:hi]))
    inner = [(max(int(a), begin) - begin, min(int(b), end) - begin) for a, b in
             (sp for sp in spans or () if len(sp) == 2) if int(a) < end and int(b) > begin]
    short = ((f'<span class="ks-elided">… (위 {lo}줄)</span>\n' if lo else "")
             + highlight_html(text[begin:end], inner)
             + (f'\n<span class="ks-elided">… (아래 {len(lines) - hi}줄)</span>' if hi < len(lines) else ""))
    label = f"더 보기 (전체 {len(lines)}줄)"
    return (f'<div class="ks-passage ks-compact"><div class="ks-short">{short}</div>'
            f'<div class="ks-full" hidden>{highlight_html(text, spans)}</div></div>'
            f'<button type="button" class="ks-more" aria-expanded="false" data-more="{esc(label)}">{esc(label)}</button>')


def viewer_html(sv, nonce: str = "") -> str:
    """The viewer dialog on one citation: a PDF page image with the cited text boxed, or numbered
    lines with the cited ones marked (``search.viewer.SourceView``). Opened and scrolled by VIEWER_JS."""
    import base64

    where = [esc(sv.file)]
    if sv.page:
        where.append(f"{esc(sv.page)}쪽")
    where.append(f"{esc(sv.first)}-{esc(sv.last)}행" if sv.last != sv.first else f"{esc(sv.first)}행")
    if sv.png is not None:
        top = min((b[1] for b in sv.boxes), default=0.0)
        note = ("인용한 부분을 노란 상자로 표시했습니다." if sv.boxes else
                "이 쪽에서 인용한 글자의 위치를 찾지 못했습니다. 쪽 전체를 보여 드립니다.")
        body = (f'<p class="ks-modal-note">{note}</p>'
                f'<img class="ks-page" alt="{esc(sv.file)} {esc(sv.page)}쪽 (인용한 부분 표시)" data-top="{top:.0f}" '
                f'src="data:image/png;base64,{base64.b64encode(sv.png).decode("ascii")}">')
    else:
        rows = "".join(f'<div class="ks-line{" ks-cited" if cited else ""}"><span class="ks-ln">{n}</span>'
                       f'<span class="ks-lt">{esc(text) or " "}</span></div>' for n, text, cited in sv.lines)
        body = ('<p class="ks-modal-note">원문에서 뽑은 글자입니다. 인용한 줄을 표시했습니다.</p>'
                f'<div class="ks-lines">{rows or esc("(표시할 줄이 없습니다)")}</div>')
    return (f'<div class="ks-modal" role="dialog" aria-modal="true" aria-label="원문 보기" data-n="{esc(nonce)}" '
            f'data-format="{esc(sv.format)}" data-page="{esc(sv.page or "")}">'
            f'<div class="ks-modal-box"><div class="ks-modal-head"><b>원문</b>'
            f'<span class="ks-modal-where">{" · ".join(where)}</span>'
            f'<button type="button" class="ks-modal-close" aria-label="닫기">닫기 ✕</button></div>'
            f'<div class="ks-modal-body">{body}</div></div></div>')


def viewer_message(text: str, nonce: str = "") -> str:
    """The viewer dialog with one line instead of a source (a refused or failed request)."""
    return (f'<div class="ks-modal" role="dialog" aria-modal="true" aria-label="원문 보기" data-n="{esc(nonce)}">'
            f'<div class="ks-modal-box"><div class="ks-modal-head"><b>원문</b><span class="ks-modal-where"></span>'
            f'<button type="button" class="ks-modal-close" aria-label="닫기">닫기 ✕</button></div>'
            f'<div class="ks-modal-body"><div class="ks-msg ks-msg-warn ks-view-error" role="alert">{esc(text)}</div>'
            f"</div></div></div>")


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
    def lead(i: dict) -> str:   # a comparison side's name, else the item's year
        return i["label"] + " " if i.get("label") else f"{i['year']}년 " if i.get("year") and answer["kind"] != "list" else ""
    items = "".join(f"<li>{esc(lead(i) + (i.get('value') or i['text']))} "
                    f"<span class='ks-cite'>{esc(i['citation'])}{open_button(i.get('source'))}</span></li>"
                    for i in answer.get("items") or [])
    level = answer["confidence"]
    return (f'<div class="ks-answer" role="region" aria-label="답">'
            f'<div class="ks-answer-head"><b>답 ({esc(KIND_KO.get(answer["kind"], ""))})</b> '
            f'<span class="ks-badge {esc(level)}">신뢰도 {esc(CONFIDENCE_KO.get(level, ""))}</span></div>'
            f'<div class="ks-answer-value"><mark>{esc(answer_summary(answer))}</mark></div>'
            + (f'<div class="ks-answer-line">{line}</div>' if answer["kind"] != "list" else "")
            + (f"<ol class='ks-answer-items'>{items}</ol>" if items else "")
            + f'<div class="ks-cite">출처: {esc(answer["citation"])} '
            f'<button type="button" class="ks-copy" data-cite="{esc(answer["citation"])}" aria-label="답 출처 복사">출처 복사</button>'
            f'{open_button(answer.get("source"))}</div></div>')


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
        passage_html(c.text, hit.highlights),
        '<div class="ks-cite">',
        f'<span class="ks-cite-text"><b>출처</b> {esc(hit.citation)}</span>',
        f'<button type="button" class="ks-copy" data-cite="{esc(hit.citation)}" '
        f'aria-label="출처 복사">출처 복사</button>',
        open_button({"file": c.file, "lines": [c.start_line, c.end_line], "page": c.page}),
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
    if not years or not depts:
        facets = searcher.store.chunks.facets()   # the store's columns: no walk over every chunk
        years = years or facets["years"]
        depts = depts or facets["departments"]
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


def filter_note(filters: dict, counts: dict | None, hits) -> str | None:
    """When the filters leave nothing above 낮음 but the question alone has results, which filter did it."""
    if not filters or not counts or not counts.get("total") or (hits and not all_low(hits)):
        return None
    kinds = dict((v, k) for k, v in KIND_CHOICES)
    named = {"year": lambda v: f"연도 {v}년", "department": lambda v: f"부서 {v}",
             "chapter_kind": lambda v: f"장 종류 {kinds.get(v, v)}"}
    culprits = [named[key](val) for key, val in filters.items()
                if key in named and counts[key].get(str(val), 0) == 0]
    total = counts["total"]
    if culprits:
        return (f"{' · '.join(culprits)} 필터 때문에 결과가 없습니다 (필터 없이 {total}건). "
                "그 필터를 '전체'로 바꿔 보세요.")
    if len(filters) < 2:
        return None
    both = " · ".join(named[key](val) for key, val in filters.items() if key in named)
    return f"필터({both})를 함께 적용하면 결과가 없습니다 (필터 없이 {total}건). 필터를 하나씩 '전체'로 바꿔 보세요."


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
                    chunks = self.searcher.store.chunks
                    parts = (chunks.get(chunks.programme_ids(chunk))
                             if chunk.programme_number is not None or chunk.programme else [])
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
        self._facets: collections.OrderedDict = collections.OrderedDict()
        self._facet_lock = threading.Lock()
        self.export_root = Path(tempfile.mkdtemp(prefix="kosearch-export-"))
        atexit.register(shutil.rmtree, self.export_root, True)  # any normal exit (SIGTERM: see main)

    def current(self) -> IndexState:
        s = self.live.current
        if self._state.searcher is not s:
            self._state = IndexState(s, self.roots)
        return self._state

    def ui_search(self, question, year, department, kind, top_k, view):
        """Results page, session state for export, and a cleared download (it belonged to the last question)."""
        page, state, _ = self.search_page(question, year, department, kind, top_k, view)
        return page, state, None

    def search_page(self, question, year, department, kind, top_k, view):
        """(results page, export state, facets): facets are the filter choices labelled with this
        question's counts (:meth:`facet_choices`), None when the question was refused."""
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
            counts = self.facet_counts(res.question)
            page = results_html(res.question, res.hits, [st.context_for(h.chunk) for h in res.hits], grouped=grouped,
                                notices=res.notices, filters=desc)
            if not grouped:
                page = answer_html(res.answer, res.answer_message) + page
            note = filter_note(filters, counts, res.hits)
            if note:
                page = message_html(note, "warn") + page
            state = {**res.to_dict(), "grouped": grouped, "filters": desc}
        except USER_ERRORS as exc:
            return message_html(str(exc), "warn"), None, None
        except Exception:
            log.exception("search failed for %r", str(question)[:80])
            return (message_html("검색 중 문제가 발생했습니다. 잠시 뒤 다시 시도하거나 관리자에게 알려 주세요.", "warn"),
                    None, None)
        return page, state, self.facet_choices(counts)

    def facet_counts(self, question: str) -> dict:
        """How many of this question's top ``FACET_TOP_K`` results (no filter), above 낮음, fall under
        each year, department and chapter kind: ``{"total": n, "year": {"2022": n}, "department": {...},
        "chapter_kind": {...}}``. Cached per question and index (filters re-run the same question)."""
        st = self.current()
        key = (id(st.searcher), question)
        with self._facet_lock:
            if key in self._facets:
                self._facets.move_to_end(key)
                return self._facets[key]
        res = self.service.ask(question, top_k=FACET_TOP_K, answers=False)
        counts = {"total": 0, "year": collections.Counter(), "department": collections.Counter(),
                  "chapter_kind": collections.Counter()}
        for h in res.hits:
            if h.confidence not in ("high", "medium"):
                continue
            c = h.chunk
            counts["total"] += 1
            if c.year:
                counts["year"][str(c.year)] += 1
            if c.department:
                counts["department"][c.department] += 1
            if c.chapter_kind:
                counts["chapter_kind"][c.chapter_kind] += 1
        with self._facet_lock:
            self._facets[key] = counts
            while len(self._facets) > 256:
                self._facets.popitem(last=False)
        return counts

    def facet_choices(self, counts: dict | None) -> dict:
        """Filter choices (label, value) for the year, department and kind controls; with a count
        beside each when ``counts`` is given."""
        years, depts = self.current().choices

        def label(text, n):
            return text if counts is None else f"{text} ({n})"

        total = None if counts is None else counts["total"]
        return {
            "year": [(label(ALL, total), ALL)] + [(label(y, (counts or {}).get("year", {}).get(y, 0)), y)
                                                  for y in years if y != ALL],
            "department": [(label(ALL, total), ALL)] + [(label(d, (counts or {}).get("department", {}).get(d, 0)), d)
                                                        for d in depts if d != ALL],
            "kind": [(label(text, total if value == "all" else (counts or {}).get("chapter_kind", {}).get(value, 0)),
                      value) for text, value in KIND_CHOICES],
        }

    def restore(self, params) -> dict:
        """The controls' values from a shared link's query string (``?q=…&year=…&dept=…&kind=…&k=…&view=…``);
        values the index does not hold are dropped with a notice, never trusted."""
        params = dict(params or {})
        years, depts = self.current().choices
        out = {"question": "", "year": ALL, "department": ALL, "kind": "all", "top_k": DEFAULT_TOP_K,
               "view": VIEW_PASSAGES, "notices": []}
        q = str(params.get("q") or "")[:2000].strip()
        out["question"] = q
        y = str(params.get("year") or "").strip().removesuffix("년")
        if y:
            if y in years:
                out["year"] = y
            else:
                out["notices"].append(f"링크의 연도({y[:20]})는 색인에 없어 전체 연도로 검색했습니다.")
        d = str(params.get("dept") or "").strip()
        if d:
            if d in depts:
                out["department"] = d
            else:
                out["notices"].append(f"링크의 부서({d[:40]})는 색인에 없어 전체 부서로 검색했습니다.")
        kd = str(params.get("kind") or "").strip()
        if kd in {v for _, v in KIND_CHOICES}:
            out["kind"] = kd
        elif kd:
            out["notices"].append(f"링크의 장 종류({kd[:20]})를 알 수 없어 전체로 검색했습니다.")
        try:
            out["top_k"] = max(1, min(UI_MAX_TOP_K, int(params.get("k") or DEFAULT_TOP_K)))
        except (TypeError, ValueError):
            pass
        if params.get("view") == "programme":
            out["view"] = VIEW_PROGRAMMES
        return out

    def ui_view(self, data) -> str:
        """The viewer dialog for one citation: ``data`` is what the page sent (``{"file", "a", "b",
        "page"}``, untrusted). Only a file the index holds opens, named as the index names it;
        a path (``../``, absolute) is refused with one Korean line, as is anything malformed."""
        from search.viewer import ViewError, view

        nonce = uuid.uuid4().hex[:8]
        try:
            if not isinstance(data, dict):
                raise ViewError("잘못된 요청입니다.")
            file = data.get("file")
            if not isinstance(file, str) or not file.strip():
                raise ViewError("열 수 없는 파일 이름입니다.")
            if (file.startswith(("/", "\\", "~")) or ".." in file.replace("\\", "/").split("/")
                    or (len(file) > 1 and file[1] == ":") or "\x00" in file):
                raise ViewError("경로로는 열 수 없습니다. 색인한 보고서만 볼 수 있습니다.")
            try:
                a, b = int(str(data.get("a"))), int(str(data.get("b")))
                page = int(str(data["page"])) if str(data.get("page") or "").strip() else None
            except (TypeError, ValueError):
                raise ViewError("행 범위가 올바르지 않습니다.") from None
            if page is not None and page < 1:
                raise ViewError("쪽 번호가 올바르지 않습니다.")
            return viewer_html(view(self.current().searcher, file, (a, b), page), nonce)
        except ViewError as exc:
            return viewer_message(str(exc), nonce)
        except Exception:
            log.exception("viewer failed for %r", str(data)[:200])
            return viewer_message("원문을 여는 중 문제가 발생했습니다. 다시 색인하거나 관리자에게 알려 주세요.", nonce)

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


def build_app(searcher, roots=(DEFAULT_CORPUS_DIR,), *, index_dir=None, host=DEFAULT_HOST, admins=None):
    """The Gradio Blocks over an index (a ``Searcher`` or ``LiveSearcher``), wired to ``Handlers``.
    A rebuilt index is picked up on the next question. ``roots``: the report folders whose files
    the status panel compares with the index. Start it with :func:`launch` (login rate limit)."""
    import gradio as gr

    from search.service import USER_ERRORS

    h = Handlers(searcher, roots)
    # 보고서 관리 (issue 16): logic in index/manage.py, the panel in app_manage.py
    import app_manage

    manage = app_manage.wiring(h, list(roots)[0], index_dir or h.live.index_dir, host, admins)

    def run_search(question, year, department, kind, top_k, view):
        """Results, export state, a cleared download, and the filter choices with this question's counts."""
        page, state, facets = h.search_page(question, year, department, kind, top_k, view)
        if facets is None:
            return page, state, None, gr.skip(), gr.skip(), gr.skip()
        return (page, state, None, gr.update(choices=facets["year"]), gr.update(choices=facets["department"]),
                gr.update(choices=facets["kind"]))

    def maybe_search(question, year, department, kind, top_k, view):
        """Filters and the view re-run the search, but only once there is a question."""
        if not (question or "").strip():
            return (gr.skip(),) * 6
        return run_search(question, year, department, kind, top_k, view)

    def export(fn):
        def run(state):
            path = fn(state)
            if path is None:
                gr.Warning("먼저 검색하세요. 내보낼 결과가 없습니다.")
            return path
        return run

    def load_page(request: gr.Request):
        """On each page load: the index status, filter choices of the index now in service, and a
        shared link's search (``?q=…&year=…``) restored and run."""
        params = dict(request.query_params) if request is not None else {}
        r = h.restore(params)
        page, state = gr.skip(), gr.skip()
        facets = h.facet_choices(None)
        if r["question"]:
            page, state, got = h.search_page(r["question"], r["year"], r["department"], r["kind"], r["top_k"],
                                             r["view"])
            facets = got or facets
            if r["notices"]:
                page = "".join(message_html(n, "warn") for n in r["notices"]) + page
        return (h.status_now(), gr.update(choices=facets["year"], value=r["year"]),
                gr.update(choices=facets["department"], value=r["department"]),
                gr.update(choices=facets["kind"], value=r["kind"]), r["question"] or gr.skip(), r["top_k"],
                r["view"], page, state)

    def view_source(evt: gr.EventData):
        return h.ui_view(getattr(evt, "_data", None))

    # Gradio finds its special arguments by their annotations; this module's are strings
    # (``from __future__ import annotations``) that it would resolve in the module's globals.
    load_page.__annotations__ = {"request": gr.Request}
    view_source.__annotations__ = {"evt": gr.EventData}

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
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=480):
                gr.HTML(f'<style>{CSS}</style><div class="ks-title-line"><b>주요업무보고 검색</b>'
                        '<span>질문하면 답과 출처를 먼저 보여 줍니다 · 원문 보기로 원본의 해당 줄을 확인하세요</span></div>',
                        padding=False)
                question = gr.Textbox(label="질문", show_label=False,
                                      placeholder="질문을 입력하고 Enter — 예: 외국인 환자를 대상으로 하는 사업은?",
                                      lines=1, max_lines=3, max_length=2000, autofocus=True, submit_btn="검색",
                                      elem_id="ks-question")
                with gr.Row(elem_id="ks-filters", equal_height=True):
                    year_choices, dept_choices = h.current().choices
                    year = gr.Dropdown(year_choices, value=ALL, label="연도", min_width=130, scale=1, elem_id="ks-year")
                    department = gr.Dropdown(dept_choices, value=ALL, label="부서", min_width=150, scale=2,
                                             elem_id="ks-dept")
                    kind = gr.Dropdown(KIND_CHOICES, value="all", label="장 종류", min_width=120, scale=1,
                                       elem_id="ks-kind")
                    view = gr.Radio([VIEW_PASSAGES, VIEW_PROGRAMMES], value=VIEW_PASSAGES, label="보기",
                                    min_width=220, scale=2, elem_id="ks-view")
                results = gr.HTML(message_html("질문을 입력하고 Enter를 누르세요. 답이 맨 위에, 근거 구절이 그 아래에 나옵니다."),
                                  js_on_load=COPY_JS, elem_id="ks-results", padding=False)
                viewer = gr.HTML("", js_on_load=VIEWER_JS, elem_id="ks-viewer", padding=False)
            with gr.Column(scale=1, min_width=250, elem_id="ks-side"):
                gr.HTML("", js_on_load=RECENT_JS, elem_id="ks-recent", padding=False)
                top_k = gr.Slider(1, UI_MAX_TOP_K, value=5, step=1, label="결과 수", elem_id="ks-topk")
                with gr.Accordion("예시 질문", open=False, elem_id="ks-examples"):
                    gr.Examples(EXAMPLES, inputs=question, label=None)
                with gr.Accordion("결과 내보내기", open=False, elem_id="ks-export"):
                    csv_btn = gr.Button("CSV 파일 만들기", size="sm", elem_id="ks-export-csv")
                    md_btn = gr.Button("요약(Markdown) 만들기", size="sm", elem_id="ks-export-md")
                    export_file = gr.File(label="내려받기", interactive=False, elem_id="ks-export-file")
                with gr.Accordion("색인 상태", open=False, elem_id="ks-status-box"):
                    status = gr.HTML(h.status_now(), elem_id="ks-status")
                    refresh = gr.Button("상태 새로 고침", size="sm")
        last = gr.State(None)
        app_manage.panel(gr, *manage)   # 보고서 관리 accordion (issue 16)

        inputs = [question, year, department, kind, top_k, view]
        common = dict(concurrency_limit=CONCURRENCY, concurrency_id="search", api_visibility="private")
        outputs = [results, last, export_file, year, department, kind]
        # Filters re-run on the user's input only (not on restored or relabelled values: no loops).
        gr.on([question.submit], run_search, inputs, outputs, **common).then(
            None, inputs, None, js=AFTER_SEARCH_JS, api_visibility="private")
        gr.on([view.input, year.input, department.input, kind.input, top_k.release], maybe_search, inputs,
              outputs, trigger_mode="always_last", **common).then(
            None, inputs, None, js=AFTER_SEARCH_JS, api_visibility="private")
        results.click(view_source, None, viewer, api_visibility="private", concurrency_limit=CONCURRENCY,
                      concurrency_id="view")
        csv_btn.click(export(h.export_csv), last, export_file, api_visibility="private")
        md_btn.click(export(h.export_md), last, export_file, api_visibility="private")
        refresh.click(lambda: h.status_now(max_age=0), None, status, api_visibility="private")
        demo.load(load_page, None, [status, year, department, kind, question, top_k, view, results, last],
                  api_visibility="private", concurrency_limit=CONCURRENCY, concurrency_id="search").then(
            None, inputs, None, js=AFTER_SEARCH_JS, api_visibility="private")
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
    try:
        admins = parse_auth(os.environ.get(ADMIN_ENV))
    except ValueError as exc:
        print(f"오류: {str(exc).replace(AUTH_ENV, ADMIN_ENV)}", file=sys.stderr)
        return 2
    demo = build_app(searcher, args.corpus or [DEFAULT_CORPUS_DIR], index_dir=args.index_dir, host=args.host,
                     admins=admins)

    def on_sigterm(signum, frame):
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)  # `kill`, systemd, docker stop: like Ctrl+C
    try:
        launch(demo, server_name=args.host, server_port=args.port, auth=auth, max_file_size=MAX_UPLOAD_BYTES,
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
