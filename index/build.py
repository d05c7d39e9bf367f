"""The indexing pipeline: files -> documents -> chunks -> kiwi terms + vectors -> the index writer.

Incremental: files whose content hash is unchanged keep their chunks and vectors from the
previous index; only added or changed files are parsed and embedded, removed ones dropped.
"""
from __future__ import annotations

import os
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
from index.store import FileEntry, IndexStoreError, Manifest, open_writer
from index.textnorm import display_name
from index.tokens import KoreanTokenizer, TokenizerConfig, config_with_userdict, term_pairs

# Bump when parsing or chunking changes what an unchanged file yields: forces a full re-index.
PIPELINE_VERSION = 8


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
          models: ModelRegistry | None = None, wait: float | None = None,
          backend: str | None = None) -> BuildReport:
    """Index report files under ``paths`` into ``index_dir``, incrementally.

    Files are keyed by their path relative to a root recorded in the manifest (the folder given,
    or the common folder of several), so the same name in two folders never collides. The whole
    build holds the index's writer lock: a second build waits ``wait`` seconds (default
    ``$KOSEARCH_INDEX_WAIT``, else 0) and then stops with a one-line message.

    A file whose size and mtime match the manifest is taken as unchanged without hashing; with
    nothing changed, neither kiwi nor the model is loaded (the model's fingerprint is cached).
    ``backend`` names the storage engine of a new index (``index.store.BACKENDS``; default local).
    """
    index_dir = Path(index_dir)
    models = models or ModelRegistry()
    report = BuildReport()
    files, report.skipped = collect_files(paths)
    if userdict is None:
        userdict = next((Path(p) / "userdict.txt" for p in paths if (Path(p) / "userdict.txt").is_file()), None)
    tok_config = config_with_userdict(userdict)
    encoder = make_encoder(model, models)

    with open_writer(index_dir, backend=backend, wait=wait, fail_after=fail_after) as writer:
        old: Manifest | None = writer.previous
        if writer.previous_error:
            report.rebuilt_reason = writer.previous_error
        if old is not None:
            reason = _incompatible(old, encoder, tok_config, writer)
            if reason:
                report.rebuilt_reason, old = reason, None
        if report.rebuilt_reason:
            log(f"전체 재색인: {report.rebuilt_reason}")
        root = file_root(paths, files, old.root if old is not None else None)

        manifest = Manifest(tokenizer=tok_config.to_dict(), pipeline=PIPELINE_VERSION,
                            search=config.search_settings(), aliases=_aliases(userdict, paths), root=str(root))
        docs: list = []   # (name, document) of added or changed files
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="읽기", unit="파일")
        for f in iterator:
            name = file_id(f, root)
            if name in manifest.files:
                continue  # the same file reached twice (a link inside the folder)
            prev = old.files.get(name) if old else None
            try:
                size, mtime = stat_key(f)
                same_stat = prev is not None and prev.hash and (prev.size, prev.mtime_ns) == (size, mtime)
                h = prev.hash if same_stat else file_hash(f)
            except OSError as exc:
                report.skipped.append(Skipped(file=str(f), reason=f"cannot read: {exc.strerror}"))
                continue
            if prev is not None and prev.hash == h:
                manifest.files[name] = FileEntry(**{**prev.__dict__, "path": str(f), "size": size, "mtime_ns": mtime})
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
            report.notices.extend(f"{display_name(name)}: {n}" for n in doc.notices)
            docs.append((name, doc))
            manifest.files[name] = FileEntry(hash=h, path=str(f), chunks=len(doc.chunks), format=doc.format,
                                             title=doc.meta.title, department=doc.meta.department,
                                             year=doc.meta.year, size=size, mtime_ns=mtime)
            (report.changed if prev is not None else report.added).append(name)
        if old:
            report.removed = sorted(set(old.files) - set(manifest.files))
        manifest.skipped = [{"file": s.file, "reason": s.reason} for s in report.skipped]

        report.chunks = sum(e.chunks for e in manifest.files.values())
        if old is not None and not (report.added or report.changed or report.removed) \
                and old.aliases == manifest.aliases and old.root == manifest.root:
            return report  # nothing to do: the index on disk is current
        if not manifest.files:
            why = "; ".join(f"{display_name(Path(x.file).name)}: {x.reason}" for x in report.skipped[:5])
            raise IndexStoreError("nothing to index: no readable report files in " + ", ".join(map(str, paths))
                                  + (f" ({why})" if why else ""))

        if old is None:
            writer.clear()
        for name in report.removed:
            writer.delete(name)
        new_chunks = [c for _, d in docs for c in d.chunks]
        manifest.model = old.model if old is not None and old.model else _model_info(encoder)
        fresh = None
        if encoder is not None:
            word_only: set[int] = set()   # chunks past their file's MAX_FILE_EMBED_CHARS: words only
            at = 0
            for _, d in docs:
                if d.dense_chunks is not None:
                    word_only.update(range(at + d.dense_chunks, at + len(d.chunks)))
                at += len(d.chunks)
            fresh, report.embedded = embed(encoder, [c.index_text for c in new_chunks], progress, skip=word_only)
        terms, pairs = analyse(models.tokenizer(tok_config), new_chunks) if new_chunks else ([], [])
        at = 0
        for name, d in docs:
            n = len(d.chunks)
            writer.upsert(name, d.chunks, d.units, terms[at:at + n], pairs[at:at + n],
                          None if fresh is None else fresh[at:at + n])
            at += n
        writer.commit(manifest)
        report.chunks = manifest.chunk_count
    report.written = True
    return report


