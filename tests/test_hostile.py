"""Hostile and unlucky inputs (issue 14): over-long lines, huge files, HTML entity payloads,
terminal control sequences, symlinks out of the corpus. Real files through the real pipeline."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from index import config
from index.build import build, embed
from index.chunking import MAX_CHARS, MAX_UNIT, split_text
from index.documents import BROKEN_LINK, OUTSIDE_LINK, collect_files, load_document
from index.readers.text import read_text
from index.textnorm import display_name, strip_html, terminal_safe

WORDS = "구청 주민 복지 예산 사업 추진 계획 실적 지원 확대 개선 운영 관리 청년 일자리 문화 관광 의료 안전 환경".split()


def korean(chars: int, seed: int = 0, sep: str = " ") -> str:
    """Distinct report-like sentences, about ``chars`` characters joined by ``sep``."""
    rng = random.Random(seed)
    out, size, n = [], 0, 0
    while size < chars:
        n += 1
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) + f" {n}건을 추진함."
        out.append(s)
        size += len(s) + 1
    return sep.join(out)


# --------------------------------------------------------------------------- #
# Item 4: over-long lines and huge files
# --------------------------------------------------------------------------- #

def test_long_line_is_split_into_bounded_chunks_with_its_line_number(tmp_path):
    line = korean(120_000)
    p = tmp_path / "long.txt"
    p.write_text("□ 사업개요\n" + line + "\n□ 향후계획\n마지막 줄 내용\n", encoding="utf-8")
    doc = load_document(p, embed_chars=10**9)
    assert len(doc.chunks) > 100
    assert max(len(c.text) for c in doc.chunks) <= MAX_UNIT
    assert len({c.id for c in doc.chunks}) == len(doc.chunks)          # ids stay unique
    inner = [c for c in doc.chunks if c.start_line == c.end_line == 2]
    assert len(inner) >= len(doc.chunks) - 2                            # the split line keeps its number
    assert all(1 <= c.start_line <= c.end_line <= 4 for c in doc.chunks)
    # nothing lost: every sentence of the line is in some chunk, and at most a space is lost per cut
    text = "".join(c.text for c in doc.chunks)
    assert all(s in text for s in line.split("건을 추진함. ")[::50])
    assert len(text.replace("\n", "")) >= len(line) - len(doc.chunks) - 1
    assert doc.notices == []


def test_split_text_prefers_sentences_then_spaces_then_hard_cuts():
    text = korean(5_000)
    pieces = split_text(text, MAX_CHARS)
    assert "".join(pieces) == text
    assert all(MAX_CHARS // 2 <= len(x) <= MAX_CHARS for x in pieces[:-1])
    assert all(x.rstrip().endswith("추진함.") for x in pieces[:-1])      # cut at sentence ends
    words = " ".join(["가나다라마"] * 1000)                                 # no sentence end: spaces
    pieces = split_text(words, MAX_CHARS)
    assert "".join(pieces) == words and all(x.endswith(" ") for x in pieces[:-1])
    blob = "가" * 5_000                                                     # no boundary at all
    pieces = split_text(blob, MAX_CHARS)
    assert "".join(pieces) == blob and [len(x) for x in pieces[:-1]] == [MAX_CHARS] * 6


def test_file_over_the_cap_is_indexed_up_to_it_and_the_summary_says_so(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = korean(60_000, sep="\n")
    (corpus / "big.txt").write_text(body + "\n", encoding="utf-8")
    monkeypatch.setattr(config, "MAX_FILE_CHARS", 20_000)
    rep = build([corpus], tmp_path / "idx", model="none")
    total = len(body) + 1
    assert rep.notices == [f"big.txt: 앞 20,000자만 색인함 (파일 {total:,}자)"]
    assert f"알림: big.txt: 앞 20,000자만 색인함 (파일 {total:,}자)" in rep.summary().splitlines()
    from index.store import open_backend

    chunks = open_backend(tmp_path / "idx").chunks.all()
    assert 15_000 < sum(len(c.text) + 1 for c in chunks) <= 20_001
    last_line = body[:20_000].count("\n") + 1
    assert max(c.end_line for c in chunks) == last_line


def test_text_reader_reads_only_a_prefix_and_counts_the_whole_file(tmp_path):
    p = tmp_path / "big.txt"
    text = korean(300_000, sep="\n")
    p.write_text(text, encoding="utf-8")
    # 3-byte Hangul: 10 chars -> 44 bytes read, cutting a character; must stay UTF-8
    src = read_text(p, max_chars=10)
    assert src.encoding == "utf-8" and src.total_chars == len(text)
    assert "".join(ln.text for ln in src.lines) == text[:10]
    src = read_text(p, max_chars=1_000)
    assert sum(len(ln.text) + 1 for ln in src.lines) <= 1_001 and src.total_chars == len(text)
    assert read_text(p).total_chars is None
    cp = tmp_path / "cp949.txt"
    cp.write_bytes(text[:5_000].encode("cp949"))
    src = read_text(cp, max_chars=100)
    assert src.encoding == "cp949" and src.total_chars == 5_000


def test_dense_budget_leaves_later_chunks_to_words(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text(korean(30_000, sep="\n"), encoding="utf-8")
    doc = load_document(p, embed_chars=5_000)
    assert 0 < doc.dense_chunks < len(doc.chunks)
    assert sum(len(c.text) for c in doc.chunks[:doc.dense_chunks]) <= 5_000
    assert doc.notices == [f"의미 검색은 앞 5,000자만, 나머지 {len(doc.chunks) - doc.dense_chunks:,}개 구절은 낱말 검색만"]


class _CountingEncoder:
    """Stands in for the model only to count what ``embed`` asks it to encode."""
    dim = 4
    fingerprint = "test-counting-encoder"

    def __init__(self):
        self.seen: list[str] = []

    def encode_documents(self, texts, progress=False):
        self.seen += list(texts)
        v = np.ones((len(texts), self.dim), np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_embed_skips_word_only_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv("KOSEARCH_HOME", str(tmp_path / "home"))
    enc = _CountingEncoder()
    vecs, n = embed(enc, ["가", "나", "다", "라"], False, skip={2, 3})
    assert enc.seen == ["가", "나"] and n == 2
    assert vecs.shape == (4, 4) and np.allclose(vecs[2:], 0) and np.allclose(np.linalg.norm(vecs[:2], axis=1), 1)


def test_encoder_windows_are_bounded():
    from index.encoders import MAX_WINDOWS, Encoder

    class Tiny(Encoder):
        max_seq_length = 10

    ids = [[0] + list(range(5, 10_005)) + [2]]
    smask = [[1] + [0] * 10_000 + [1]]
    win, owner, weight = Tiny("bundled:multilingual-e5-small")._windows(ids, smask)
    assert len(win) == MAX_WINDOWS and set(owner) == {0} and all(len(w) <= 10 for w in win)


# --------------------------------------------------------------------------- #
# Item 7: entity decoding never creates markup
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("raw", [
    "<br>&lt;script&gt;alert(1)&lt;/script&gt;",
    "<td>&lt;img src=x onerror=alert(document.cookie)&gt;</td>",
    "<p>&#60;script&#62;alert(1)&#60;/script&#62;</p>",
    "<span>&#x3C;svg/onload=alert(1)&#x3E;</span>",
    "<b>x</b> <&#115;cript>alert(1)",
    "<br>&LT;iframe src=javascript:alert(1)&GT;",
    "<br>&ltscript&gtalert(1)",
    "<br>&lt;!--&gt;&lt;img src=x onerror=alert(1)&gt;",
    "<br>&lt;&#x2F;textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
])
def test_strip_html_never_turns_entities_into_markup(raw):
    import re

    out = strip_html(raw)
    assert not re.search(r"<[A-Za-z/!?]", out), out                         # no tag, comment or end tag
    assert "alert(" in out                                                  # the text itself is kept


def test_strip_html_still_decodes_plain_entities_once():
    assert strip_html("<td>5 &lt; 10 &amp; 3 &gt; 1</td>") == " 5 < 10 & 3 > 1 "
    assert strip_html("<br>&amp;lt;script&amp;gt;") == " &lt;script&gt;"     # once: stays inert text
    assert strip_html("<br>가&middot;나") == " 가·나"
    assert strip_html("&lt;script&gt;") == "&lt;script&gt;"                 # no tag: left alone


def test_html_payload_file_is_indexed_inert(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("□ 사업개요\n<td>&lt;script&gt;alert(1)&lt;/script&gt; 예산</td>\n", encoding="utf-8")
    doc = load_document(p)
    assert all("<script" not in c.text and "<script" not in c.index_text for c in doc.chunks)


# --------------------------------------------------------------------------- #
# Item 8: terminal control sequences
# --------------------------------------------------------------------------- #

def test_terminal_safe_strips_control_sequences():
    hostile = ("예산 \x1b]0;pwned\x07\x1b[2J\x1b[H1억원\x1b[31m빨강\x1b[0m\t표\n다음 줄"
               "\x9b2J\x1bP1;2|x\x1b\\\x1b(B\x00\x07\x08\r\u202e끝")
    out = terminal_safe(hostile)
    assert out == "예산 1억원빨강\t표\n다음 줄끝"
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in out)
    assert terminal_safe("보통 글\n둘째 줄\t탭") == "보통 글\n둘째 줄\t탭"


def test_display_name_keeps_a_name_on_one_line():
    name = "보고서\n\x1b]0;x\x07\x1b[2J\u202e.txt"
    shown = display_name(name)
    assert "\n" not in shown and "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert shown == "보고서\\n\\x1b]0;x\\x07\\x1b[2J\\u202e.txt"
    assert display_name("2022년 보고서.hwp") == "2022년 보고서.hwp"


def test_build_summary_escapes_file_names(tmp_path, monkeypatch):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a\nb\x1b[2J.txt").write_text(korean(3_000, sep="\n"), encoding="utf-8")
    monkeypatch.setattr(config, "MAX_FILE_CHARS", 1_000)
    rep = build([corpus], tmp_path / "idx", model="none")
    assert rep.notices and rep.notices[0].startswith("a\\nb\\x1b[2J.txt: 앞 1,000자만")
    assert len(rep.summary().splitlines()) == 2


# --------------------------------------------------------------------------- #
# Item 9: symlinks out of the corpus
# --------------------------------------------------------------------------- #

def test_symlink_out_of_the_corpus_is_skipped(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("비밀 내용 root:x:0:0\n", encoding="utf-8")
    (corpus / "report.txt").write_text("□ 사업개요\n청년 일자리 사업을 추진함.\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    (corpus / "escape").symlink_to(outside, target_is_directory=True)
    (corpus / "sub" / "inside.txt").symlink_to(corpus / "report.txt")
    (corpus / "sub" / "also.txt").symlink_to("../report.txt")
    (corpus / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    files, skipped = collect_files([corpus])
    assert [f.name for f in files] == ["report.txt"]                       # inside links: same file, once
    reasons = {Path(s.file).name: s.reason for s in skipped}
    assert reasons == {"passwd.txt": OUTSIDE_LINK, "secret.txt": OUTSIDE_LINK, "escape": OUTSIDE_LINK,
                       "dangling.txt": BROKEN_LINK}
    rep = build([corpus], tmp_path / "idx", model="none")
    from index.store import open_backend

    text = " ".join(c.text for c in open_backend(tmp_path / "idx").chunks.all())
    assert "root:" not in text and "비밀" not in text and "청년" in text
    assert {Path(s.file).name for s in rep.skipped} >= {"passwd.txt", "secret.txt"}


def test_symlink_into_the_corpus_is_followed(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "a").mkdir(parents=True)
    (corpus / "a" / "real.txt").write_text("□ 사업개요\n의료관광 사업.\n", encoding="utf-8")
    (corpus / "b").symlink_to(corpus / "a", target_is_directory=True)
    (corpus / "link.txt").symlink_to(corpus / "a" / "real.txt")
    files, skipped = collect_files([corpus])
    assert [f.name for f in files] == ["real.txt"] and skipped == []
    # a link named on the command line is the user's choice
    files, skipped = collect_files([corpus / "link.txt"])
    assert files == [corpus / "link.txt"] and skipped == []


def test_cli_prints_no_control_sequences_and_one_line_names(tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "evil\nname.txt").write_text(
        "□ 사업개요\n반려견 놀이터 조성 \x1b]0;pwned\x07\x1b[2J 예산 3억원\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    root = Path(__file__).resolve().parent.parent
    idx = tmp_path / "idx"
    r = subprocess.run([sys.executable, "-m", "cli", "index", str(corpus), "--index-dir", str(idx), "--model", "none"],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "evil\\nname.txt" in r.stderr and OUTSIDE_LINK in r.stderr
    r = subprocess.run([sys.executable, "-m", "cli", "ask", "반려견 놀이터 예산", "--index-dir", str(idx), "--mode", "bm25"],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "반려견 놀이터" in r.stdout
    assert all(line.startswith(("    ", "[", "답", "  ")) or not line for line in r.stdout.splitlines()[1:]), r.stdout
