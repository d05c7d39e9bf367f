"""The local backend's storage pieces (issue 18) on the real corpus: hashed BM25 postings score
exactly as bm25s did, filter columns agree with ``Filters.matches``, chunks and units are read
by id from SQLite, the sections and programmes views agree with the reference scans, and the
IVF-SQ8 path (used above ``HNSW_THRESHOLD`` chunks) finds what exact search finds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.store import Filters, open_backend
from index.store import local
from index.store.base import ChunkStore


@pytest.fixture(scope="module")
def backend(bm25_dir):
    return open_backend(bm25_dir)


@pytest.fixture(scope="module")
def lexicon(bm25_dir):
    return local._read_jsonl(Path(bm25_dir) / local.LEXICON)


@pytest.mark.parametrize("which", [0, 1])
def test_postings_score_exactly_as_bm25s(lexicon, tmp_path, which):
    docs = [row[which] for row in lexicon]
    ref = local.build_bm25(docs)
    d = tmp_path / "p"
    local.save_postings(d, local.build_postings(docs, pairs=bool(which)))
    p = local.Postings(d)
    vocab = sorted({t for doc in docs for t in doc})
    rng = np.random.default_rng(0)
    for _ in range(100):
        q = [str(t) for t in rng.choice(vocab, 5)] + [vocab[0], "없는낱말"]
        want = np.asarray(ref.get_scores(q), dtype=np.float32)
        got = np.zeros(len(docs), np.float32)
        for t in p.tids(q):
            a, b = int(p.indptr[t]), int(p.indptr[t + 1])
            got[p.indices[a:b]] += p.data[a:b]
        assert np.array_equal(want, got)
    assert p.tids(["없는낱말"]).size == 0
    assert len(p.vocab) == len(vocab)            # hashed: no collisions, no dictionary


def test_lexical_search_scores_and_contains(backend, lexicon):
    lex = backend.lexical
    terms = ["의료", "관광", "예산", "외국인"]
    hits = lex.search(terms, 10)
    assert hits and all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert np.allclose(lex.scores(terms, [h.id for h in hits]), [h.score for h in hits])
    held = lex.contains([h.id for h in hits], terms)
    ids = [c.id for c in backend.chunks.all()]
    for h in hits:
        row = ids.index(h.id)
        assert held[h.id] == set(terms) & set(lexicon[row][0])
    dfs = lex.doc_freqs(terms + ["없는낱말"])
    assert dfs["없는낱말"] == 0
    assert dfs["예산"] == sum(1 for row in lexicon if "예산" in row[0])


def test_a_small_budget_still_ranks_by_exact_scores(backend, monkeypatch):
    """Common terms skipped while gathering candidates are added back exactly for the pool."""
    full = backend.lexical.search(["의료관광", "사업", "추진", "예산"], 5)
    monkeypatch.setattr(local, "SCORE_BUDGET", 1)
    part = backend.lexical.search(["의료관광", "사업", "추진", "예산"], 5)
    assert part and part[0].id == full[0].id
    assert np.allclose(backend.lexical.scores(["의료관광", "사업", "추진", "예산"], [c.id for c in part]),
                       [c.score for c in part])


def test_filter_columns_agree_with_filters_matches(backend):
    chunks = list(backend.chunks.all())
    years = sorted({c.year for c in chunks if c.year})
    depts = sorted({c.department for c in chunks if c.department})
    cases = [Filters.of(year=years[0]), Filters.of(department=depts[0].replace("과", " 과", 1)),
             Filters.of(chapter_kind="plan"), Filters.of(file=chunks[0].file),
             Filters.of(year=years, chapter_kind=["plan", "results"], department=depts[:2]),
             Filters.of(year=1999)]
    rows = backend.rows
    for f in cases:
        want = np.array([f.matches(c) for c in chunks])
        assert np.array_equal(rows.mask(f), want), f
        assert backend.chunks.count(f) == int(want.sum())
        assert [c.id for c in backend.chunks.matching(f)] == [c.id for c, w in zip(chunks, want) if w]


class _Listed(ChunkStore):
    """The reference semantics: the base class's scans over a plain list."""

    def __init__(self, chunks, units):
        self._c, self._u = chunks, units

    def all(self):
        return self._c

    def units(self):
        return self._u


def test_chunks_and_units_by_id_agree_with_the_reference_scans(backend):
    store = backend.chunks
    chunks = list(store.all())
    units = list(store.units())
    ref = _Listed(chunks, units)
    assert len(store) == len(chunks) and units and store.has_units()
    assert store.facets() == ref.facets()
    ids = [c.id for c in chunks]
    pick = [ids[5], ids[0], "없는:1-2", ids[-1]]
    assert [c.id for c in store.get(pick)] == [ids[5], ids[0], ids[-1]]
    assert store.order(reversed(ids)) == ids
    by = store.units_for_chunks(ids)
    for c in chunks:
        assert [u.id for u in by[c.id]] == [u.id for u in ref.units_for_chunk(c.id)]
        assert [x.id for x in store.section(c)] == [x.id for x in ref.section(c)]
        assert store.programme_ids(c) == ref.programme_ids(c)
    f = chunks[0].file
    assert [u.id for u in store.units_for_file(f)] == [u.id for u in ref.units_for_file(f)]
    assert store.all()[3].id == ids[3] and store.all()[-1].id == ids[-1]


def test_ivf_sq8_vectors_find_what_exact_search_finds(tmp_path, monkeypatch):
    """Above the threshold: float16 vectors + IVF-SQ8, candidates re-scored exactly."""
    monkeypatch.setattr(local, "HNSW_THRESHOLD", 1000)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    v = centres[rng.integers(0, 50, 4000)] + rng.normal(0, 0.3, (4000, 64)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    params = local.save_vectors(tmp_path, v)
    assert params["type"] == "ivf_sq8" and np.load(tmp_path / local.VECTORS).dtype == np.float16
    import faiss

    idx = faiss.read_index(str(tmp_path / local.FAISS))
    idx.nprobe = params["nlist"]          # every list: only quantisation can differ
    q = v[:20] + rng.normal(0, 0.1, (20, 64)).astype(np.float32)
    _, got = idx.search(q, 20)
    exact = np.argsort(-(v @ q.T).T, axis=1)[:, :10]
    recall = np.mean([len(set(got[i]) & set(exact[i])) / 10 for i in range(20)])
    assert recall >= 0.95


def test_damaged_store_names_the_fix(bm25_dir, tmp_path):
    import shutil

    from index.store import IndexStoreError

    d = tmp_path / "idx"
    shutil.copytree(bm25_dir, d)
    data = (d / local.STORE).read_bytes()
    (d / local.STORE).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexStoreError, match="kosearch index"):
        open_backend(d)
