"""The ``milvus`` backend: one Milvus collection per index generation line, through ``MilvusClient``.

The same code talks to Milvus Lite (a file path as URI: the real Milvus C++ core on a Unix socket,
no TCP port), Milvus Standalone, Milvus Distributed and Zilliz Cloud (``http(s)://…`` + token).

Where things live (known only to this module)::

    <index dir>/manifest.json   the manifest (backend "milvus"), as for every backend
    <index dir>/milvus.json     where the data is: URI (no token), collection, physical names, index type
    <physical>                  chunks: pk, chunk_id, file, file_name, seq, gen_from, gen_to,
                                year, dept, chapter_kind (scalar indexes), terms (whitespace analyser,
                                BM25 function -> terms_bm25), pairs (BM25 -> pairs_bm25), dense
                                (FLAT/IVF_FLAT here; HNSW/IVF_PQ/DISKANN on a server), chunk (JSON)
    <physical>_units            answer units by chunk id and file (one row each)
    <physical>_meta             document frequencies and counts per generation ("t|term", "p|pair",
                                "stats"), and "cfg": tokenizer configuration + user-dictionary hash

Generations: every row carries ``gen_from`` (the commit that wrote it) and ``gen_to`` (the commit
that dropped it, 0 while live); a reader of generation G sees ``gen_from <= G < gen_to``. A commit
writes its rows, then swaps in the local manifest (the atomic step, as in ``local``), so a reader
of the previous generation keeps working and a commit killed half-way is invisible; the next
writer removes what it left. Rows dead before the previous generation are deleted at commit.
A full re-index (``clear``) writes a new physical collection and drops the old one a commit later.

Ranking stays ours: Milvus BM25 finds candidates (its scores are bm25s's times k1+1), and
``scores`` recomputes exact bm25s (Lucene) scores for the candidate set from each chunk's terms
and the generation's document-frequency table, so both backends rank alike.
"""
from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from index.model import Chunk, Unit
from index.store.base import (NO_FILTERS, Backend, Candidate, ChunkStore, FileData, Filters, IndexStoreError, IndexWriter,
                              LexicalIndex, VectorIndex)
from index.store.local import EMPTY_DOC, recover, stale_temp_dirs, swap_in
from index.store.manifest import MANIFEST, FileEntry, Manifest, manifest_path, parse_manifest

ENV_URI, ENV_TOKEN, ENV_COLLECTION = "KOSEARCH_BACKEND_URI", "KOSEARCH_BACKEND_TOKEN", "KOSEARCH_BACKEND_COLLECTION"
ENV_INDEX = "KOSEARCH_MILVUS_INDEX"          # FLAT (default) | IVF_FLAT | HNSW | IVF_PQ | DISKANN | AUTOINDEX
SIDECAR = "milvus.json"
K1, B = 1.2, 0.75                            # bm25s defaults (index.store.local.build_bm25)
MAX_VARCHAR = 65535
MAX_WINDOW = 16384                           # Milvus: offset + limit of one search/query
BATCH = 1000
SPACE = "\u2423"                             # a space inside a term/pair (the analyser splits on spaces)

# index type -> (build params, search params); FLAT/IVF_FLAT/AUTOINDEX are what Milvus Lite accepts
INDEX_TYPES = {
    "FLAT": ({}, {}),
    "IVF_FLAT": ({"nlist": 128}, {"nprobe": 32}),
    "AUTOINDEX": ({}, {}),
    "HNSW": ({"M": 32, "efConstruction": 200}, {"ef": 128}),
    "IVF_PQ": ({"nlist": 1024, "m": 16, "nbits": 8}, {"nprobe": 32}),
    "DISKANN": ({}, {"search_list": 128}),
}


def _enc(t: str) -> str:
    return re.sub(r"\s", SPACE, t) if t else t


