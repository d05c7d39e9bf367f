"""The indexing pipeline: files -> documents -> chunks -> kiwi terms + vectors -> the index writer.

Incremental: files whose content hash is unchanged keep their chunks and vectors from the
previous index; only added or changed files are parsed and embedded, removed ones dropped.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from index import config
from index.config import DEFAULT_MODEL
from index.documents import collect_files, file_hash
from index.files import stat_key
from index.model import Chunk, Skipped
from index.models import ModelRegistry, require_device
from index.roots import absolute, entry_path, file_id as root_file_id, is_excluded, new_root, owner, roots_of, under
from index.store import FileEntry, IndexStoreError, Manifest, open_writer
from index.store.manifest import parse_manifest
from index.textnorm import display_name
from index.tokens import KoreanTokenizer, TokenizerConfig, config_with_userdict, term_pairs
from index.workers import FileLoader

# Bump when parsing or chunking changes what an unchanged file yields: forces a full re-index.
PIPELINE_VERSION = 10   # 10: a wrapped line is one unit with the line above; 9: the cover is a passage


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
    excluded: list[str] = field(default_factory=list)  # found under a path, but taken out with --remove
    why: dict[str, str] = field(default_factory=dict)  # file id -> why it was added, changed or removed
    roots: list[str] = field(default_factory=list)     # every source the index now remembers

    def summary(self) -> str:
        parts = [f"추가 {len(self.added)}", f"변경 {len(self.changed)}", f"삭제 {len(self.removed)}",
                 f"변경 없음 {len(self.unchanged)}", f"건너뜀 {len(self.skipped)}"]
        if self.excluded:
            parts.append(f"제외 유지 {len(self.excluded)} (--remove 로 뺀 파일)")
        head = "색인 완료" if self.written else "색인이 최신 상태입니다"
        tail = f" · 색인 폴더 {len(self.roots)}개" if len(self.roots) > 1 else ""
        return f"{head}: 파일 " + ", ".join(parts) + f" · 청크 {self.chunks}개 · 새로 임베딩 {self.embedded}개" + tail \
            + (f"\n전체 재색인: {self.rebuilt_reason}" if self.rebuilt_reason and self.written else "") \
            + "".join(f"\n알림: {n}" for n in self.notices)


def make_encoder(model: str | None, models: ModelRegistry | None = None, precision: str | None = None,
                 device: str | None = None):
    """The registry's encoder for ``model`` on ``device``, or None for a BM25-only index (``--model none``).
    ``config.SettingError`` when the device is not there (``--device cuda`` without CUDA)."""
    if config.is_no_model(model):
        return None
    require_device(device or config.DEFAULT_DEVICE)
    return (models or ModelRegistry()).encoder(model, precision, device)


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
          backend: str | None = None, on_file: Callable[[int, int, str], None] | None = None,
          precision: str | None = None, workers: int | None = None, device: str | None = None) -> BuildReport:
    """Index report files under ``paths`` into ``index_dir``, incrementally, keeping every other source.

    The index remembers its sources (``Manifest.roots``, see ``index.roots``). Indexing PATH adds
    or updates the files under PATH, drops the indexed files under PATH that are gone from disk,
    and keeps every other root as it is; a PATH no root holds becomes a new root. With no
    ``paths``, every remembered root is re-read (or ``corpus`` for a new index). A full rebuild
    (model, user dictionary or pipeline changed) re-reads every remembered root. File ids are
    paths relative to their root, so the same name in two folders never collides. The whole
    build holds the index's writer lock: a second build waits ``wait`` seconds (default
    ``$KOSEARCH_INDEX_WAIT``, else 0) and then stops with a one-line message.

    A file whose size and mtime match the manifest is taken as unchanged without hashing; with
    nothing changed, neither kiwi nor the model is loaded (the model's fingerprint is cached).
    ``backend`` names the storage engine of a new index (``index.store.BACKENDS``; default local).
    ``on_file(done, total, name)`` is called as files are read (the app's progress bar).
    ``precision`` ("int8" or "fp32", default ``config.DEFAULT_PRECISION``) is the encoder's.
    ``workers`` > 1 reads, parses, chunks and kiwi-analyses the added and changed files in that many
    processes (``index.workers``); the index is the same as with one. ``device`` ("cpu" or "cuda")
    is where the encoder runs; cuda means the fp32 torch path. Bad values: ``config.SettingError``.
    """
    index_dir = Path(index_dir)
    models = models or ModelRegistry()
    report = BuildReport()
    workers, device = config.validate_workers(workers), config.validate_device(device)
    precision = config.device_precision(device, precision)
    encoder = make_encoder(model, models, precision or _recorded_precision(index_dir, model), device)

    with open_writer(index_dir, backend=backend, wait=wait, fail_after=fail_after) as writer, \
            FileLoader(workers) as loader:
        prev: Manifest | None = writer.previous       # its roots count even when it must be rebuilt
        roots = roots_of(prev)
        excluded = list(prev.excluded) if prev is not None else []
        if not paths:
            paths = [r.path for r in roots] or [config.DEFAULT_CORPUS_DIR]
        given = [absolute(p) for p in paths]
        if userdict is None:
            userdict = next((d / "userdict.txt" for d in [r.path for r in roots] + given
                             if (d / "userdict.txt").is_file()), None)
        tok_config = config_with_userdict(userdict)
        old: Manifest | None = prev
        if writer.previous_error:
            report.rebuilt_reason = writer.previous_error
        if old is not None:
            reason = _incompatible(old, encoder, tok_config, writer)
            if reason:
                report.rebuilt_reason, old = reason, None
        if report.rebuilt_reason:
            log(f"전체 재색인: {report.rebuilt_reason}"
                + (f" (기억한 색인 폴더 {len(roots)}개를 모두 다시 읽음)" if roots else ""))

        # the sources: a given path that no root holds becomes one; a given root gone from disk is forgotten
        base = None
        if not roots and len(given) > 1:
            base = Path(os.path.commonpath([str(p if p.is_dir() else p.parent) for p in given]))
        old_ids = set(prev.files) if prev is not None else set()
        for p in given:
            if str(p) in excluded:
                excluded.remove(str(p))         # named again explicitly: back in
            if not p.exists():
                roots = [r for r in roots if r.path != p]
            elif owner(p, roots) is None:
                roots.append(new_root(p, roots, old_ids, base))
        scan = given if old is not None else list(dict.fromkeys([r.path for r in roots] + given))
        files, report.skipped = collect_files(scan)

        manifest = Manifest(tokenizer=tok_config.to_dict(), pipeline=PIPELINE_VERSION,
                            search=config.search_settings(), aliases=_aliases(userdict, [r.path for r in roots]),
                            root=str(roots[0].path) if roots else "", roots=[r.to_dict() for r in roots],
                            excluded=excluded)
        if old is not None:     # what was not asked about stays exactly as it is
            for name, entry in old.files.items():
                p = entry_path(entry)
                if p is None or not any(under(p, s) for s in scan):
                    manifest.files[name] = entry
        docs: list = []   # (name, document) of added or changed files
        hashes: dict[Path, str] = {}
        if workers > 1:
            loader.prefetch(_to_read(files, roots, old, excluded, given, hashes), tok_config)
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="읽기", unit="파일")
        for done, f in enumerate(iterator):
            fa = absolute(f)
            name = _file_name(fa, roots)
            if on_file is not None:
                on_file(done, len(files), name)
            if is_excluded(fa, excluded, given):
                report.excluded.append(name)
                continue
            if name in manifest.files:
                other = entry_path(manifest.files[name])
                if other is not None and other != fa and other.resolve() != fa.resolve():
                    report.skipped.append(Skipped(file=str(f), reason=f"식별자 {name} 을(를) 다른 파일({other})이 이미 씀"))
                continue  # else: the same file reached twice (a link inside the folder)
            prev_entry = old.files.get(name) if old else None
            try:
                size, mtime = stat_key(f)
                same_stat = prev_entry is not None and prev_entry.hash and (prev_entry.size, prev_entry.mtime_ns) == (size, mtime)
                h = prev_entry.hash if same_stat else hashes.pop(f, None) or file_hash(f)
            except OSError as exc:
                report.skipped.append(Skipped(file=str(f), reason=f"cannot read: {exc.strerror}"))
                continue
            if prev_entry is not None and prev_entry.hash == h:
                manifest.files[name] = FileEntry(**{**prev_entry.__dict__, "path": str(fa), "size": size, "mtime_ns": mtime})
                report.unchanged.append(name)
                continue
            doc, why = loader.load(f, name)
            if doc is None:
                report.skipped.append(Skipped(file=str(f), reason=why))
                continue
            report.notices.extend(f"{display_name(name)}: {n}" for n in doc.notices)
            docs.append((name, doc))
            manifest.files[name] = FileEntry(hash=h, path=str(fa), chunks=len(doc.chunks), format=doc.format,
                                             title=doc.meta.title, department=doc.meta.department,
                                             year=doc.meta.year, size=size, mtime_ns=mtime,
                                             indexed=time.strftime("%Y-%m-%dT%H:%M:%S"))
            if prev_entry is not None:
                report.changed.append(name)
                report.why[name] = "내용이 바뀜"
            else:
                report.added.append(name)
                report.why[name] = "전체 재색인" if prev is not None and name in prev.files else "새 파일"
        loader.close()
        if loader.summary(len(docs)):
            log(loader.summary(len(docs)))
        if prev is not None:
            report.removed = sorted(set(prev.files) - set(manifest.files))
            for name in report.removed:
                report.why[name] = ("--remove 로 뺀 파일" if name in report.excluded
                                    else "디스크에서 없어짐" if not report.rebuilt_reason
                                    else "전체 재색인 때 기억한 폴더에서 찾지 못함")
        if old is None and prev is not None:
            report.added = [n for n in report.added if n not in prev.files]
            report.changed += [n for n in manifest.files if n in prev.files and n not in report.unchanged]
        report.roots = [str(r.path) for r in roots]
        manifest.skipped = [{"file": s.file, "reason": s.reason} for s in report.skipped]

        report.chunks = sum(e.chunks for e in manifest.files.values())
        if old is not None and not (report.added or report.changed or report.removed) \
                and old.aliases == manifest.aliases and old.root == manifest.root \
                and old.roots == manifest.roots and old.excluded == manifest.excluded:
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
        terms, pairs = loader.analysis([name for name, _ in docs]) \
            or (analyse(models.tokenizer(tok_config), new_chunks) if new_chunks else ([], []))
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


def remove(targets: list[str | Path], index_dir: str | Path, *, wait: float | None = None) -> BuildReport:
    """Take files out of the index explicitly (``kosearch index --remove FILE|FOLDER``, the app's
    remove button). A target is a path (a file, or a folder: everything indexed under it) or a file
    id. A removed root is forgotten; a removed path still on disk is remembered in
    ``Manifest.excluded`` so indexing its folder again does not bring it back."""
    import copy

    report = BuildReport()
    with open_writer(Path(index_dir), wait=wait) as writer:
        prev = writer.previous
        if prev is None:
            raise IndexStoreError(writer.previous_error or f"{index_dir} 에 색인이 없습니다 (먼저 `kosearch index`)")
        manifest = copy.deepcopy(prev)
        roots = roots_of(prev)
        excluded = list(prev.excluded)
        gone: list[str] = []
        for t in targets:
            ta = absolute(t)
            hit = [n for n, e in prev.files.items() if (p := entry_path(e)) is not None and under(p, ta)]
            key = str(t).strip().strip("/")
            hit = hit or [n for n in prev.files if n == key or n.startswith(key + "/")]
            dropped_roots = [r for r in roots if under(r.path, ta)]
            if not hit and not dropped_roots:
                raise IndexStoreError(f"색인에 없는 파일·폴더입니다: {display_name(str(t))} (아무것도 빼지 않았습니다)")
            roots = [r for r in roots if r not in dropped_roots]
            if ta.exists() and owner(ta, roots) is not None and str(ta) not in excluded:
                excluded.append(str(ta))
            gone += [n for n in hit if n not in gone]
        for n in gone:
            writer.delete(n)
            manifest.files.pop(n, None)
            report.why[n] = "--remove 로 뺌"
        report.removed = gone
        manifest.roots = [r.to_dict() for r in roots]
        manifest.root = str(roots[0].path) if roots else ""
        manifest.excluded = excluded
        manifest.skipped = [s for s in prev.skipped if not any(under(absolute(s.get("file", "")), absolute(t))
                                                                for t in targets)]
        report.roots = [str(r.path) for r in roots]
        report.unchanged = [n for n in manifest.files]
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


def file_id(path: Path, root: Path) -> str:
    """A file's id under a single folder ``root`` (kept for callers without roots)."""
    p = absolute(path)
    return p.relative_to(root).as_posix() if under(p, Path(root)) else p.as_posix().lstrip("/")


def _file_name(fa: Path, roots) -> str:
    """The id of the file at absolute path ``fa``: its path under the root that holds it."""
    r = owner(fa, roots)
    return root_file_id(fa, r) if r is not None else fa.as_posix().lstrip("/")


def _to_read(files: list[Path], roots, old: Manifest | None, excluded: list[str], given: list[Path],
             hashes: dict[Path, str]) -> list[tuple[Path, str]]:
    """(path, id) of the files the build loop will read (added or changed), for the worker processes
    to start on; what they hash is left in ``hashes``. The loop still decides each file itself."""
    jobs = []
    for f in files:
        fa = absolute(f)
        name = _file_name(fa, roots)
        prev_entry = old.files.get(name) if old else None
        if is_excluded(fa, excluded, given):
            continue
        try:
            size, mtime = stat_key(f)
            if prev_entry is not None and prev_entry.hash and (prev_entry.size, prev_entry.mtime_ns) == (size, mtime):
                continue
            h = hashes[f] = file_hash(f)
        except OSError:
            continue
        if prev_entry is None or prev_entry.hash != h:
            jobs.append((f, name))
    return jobs


def analyse(tokenizer: KoreanTokenizer, chunks: list[Chunk]) -> tuple[list[list[str]], list[list[str]]]:
    """Each chunk's kiwi terms and adjacent-term pairs, from one kiwi pass."""
    terms = tokenizer.terms_many([c.index_text for c in chunks])
    return [[t.text for t in ts] for ts in terms], [term_pairs(ts) for ts in terms]


def _recorded_precision(index_dir: Path, model: str | None) -> str | None:
    """The precision an existing index of ``model`` was built with (a flag, then the manifest, then
    the default). Indexes from before precisions were recorded are fp32."""
    try:
        old = parse_manifest(index_dir).model
    except Exception:
        return None
    if not old or old.get("id") != model:
        return None
    return old.get("precision", "fp32")


def _model_info(encoder) -> dict:
    if encoder is None:
        return {}
    return {"id": encoder.model_id, "dim": encoder.dim, "fingerprint": encoder.fingerprint,
            "precision": encoder.precision}


def _incompatible(old: Manifest, encoder, tok_config: TokenizerConfig, writer) -> str | None:
    # the fingerprint alone: no model load (its files' hashes are cached by size and mtime)
    want_fp = encoder.fingerprint if encoder is not None else None
    if old.model.get("fingerprint") != want_fp:
        if encoder is not None and old.model.get("id") == encoder.model_id \
                and old.model.get("precision", "fp32") != encoder.precision:
            return f"embedding precision changed ({old.model.get('precision', 'fp32')} -> {encoder.precision})"
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
