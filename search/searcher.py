"""``Searcher``: BM25, phrase-BM25 and dense candidates from the index backend (``index.store``),
fused by chunk id (``search.fusion``), with filters, coverage and confidence."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import config
from index.config import (CANDIDATES, DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION, DEFAULT_INDEX_DIR, DEFAULT_MODEL,
                          DEFAULT_PHRASE_WEIGHT, HIGH_COVERAGE, HIGH_DENSE, LOW_COVERAGE, LOW_DENSE, YEAR_BOOST,
                          QueryError)
from index.model import Chunk
from index.store import Backend, Candidate, Filters, IndexStoreError, Manifest, open_backend
from index.tokens import TokenizerConfig, term_pairs
from search.citations import citation
from search.fusion import fuse_candidates
from search.query import Query, clean_query

__all__ = ["Searcher", "Hit", "QueryError", "Query", "clean_query", "confidence"]

_YEAR = re.compile(r"(?<!\d)(20\d{2})(?!\d)")


@dataclass
class Hit:
    rank: int
    score: float
    confidence: str                 # "high" | "medium" | "low"
    chunk: Chunk
    citation: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    bm25: float = 0.0
    dense: float = 0.0
    coverage: float = 0.0           # share of the question's terms found in the passage, weighted by IDF

    @property
    def text(self) -> str:
        return self.chunk.text

    def to_dict(self) -> dict:
        """The JSON schema of a hit (search/present.py)."""
        from search.present import hit_dict

        return hit_dict(self)


class Searcher:
    """Open once, search many times. The encoder loads lazily on the first dense query."""

    def __init__(self, index_dir: Path, backend: Backend, model: str | None = None, models=None):
        self.index_dir = Path(index_dir)
        self.store = backend
        self.manifest: Manifest = backend.manifest
        self.chunks = backend.chunks.all()   # a sequence; the local backend reads it from disk on demand
        self._model = model
        self._encoder = None
        self._answerer = None
        self._lock = threading.Lock()
        self.models = models if models is not None else _registry()
        self.tokenizer = self.models.tokenizer(TokenizerConfig.from_dict(self.manifest.tokenizer))

    @classmethod
    def open(cls, index_dir: str | Path = DEFAULT_INDEX_DIR, model: str | None = None, *, models=None) -> "Searcher":
        """Load an index through the backend its manifest names. ``model`` must match the one it
        was built with (default: that one).

        ``models`` (an ``index.models.ModelRegistry``) shares kiwi and the encoder with other
        searchers and builds; by default a new registry of this searcher's own.
        """
        index_dir = Path(index_dir)
        backend = open_backend(index_dir)
        built = backend.manifest.model.get("id")
        if model and built and model != built:
            raise IndexStoreError(
                f"index at {index_dir} was built with model {built!r}, not {model!r}; "
                f"re-index with `kosearch index --model {model}`")
        return cls(index_dir, backend, model or built, models=models)

    @property
    def units(self) -> list:
        """Answer units (index.model.Unit) of this index."""
        return self.store.chunks.units()

    @property
    def answerer(self):
        """The answer chooser over this index's units, built on first use."""
        if self._answerer is None:
            from search.answerer import Answerer

            self._answerer = Answerer(self)
        return self._answerer

    @property
    def has_vectors(self) -> bool:
        return self.store.vectors is not None and bool(self._model)

    @property
    def encoder(self):
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    enc = self.models.encoder(self._model, self.manifest.model.get("precision", "fp32"))
                    fp = self.manifest.model.get("fingerprint")
                    if fp and enc.fingerprint != fp:
                        raise IndexStoreError(
                            f"model {self._model!r} differs from the one this index was built with; "
                            "re-index with `kosearch index`")
                    self._encoder = enc
        return self._encoder

    def share_models(self, other: "Searcher") -> None:
        """Reuse ``other``'s loaded kiwi and encoder where this index was built the same way."""
        self.models = other.models
        if other.manifest.tokenizer == self.manifest.tokenizer:
            self.tokenizer = other.tokenizer
        same_model = (self._model == other._model
                      and self.manifest.model.get("fingerprint") == other.manifest.model.get("fingerprint"))
        if same_model and other._encoder is not None:
            self._encoder = other._encoder

    def warmup(self) -> None:
        """Load kiwi and the encoder now rather than on the first question."""
        self.tokenizer.tokenize("예산")
        if self.has_vectors:
            self.encoder.encode_queries(["예산"])

    def validate(self) -> None:
        """Check the whole index before it serves anyone: counts that must agree, every part
        answering a probe (lexical, phrase, vectors, chunks, answer units) and one real search.
        Raises IndexStoreError naming the damaged part, so a reload keeps the index in service
        and the CLI says what to rebuild."""
        def damaged(part: str, why: str) -> IndexStoreError:
            return IndexStoreError(f"색인 {self.index_dir} 의 {part} 이(가) 손상되었습니다 ({why}); "
                                   "`kosearch index` 로 다시 색인하세요.")

        store, manifest = self.store, self.manifest
        try:
            chunks = store.chunks.all()
        except Exception as exc:
            raise damaged("구절", type(exc).__name__) from None
        n = len(chunks)
        if n == 0:
            raise damaged("구절", "구절이 하나도 없음")
        if manifest.chunk_count and manifest.chunk_count != n:
            raise damaged("구절", f"manifest 는 {manifest.chunk_count}개, 저장된 구절은 {n}개")
        if sum(e.chunks for e in manifest.files.values()) not in (0, n):
            raise damaged("파일 목록", "파일별 구절 수의 합이 구절 수와 다름")
        if any(not isinstance(c.id, str) or not isinstance(c.text, str) for c in chunks[:1000]):
            raise damaged("구절", "형식이 맞지 않음")
        probe = chunks[0]
        checks = [("낱말 색인", store.lexical), ("구문 색인", store.phrases)]
        for part, lex in checks:
            try:
                if lex.doc_count() != n:
                    raise damaged(part, f"문서 {lex.doc_count()}개, 구절 {n}개")
                lex.search(self.tokenizer.tokenize(probe.text[:200])[:8] or ["예산"], 3)
                lex.doc_freqs(["예산"])
            except IndexStoreError:
                raise
            except Exception as exc:
                raise damaged(part, type(exc).__name__) from None
        if store.vectors is not None:
            try:
                v = store.vectors.vectors([probe.id])
                if v.shape[0] != 1 or not np.isfinite(v).all():
                    raise damaged("벡터", "값이 올바르지 않음")
                store.vectors.search(np.asarray(v[0], dtype=np.float32), 3)
            except IndexStoreError:
                raise
            except Exception as exc:
                raise damaged("벡터", type(exc).__name__) from None
        try:
            wanted = {u.chunk_id for u in store.chunks.units()[:5000]}   # read by id: no pass over every chunk
            if wanted - {c.id for c in store.chunks.get(sorted(wanted))}:
                raise damaged("답 단위", "없는 구절을 가리킴")
        except IndexStoreError:
            raise
        except Exception as exc:
            raise damaged("답 단위", type(exc).__name__) from None
        try:
            self.search(probe.text[:60] or "예산", top_k=1, mode="bm25")
        except Exception as exc:
            raise damaged("색인", f"시험 검색 실패: {type(exc).__name__}") from None

    # ---- retrieval -----------------------------------------------------------------------
    def filters(self, year=None, department=None, chapter_kind=None, file=None) -> Filters:
        return Filters.of(year, department, chapter_kind, file)

    def _order(self, ids) -> list[str]:
        """Distinct ids in store order (the order fused scores break ties in)."""
        return self.store.chunks.order(ids)

    def search(self, query: str, top_k: int = 5, mode: str = "hybrid", *, year=None, department=None,
               chapter_kind=None, file=None, group_by: str | None = None,
               fusion: str = DEFAULT_FUSION, dense_weight: float = DEFAULT_DENSE_WEIGHT,
               phrase_weight: float = DEFAULT_PHRASE_WEIGHT) -> list[Hit]:
        """Ranked hits for a question. Filters narrow the chunks searched; ``group_by="programme"``
        keeps the best hit per programme.

        ``hybrid`` fuses kiwi-term BM25, BM25 over adjacent-term pairs (phrase) and dense cosine;
        ``bm25`` and ``dense`` are the plain halves. ``query`` is a string or a ``Query`` from
        :func:`clean_query` (then it is not cleaned again; its notices are the caller's to show).
        """
        query = clean_query(query).text
        config.validate_mode(mode)
        top_k = config.validate_top_k(top_k)
        vectors = mode != "bm25" and self.has_vectors
        if mode == "dense" and not vectors:
            raise QueryError("이 색인에는 벡터가 없습니다 (BM25 전용으로 만들어짐). --mode bm25를 쓰거나 모델과 함께 다시 색인하세요.")
        config.validate_fusion(fusion)
        dense_weight, phrase_weight = config.validate_weights(dense_weight, phrase_weight)
        filters = self.filters(year, department, chapter_kind, file)  # none matching: no candidates
        analysed = self.tokenizer.terms(query)
        terms = [t.text for t in analysed]
        n_cand = max(CANDIDATES, top_k * (8 if group_by else 3))
        lexical = self.store.lexical

        ids: list[str] = []
        if mode != "dense":
            # in store order: equal scores then rank the same on every backend
            ids = self._order([c.id for c in lexical.search(terms, n_cand, filters)])
        dense = np.zeros(len(ids), dtype=np.float32)
        if vectors:
            qvec = self.encoder.encode_queries([query])[0].astype(np.float32)
            near = [c.id for c in self.store.vectors.search(qvec, n_cand, filters)]
            ids = near if mode == "dense" else self._order(near + ids)
            dense = self.store.vectors.vectors(ids) @ qvec if ids else np.zeros(0, dtype=np.float32)
        bm = lexical.scores(terms, ids)
        if mode == "bm25":
            final = bm
        elif mode == "dense":
            final = dense
        else:  # hybrid; on an index without vectors, BM25 + phrase only
            phrase = self.store.phrases.scores(term_pairs(analysed), ids)
            final = fuse_candidates([Candidate(i, float(b)) for i, b in zip(ids, bm)],
                                    [Candidate(i, float(d)) for i, d in zip(ids, dense)] if vectors else [],
                                    [Candidate(i, float(x)) for i, x in zip(ids, phrase)], ids, fusion,
                                    dense_weight if vectors else 0.0, phrase_weight)
        cand = ids
        by_id: dict = {}
        if year in (None, "") and mode != "dense" and len(cand) and _YEAR.search(query):
            by_id = {c.id: c for c in self.store.chunks.get(cand)}   # the boost reads every candidate
            final = final * self._year_boost(query, cand, by_id)
        order = np.argsort(-final, kind="stable")
        if not by_id and len(cand):
            # only the passages that can be shown are read (a group may skip some)
            need = order if group_by else order[:top_k]
            by_id = {c.id: c for c in self.store.chunks.get([cand[j] for j in need])}
        hits: list[Hit] = []
        hit_ids: list[str] = []
        seen_groups: set = set()
        qterms = set(terms)
        for j in order:
            i = cand[j]
            c = by_id[i]
            if group_by == "programme":
                key = (c.file, c.chapter_number, c.programme_number, c.programme)
                if key in seen_groups:
                    continue
                seen_groups.add(key)
            hits.append(Hit(rank=len(hits) + 1, score=float(final[j]), confidence="low", chunk=c,
                            citation=citation(c), bm25=float(bm[j]), dense=float(dense[j]) if len(dense) else 0.0))
            hit_ids.append(i)
            if len(hits) >= top_k:
                break
        idf = self._idf(qterms)
        total = sum(idf.values())
        held = self.store.lexical.contains(hit_ids, qterms) if hits and qterms else {}
        for h, i in zip(hits, hit_ids):
            h.highlights = self.highlight(h.chunk.text, qterms)
            h.coverage = sum(idf[t] for t in qterms & held.get(i, set())) / total if total else 0.0
            h.confidence = confidence(h, mode if vectors or mode == "dense" else "bm25",
                                      calibrated_dense=self._model == DEFAULT_MODEL)
        return hits

    def _idf(self, terms: set[str]) -> dict[str, float]:
        """BM25 IDF of each term over this index (a term no passage has gets the highest).

        Weighting coverage by it tells "the question's rare words are here" from "only 예산 and
        구민 are here": the usual shape of a question the reports cannot answer.
        """
        n = self.store.lexical.doc_count()
        return {t: float(np.log(1 + (n - df + 0.5) / (df + 0.5))) for t, df in self.doc_freqs(terms).items()}

    def doc_freqs(self, terms) -> dict[str, int]:
        """How many passages hold each term (kiwi terms as indexed)."""
        return self.store.lexical.doc_freqs(terms)

    def _year_boost(self, query: str, cand: list[str], by_id: dict) -> np.ndarray:
        """A question naming a year ("2022년 …") prefers passages of that year, as a soft boost
        rather than a filter: a 2018 report also holds the 2019 plan."""
        years = set(_YEAR.findall(query))
        boost = np.ones(len(cand), dtype=np.float32)
        if not years:
            return boost
        for j, i in enumerate(cand):   # the candidates only, already read
            c = by_id[i]
            if str(c.year) in years or any(y in c.index_text for y in years):
                boost[j] += YEAR_BOOST
        return boost

    def highlight(self, text: str, qterms: set[str]) -> list[tuple[int, int]]:
        """Character spans in ``text`` where the question's terms occur, overlapping spans merged.

        Terms are morpheme forms, which for nouns, numbers and foreign words appear verbatim in
        the text; a plain search is far cheaper than re-analysing every passage with kiwi.
        """
        if not qterms:
            return []
        words = sorted((t for t in qterms if len(t) > 1 or not t.isascii()), key=len, reverse=True)
        if not words:
            return []
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        merged: list[tuple[int, int]] = []
        for m in pattern.finditer(text):
            s, e = m.span()
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        return merged

    def section_text(self, chunk: Chunk) -> str:
        """The whole subsection a chunk belongs to (all its chunks, in order)."""
        parts = list(self.store.chunks.section(chunk))
        parts.sort(key=lambda c: c.start_line)
        return "\n".join(c.text for c in parts) if parts else chunk.text

    def changed_files(self) -> list[tuple[str, str]]:
        """(file, "변경"|"삭제"|"추가") for files that differ on disk from what was indexed."""
        from index.documents import collect_files, file_hash

        out = []
        indexed: set[Path] = set()
        folders: set[Path] = set()
        for name, entry in self.manifest.files.items():
            p = Path(entry.path)
            if not entry.hash:
                continue
            indexed.add(p.resolve())
            folders.add(p.parent)
            if not p.is_file():
                out.append((name, "삭제"))
            elif file_hash(p) != entry.hash:
                out.append((name, "변경"))
        on_disk, _ = collect_files(sorted(f for f in folders if f.is_dir()))
        root = Path(self.manifest.root) if self.manifest.root else None

        def name(f: Path) -> str:
            from index.build import file_id

            return file_id(f, root) if root else f.name

        out.extend((name(f), "추가") for f in on_disk if f.resolve() not in indexed)
        return out

    def stats(self) -> dict:
        m = self.manifest
        return {"index_dir": str(self.index_dir), "files": len(m.files), "chunks": m.chunk_count,
                "model": m.model.get("id") or "(없음: BM25 전용)", "created": m.created,
                "vector_index": m.vector_index}


def confidence(hit: Hit, mode: str, calibrated_dense: bool = True) -> str:
    """high | medium | low from IDF-weighted term coverage of the question and dense similarity.

    The dense thresholds are cosines of the bundled multilingual-e5-small; for another model
    only term coverage is used.
    """
    if mode == "bm25" or not calibrated_dense:
        if hit.coverage >= HIGH_COVERAGE and hit.bm25 > 0:
            return "high"
        return "medium" if hit.coverage >= LOW_COVERAGE else "low"
    # vector similarity alone never makes a passage 높음: the question's words must be in it
    if hit.coverage >= HIGH_COVERAGE and hit.dense >= LOW_DENSE:
        return "high"
    if hit.coverage >= LOW_COVERAGE and hit.dense >= LOW_DENSE:
        return "medium"
    return "low"


def _registry():
    from index.models import ModelRegistry

    return ModelRegistry()