def _lit(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pack(obj) -> str:
    """JSON, zlib+base64 when it would not fit a VARCHAR."""
    s = json.dumps(obj, ensure_ascii=False)
    if len(s.encode("utf-8")) < MAX_VARCHAR:
        return s
    z = "z:" + base64.b64encode(zlib.compress(s.encode("utf-8"), 9)).decode("ascii")
    if len(z) >= MAX_VARCHAR:
        raise IndexStoreError("청크 하나가 Milvus 필드 한도(64 KiB)를 넘습니다; 보고서를 나누어 색인하세요.")
    return z


def _unpack(s: str):
    if s.startswith("z:"):
        s = zlib.decompress(base64.b64decode(s[2:])).decode("utf-8")
    return json.loads(s)


# ---- connection -----------------------------------------------------------------------------
_clients: dict[tuple[str, str], object] = {}
_servers: dict[str, object] = {}
_conn_lock = threading.Lock()


def is_lite(uri: str) -> bool:
    return not re.match(r"^(https?|tcp|unix|grpc)://|^unix:", uri or "")


def _lite_socket(db: Path) -> str:
    return f"/tmp/kosearch-milvus-{hashlib.sha1(str(db).encode()).hexdigest()[:12]}.sock"


def _start_lite(path: str) -> str:
    """Milvus Lite on ``path``: started by this process on a Unix socket (no TCP port), or the one
    another kosearch process started on the same file (its socket is named after the file)."""
    try:
        from milvus_lite.server import Server
    except ImportError:
        raise IndexStoreError("Milvus Lite 가 설치되어 있지 않습니다: pip install -e '.[milvus]'") from None
    db = Path(path).expanduser().absolute()
    if str(db) in _servers:
        return _servers[str(db)].uds_path
    if not db.parent.is_dir():
        raise IndexStoreError(f"Milvus Lite 파일의 폴더가 없습니다: {db.parent}")
    if not re.match(r"^[A-Za-z0-9.\-_]{1,35}$", db.name):
        raise IndexStoreError(f"Milvus Lite 파일 이름은 영문·숫자·.-_ 로 35자 이하여야 합니다: {db.name}")
    sock = _lite_socket(db)
    server = Server(str(db))
    server._uds_path = sock                  # a name other processes can find
    if server.init() and server.start():
        _servers[str(db)] = server
        atexit.register(server.stop)
    elif not os.path.exists(sock):
        raise IndexStoreError(f"Milvus Lite 를 {db} 에서 시작하지 못했습니다 (다른 프로그램이 쓰는 중일 수 있음).")
    deadline = time.monotonic() + 60
    while not os.path.exists(sock):
        if time.monotonic() > deadline:
            raise IndexStoreError(f"Milvus Lite 가 {db} 에서 60초 안에 준비되지 않았습니다.")
        time.sleep(0.1)
    return f"unix:{sock}"


def connect(uri: str, token: str | None = None):
    """A ``MilvusClient`` for ``uri`` (a file path: Milvus Lite), shared within the process."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise IndexStoreError("pymilvus 가 설치되어 있지 않습니다: pip install -e '.[milvus]'") from None
    import logging

    logging.getLogger("pymilvus").setLevel(logging.ERROR)   # iterator notes on stderr are not the user's concern
    key = (uri, token or "")
    with _conn_lock:
        if key not in _clients:
            real = _start_lite(uri) if is_lite(uri) else uri
            try:
                _clients[key] = MilvusClient(uri=real, token=token or "", timeout=60)
            except Exception as exc:
                raise IndexStoreError(f"Milvus {display_uri(uri)} 에 연결하지 못했습니다 ({type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else ''}).") from None
        return _clients[key]


def display_uri(uri: str) -> str:
    """The URI without credentials (user:password@)."""
    return re.sub(r"//[^/@]*@", "//", uri or "")


def default_collection(index_dir: Path) -> str:
    return "kosearch_" + hashlib.sha1(str(Path(index_dir).absolute()).encode()).hexdigest()[:12]


def _location(index_dir: Path) -> dict:
    """The recorded location of an index, with $KOSEARCH_BACKEND_URI / _COLLECTION applied."""
    side = Path(index_dir) / SIDECAR
    loc = {}
    if side.is_file():
        try:
            loc = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loc = {}
    if os.environ.get(ENV_URI):
        uri = os.environ[ENV_URI]
        loc["uri"] = str(Path(uri).expanduser().absolute()) if is_lite(uri) else uri
    return loc


def _live(gen: int) -> str:
    return f"gen_from <= {gen} and (gen_to == 0 or gen_to > {gen})"


def filter_expr(gen: int, f: Filters | None) -> str:
    """A Milvus boolean expression with the semantics of ``Filters.matches``."""
    parts = [_live(gen)]
    if f is not None and not f.empty:
        if f.years:
            parts.append(f"year in {_lit(sorted(int(y) for y in f.years))}")
        if f.kinds:
            parts.append(f"chapter_kind in {_lit(sorted(f.kinds))}")
        if f.departments:
            parts.append(f"dept in {_lit(sorted(f.departments))}")
        if f.files:
            files = _lit(sorted(f.files))
            parts.append(f"(file in {files} or file_name in {files})")
    return " and ".join(parts)


def _batches(seq: Sequence, n: int = BATCH):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _query_all(client, collection: str, expr: str, fields: list[str]) -> list[dict]:
    """Every row matching ``expr`` (an iterator, so past Milvus's 16,384-row window)."""
    it = client.query_iterator(collection, batch_size=BATCH, filter=expr, output_fields=fields)
    rows: list[dict] = []
    try:
        while True:
            page = it.next()
            if not page:
                break
            rows.extend(page)
    finally:
        it.close()
    return rows


def _query_in(client, collection: str, field: str, values: Sequence, extra: str, fields: list[str]) -> list[dict]:
    rows: list[dict] = []
    for part in _batches(list(values)):
        rows.extend(client.query(collection, filter=f"{field} in {_lit(list(part))} and {extra}",
                                 output_fields=fields, limit=MAX_WINDOW))
    return rows


# ---- read side ------------------------------------------------------------------------------
class _Rows:
    """Per-chunk term counts (exact BM25, coverage) and vectors fetched on demand, bounded."""

    LIMIT = 200_000

    def __init__(self, backend: "MilvusBackend"):
        self.b = backend
        self.terms: dict[str, tuple[Counter, int, Counter, int]] = {}
        self.vecs: dict[str, np.ndarray] = {}
        self.lock = threading.Lock()

    def lexicon(self, ids: Iterable[str]) -> dict[str, tuple[Counter, int, Counter, int]]:
        ids = list(dict.fromkeys(ids))
        missing = [i for i in ids if i not in self.terms]
        if missing:
            got = {}
            for r in _query_in(self.b.client, self.b.physical, "chunk_id", missing, _live(self.b.gen),
                               ["chunk_id", "terms", "pairs"]):
                t, p = r["terms"].split(), r["pairs"].split()
                got[r["chunk_id"]] = (Counter(t), len(t), Counter(p), len(p))
            with self.lock:
                if len(self.terms) > self.LIMIT:
                    self.terms.clear()
                self.terms.update(got)
        return {i: self.terms[i] for i in ids if i in self.terms}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        missing = [i for i in dict.fromkeys(ids) if i not in self.vecs]
        if missing:
            got = {r["chunk_id"]: np.asarray(r["dense"], dtype=np.float32)
                   for r in _query_in(self.b.client, self.b.physical, "chunk_id", missing, _live(self.b.gen),
                                      ["chunk_id", "dense"])}
            with self.lock:
                if len(self.vecs) > self.LIMIT:
                    self.vecs.clear()
                self.vecs.update(got)
        return {i: self.vecs[i] for i in ids if i in self.vecs}


class MilvusLexical(LexicalIndex):
    """Candidates from Milvus BM25; exact bm25s scores from the generation's df table."""

    def __init__(self, backend: "MilvusBackend", kind: str):
        self.b, self.kind = backend, kind                     # kind: "t" (terms) or "p" (pairs)
        self.field = "terms" if kind == "t" else "pairs"
        self._df: dict[str, int] = {}
        n = backend.stats.get("n", 0)
        total = backend.stats.get("tlen" if kind == "t" else "plen", 0)
        self.n, self.avgdl = int(n), (total / n if n else 1.0)

    def _dfs(self, toks: Iterable[str]) -> dict[str, int]:
        toks = list(dict.fromkeys(toks))
        missing = [t for t in toks if t not in self._df]
        if missing:
            found: dict[str, tuple[int, int]] = {}
            keys = [f"{self.kind}|{t}" for t in missing]
            for r in _query_in(self.b.client, self.b.meta, "key", keys, f"gen <= {self.b.gen}", ["key", "gen", "val"]):
                if r["key"] not in found or r["gen"] > found[r["key"]][0]:
                    found[r["key"]] = (r["gen"], r["val"])
            for t, k in zip(missing, keys):
                self._df[t] = int(found.get(k, (0, 0))[1])
        return {t: self._df[t] for t in toks}

    def _idf(self, toks: list[str]) -> dict[str, float]:
        return {t: float(np.log(1 + (self.n - df + 0.5) / (df + 0.5))) for t, df in self._dfs(toks).items() if df}

    def _score(self, toks: list[str], ids: Sequence[str]) -> np.ndarray:
        idf = self._idf(toks)
        lex = self.b.rows.lexicon(ids)
        out = np.zeros(len(ids), dtype=np.float32)
        if not idf:
            return out
        slot = 0 if self.kind == "t" else 2
        for j, i in enumerate(ids):
            if i not in lex:
                continue
            counts, dl = lex[i][slot], lex[i][slot + 1]
            norm = K1 * (1 - B + B * dl / self.avgdl)
            s = 0.0
            for t in toks:                                   # repeated query terms count again (bm25s)
                tf = counts.get(t, 0)
                if tf and t in idf:
                    s += idf[t] * tf / (tf + norm)
            out[j] = s
        return out

    def search(self, terms, k, filters=NO_FILTERS):
        toks = [_enc(t) for t in terms if t]
        if not toks or k <= 0 or not self.n:
            return []
        limit = min(MAX_WINDOW, max(2 * k, k + 100))
        res = self.b.client.search(self.b.physical, data=[" ".join(toks)], anns_field=f"{self.field}_bm25",
                                   limit=limit, filter=filter_expr(self.b.gen, filters),
                                   search_params={"metric_type": "BM25"}, output_fields=["chunk_id"])
        ids = [h["entity"]["chunk_id"] for h in res[0]]
        if not ids:
            return []
        scores = self._score(toks, ids)
        order = self.b.order(ids)
        ranked = sorted(range(len(ids)), key=lambda j: (-scores[j], order[j]))
        return [Candidate(ids[j], float(scores[j])) for j in ranked[:k] if scores[j] > 0]

    def scores(self, terms, ids):
        toks = [_enc(t) for t in terms if t]
        if not toks or not len(ids):
            return np.zeros(len(ids), dtype=np.float32)
        return self._score(toks, list(ids))

    def doc_freqs(self, terms):
        terms = list(terms)
        got = self._dfs([_enc(t) for t in terms])
        return {t: got[_enc(t)] for t in terms}

    def doc_count(self):
        return self.n

    def contains(self, ids, terms):
        terms = set(terms)
        lex = self.b.rows.lexicon(ids)
        slot = 0 if self.kind == "t" else 2
        return {i: {t for t in terms if i in lex and _enc(t) in lex[i][slot]} for i in ids}


class MilvusVectors(VectorIndex):
    def __init__(self, backend: "MilvusBackend", dim: int):
        self.b, self._dim = backend, dim

    @property
    def dim(self):
        return self._dim

    def search(self, vector, k, filters=NO_FILTERS):
        if k <= 0:
            return []
        q = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        params = {"metric_type": "IP", "params": dict(INDEX_TYPES.get(self.b.index_type, ({}, {}))[1])}
        res = self.b.client.search(self.b.physical, data=[q], anns_field="dense", limit=min(k, MAX_WINDOW),
                                   filter=filter_expr(self.b.gen, filters), search_params=params,
                                   output_fields=["chunk_id"])
        return [Candidate(h["entity"]["chunk_id"], float(h["distance"])) for h in res[0]]

    def vectors(self, ids):
        got = self.b.rows.vectors(list(ids))
        if not len(ids):
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([got.get(i, np.zeros(self._dim, np.float32)) for i in ids]).astype(np.float32)


class MilvusChunks(ChunkStore):
    def __init__(self, backend: "MilvusBackend"):
        self.b = backend
        self._chunks: list[Chunk] | None = None
        self._units: list[Unit] | None = None
        self._id_map = None
        self._lock = threading.Lock()

    def all(self):
        if self._chunks is None:
            with self._lock:
                if self._chunks is None:
                    rows = _query_all(self.b.client, self.b.physical, _live(self.b.gen), ["file", "seq", "chunk"])
                    pos = self.b.file_pos
                    rows.sort(key=lambda r: (pos.get(r["file"], len(pos)), r["seq"]))
                    self._chunks = [Chunk(**_unpack(r["chunk"])) for r in rows]
        return self._chunks

    def __len__(self):
        return self.b.manifest.chunk_count if self._chunks is None else len(self._chunks)

    def count(self, filters=NO_FILTERS):
        res = self.b.client.query(self.b.physical, filter=filter_expr(self.b.gen, filters), output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def _load_units(self, expr: str) -> list[Unit]:
        rows = _query_all(self.b.client, self.b.units_coll, expr, ["file", "seq", "unit"])
        pos = self.b.file_pos
        rows.sort(key=lambda r: (pos.get(r["file"], len(pos)), r["seq"]))
        return [Unit(**_unpack(r["unit"])) for r in rows]

    def units(self):
        if self._units is None:
            self._units = self._load_units(_live(self.b.gen))
        return self._units

    def units_for_chunk(self, chunk_id):
        if self._units is not None:
            return [u for u in self._units if u.chunk_id == chunk_id]
        return self._load_units(f"chunk_id == {_lit(chunk_id)} and {_live(self.b.gen)}")

    def units_for_file(self, file):
        if self._units is not None:
            return [u for u in self._units if u.file == file]
        return self._load_units(f"file == {_lit(file)} and {_live(self.b.gen)}")


class MilvusBackend(Backend):
    name = "milvus"

    def __init__(self, index_dir: Path, manifest: Manifest, client, loc: dict, stats: dict):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.client = client
        self.uri = loc["uri"]
        self.collection = loc["collection"]
        self.physical = loc["physical"]
        self.units_coll, self.meta = self.physical + "_units", self.physical + "_meta"
        self.index_type = loc.get("index_type", "FLAT")
        self.gen = manifest.generation
        self.stats = stats
        self.file_pos = {f: i for i, f in enumerate(manifest.files)}
        self.rows = _Rows(self)
        self.chunks = MilvusChunks(self)
        self.lexical = MilvusLexical(self, "t")
        self.phrases = MilvusLexical(self, "p")
        dim = int(loc.get("dim") or 0)
        self.vectors = MilvusVectors(self, dim) if dim else None
        self._order: dict[str, tuple] = {}

    def order(self, ids: Sequence[str]) -> list[tuple]:
        """Store-order keys (file position, line) for tie-breaking equal scores as ``local`` does."""
        by = self.chunks._by_id() if self.chunks._chunks is not None else {}
        out = []
        for i in ids:
            c = by.get(i)
            file, _, rest = i.rpartition(":")
            line = c.start_line if c else (int(rest.split("-")[0]) if rest.split("-")[0].isdigit() else 0)
            out.append((self.file_pos.get(c.file if c else file, len(self.file_pos)), line))
        return out

    @classmethod
    def open(cls, index_dir, manifest):
        index_dir = Path(index_dir)
        loc = _location(index_dir)
        if not loc.get("uri") or not loc.get("physical"):
            raise IndexStoreError(f"{index_dir} 의 Milvus 색인 위치({SIDECAR})가 없습니다; `kosearch index --backend milvus --uri …` 로 다시 색인하세요.")
        client = connect(loc["uri"], os.environ.get(ENV_TOKEN))
        phys = loc["physical"]
        if not client.has_collection(phys):
            raise IndexStoreError(f"Milvus {display_uri(loc['uri'])} 에 컬렉션 {phys} 이(가) 없습니다; "
                                  "`kosearch index --backend milvus` 로 다시 색인하세요.")
        gen = manifest.generation
        cfg = _meta_row(client, phys + "_meta", "cfg", gen)
        want = _tokenizer_record(manifest.tokenizer)
        if cfg is None or cfg.get("tokenizer") != want:
            raise IndexStoreError(f"Milvus 컬렉션 {phys} 의 형태소 분석 설정(사용자 사전 포함)이 색인 기록과 다릅니다; "
                                  "`kosearch index` 로 다시 색인하세요.")
        stats = _meta_row(client, phys + "_meta", "stats", gen) or {}
        return cls(index_dir, manifest, client, loc, stats)


def _tokenizer_record(tok: dict) -> dict:
    """What must match between the collection and the manifest: the analysis, not the dictionary's path."""
    return {k: v for k, v in (tok or {}).items() if k != "userdict"}


def _meta_row(client, meta: str, key: str, gen: int) -> dict | None:
    rows = client.query(meta, filter=f"key == {_lit(key)} and gen <= {gen}", output_fields=["gen", "data"],
                        limit=MAX_WINDOW)
    if not rows:
        return None
    return _unpack(max(rows, key=lambda r: r["gen"])["data"])


# ---- write side -----------------------------------------------------------------------------
def _create(client, physical: str, dim: int, index_type: str) -> None:
    from pymilvus import DataType, Function, FunctionType

    for name in (physical, physical + "_units", physical + "_meta"):
        if client.has_collection(name):
            client.drop_collection(name)
    ws = {"tokenizer": "whitespace"}
    s = client.create_schema(auto_id=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=2048)
    s.add_field("chunk_id", DataType.VARCHAR, max_length=2048)
    s.add_field("file", DataType.VARCHAR, max_length=2048)
    s.add_field("file_name", DataType.VARCHAR, max_length=1024)
    for f in ("seq", "gen_from", "gen_to", "year"):
        s.add_field(f, DataType.INT64)
    s.add_field("dept", DataType.VARCHAR, max_length=512)
    s.add_field("chapter_kind", DataType.VARCHAR, max_length=64)
    s.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params=ws)
    s.add_field("pairs", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params=ws)
    s.add_field("terms_bm25", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("pairs_bm25", DataType.SPARSE_FLOAT_VECTOR)
    if dim:
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("chunk", DataType.VARCHAR, max_length=MAX_VARCHAR)
    s.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                            output_field_names=["terms_bm25"]))
    s.add_function(Function(name="pairs_bm25", function_type=FunctionType.BM25, input_field_names=["pairs"],
                            output_field_names=["pairs_bm25"]))
    ip = client.prepare_index_params()
    for f in ("terms_bm25", "pairs_bm25"):
        ip.add_index(f, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": K1, "bm25_b": B})
    if dim:
        ip.add_index("dense", index_type=index_type, metric_type="IP", params=dict(INDEX_TYPES[index_type][0]))
    for f in ("chunk_id", "file", "file_name", "dept", "chapter_kind", "year", "gen_from", "gen_to"):
        ip.add_index(f, index_type="INVERTED")
    client.create_collection(physical, schema=s, index_params=ip, consistency_level="Strong")

    for name, fields in ((physical + "_units", ("chunk_id", "file", "unit")), (physical + "_meta", ("key", "data"))):
        s = client.create_schema(auto_id=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=4096)
        for f in fields:
            s.add_field(f, DataType.VARCHAR, max_length=MAX_VARCHAR if f in ("unit", "data") else 2048)
        for f in (("seq", "gen_from", "gen_to") if "unit" in fields else ("gen", "val")):
            s.add_field(f, DataType.INT64)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)        # Milvus needs a vector field; unused
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        for f in fields[:-1]:
            ip.add_index(f, index_type="INVERTED")
        client.create_collection(name, schema=s, index_params=ip, consistency_level="Strong")


class _FileData(FileData):
    """A file's rows with terms and pairs encoded for Milvus's whitespace analyzer."""

    def __init__(self, chunks, units, terms, pairs, vectors):
        super().__init__(chunks, units, terms, pairs, vectors)
        self.terms = [[_enc(t) for t in ts] or [EMPTY_DOC] for ts in self.terms]
        self.pairs = [[_enc(t) for t in ps] or [EMPTY_DOC] for ps in self.pairs]


_CHUNK_FIELDS = ["pk", "chunk_id", "file", "file_name", "seq", "gen_from", "gen_to", "year", "dept", "chapter_kind",
                 "terms", "pairs", "chunk"]
_UNIT_FIELDS = ["pk", "chunk_id", "file", "unit", "seq", "gen_from", "gen_to", "v"]


class MilvusWriter(IndexWriter):
    file_data = _FileData

    def __init__(self, index_dir: Path, *, fail_after: str | None = None):
        super().__init__(index_dir, fail_after=fail_after)
        recover(self.index_dir)
        for tmp in stale_temp_dirs(self.index_dir):
            shutil.rmtree(tmp, ignore_errors=True)
        self._previous: Manifest | None = None
        self.loc = _location(self.index_dir)
        if manifest_path(self.index_dir).is_file():
            try:
                self._previous = parse_manifest(self.index_dir)
            except IndexStoreError as exc:
                self.previous_error = str(exc)
        want = os.environ.get(ENV_COLLECTION)
        if self._previous is not None and want and want != self.loc.get("collection"):
            self._previous, self.previous_error = None, f"Milvus 컬렉션이 바뀜 ({self.loc.get('collection')} -> {want})"
        if self._previous is not None and (self._previous.backend != MilvusBackend.name or not self.loc.get("physical")):
            self._previous = None
            self.previous_error = self.previous_error or "다른 저장 방식의 색인을 Milvus 로 다시 만듦"
        if not self.loc.get("uri"):
            raise IndexStoreError("Milvus 주소가 없습니다: --uri (또는 KOSEARCH_BACKEND_URI) 를 주세요 "
                                  "(파일 경로면 Milvus Lite, 예: --uri ./kosearch.db).")
        self.loc["collection"] = want or self.loc.get("collection") or default_collection(self.index_dir)
        self.loc["index_type"] = (os.environ.get(ENV_INDEX) or self.loc.get("index_type") or "FLAT").upper()
        if self.loc["index_type"] not in INDEX_TYPES:
            raise IndexStoreError(f"알 수 없는 Milvus 색인 종류 {self.loc['index_type']} (지원: {', '.join(INDEX_TYPES)})")
        self.client = connect(self.loc["uri"], os.environ.get(ENV_TOKEN))
        self._cleared = self._previous is None
        self._upserts: dict[str, _FileData] = {}
        self._deleted: set[str] = set()
        if self._previous is not None:
            self._undo_unfinished(self._previous.generation)

    # -- helpers
    def _physicals(self) -> list[str]:
        pre = self.loc["collection"] + "_g"
        return [n for n in self.client.list_collections() if n.startswith(pre) and n[len(pre):].isdigit()]

    def _undo_unfinished(self, gen: int) -> None:
        """Remove what a commit killed after its writes but before its manifest swap left behind."""
        phys = self.loc.get("physical")
        for name in self._physicals():
            if name != phys and int(name.rsplit("_g", 1)[1]) > gen:
                for n in (name, name + "_units", name + "_meta"):
                    self.client.drop_collection(n)
        if not phys or not self.client.has_collection(phys):
            return
        c = self.client
        c.delete(phys, filter=f"gen_from > {gen}")
        c.delete(phys + "_units", filter=f"gen_from > {gen}")
        c.delete(phys + "_meta", filter=f"gen > {gen}")
        for coll, fields in ((phys, self._chunk_fields()), (phys + "_units", _UNIT_FIELDS)):
            rows = _query_all(c, coll, f"gen_to > {gen}", fields)
            for r in rows:
                r["gen_to"] = 0
            for part in _batches(rows):
                c.upsert(coll, list(part))

    def _chunk_fields(self) -> list[str]:
        dim = int(self.loc.get("dim") or 0)
        return _CHUNK_FIELDS + (["dense"] if dim else [])

    @property
    def previous(self):
        return self._previous

    def problem(self, need_vectors):
        phys = self.loc.get("physical")
        if not phys or not self.client.has_collection(phys):
            return f"Milvus 컬렉션 {phys or self.loc['collection']} 이(가) 없음"
        if need_vectors and not self.loc.get("dim"):
            return "Milvus 컬렉션에 벡터가 없음"
        return None


    # -- commit
    def commit(self, manifest=None):
        prev = self._previous
        c = self.client
        if manifest is None:
            manifest = Manifest.from_dict(json.loads(prev.to_json())) if prev and not self._cleared else Manifest()
        for name in self._deleted:
            manifest.files.pop(name, None)
        for name, data in self._upserts.items():
            if name not in manifest.files:
                manifest.files[name] = FileEntry(hash="", path=name, chunks=len(data.chunks))
        gen = (prev.generation if prev else 0)
        new = gen + 1
        with_vectors = [d.vectors is not None for d in self._upserts.values()]
        if any(with_vectors) and not all(with_vectors):
            raise IndexStoreError("색인의 일부 파일에만 벡터가 있습니다; `kosearch index` 로 전체를 다시 색인하세요.")
        fresh = self._cleared or prev is None or self.problem(False) is not None
        if self._upserts:
            dim = int(next(iter(self._upserts.values())).vectors.shape[1]) if all(with_vectors) else 0
        else:
            dim = int((manifest.model.get("dim") if fresh else self.loc.get("dim")) or 0)
        if not fresh and dim != int(self.loc.get("dim") or 0):
            fresh = True
        old_phys = self.loc.get("physical") if prev is not None else None
        if fresh:
            phys = f"{self.loc['collection']}_g{new}"
            _create(c, phys, dim, self.loc["index_type"])
            self.loc.update(physical=phys, dim=dim)
            stats = {"n": 0, "tlen": 0, "plen": 0}
            gone_files: list[str] = []
        else:
            phys = self.loc["physical"]
            stats = _meta_row(c, phys + "_meta", "stats", gen) or {"n": 0, "tlen": 0, "plen": 0}
            gone_files = sorted((self._deleted | set(self._upserts)) & set(prev.files))
        units_c, meta_c = phys + "_units", phys + "_meta"
        kept_files = ([n for n in manifest.files if n not in self._upserts and n in prev.files]
                      if fresh and prev is not None and not self._cleared else [])
        delta: Counter = Counter()

        # files replaced or deleted: mark their rows dropped at ``new``; their terms leave the df table
        if gone_files:
            live = _live(gen)
            rows = _query_in(c, phys, "file", gone_files, live, self._chunk_fields())
            for r in rows:
                stats["n"] -= 1
                t, p = r["terms"].split(), r["pairs"].split()
                stats["tlen"] -= len(t)
                stats["plen"] -= len(p)
                delta.update({"t|" + x: -1 for x in set(t)})
                delta.update({"p|" + x: -1 for x in set(p)})
                r["gen_to"] = new
            for part in _batches(rows):
                c.upsert(phys, list(part))
            urows = _query_in(c, units_c, "file", gone_files, live, _UNIT_FIELDS)
            for r in urows:
                r["gen_to"] = new
            for part in _batches(urows):
                c.upsert(units_c, list(part))

        # a full re-index into a new collection keeps the unchanged files' rows: copy them over
        if kept_files and old_phys and c.has_collection(old_phys):
            for f in kept_files:
                self._upserts[f] = self._read_file(old_phys, gen, f)

        rows, urows = [], []
        for name, d in self._upserts.items():
            if name not in manifest.files:
                continue
            for seq, (ch, t, p) in enumerate(zip(d.chunks, d.terms, d.pairs)):
                row = {"pk": f"{new}|{ch.id}", "chunk_id": ch.id, "file": name, "file_name": Path(name).name,
                       "seq": seq, "gen_from": new, "gen_to": 0, "year": int(ch.year or 0),
                       "dept": (ch.department or "").replace(" ", ""), "chapter_kind": ch.chapter_kind or "",
                       "terms": " ".join(t), "pairs": " ".join(p), "chunk": _pack(asdict(ch))}
                if len(row["terms"].encode()) >= MAX_VARCHAR or len(row["pairs"].encode()) >= MAX_VARCHAR:
                    raise IndexStoreError(f"{name}: 청크 {ch.id} 의 낱말이 Milvus 필드 한도(64 KiB)를 넘습니다.")
                if dim:
                    row["dense"] = d.vectors[seq].tolist()
                rows.append(row)
                stats["n"] += 1
                stats["tlen"] += len(t)
                stats["plen"] += len(p)
                delta.update({"t|" + x: 1 for x in set(t)})
                delta.update({"p|" + x: 1 for x in set(p)})
            for seq, u in enumerate(d.units):
                urows.append({"pk": f"{new}|{name}|{seq}", "chunk_id": u.chunk_id, "file": name, "seq": seq,
                              "unit": _pack(asdict(u)), "gen_from": new, "gen_to": 0, "v": [0.0, 0.0]})
        for part in _batches(rows, 500):
            c.insert(phys, list(part))
        for part in _batches(urows):
            c.insert(units_c, list(part))

        # the document-frequency table: changed keys get a row for this generation
        delta = Counter({k: v for k, v in delta.items() if v})
        superseded: list[str] = []
        if delta:
            old: dict[str, tuple[int, int, list[str]]] = {}
            if not fresh:
                for r in _query_in(c, meta_c, "key", list(delta), f"gen <= {gen}", ["pk", "key", "gen", "val"]):
                    g, v, pks = old.get(r["key"], (-1, 0, []))
                    pks = pks + [r["pk"]]
                    old[r["key"]] = (r["gen"], r["val"], pks) if r["gen"] > g else (g, v, pks)
                for k, (g, _, pks) in old.items():
                    superseded += [pk for pk in pks if not pk.endswith(f"#{g}")]   # older than the one gen reads
            mrows = [{"pk": f"{k}#{new}", "key": k, "gen": new, "val": int(old.get(k, (0, 0, []))[1] + v),
                      "data": "", "v": [0.0, 0.0]} for k, v in delta.items()]
            for part in _batches(mrows):
                c.insert(meta_c, list(part))
        meta_rows = [{"pk": f"stats#{new}", "key": "stats", "gen": new, "val": 0, "data": _pack(stats), "v": [0.0, 0.0]}]
        if fresh:
            meta_rows.append({"pk": f"cfg#{new}", "key": "cfg", "gen": new, "val": 0, "v": [0.0, 0.0],
                              "data": _pack({"tokenizer": _tokenizer_record(manifest.tokenizer), "dim": dim,
                                             "index_type": self.loc["index_type"], "k1": K1, "b": B})})
        c.insert(meta_c, meta_rows)
        self.checkpoint("bm25")

        # the manifest (and where the data is) swapped in: the atomic step
        manifest.backend = MilvusBackend.name
        manifest.generation = new
        manifest.chunk_count = stats["n"]
        for name in manifest.files:
            if name in self._upserts:
                manifest.files[name].chunks = len(self._upserts[name].chunks)
        manifest.vector_index = {"type": "milvus", "index": self.loc["index_type"], "metric": "IP",
                                 "collection": self.loc["collection"], "physical": phys} if dim else {}
        manifest.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        side = {"uri": self.loc["uri"] if is_lite(self.loc["uri"]) else display_uri(self.loc["uri"]),
                "collection": self.loc["collection"], "physical": phys, "index_type": self.loc["index_type"],
                "dim": dim}
        index_dir = self.index_dir
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
        try:
            (tmp / SIDECAR).write_text(json.dumps(side, ensure_ascii=False, indent=2), encoding="utf-8")
            (tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
            for f in tmp.iterdir():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            self.checkpoint("write")
            swap_in(tmp, index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

        # garbage: rows no reader of this or the previous generation sees; collections two commits old
        try:
            c.delete(phys, filter=f"gen_to > 0 and gen_to <= {gen}")
            c.delete(units_c, filter=f"gen_to > 0 and gen_to <= {gen}")
            for part in _batches(superseded):
                c.delete(meta_c, filter=f"pk in {_lit(list(part))}")
            c.delete(meta_c, filter=f"key == \"stats\" and gen < {gen}")
            for name in self._physicals():
                if name not in (phys, old_phys):
                    for n in (name, name + "_units", name + "_meta"):
                        c.drop_collection(n)
        except Exception:
            pass   # garbage only: the next commit tries again
        self.loc["physical"] = phys
        self._previous, self._cleared = manifest, False
        self._upserts.clear()
        self._deleted.clear()

    def _read_file(self, phys: str, gen: int, file: str) -> _FileData:
        live = _live(gen)
        fields = ["seq", "terms", "pairs", "chunk"] + (["dense"] if self.loc.get("dim") else [])
        rows = sorted(_query_in(self.client, phys, "file", [file], live, fields), key=lambda r: r["seq"])
        urows = sorted(_query_in(self.client, phys + "_units", "file", [file], live, ["seq", "unit"]),
                       key=lambda r: r["seq"])
        vecs = np.array([r["dense"] for r in rows], dtype=np.float32) if "dense" in fields and rows else None
        d = _FileData([Chunk(**_unpack(r["chunk"])) for r in rows], [Unit(**_unpack(r["unit"])) for r in urows],
                      [[]] * len(rows), [[]] * len(rows), vecs)
        d.terms, d.pairs = [r["terms"].split() for r in rows], [r["pairs"].split() for r in rows]
        return d


def drop_index(index_dir: str | Path) -> None:
    """Drop every Milvus collection of the index at ``index_dir`` (its local files stay)."""
    loc = _location(Path(index_dir))
    if not loc.get("uri") or not loc.get("collection"):
        return
    client = connect(loc["uri"], os.environ.get(ENV_TOKEN))
    pre = loc["collection"] + "_g"
    for name in client.list_collections():
        if name.startswith(pre) and name[len(pre):].split("_")[0].isdigit():
            client.drop_collection(name)
