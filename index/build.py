"""The indexing pipeline: files -> documents -> chunks -> kiwi BM25 + vectors -> atomic save.

Incremental: files whose content hash is unchanged keep their chunks and vectors from the
previous index; only added or changed files are parsed and embedded, removed ones dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from index import config
from index.config import DEFAULT_MODEL
from index.documents import collect_files, file_hash, load_document
from index.files import stat_key
from index.model import Chunk, Skipped
from index.models import ModelRegistry
from index.readers import ReadError
from index.store import FileEntry, IndexStoreError, Manifest, read_chunks, read_manifest, read_units, save_index
from index.textnorm import display_name
from index.tokens import KoreanTokenizer, TokenizerConfig, config_with_userdict, term_pairs

# Bump when parsing or chunking changes what an unchanged file yields: forces a full re-index.
PIPELINE_VERSION = 8
REQUIRED_FILES = ("manifest.json", "chunks.jsonl", "units.jsonl", "terms.json", "bm25", "phrases")


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
    notices: list[str] = field(default_factory=list)  # "<file>: 앞 2,000,000자만 색인함 (…)", one per line

    def summary(self) -> str:
        parts = [f"추가 {len(self.added)}", f"변경 {len(self.changed)}", f"삭제 {len(self.removed)}",
                 f"변경 없음 {len(self.unchanged)}", f"건너뜀 {len(self.skipped)}"]
        head = "색인 완료" if self.written else "색인이 최신 상태입니다"
        return f"{head}: 파일 " + ", ".join(parts) + f" · 청크 {self.chunks}개 · 새로 임베딩 {self.embedded}개" \
            + "".join(f"\n알림: {n}" for n in self.notices)


def make_encoder(model: str | None, models: ModelRegistry | None = None):
    """The registry's encoder for ``model``, or None for a BM25-only index (``--model none``)."""
    if config.is_no_model(model):
        return None
    return (models or ModelRegistry()).encoder(model)


