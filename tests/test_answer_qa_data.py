"""Checks the precise-fact answer records (a###, b###, c###, d###, e###, f###,
g###) and near-miss records (n###, m###, o###, p###, r###, s###, t###) in
tests/data/corpus_qa.jsonl against the report texts in corpus/.  The b### /
m### records are a second, paraphrased batch, the c### / o### records a third,
colloquial batch and the d### / p### records a fourth, colloquial batch built
mostly on report lines earlier batches leave unused; the third and fourth
batches are kept for tuning only.  The e### / r### records are a fifth,
colloquial batch written blind to the answerer and held out for testing: every
e### / r### record is split "test" and none may be used for tuning.  The
f### / s### records are a sixth, colloquial batch for tuning (every record is
split "tune"), again favouring report lines and facts no earlier batch uses as
gold.  The g### / t### records are a seventh, colloquial batch for tuning
(every record is split "tune"), built mostly on report lines and values no
earlier batch uses as gold: 인력 table cells, 예산 table columns, 추진일정
lines, names of plans and events, and near misses on absent years, absent
details and programmes asked of the wrong department.  All are held to
exactly the same rules as a### / n###, and each prefix is numbered from 001
on its own.  a/b/n/m alternate test/tune by number, while every c### / o### /
d### / p### / f### / s### / g### / t### record is split "tune".  The h### /
u### records are an eighth, colloquial batch written blind to the answerer
and held out for testing: every h### / u### record is split "test" and none
may be used for tuning.  The i### / v### records (a ninth batch, for tuning:
every record split "tune") and the j### / w### records (a tenth, held out:
every record split "test") were written at the same time by two writers blind
to the answerer and to each other's batch.

Stdlib only.  Every gold quote must be an exact substring of the cited
(1-based) line of the cited corpus file, and every gold value must occur in
its quote after normalisation (commas, whitespace and punctuation removed;
digits, Latin letters, Hangul, '△' and '%' kept).
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
QA_FILE = DATA / "corpus_qa.jsonl"
CORPUS = Path(__file__).resolve().parent.parent / "corpus"

ANSWER_KINDS = {"amount", "count", "date", "name", "rate", "list", "comparison"}
MIN_PER_KIND = {
    "amount": 20,
    "count": 12,
    "date": 12,
    "name": 12,
    "rate": 6,
    "list": 8,
    "comparison": 10,
}
MIN_ANSWERABLE = 85
MIN_NEAR_MISS = 55
MIN_ABSENT_YEAR = 8
ABSENT_YEAR_RE = re.compile(r"(?<!\d)(2017|2024|2025|17년|24년|25년)")

ANSWER_KEYS = {"qid", "query", "task", "answerable", "kind", "gold", "quotes",
               "files", "category", "split"}
NEAR_MISS_KEYS = {"qid", "query", "task", "answerable", "kind", "topic_files",
                  "topic_line", "why", "quotes", "files", "category", "split"}
GOLD_KEYS = {"file", "line", "quote", "value"}


def normalise(text):
    text = unicodedata.normalize("NFC", text)
    kept = []
    for ch in text:
        if ch.isdigit() or ch in "△%" or ("a" <= ch.lower() <= "z"):
            kept.append(ch.lower())
        elif "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e":
            kept.append(ch)
    return "".join(kept)


def _load():
    lines = QA_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


ANSWER_PREFIXES = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
NEAR_MISS_PREFIXES = ("n", "m", "o", "p", "r", "s", "t", "u", "v", "w")
# Prefixes whose records alternate test/tune by number (odd = test).
BALANCED_PREFIXES = ("a", "b", "n", "m")
# Prefixes whose records are all for tuning.
TUNE_ONLY_PREFIXES = ("c", "o", "d", "p", "f", "s", "g", "t", "i", "v")
# Prefixes whose records are a held-out test batch (never tuned on).
TEST_ONLY_PREFIXES = ("e", "r", "h", "u", "j", "w")

RECORDS = _load()
ANSWERS = [r for r in RECORDS if r["qid"][0] in ANSWER_PREFIXES]
NEAR_MISSES = [r for r in RECORDS if r["qid"][0] in NEAR_MISS_PREFIXES]
_CORPUS_CACHE = {}


def corpus_lines(name):
    if name not in _CORPUS_CACHE:
        path = CORPUS / name
        assert path.is_file(), f"missing corpus file {name}"
        _CORPUS_CACHE[name] = path.read_text(encoding="utf-8").splitlines()
    return _CORPUS_CACHE[name]


def _num(qid):
    return int(qid[1:])


def test_existing_topic_questions_kept_first():
    head = RECORDS[:62]
    assert [r["qid"] for r in head] == [f"q{i:02d}" for i in range(1, 63)]
    prefixes = ANSWER_PREFIXES + NEAR_MISS_PREFIXES
    assert all(r["qid"][0] in prefixes for r in RECORDS[62:])


def test_qids_unique_and_sequential():
    qids = [r["qid"] for r in RECORDS]
    assert len(qids) == len(set(qids))
    for prefix in ANSWER_PREFIXES + NEAR_MISS_PREFIXES:
        group = [r for r in RECORDS if r["qid"][0] == prefix]
        assert group, prefix
        assert [r["qid"] for r in group] == [f"{prefix}{i:03d}" for i in range(1, len(group) + 1)]


def test_counts():
    assert len(ANSWERS) >= MIN_ANSWERABLE
    assert len(NEAR_MISSES) >= MIN_NEAR_MISS
    kinds = Counter(r["kind"] for r in ANSWERS)
    for kind, minimum in MIN_PER_KIND.items():
        assert kinds[kind] >= minimum, (kind, kinds[kind])
    absent_year = [r for r in NEAR_MISSES if ABSENT_YEAR_RE.search(r["query"])]
    assert len(absent_year) >= MIN_ABSENT_YEAR


def test_coverage_of_all_reports():
    files = {p.name for p in CORPUS.glob("*.txt") if p.name not in ("userdict.txt", "aliases.txt")}
    gold_files = {g["file"] for r in ANSWERS for g in r["gold"]}
    topic_files = {f for r in NEAR_MISSES for f in r["topic_files"]}
    assert gold_files == files
    assert topic_files == files


# Each later batch must stand on its own: every kind, every report, enough absent-year near misses.
# (answer prefix, near-miss prefix, least answerable, least near misses, least absent-year)
BATCHES = [("b", "m", 60, 40, 6), ("c", "o", 70, 40, 6), ("d", "p", 50, 30, 5),
           ("e", "r", 60, 40, 8),   # held out: split "test" only
           ("f", "s", 50, 20, 5), ("g", "t", 60, 25, 6),
           ("h", "u", 60, 40, 8),   # held out: split "test" only
           ("i", "v", 60, 40, 8),
           ("j", "w", 60, 40, 8)]   # held out: split "test" only


@pytest.mark.parametrize("answer_prefix, near_prefix, least, least_near, least_absent", BATCHES,
                         ids=[b[0] + b[1] for b in BATCHES])
def test_batch_coverage(answer_prefix, near_prefix, least, least_near, least_absent):
    files = {p.name for p in CORPUS.glob("*.txt") if p.name not in ("userdict.txt", "aliases.txt")}
    answers = [r for r in RECORDS if r["qid"][0] == answer_prefix]
    near = [r for r in RECORDS if r["qid"][0] == near_prefix]
    assert len(answers) >= least and len(near) >= least_near
    assert {r["kind"] for r in answers} == ANSWER_KINDS
    assert {g["file"] for r in answers for g in r["gold"]} == files
    assert {f for r in near for f in r["topic_files"]} == files
    assert sum(1 for r in near if ABSENT_YEAR_RE.search(r["query"])) >= least_absent


def test_split_balance():
    for prefix in BALANCED_PREFIXES:
        group = [r for r in RECORDS if r["qid"][0] == prefix]
        splits = Counter(r["split"] for r in group)
        assert abs(splits["test"] - splits["tune"]) <= 1, prefix
    balanced_answers = [r for r in ANSWERS if r["qid"][0] in BALANCED_PREFIXES]
    balanced_near = [r for r in NEAR_MISSES if r["qid"][0] in BALANCED_PREFIXES]
    for group in (balanced_answers, balanced_near):
        for r in group:
            expected = "test" if _num(r["qid"]) % 2 else "tune"
            assert r["split"] == expected, r["qid"]
        splits = Counter(r["split"] for r in group)
        assert abs(splits["test"] - splits["tune"]) <= 1
    for kind in ANSWER_KINDS:
        splits = Counter(r["split"] for r in balanced_answers if r["kind"] == kind)
        assert splits["test"] >= 1 and splits["tune"] >= 1, kind


@pytest.mark.parametrize("prefixes, split", [(TUNE_ONLY_PREFIXES, "tune"), (TEST_ONLY_PREFIXES, "test")])
def test_one_split_batches(prefixes, split):
    for prefix in prefixes:
        group = [r for r in RECORDS if r["qid"][0] == prefix]
        assert group, prefix
        bad = [r["qid"] for r in group if r["split"] != split]
        assert not bad, bad


@pytest.mark.parametrize("rec", ANSWERS, ids=lambda r: r["qid"])
def test_answer_record(rec):
    assert ANSWER_KEYS <= set(rec), ANSWER_KEYS - set(rec)
    assert set(rec) <= ANSWER_KEYS | {"note"}
    assert rec["task"] == "answer"
    assert rec["answerable"] is True
    assert rec["kind"] in ANSWER_KINDS
    assert isinstance(rec["query"], str) and rec["query"].strip()
    assert isinstance(rec["category"], str) and rec["category"].strip()
    gold = rec["gold"]
    assert isinstance(gold, list) and gold
    if rec["kind"] in ("list", "comparison"):
        assert len(gold) >= 2
    else:
        assert len(gold) == 1
    for g in gold:
        assert set(g) == GOLD_KEYS, g
        assert isinstance(g["line"], int) and g["line"] >= 1
        lines = corpus_lines(g["file"])
        assert g["line"] <= len(lines)
        line = lines[g["line"] - 1]
        assert g["quote"] and g["quote"] in line, (g, line)
        value = normalise(g["value"])
        assert value, g
        assert value in normalise(g["quote"]), g
    expected_quotes = list(dict.fromkeys(g["quote"] for g in gold))
    assert rec["quotes"] == expected_quotes
    assert set(rec["files"]) == {g["file"] for g in gold}
    if rec["kind"] == "list":
        values = [normalise(g["value"]) for g in gold]
        assert len(values) == len(set(values)), "duplicate list item"


@pytest.mark.parametrize("rec", NEAR_MISSES, ids=lambda r: r["qid"])
def test_near_miss_record(rec):
    assert set(rec) == NEAR_MISS_KEYS, set(rec) ^ NEAR_MISS_KEYS
    assert rec["task"] == "answer"
    assert rec["answerable"] is False
    assert rec["kind"] in ANSWER_KINDS
    assert rec["category"] == "near_miss"
    assert rec["quotes"] == [] and rec["files"] == []
    assert isinstance(rec["query"], str) and rec["query"].strip()
    assert re.search("[\uac00-\ud7a3]", rec["why"])
    assert rec["topic_files"]
    line_no = rec["topic_line"]
    assert isinstance(line_no, int) and line_no >= 1
    lines = corpus_lines(rec["topic_files"][0])
    assert line_no <= len(lines)
    assert lines[line_no - 1].strip(), "topic line is blank"
    for name in rec["topic_files"]:
        corpus_lines(name)
