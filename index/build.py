"""The indexing pipeline: files -> documents -> chunks -> kiwi BM25 + vectors -> atomic save.

Incremental: files whose content hash is unchanged keep their chunks and vectors from the
previous index; only added or changed files are parsed and embedded, removed ones dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from index.documents import collect_files, file_hash, load_document
from index.model import Chunk, Skipped
from index.readers import ReadError
from index.store import FileEntry, IndexStoreError, Manifest, read_chunks, read_manifest, save_index
from index.tokens import KoreanTokenizer, TokenizerConfig, config_with_userdict, term_pairs

DEFAULT_MODEL = "bundled:multilingual-e5-small"
NO_MODEL = {"none", "bm25", ""}
# Bump when parsing or chunking changes what an unchanged file yields: forces a full re-index.
PIPELINE_VERSION = 5
REQUIRED_FILES = ("manifest.json", "chunks.jsonl", "terms.json", "bm25", "phrases")


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    rebuilt_reason: str | None = None
    written: bool = False

    def summary(self) -> str:
        parts = [f"추가 {len(self.added)}", f"변경 {len(self.changed)}", f"삭제 {len(self.removed)}",
                 f"변경 없음 {len(self.unchanged)}", f"건너뜀 {len(self.skipped)}"]
        head = "색인 완료" if self.written else "색인이 최신 상태입니다"
        return f"{head}: 파일 " + ", ".join(parts) + f" · 청크 {self.chunks}개 · 새로 임베딩 {self.embedded}개"


def make_encoder(model: str | None):
    if model is None or model.lower() in NO_MODEL:
        return None
    from index.encoders import Encoder

    return Encoder(model)


def embed(encoder, texts: list[str], progress: bool) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` through the persistent embedding cache (keyed by text and model),
    and how many had to be computed."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    from index.embedcache import EmbeddingCache
    from index.encoders import kosearch_home

    cache = EmbeddingCache(kosearch_home() / "embeddings", encoder.fingerprint)
    found = cache.get_many(texts)
    todo = [i for i, v in enumerate(found) if v is None]
    if todo:
        fresh = encoder.encode_documents([texts[i] for i in todo], progress=progress)
        cache.put_many([texts[i] for i in todo], fresh)
        cache.save()
        for i, v in zip(todo, fresh):
            found[i] = v
    return np.vstack(found).astype(np.float32), len(todo)


def build(paths: list[str | Path], index_dir: str | Path, *, model: str | None = DEFAULT_MODEL,
          userdict: str | Path | None = None, progress: bool = False,
          log: Callable[[str], None] = lambda s: None, fail_after: str | None = None) -> BuildReport:
    """Index report files under ``paths`` into ``index_dir``, incrementally."""
    index_dir = Path(index_dir)
    report = BuildReport()
    files, report.skipped = collect_files(paths)
    if userdict is None:
        userdict = next((Path(p) / "userdict.txt" for p in paths if (Path(p) / "userdict.txt").is_file()), None)
    tok_config = config_with_userdict(userdict)
    encoder = make_encoder(model)

    old: Manifest | None = None
    old_chunks: list[Chunk] = []
    old_vectors = None
    if (index_dir / "manifest.json").is_file():
        try:
            old = read_manifest(index_dir)
        except IndexStoreError as exc:
            report.rebuilt_reason = str(exc)
        if old is not None:
            reason = _incompatible(old, encoder, tok_config, index_dir)
            if reason:
                report.rebuilt_reason, old = reason, None
            else:
                old_chunks = read_chunks(index_dir / "chunks.jsonl")
                if encoder is not None and (index_dir / "vectors.npy").is_file():
                    old_vectors = np.load(index_dir / "vectors.npy")
    if report.rebuilt_reason:
        log(f"전체 재색인: {report.rebuilt_reason}")

    manifest = Manifest(model=_model_info(encoder), tokenizer=tok_config.to_dict(), pipeline=PIPELINE_VERSION)
    keep: list[Chunk] = []
    keep_vec: list[np.ndarray] = []
    new_chunks: list[Chunk] = []
    names_seen: set[str] = set()
    by_file: dict[str, list[int]] = {}
    for i, c in enumerate(old_chunks):
        by_file.setdefault(c.file, []).append(i)

    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="읽기", unit="파일")
    for f in iterator:
        name = _unique_name(f, names_seen)
        try:
            h = file_hash(f)
        except OSError as exc:
            report.skipped.append(Skipped(file=str(f), reason=f"cannot read: {exc.strerror}"))
            continue
        prev = old.files.get(name) if old else None
        if prev is not None and prev.hash == h:
            idx = by_file.get(name, [])
            keep.extend(old_chunks[i] for i in idx)
            if old_vectors is not None:
                keep_vec.extend(old_vectors[i] for i in idx)
            manifest.files[name] = prev
            report.unchanged.append(name)
            continue
        try:
            doc = load_document(f, name=name)
        except ReadError as exc:
            report.skipped.append(Skipped(file=str(f), reason=str(exc)))
            continue
        except Exception as exc:  # one broken file must not stop the corpus
            report.skipped.append(Skipped(file=str(f), reason=f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        new_chunks.extend(doc.chunks)
        manifest.files[name] = FileEntry(hash=h, path=str(f), chunks=len(doc.chunks), format=doc.format,
                                         title=doc.meta.title, department=doc.meta.department, year=doc.meta.year)
        (report.changed if prev is not None else report.added).append(name)
    if old:
        report.removed = sorted(set(old.files) - set(manifest.files))
    manifest.skipped = [{"file": s.file, "reason": s.reason} for s in report.skipped]

    chunks = keep + new_chunks
    report.chunks = len(chunks)
    if old is not None and not (report.added or report.changed or report.removed):
        return report  # nothing to do: the index on disk is current
    if not manifest.files:
        why = "; ".join(f"{Path(x.file).name}: {x.reason}" for x in report.skipped[:5])
        raise IndexStoreError("nothing to index: no readable report files in " + ", ".join(map(str, paths))
                              + (f" ({why})" if why else ""))

    vectors = None
    if encoder is not None:
        fresh, report.embedded = embed(encoder, [c.index_text for c in new_chunks], progress)
        parts = ([np.vstack(keep_vec)] if keep_vec else []) + ([fresh] if len(fresh) else [])
        vectors = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, encoder.dim), np.float32)
    tokens, pairs = analyse(KoreanTokenizer(tok_config), chunks)
    save_index(index_dir, manifest, chunks, tokens, pairs, vectors, fail_after=fail_after)
    report.written = True
    return report


def build_index(chunks: list[Chunk], index_dir: str | Path, model: str | None = DEFAULT_MODEL,
                progress: bool = False) -> None:
    """Index ready-made chunks (e.g. a benchmark's passages, one chunk each) from scratch."""
    encoder = make_encoder(model)
    tok_config = TokenizerConfig()
    manifest = Manifest(model=_model_info(encoder), tokenizer=tok_config.to_dict())
    for c in chunks:
        manifest.files.setdefault(c.file, FileEntry(hash="", path=c.path, chunks=0))
        manifest.files[c.file].chunks += 1
    vectors = embed(encoder, [c.index_text for c in chunks], progress)[0] if encoder is not None else None
    tokens, pairs = analyse(KoreanTokenizer(tok_config), chunks)
    save_index(Path(index_dir), manifest, chunks, tokens, pairs, vectors)


def analyse(tokenizer: KoreanTokenizer, chunks: list[Chunk]) -> tuple[list[list[str]], list[list[str]]]:
    """Each chunk's kiwi terms and adjacent-term pairs, from one kiwi pass."""
    terms = tokenizer.terms_many([c.index_text for c in chunks])
    return [[t.text for t in ts] for ts in terms], [term_pairs(ts) for ts in terms]


def _model_info(encoder) -> dict:
    if encoder is None:
        return {}
    return {"id": encoder.model_id, "dim": encoder.dim, "fingerprint": encoder.fingerprint}


def _incompatible(old: Manifest, encoder, tok_config: TokenizerConfig, index_dir: Path) -> str | None:
    want = _model_info(encoder)
    if old.model.get("fingerprint") != want.get("fingerprint"):
        return f"model changed ({old.model.get('id') or 'none'} -> {want.get('id') or 'none'})"
    if old.pipeline != PIPELINE_VERSION:
        return "parser or chunker changed since this index was built"
    missing = [f for f in REQUIRED_FILES if not (index_dir / f).exists()]
    if missing or (encoder is not None and not (index_dir / "vectors.npy").is_file()):
        return "index files missing (" + ", ".join(missing or ["vectors.npy"]) + ")"
    if TokenizerConfig.from_dict(old.tokenizer) != tok_config:
        return "tokeniser settings or user dictionary changed"
    return None


def _unique_name(path: Path, seen: set[str]) -> str:
    """The file name, disambiguated with its parent when two folders hold the same name."""
    name = path.name
    if name in seen:
        name = f"{path.parent.name}/{path.name}"
    seen.add(name)
    return name
