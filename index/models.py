"""Heavy things, loaded once and shared: kiwi per tokenizer configuration, an encoder per model.

A ``ModelRegistry`` is passed in (``Searcher.open(..., models=reg)``, ``build(..., models=reg)``),
never a module global: a test session, ``kosearch eval`` or the web app each hold one and every
index they open or build shares its kiwi and encoders. Construction is cheap; kiwi and the model
load on first use (``KoreanTokenizer.kiwi``, ``Encoder._model``).
"""
from __future__ import annotations

import threading

from index.tokens import KoreanTokenizer, TokenizerConfig


class ModelRegistry:
    def __init__(self):
        self._tokenizers: dict[TokenizerConfig, KoreanTokenizer] = {}
        self._encoders: dict[tuple[str, str, str], object] = {}
        self._lock = threading.Lock()

    def tokenizer(self, config: TokenizerConfig | None = None) -> KoreanTokenizer:
        """One ``KoreanTokenizer`` (one Kiwi) per configuration."""
        config = config or TokenizerConfig()
        with self._lock:
            tok = self._tokenizers.get(config)
            if tok is None:
                tok = self._tokenizers[config] = KoreanTokenizer(config)
            return tok

    def encoder(self, model: str, precision: str | None = None, device: str | None = None):
        """One ``Encoder`` per model name, precision and device (loads nothing until it first encodes)."""
        from index.config import DEFAULT_DEVICE, DEFAULT_PRECISION

        key = (model, precision or DEFAULT_PRECISION, device or DEFAULT_DEVICE)
        with self._lock:
            enc = self._encoders.get(key)
            if enc is None:
                from index.encoders import Encoder

                enc = self._encoders[key] = Encoder(model, precision=key[1], device=key[2])
            return enc


def require_device(device: str) -> None:
    """``config.SettingError`` (one Korean line) when ``device`` cannot run the encoder here.
    Only "cuda" is checked, and only it imports torch."""
    from index.config import SettingError

    if device != "cuda":
        return
    try:
        import torch
    except ImportError:
        raise SettingError("torch 가 설치되어 있지 않아 --device cuda 를 쓸 수 없습니다 (--device cpu 로 실행하세요).") from None
    if not torch.cuda.is_available():
        raise SettingError("CUDA GPU를 찾을 수 없어 --device cuda 를 쓸 수 없습니다 (--device cpu 로 실행하세요).")
