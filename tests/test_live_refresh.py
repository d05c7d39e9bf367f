"""``LiveSearcher.refresh_soon``: a writer in the same process (the 보고서 관리 panel) has the next
question look at the index on disk at once, however long ``min_interval`` is (issue 16)."""
from __future__ import annotations

import shutil

from index.build import build
from search.live import LiveSearcher
from search.searcher import Searcher


def test_refresh_soon_takes_a_rebuilt_index_into_service_at_once(tmp_path, corpus_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    idx = tmp_path / "idx"
    build([corpus], idx, model="none")
    live = LiveSearcher(Searcher.open(idx), min_interval=3600)
    first = live.current
    f = corpus / "002_cbb343025f08b939.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("여의도성모병원", "여의도새병원"), encoding="utf-8")
    build([corpus], idx, model="none")
    assert live.current is first            # within min_interval: the index on disk is not looked at
    live.refresh_soon()
    s = live.current
    assert s is not first and s.tokenizer is first.tokenizer   # reopened, kiwi shared
    assert any("여의도새병원" in h.text for h in s.search("여의도새병원 협력"))
    assert live.current is s                # back to the interval: no second look
    live.refresh_soon()
    assert live.current is s                # nothing new on disk: the same searcher
