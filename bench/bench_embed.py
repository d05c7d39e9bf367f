"""Embedding throughput: kosearch's Encoder.encode_documents vs a bare SentenceTransformer.encode.

    .venv/bin/python bench/bench_embed.py [--corpus corpus] [--pack 600] [--repeats 2] [--json out.json]

Both run in the same process on the same passages (with the "passage: " prompt), alternating
A/B/A/B and keeping each side's best run to damp noise from other processes; tokens/s counts the
tokens actually fed to the model (prompt and specials included). Also reports the one-time export
of the bundled model (done into a fresh temporary KOSEARCH_HOME unless --home is given).
Target: Encoder / bare ST >= 0.8.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def corpus_passages(corpus: str | Path = ROOT / "corpus", pack: int = 600, min_chars: int = 12) -> list[str]:
    """Paragraphs (non-blank line groups) of each file, consecutive ones packed up to ``pack`` chars."""
    out = []
    for f in sorted(Path(corpus).glob("*.txt")):
        paras = [p.strip() for p in re.split(r"\n\s*\n", f.read_text(encoding="utf-8")) if p.strip()]
        cur = ""
        for p in paras:
            if cur and len(cur) + 2 + len(p) > pack:
                out.append(cur)
                cur = ""
            cur = f"{cur}\n\n{p}" if cur else p
        if cur:
            out.append(cur)
    return [p for p in out if len(p) >= min_chars]


def run(texts: list[str], home: str | Path | None = None, batch_size: int = 32, repeats: int = 2) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    from index.encoders import Encoder

    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="kosearch-bench-")
        home = tmp.name
    try:
        enc = Encoder(home=home, batch_size=batch_size)
        t0 = time.perf_counter()
        path = enc.model_path()
        resolve_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _ = enc.dim
        enc_load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        st = SentenceTransformer(str(path), device="cpu")
        st_load_s = time.perf_counter() - t0

        counts = enc.token_counts(texts)
        max_len = st.max_seq_length
        enc_tokens = sum(counts)                       # Encoder windows long inputs: every token is fed
        st_tokens = sum(min(c, max_len) for c in counts)  # bare ST truncates at max_seq_length
        warm = texts[:8]
        enc.encode_documents(warm)
        st.encode_document(warm, batch_size=batch_size)

        enc_t, st_t = [], []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            a = enc.encode_documents(texts)
            enc_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = st.encode_document(texts, batch_size=batch_size)
            st_t.append(time.perf_counter() - t0)
        cos = (a * b).sum(1)
        res = {
            "texts": len(texts),
            "tokens": enc_tokens,
            "over_max_seq_length": sum(c > max_len for c in counts),
            "batch_size": batch_size,
            "torch_threads": torch.get_num_threads(),
            "export_s": round(enc.export_seconds, 2) if enc.export_seconds is not None else None,
            "resolve_s": round(resolve_s, 2),
            "encoder_load_s": round(enc_load_s, 2),
            "st_load_s": round(st_load_s, 2),
            "encoder_s": round(min(enc_t), 3),
            "st_s": round(min(st_t), 3),
            "encoder_tok_per_s": round(enc_tokens / min(enc_t), 1),
            "st_tok_per_s": round(st_tokens / min(st_t), 1),
            "encoder_runs_s": [round(x, 3) for x in enc_t],
            "st_runs_s": [round(x, 3) for x in st_t],
            "cos_encoder_vs_st_min": round(float(cos.min()), 6),
        }
        res["ratio"] = round(res["encoder_tok_per_s"] / res["st_tok_per_s"], 3)
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


def run_int8(texts: list[str], home: str | Path | None = None, repeats: int = 2) -> dict:
    """The int8 ONNX path (the default) against the fp32 torch path: throughput and cosine."""
    from index.encoders import Encoder

    with tempfile.TemporaryDirectory(prefix="kosearch-bench-") as tmp:
        home = home or tmp
        fp32 = Encoder(home=home, precision="fp32")   # each at its default batch size
        int8 = Encoder(home=home, precision="int8")
        t0 = time.perf_counter()
        int8.model_path()
        quant_s = time.perf_counter() - t0
        for e in (fp32, int8):
            e.encode_documents(texts[:8])
        best = {}
        for name, e in (("fp32", fp32), ("int8", int8)):
            runs = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                out = e.encode_documents(texts)
                runs.append(time.perf_counter() - t0)
            best[name] = (min(runs), out)
        tokens = sum(int8.token_counts(texts))
        cos = (best["fp32"][1] * best["int8"][1]).sum(1)
        return {"texts": len(texts), "tokens": tokens, "int8_export_s": round(quant_s, 1),
                "fp32_tok_per_s": round(tokens / best["fp32"][0], 1), "int8_tok_per_s": round(tokens / best["int8"][0], 1),
                "speedup": round(best["fp32"][0] / best["int8"][0], 2),
                "cos_mean": round(float(cos.mean()), 4), "cos_min": round(float(cos.min()), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "corpus"))
    ap.add_argument("--pack", type=int, default=600, help="pack consecutive paragraphs up to N chars (0: one per paragraph)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--home", default=None, help="KOSEARCH_HOME to use (default: fresh temp dir, measures the export)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    texts = corpus_passages(a.corpus, pack=a.pack or 1)
    if a.limit:
        texts = texts[:a.limit]
    r = run(texts, home=a.home, batch_size=a.batch_size, repeats=a.repeats)
    print(f"passages: {r['texts']}  tokens: {r['tokens']}  (over max_seq_length: {r['over_max_seq_length']})  "
          f"torch threads: {r['torch_threads']}")
    print(f"one-time export: {r['export_s']} s" if r["export_s"] is not None else "export: already present")
    print(f"Encoder.encode_documents : {r['encoder_tok_per_s']:>9.1f} tokens/s  (best of {r['encoder_runs_s']} s)")
    print(f"SentenceTransformer.encode: {r['st_tok_per_s']:>9.1f} tokens/s  (best of {r['st_runs_s']} s)")
    print(f"ratio Encoder/ST: {r['ratio']:.3f}  (target >= 0.8)   min cosine Encoder vs ST: {r['cos_encoder_vs_st_min']}")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
