"""Answer accuracy on the precise-fact questions of our set (records with ``"task": "answer"``).

Per split (tune: even qids, test: odd):
- **accuracy**: an answerable question whose answer holds every gold value (commas, spaces and
  units normalised away) with a cited line range that includes the gold line; a list answer
  is scored by set precision and recall of its items and counts as accurate when both are 1;
- **false not-found**: answerable questions left without an answer;
- **not-found on unanswerable**: near-miss questions correctly left without an answer;
- **passage hit@1/3/5** of the answerable ones, on the passages as the service orders them;
- a Wilson 95% interval beside each rate (a half of ~50 questions moves 2 points per question).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from search.eval.datasets import load_corpus_qa
from search.eval.metrics import first_quote_rank, mean


def normalise_value(v: str) -> str:
    """"487,492천원" -> "487492"; "`23. 7." -> "237"; keeps digits, △, %, letters and Hangul."""
    v = re.sub(r"(?<=\d)\s*(천원|백만원|만원|원|명|개|회|건|곳)$", "", v.strip())
    return re.sub(r"[^\d△%가-힣A-Za-z]", "", v)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (round((c - h) / d, 3), round((c + h) / d, 3))


def _lines(ans: dict) -> set[tuple[str, int]]:
    out = set()
    for a in [ans] + list(ans.get("items") or []):
        a_, b_ = a["source"]["lines"]
        out.update((a["source"]["file"], n) for n in range(a_, b_ + 1))
    return out


def score_answer(item: dict, ans: dict | None) -> dict:
    """Whether ``ans`` (the JSON answer) answers ``item`` (a gold record)."""
    if ans is None:
        return {"answered": False, "correct": False}
    gold = item["gold"]
    if item["kind"] == "list":
        want = {normalise_value(g["value"]) for g in gold}
        got = {normalise_value(i.get("value") or i["text"]) for i in ans.get("items") or []}
        if not got:  # a list read off one line: its items are the comma-separated values
            got = {normalise_value(x) for x in re.split(r"[,、·ㆍ]", ans.get("value") or "")}
        hit = len(want & got)
        p, r = (hit / len(got) if got else 0.0), hit / len(want)
        return {"answered": True, "correct": p == 1.0 and r == 1.0, "precision": p, "recall": r}
    shown = normalise_value(" ".join([ans["text"], ans.get("value") or ""]
                                     + [f"{i['text']} {i.get('value') or ''}" for i in ans.get("items") or []]))
    lines = _lines(ans)
    ok = all(normalise_value(g["value"]) in shown and (g["file"], g["line"]) in lines for g in gold)
    return {"answered": True, "correct": ok}


def evaluate_answers(service, qa_path: str | Path, top_k: int = 5) -> dict[str, Any]:
    """Run every ``task: answer`` question through ``service`` (a SearchService) and score it."""
    items = [i for i in load_corpus_qa(qa_path) if i.get("task") == "answer"]
    rows = []
    for it in items:
        res = service.ask(it["query"], top_k=top_k)
        texts = [h.chunk.text for h in res.hits]
        rank = first_quote_rank(texts, it["quotes"], top_k) if it["answerable"] else None
        s = score_answer(it, res.answer) if it["answerable"] else {"answered": res.answer is not None}
        rows.append({"qid": it["qid"], "split": it["split"], "kind": it.get("kind"), "answerable": it["answerable"],
                     "rank": rank, "confidence": (res.answer or {}).get("confidence"),
                     "message": res.answer_message, **s})

    def summary(rs: list[dict]) -> dict:
        ans = [r for r in rs if r["answerable"]]
        una = [r for r in rs if not r["answerable"]]
        k_ok = sum(r["correct"] for r in ans)
        k_fnf = sum(not r["answered"] for r in ans)
        k_nf = sum(not r["answered"] for r in una)
        lists = [r for r in ans if r["kind"] == "list"]
        out = {
            "answerable": len(ans), "unanswerable": len(una),
            "accuracy": round(k_ok / len(ans), 3) if ans else None, "accuracy_ci": wilson(k_ok, len(ans)),
            "false_not_found": round(k_fnf / len(ans), 3) if ans else None, "false_not_found_ci": wilson(k_fnf, len(ans)),
            "not_found_unanswerable": round(k_nf / len(una), 3) if una else None,
            "not_found_unanswerable_ci": wilson(k_nf, len(una)),
            "answered_high": sum(1 for r in ans if r["confidence"] == "high"),
            "unanswerable_answered_high": sum(1 for r in una if r["confidence"] == "high"),
            "list_precision": round(mean([r.get("precision", 0.0) for r in lists]), 3) if lists else None,
            "list_recall": round(mean([r.get("recall", 0.0) for r in lists]), 3) if lists else None,
        }
        for k in (1, 3, 5):
            hits = sum(1 for r in ans if r["rank"] and r["rank"] <= k)
            out[f"hit@{k}"] = round(hits / len(ans), 3) if ans else None
            out[f"hit@{k}_ci"] = wilson(hits, len(ans))
        return out

    report = {s: summary([r for r in rows if r["split"] == s]) for s in ("tune", "test")}
    report["all"] = summary(rows)
    kinds = sorted({r["kind"] for r in rows if r["answerable"] and r["kind"]})
    report["per_kind"] = {k: summary([r for r in rows if r["kind"] == k]) for k in kinds}
    report["per_query"] = rows
    return report


def format_answers(report: dict) -> str:
    def rate(s: dict, key: str) -> str:
        v, ci = s.get(key), s.get(key + "_ci")
        return "–" if v is None else f"{v:.3f} [{ci[0]:.2f}–{ci[1]:.2f}]"

    head = ("| 절반 | 답 정확도 | 답 없음 오판(↓) | 답할 수 없는 질문에 '찾지 못함' | 구절 hit@1 | hit@3 | hit@5 | 목록 P / R |\n"
            "|---|---|---|---|---|---|---|---|")
    rows = []
    for name in ("tune", "test", "all"):
        s = report[name]
        lp = "–" if s["list_precision"] is None else f"{s['list_precision']:.2f} / {s['list_recall']:.2f}"
        rows.append(f"| {name} ({s['answerable']}+{s['unanswerable']}) | {rate(s, 'accuracy')} | "
                    f"{rate(s, 'false_not_found')} | {rate(s, 'not_found_unanswerable')} | {rate(s, 'hit@1')} | "
                    f"{rate(s, 'hit@3')} | {rate(s, 'hit@5')} | {lp} |")
    kinds = " · ".join(f"{k} {v['accuracy']:.2f} ({v['answerable']})" for k, v in report["per_kind"].items()
                       if v["accuracy"] is not None)
    return ("답 (정밀 사실 질문, 괄호: 답 있는 수+답 없는 수, 대괄호: 95% 신뢰구간)\n" + head + "\n" + "\n".join(rows)
            + f"\n종류별 정확도: {kinds}")
