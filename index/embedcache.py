"""Per-model cache of text embeddings, so re-indexing unchanged chunks embeds nothing.

Layout under ``dir``: for each model fingerprint ``F`` (first 32 hex chars used in names),
``F.npy`` (float32 [n, dim]) and ``F.json`` (``{"fingerprint", "dim", "keys": [sha256(text), ...]}``),
row ``i`` of the array belonging to ``keys[i]``. ``save()`` rewrites both atomically (temp file +
``os.replace``; the array is written first and the key list names its row count, so a crash between
the two renames leaves a consistent pair or a key list that is detected as stale and ignored).

Keys are sha256 of the exact text handed to the encoder (without the prompt); use one cache per
kind of text (e.g. documents only), since query and document embeddings differ.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    def __init__(self, dir: str | Path, fingerprint: str):
        if not fingerprint:
            raise ValueError("fingerprint must be non-empty")
        self.dir = Path(dir)
        self.fingerprint = fingerprint
        stem = fingerprint[:32]
        self.npy_path = self.dir / f"{stem}.npy"
        self.json_path = self.dir / f"{stem}.json"
        self._index: dict[str, int] = {}
        self._rows: list[np.ndarray] = []      # rows added since load (appended after _base)
        self._base: np.ndarray | None = None
        self.dim: int | None = None
        self._dirty = False
        self._load()

    def _load(self) -> None:
        try:
            meta = json.loads(self.json_path.read_text())
            arr = np.load(self.npy_path, mmap_mode=None, allow_pickle=False)
        except (OSError, ValueError):
            return
        keys = meta.get("keys")
        if (meta.get("fingerprint") != self.fingerprint or not isinstance(keys, list)
                or arr.ndim != 2 or arr.shape[0] != len(keys) or arr.dtype != np.float32):
            return   # stale or foreign: start empty (rewritten on the next save)
        self._base = arr
        self.dim = int(arr.shape[1])
        self._index = {k: i for i, k in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._index

    def _row(self, i: int) -> np.ndarray:
        nb = 0 if self._base is None else self._base.shape[0]
        return self._base[i] if i < nb else self._rows[i - nb]

    def get_many(self, texts: list[str]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for t in texts:
            i = self._index.get(text_key(t))
            out.append(None if i is None else self._row(i).copy())
        return out

    def put_many(self, texts: list[str], vectors) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"expected {len(texts)} vectors, got shape {vectors.shape}")
        if len(texts) == 0:
            return
        if self.dim is None:
            self.dim = int(vectors.shape[1])
        elif vectors.shape[1] != self.dim:
            raise ValueError(f"vector dim {vectors.shape[1]} != cache dim {self.dim}")
        for t, v in zip(texts, vectors):
            k = text_key(t)
            i = self._index.get(k)
            if i is None:
                self._index[k] = len(self._index)
                self._rows.append(v.copy())
            else:
                nb = 0 if self._base is None else self._base.shape[0]
                if i < nb:
                    if self._base.flags.writeable is False:
                        self._base = self._base.copy()
                    self._base[i] = v
                else:
                    self._rows[i - nb] = v.copy()
        self._dirty = True

    def embed_with(self, texts: list[str], encode) -> np.ndarray:
        """Vectors for ``texts``: cached ones reused, the rest computed by ``encode(list) -> array`` and stored."""
        got = self.get_many(texts)
        missing = sorted({t for t, g in zip(texts, got) if g is None})
        if missing:
            new = np.asarray(encode(missing), dtype=np.float32)
            self.put_many(missing, new)
            got = self.get_many(texts)
        if not texts:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.stack(got).astype(np.float32)

    def save(self) -> None:
        if not self._dirty and self.npy_path.exists() and self.json_path.exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = [None] * len(self._index)
        for k, i in self._index.items():
            keys[i] = k
        parts = []
        if self._base is not None and self._base.shape[0]:
            parts.append(self._base)
        if self._rows:
            parts.append(np.stack(self._rows))
        arr = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, self.dim or 0), np.float32)
        self._atomic(self.npy_path, lambda fh: np.save(fh, arr, allow_pickle=False))
        meta = {"fingerprint": self.fingerprint, "dim": self.dim, "keys": keys}
        self._atomic(self.json_path, lambda fh: fh.write(json.dumps(meta).encode()))
        self._base, self._rows, self._dirty = arr, [], False

    def _atomic(self, path: Path, write) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
