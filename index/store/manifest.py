"""The manifest: what an index holds and how it was built. Every backend keeps it as a local file
beside its data (it names the backend), so it is the one file any index directory has."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.store.base import IndexStoreError

# 2: phrases/ added; 3: units.jsonl (answer units); 4: backend, root and generation recorded,
# files keyed by their path relative to the root, per-chunk terms kept for incremental upserts
FORMAT_VERSION = 5  # 4: storage seam (roots, generation); 5: columns, postings and SQLite chunk store (issue 18)
MANIFEST = "manifest.json"


@dataclass
class FileEntry:
    hash: str
    path: str
    chunks: int
    format: str = "txt"
    title: str | None = None
    department: str | None = None
    year: int | None = None
    size: int | None = None                           # with mtime_ns: unchanged without hashing
    mtime_ns: int | None = None
    indexed: str | None = None                        # when this content was (re)indexed, ISO time


@dataclass
class Manifest:
    format_version: int = FORMAT_VERSION
    backend: str = "local"                            # index.store.factory.BACKENDS
    root: str = ""                                    # files are keyed by their path relative to it
    # every source indexed (issue 16): [{"path": absolute folder or file, "prefix": id prefix}];
    # a file's id is "<prefix>/<path relative to its root>" ("" prefix: the first root, as before)
    roots: list[dict] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # absolute paths taken out with --remove: not re-added
    generation: int = 0                               # +1 at every commit
    created: str = ""
    model: dict = field(default_factory=dict)         # {"id", "dim", "fingerprint"} or {} for none
    tokenizer: dict = field(default_factory=dict)
    files: dict[str, FileEntry] = field(default_factory=dict)
    chunk_count: int = 0
    vector_index: dict = field(default_factory=dict)  # {"type": "flat"|"hnsw", ...params}
    skipped: list[dict] = field(default_factory=list)
    pipeline: int = 0                                  # parser/chunker version (index.build.PIPELINE_VERSION)
    aliases: dict = field(default_factory=dict)        # department short forms (corpus/aliases.txt)
    search: dict = field(default_factory=dict)         # search settings at build time (index.config.resolve)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        files = {k: FileEntry(**v) for k, v in d.get("files", {}).items()}
        return cls(**{**{k: v for k, v in d.items() if k in cls.__dataclass_fields__}, "files": files})


def manifest_path(index_dir: Path) -> Path:
    return Path(index_dir) / MANIFEST


def parse_manifest(index_dir: Path) -> Manifest:
    """The manifest of the index at ``index_dir`` (after crash recovery), or IndexStoreError."""
    from index.store.local import recover

    path = manifest_path(index_dir)
    if not path.is_file():
        recover(index_dir)
    if not path.is_file():
        raise IndexStoreError(f"no index at {index_dir}: run `kosearch index corpus` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"index at {index_dir} is damaged ({exc}); run `kosearch index` to rebuild") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexStoreError(
            f"index at {index_dir} has format {data.get('format_version')}, this kosearch reads {FORMAT_VERSION}; "
            "re-index with `kosearch index`")
    try:
        return Manifest.from_dict(data)
    except (TypeError, AttributeError) as exc:
        raise IndexStoreError(f"index at {index_dir} is damaged ({exc}); run `kosearch index` to rebuild") from None