def build_index(chunks: list[Chunk], index_dir: str | Path, model: str | None = DEFAULT_MODEL,
                progress: bool = False, models: ModelRegistry | None = None, backend: str | None = None) -> None:
    """Index ready-made chunks (e.g. a benchmark's passages, one chunk each) from scratch."""
    models = models or ModelRegistry()
    encoder = make_encoder(model, models)
    tok_config = TokenizerConfig()
    manifest = Manifest(model=_model_info(encoder), tokenizer=tok_config.to_dict(), search=config.search_settings())
    by_file: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_file.setdefault(c.file, []).append(i)
        manifest.files.setdefault(c.file, FileEntry(hash="", path=c.path, chunks=0))
        manifest.files[c.file].chunks += 1
    vectors = embed(encoder, [c.index_text for c in chunks], progress)[0] if encoder is not None else None
    terms, pairs = analyse(models.tokenizer(tok_config), chunks)
    with open_writer(Path(index_dir), backend=backend) as writer:
        writer.clear()
        for name, idx in by_file.items():
            writer.upsert(name, [chunks[i] for i in idx], [], [terms[i] for i in idx], [pairs[i] for i in idx],
                          None if vectors is None else vectors[idx])
        writer.commit(manifest)


def file_root(paths: list[str | Path], files: list[Path], recorded: str | None = None) -> Path:
    """The folder file ids are relative to: the recorded one while every file lies under it, else
    the folder given (or the common folder of several paths; a file's own folder)."""
    absolute = [Path(os.path.abspath(f)) for f in files]
    if recorded and all(_under(f, Path(recorded)) for f in absolute):
        return Path(recorded)
    bases = [Path(os.path.abspath(p)) for p in paths]
    bases = [b if b.is_dir() else b.parent for b in bases] or [Path.cwd()]
    return Path(os.path.commonpath([str(b) for b in bases]))


def file_id(path: Path, root: Path) -> str:
    """A file's stable identity: its path relative to ``root``, with forward slashes."""
    p = Path(os.path.abspath(path))
    return p.relative_to(root).as_posix() if _under(p, root) else p.as_posix().lstrip("/")


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def analyse(tokenizer: KoreanTokenizer, chunks: list[Chunk]) -> tuple[list[list[str]], list[list[str]]]:
    """Each chunk's kiwi terms and adjacent-term pairs, from one kiwi pass."""
    terms = tokenizer.terms_many([c.index_text for c in chunks])
    return [[t.text for t in ts] for ts in terms], [term_pairs(ts) for ts in terms]


def _model_info(encoder) -> dict:
    if encoder is None:
        return {}
    return {"id": encoder.model_id, "dim": encoder.dim, "fingerprint": encoder.fingerprint}


def _incompatible(old: Manifest, encoder, tok_config: TokenizerConfig, writer) -> str | None:
    # the fingerprint alone: no model load (its files' hashes are cached by size and mtime)
    want_fp = encoder.fingerprint if encoder is not None else None
    if old.model.get("fingerprint") != want_fp:
        return f"model changed ({old.model.get('id') or 'none'} -> {encoder.model_id if encoder else 'none'})"
    if old.pipeline != PIPELINE_VERSION:
        return "parser or chunker changed since this index was built"
    missing = writer.problem(need_vectors=encoder is not None)
    if missing:
        return missing
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
