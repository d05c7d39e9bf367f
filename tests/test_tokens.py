"""The kiwi tokeniser: content morphemes, compounds, numbers, user dictionary."""
from __future__ import annotations

import shutil

from index.build import build
from index.tokens import KoreanTokenizer, config_with_userdict, term_pairs


def test_content_terms_and_compounds():
    tok = KoreanTokenizer()
    terms = tok.tokenize("외국인 환자를 대상으로 하는 사업은?")
    assert {"외국인", "환자", "대상", "사업"} <= set(terms)
    assert not {"를", "으로", "은", "?"} & set(terms)  # particles and punctuation dropped
    assert "스마트메디컬특구" in tok.tokenize("스마트메디컬특구 활성화")  # adjacent nouns also joined
    assert "391300" in tok.tokenize("총 391,300천원")  # thousands separators removed


def test_term_pairs_follow_word_order_and_skip_compounds():
    tok = KoreanTokenizer()
    terms = tok.terms("지방은행의 시중은행 전환 시 예비인가를 거친다")
    pairs = term_pairs(terms)
    assert "예비 인가" in pairs and "인가 예비" not in pairs
    assert "시중 은행" in pairs and "은행 전환" in pairs
    assert not any("예비인가" in p or "시중은행" in p for p in pairs)  # compounds are not paired again
    assert term_pairs(tok.terms("예산")) == []


def test_term_offsets_point_into_the_text():
    tok = KoreanTokenizer()
    text = "주한미군 대상 홍보 광고 운영"
    for t in tok.terms(text):
        assert text[t.start:t.end].replace(" ", "") == t.text or t.text in text[t.start:t.end]


def test_userdict_is_used_and_changes_force_reindex(tmp_path, corpus_dir):
    ud = tmp_path / "userdict.txt"
    ud.write_text("# 부서 고유어\n영등포에버 NNP\n창의아이디어단\n", encoding="utf-8")
    tok = KoreanTokenizer(config_with_userdict(ud))
    assert "영등포에버" in tok.tokenize("영등포에버 네트워크 운영")
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    shutil.copy(ud, corpus / "userdict.txt")
    idx = tmp_path / "idx"
    first = build([corpus], idx, model="none")
    assert len(first.added) == 5  # userdict.txt is configuration, not a report
    (corpus / "userdict.txt").write_text("영등포에버 NNP\n", encoding="utf-8")
    again = build([corpus], idx, model="none")
    assert again.written and again.rebuilt_reason and "dictionary" in again.rebuilt_reason