def embed(encoder, texts: list[str], progress: bool, skip: set[int] = frozenset()) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` through the persistent embedding cache (keyed by text and model),
    and how many had to be computed. Texts at positions in ``skip`` get a zero vector (searched
    by words only: no cosine with any query)."""
    if skip:
        keep = [i for i in range(len(texts)) if i not in skip]
        some, n = embed(encoder, [texts[i] for i in keep], progress)
        out = np.zeros((len(texts), some.shape[1]), np.float32)
        out[keep] = some
        return out, n
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    from index.embedcache import EmbeddingCache
    from index.files import kosearch_home

    cache = EmbeddingCache(kosearch_home() / "embeddings", encoder.fingerprint)
    todo = len({t for t in texts if t not in cache})
    vectors = cache.embed_with(texts, lambda batch: encoder.encode_documents(batch, progress=progress))
    cache.save()
    return vectors, todo


def build(paths: list[str | Path], index_dir: str | Path, *, model: str | None = DEFAULT_MODEL,
          userdict: str | Path | None = None, progress: bool = False,
          log: Callable[[str], None] = lambda s: None, fail_after: str | None = None,
          models: ModelRegistry | None = None) -> BuildReport:
    """Index report files under ``paths`` into ``index_dir``, incrementally.

    A file whose size and mtime match the manifest is taken as unchanged without hashing; with
    nothing changed, neither kiwi nor the model is loaded (the model's fingerprint is cached).
    """
    index_dir = Path(index_dir)
    models = models or ModelRegistry()
    report = BuildReport()
    files, report.skipped = collect_files(paths)
    if userdict is None:
        userdict = next((Path(p) / "userdict.txt" for p in paths if (Path(p) / "userdict.txt").is_file()), None)
    tok_config = config_with_userdict(userdict)
    encoder = make_encoder(model, models)

    old: Manifest | None = None
    if (index_dir / "manifest.json").is_file():
        try:
            old = read_manifest(index_dir)
        except IndexStoreError as exc:
            report.rebuilt_reason = str(exc)
        if old is not None:
            reason = _incompatible(old, encoder, tok_config, index_dir)
            if reason:
                report.rebuilt_reason, old = reason, None
    if report.rebuilt_reason:
        log(f"전체 재색인: {report.rebuilt_reason}")

    manifest = Manifest(tokenizer=tok_config.to_dict(), pipeline=PIPELINE_VERSION, search=config.search_settings(),
                        aliases=_aliases(userdict, paths))
    unchanged_names: list[str] = []
    new_chunks: list[Chunk] = []
    word_only: set[int] = set()   # positions in new_chunks past their file's MAX_FILE_EMBED_CHARS
    names_seen: set[str] = set()

    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="읽기", unit="파일")
    new_units: list = []
    for f in iterator:
        name = _unique_name(f, names_seen)
        prev = old.files.get(name) if old else None
        try:
            size, mtime = stat_key(f)
            same_stat = prev is not None and prev.hash and (prev.size, prev.mtime_ns) == (size, mtime)
            h = prev.hash if same_stat else file_hash(f)
        except OSError as exc:
            report.skipped.append(Skipped(file=str(f), reason=f"cannot read: {exc.strerror}"))
            continue
        if prev is not None and prev.hash == h:
            manifest.files[name] = FileEntry(**{**prev.__dict__, "size": size, "mtime_ns": mtime})
            unchanged_names.append(name)
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
        if doc.dense_chunks is not None:
            word_only.update(range(len(new_chunks) + doc.dense_chunks, len(new_chunks) + len(doc.chunks)))
        report.notices.extend(f"{display_name(name)}: {n}" for n in doc.notices)
        new_chunks.extend(doc.chunks)
        new_units.extend(doc.units)
        manifest.files[name] = FileEntry(hash=h, path=str(f), chunks=len(doc.chunks), format=doc.format,
                                         title=doc.meta.title, department=doc.meta.department, year=doc.meta.year,
                                         size=size, mtime_ns=mtime)
        (report.changed if prev is not None else report.added).append(name)
    if old:
        report.removed = sorted(set(old.files) - set(manifest.files))
    manifest.skipped = [{"file": s.file, "reason": s.reason} for s in report.skipped]

    report.chunks = len(new_chunks) + sum(manifest.files[n].chunks for n in unchanged_names)
    if old is not None and not (report.added or report.changed or report.removed) and old.aliases == manifest.aliases:
        return report  # nothing to do: the index on disk is current
    if not manifest.files:
        why = "; ".join(f"{display_name(Path(x.file).name)}: {x.reason}" for x in report.skipped[:5])
        raise IndexStoreError("nothing to index: no readable report files in " + ", ".join(map(str, paths))
                              + (f" ({why})" if why else ""))

    # chunks (and vectors) of unchanged files come from the previous index, in file order
    keep: list[Chunk] = []
    keep_vec: list[np.ndarray] = []
    units: list = []
    if unchanged_names:
        kept = set(unchanged_names)
        units = [u for u in read_units(index_dir / "units.jsonl") if u.file in kept]
        old_chunks = read_chunks(index_dir / "chunks.jsonl")
        old_vectors = np.load(index_dir / "vectors.npy") if encoder is not None else None
        by_file: dict[str, list[int]] = {}
        for i, c in enumerate(old_chunks):
            by_file.setdefault(c.file, []).append(i)
        for name in unchanged_names:
            idx = by_file.get(name, [])
            keep.extend(old_chunks[i] for i in idx)
            if old_vectors is not None:
                keep_vec.extend(old_vectors[i] for i in idx)
    chunks = keep + new_chunks
    report.chunks = len(chunks)

    manifest.model = old.model if old is not None and old.model else _model_info(encoder)
    vectors = None
    if encoder is not None:
        fresh, report.embedded = embed(encoder, [c.index_text for c in new_chunks], progress, skip=word_only)
        parts = ([np.vstack(keep_vec)] if keep_vec else []) + ([fresh] if len(fresh) else [])
        vectors = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, encoder.dim), np.float32)
    tokens, pairs = analyse(models.tokenizer(tok_config), chunks)
    save_index(index_dir, manifest, chunks, tokens, pairs, vectors, units=units + new_units, fail_after=fail_after)
    report.written = True
    return report


def build_index(chunks: list[Chunk], index_dir: str | Path, model: str | None = DEFAULT_MODEL,
                progress: bool = False, models: ModelRegistry | None = None) -> None:
    """Index ready-made chunks (e.g. a benchmark's passages, one chunk each) from scratch."""
    models = models or ModelRegistry()
    encoder = make_encoder(model, models)
    tok_config = TokenizerConfig()
    manifest = Manifest(model=_model_info(encoder), tokenizer=tok_config.to_dict(), search=config.search_settings())
    for c in chunks:
        manifest.files.setdefault(c.file, FileEntry(hash="", path=c.path, chunks=0))
        manifest.files[c.file].chunks += 1
    vectors = embed(encoder, [c.index_text for c in chunks], progress)[0] if encoder is not None else None
    tokens, pairs = analyse(models.tokenizer(tok_config), chunks)
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
    # the fingerprint alone: no model load (its files' hashes are cached by size and mtime)
    want_fp = encoder.fingerprint if encoder is not None else None
    if old.model.get("fingerprint") != want_fp:
        return f"model changed ({old.model.get('id') or 'none'} -> {encoder.model_id if encoder else 'none'})"
    if old.pipeline != PIPELINE_VERSION:
        return "parser or chunker changed since this index was built"
    missing = [f for f in REQUIRED_FILES if not (index_dir / f).exists()]
    if missing or (encoder is not None and not (index_dir / "vectors.npy").is_file()):
        return "index files missing (" + ", ".join(missing or ["vectors.npy"]) + ")"
    if TokenizerConfig.from_dict(old.tokenizer) != tok_config:
        return "tokeniser settings or user dictionary changed"
    return None


def _aliases(userdict, paths) -> dict[str, str]:
    """Department short forms from ``aliases.txt`` beside the user dictionary (or in a corpus folder)."""
    from index.aliases import load_aliases

    where = [Path(userdict).parent] if userdict else []
    where += [Path(p) for p in paths if Path(p).is_dir()]
    for d in where:
        if (d / "aliases.txt").is_file():
            return load_aliases(d / "aliases.txt")
    return {}


def _unique_name(path: Path, seen: set[str]) -> str:
    """The file name, disambiguated with its parent when two folders hold the same name."""
    name = path.name
    if name in seen:
        name = f"{path.parent.name}/{path.name}"
    seen.add(name)
    return name
