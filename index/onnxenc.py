"""The int8 ONNX Runtime path of the bundled e5 model: faster to load and to run than torch fp32.

``ensure_int8(model_dir)`` writes ``onnx/model_int8.onnx`` once beside the exported weights:
torch exports the BERT body to ONNX (fp32, in a temp dir) and ONNX Runtime quantises it
dynamically (int8, per channel, MatMul and the embedding Gather). Written to a temp name and
renamed, so a half-written file is never used. Needs torch and onnx only while exporting.

``OnnxBody`` runs that file: the ``tokenizers`` tokenizer from ``tokenizer.json`` and an
``onnxruntime`` session that returns mean-pooled, not yet normalised vectors. Neither torch nor
sentence-transformers is imported, which is most of a cold start's time.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

ONNX_DIR = "onnx"
INT8_FILE = "model_int8.onnx"
# bump when the export or quantisation recipe changes (it is part of the encoder's fingerprint)
INT8_RECIPE = "ort-dynamic-qint8-per-channel-matmul-gather/1"


def int8_path(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_DIR / INT8_FILE


def available() -> bool:
    """onnxruntime and tokenizers are importable (no import of either happens here)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers"))


def ensure_int8(model_dir: Path) -> Path:
    """The int8 model file of ``model_dir``, exported and quantised on first use (~15 s)."""
    out = int8_path(model_dir)
    if out.is_file():
        return out
    import logging
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out.parent.mkdir(parents=True, exist_ok=True)
    body = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    class _Body(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    root_log = logging.getLogger()
    level = root_log.level
    root_log.setLevel(logging.ERROR)
    try:
        # the tracer's and the quantiser's advice concerns other graphs, not something to act on
        with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=out.parent) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fp32 = Path(tmp) / "model.onnx"
            dummy = torch.ones((2, 8), dtype=torch.long)
            axes = {0: "batch", 1: "tokens"}
            torch.onnx.export(_Body(body), (dummy, dummy), str(fp32), input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})
            part = Path(tmp) / INT8_FILE
            quantize_dynamic(str(fp32), str(part), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gather"])
            os.chmod(part, 0o644)
            os.replace(part, out)
    finally:
        root_log.setLevel(level)
    return out


class OnnxBody:
    """Tokenizer + int8 session of an exported model directory (mean pooling, as its 1_Pooling says)."""

    def __init__(self, model_dir: Path, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError("only mean pooling is supported on the ONNX path")
        st_cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_seq_length = int(st_cfg.get("max_seq_length") or 512)
        prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text()).get("prompts") or {}
        self.prompts = {"query": prompts.get("query") or "",
                        "document": next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), "")}
        self.pad_id = int(json.loads((model_dir / "config.json").read_text()).get("pad_token_id") or 0)
        self.dim = int(pooling["word_embedding_dimension"])
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        self.tokenizer = tok
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = int(threads)
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(int8_path(model_dir)), so, providers=["CPUExecutionProvider"])

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        return [e.ids for e in encs], [e.special_tokens_mask for e in encs]

    def pooled(self, windows: list[list[int]]) -> np.ndarray:
        """Mean-pooled (pre-normalisation) vectors of one padded batch of token windows."""
        n = max(len(w) for w in windows)
        ids = np.full((len(windows), n), self.pad_id, np.int64)
        att = np.zeros((len(windows), n), np.int64)
        for r, w in enumerate(windows):
            ids[r, :len(w)] = w
            att[r, :len(w)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": att})[0]
        m = att[..., None].astype(np.float32)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
