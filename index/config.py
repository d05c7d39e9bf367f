"""Defaults, limits and their validation: the one place a setting is written down.

Precedence of a search setting (see :func:`resolve`):

1. a value given on the command line (or to the API / a function argument),
2. then the value recorded in the index's manifest at build time (``Manifest.search``),
3. then the defaults below.

It lives in ``index/`` because the index records these settings and ``index`` never imports
``search``; ``search``, ``app.py`` and ``cli.py`` import it from here. Nothing heavy is imported.
"""
from __future__ import annotations

import os as _os

# ---- model and index location --------------------------------------------------------------
DEFAULT_MODEL = "bundled:multilingual-e5-small"
NO_MODEL = frozenset({"none", "bm25", ""})            # --model values meaning "BM25 only"
DEFAULT_INDEX_DIR = ".kosearch/index"
# Passages and queries of the bundled model run as int8 through ONNX Runtime (index/onnxenc.py):
# ~3x the fp32 torch speed, cosine >= 0.99 with fp32 (`make bench`). "fp32": torch, as before.
# Other models always run fp32. The precision is recorded in the index's manifest.
DEFAULT_PRECISION = "int8"
EMBED_BATCH_INT8 = 4      # texts per ONNX Runtime pass: faster than 32 on CPU, and a 0.6 GB peak, not 1.4 GB
EMBED_BATCH_FP32 = 32
DEFAULT_CORPUS_DIR = "corpus"                         # `kosearch index` with no PATH; the app's --corpus
# An installed offline bundle keeps its data outside the code, in one folder ($KOSEARCH_DATA:
# reports/, index/, uploads/, models/; see packaging/). When it is set, the defaults live there.
DATA_DIR = _os.environ.get("KOSEARCH_DATA", "").strip() or None
if DATA_DIR:
    DEFAULT_INDEX_DIR = _os.path.join(DATA_DIR, "index")
    DEFAULT_CORPUS_DIR = _os.path.join(DATA_DIR, "reports")

# ---- building the index (kosearch index --workers N --device cpu|cuda) ---------------------
# Worker processes that read, parse, chunk and kiwi-analyse changed files (index/workers.py);
# 1: all in the main process, as before. The one writer and the one encoder stay in the main process.
DEFAULT_WORKERS = 1
MAX_WORKERS_PER_CPU = 4                                # --workers above cpu_count * this is a mistake
# Where the encoder runs. The int8 ONNX path is CPU-only, so "cuda" means the fp32 torch path.
DEVICES = ("cpu", "cuda")
DEFAULT_DEVICE = "cpu"

# ---- queries and results -------------------------------------------------------------------
MAX_QUERY_CHARS = 300
TOP_K_MIN, TOP_K_MAX = 1, 50                           # everywhere: CLI, batch, API, app
DEFAULT_TOP_K = 5
UI_MAX_TOP_K = 20                                      # the app's slider stops here (within the range)

MODES = ("hybrid", "bm25", "dense")
DEFAULT_MODE = "hybrid"
GROUP_BY = ("programme",)

# chapter kinds a filter may name, with their Korean aliases
KINDS = {"plan": "plan", "계획": "plan", "results": "results", "실적": "results", "new": "new", "신규": "new",
         "general": "general", "일반현황": "general"}
KIND_LABELS = {"plan": "계획", "results": "실적", "new": "신규", "general": "일반현황", "other": "기타"}
CLI_KINDS = ("plan", "results", "new", "계획", "실적", "신규")

# ---- fusion (hybrid) -----------------------------------------------------------------------
# Chosen on the tuning halves (even qids) of autorag-ko and corpus_qa (see README, Quality):
# blend beat RRF at every weight. On a grid of dense 0-0.3 x phrase 0.1-0.3, dense 0-0.10 with
# phrase 0.15-0.20 tied for the best autorag tune R@1 (0.930, nDCG 0.965; dense 0 with phrase 0.25
# reached nDCG 0.970), and corpus_qa tune did not move. Of that tie we take the largest dense
# weight, so paraphrased questions keep the vectors' help; checked on all questions, it is also
# the one that keeps hybrid at or above dense alone on corpus_qa hit@3 (0.963; 0.944 at <= 0.05).
# Same defaults for every corpus.
FUSIONS = ("blend", "rrf")
DEFAULT_FUSION = "blend"
DEFAULT_DENSE_WEIGHT = 0.10
DEFAULT_PHRASE_WEIGHT = 0.15
RRF_K = 60
CANDIDATES = 100                                       # BM25 top-n and dense top-n merged per query
YEAR_BOOST = 0.1  # tune half of corpus_qa: 0.1 lifted hybrid hit@5 0.962 -> 1.000; 0.05 did not

# ---- confidence ----------------------------------------------------------------------------
# Calibrated on the tune half of tests/data/corpus_qa.jsonl (answerable vs unanswerable top hits):
# IDF-weighted coverage of the top hybrid hit was <= 0.21 for every unanswerable question and
# >= 0.31 for every answerable one. Dense cosines are those of the bundled e5 model.
HIGH_COVERAGE = 0.5
LOW_COVERAGE = 0.25
HIGH_DENSE = 0.86
LOW_DENSE = 0.80
CONFIDENCE_LEVELS = ("high", "medium", "low")

# ---- vector index --------------------------------------------------------------------------
# Exact search below this many vectors, HNSW above. Measured by `make bench` on 2 cores: exact
# search p95 0.9 ms at 10k, 7.5 ms at 50k, 17 ms at 100k vectors (dim 384), far inside the
# 200 ms budget, while HNSW lost recall@10 (0.83-0.87 at 100k near-duplicate vectors).
HNSW_THRESHOLD = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128

# ---- input files ---------------------------------------------------------------------------
# per-file size caps: the readers (index/readers/zipped.py) and `kosearch batch` read them from here
MAX_ZIP_TOTAL_BYTES = 256 * 1024 * 1024      # HWPX/DOCX: all members, decompressed
MAX_ZIP_MEMBER_BYTES = 128 * 1024 * 1024     # HWPX/DOCX: one member, decompressed
MAX_QUESTIONS_FILE_BYTES = 20 * 1024 * 1024  # a `kosearch batch` question file
# The app's 보고서 관리 upload (issue 16): Gradio's max_file_size, and files per upload. A work report
# is well under 10 MB (the largest PDF fixture 1.3 MB); 50 MB leaves room for scanned-in tables.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_FILES = 20
UPLOAD_SUFFIXES = (".hwp", ".hwpx", ".pdf", ".docx", ".txt")
# Characters indexed per report file. A work report is 6-9 thousand characters (corpus/) and a
# 300-page one well under a million; a file over the cap is indexed up to it and the build says so
# ("앞 2,000,000자만 색인함 (파일 …자)"). A text file is read only that far (index/readers/text.py).
MAX_FILE_CHARS = 2_000_000
# Characters per file given vectors (dense search); chunks past it are found by words (BM25,
# phrases) only, and the build says so. The bundled e5 embeds about 2,200 tokens (~4,500 Korean
# characters) a second on 2 cores, so 2 million characters would take 7-8 minutes; 50,000 keeps
# one file's embedding near 10 s (30-40 s on a busy machine) and is over five times the largest
# corpus report. Dense is 0.10 of the hybrid score, so the rest of a huge file is still found.
MAX_FILE_EMBED_CHARS = 50_000
# Answer units: a line longer than this is cut at spaces into pieces (a 1 MB line must not
# become a 1 MB answer), and at most this many pieces are kept per line.
UNIT_MAX_CHARS = 600
UNIT_MAX_PIECES = 20
# Answers read the units of this many top passages (and the rest of their programmes): retrieval
# puts the answer's passage in the top 3 for 98-100% of questions; 10 leaves room for the other
# years of the same fact.
ANSWER_PASSAGES = 10
# Of those, the top few bring their whole programme (the 소요예산 line may be in another passage).
ANSWER_PROGRAMMES = 3
# Chapter kinds whose sections are not programmes (조직, 예산현황, 주요시설 …): never list items.
PLAIN_CHAPTERS = ("general", "other")
# A list answer shows at most this many items; the rest are counted ("외 N개").
MAX_LIST_ITEMS = 100
# A proper noun in this share of passages or more names the district itself ("영등포"), not an answer.
COMMON_PROPER_SHARE = 0.2


class SettingError(ValueError):
    """A setting, argument or question that cannot be used; the message is one Korean line for the user."""


QueryError = SettingError  # the name the search code and its callers use


def validate_top_k(value, *, maximum: int = TOP_K_MAX) -> int:
    """An int in 1..maximum (default 50) or SettingError."""
    if isinstance(value, bool):
        raise SettingError(f"top_k(결과 수)는 {TOP_K_MIN}에서 {maximum} 사이의 정수여야 합니다.")
    try:
        k = int(value)
        if k != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise SettingError(f"top_k(결과 수)는 {TOP_K_MIN}에서 {maximum} 사이의 정수여야 합니다.") from None
    if not TOP_K_MIN <= k <= maximum:
        raise SettingError(f"top_k(결과 수)는 {TOP_K_MIN}에서 {maximum} 사이여야 합니다 (받은 값: {k}).")
    return k


def validate_mode(mode: str) -> str:
    if mode not in MODES:
        raise SettingError(f"알 수 없는 검색 방식: {mode} ({'|'.join(MODES)})")
    return mode


def validate_fusion(method: str) -> str:
    if method not in FUSIONS:
        raise SettingError(f"알 수 없는 결합 방식: {method} ({'|'.join(FUSIONS)})")
    return method


def validate_weights(dense_weight: float, phrase_weight: float) -> tuple[float, float]:
    """Each weight in 0..1 and together at most 1 (BM25 gets what is left)."""
    try:
        w, v = float(dense_weight), float(phrase_weight)
    except (TypeError, ValueError):
        raise SettingError("가중치는 숫자여야 합니다.") from None
    if not (0 <= w <= 1 and 0 <= v <= 1 and w + v <= 1):
        raise SettingError(f"가중치는 0~1 사이이고 dense_weight + phrase_weight ≤ 1이어야 합니다 "
                           f"(dense {w}, phrase {v}).")
    return w, v


def parse_kind(kind: str) -> str:
    """A chapter kind or its Korean alias -> the canonical kind."""
    try:
        return KINDS[str(kind).strip()]
    except KeyError:
        raise SettingError(f"알 수 없는 장 종류: {kind} (plan|results|new 또는 계획|실적|신규)") from None


def parse_kinds(kinds) -> set[str]:
    return {parse_kind(k) for k in (kinds if isinstance(kinds, (list, tuple, set)) else [kinds])}


YEAR_MIN, YEAR_MAX = 1900, 2100
MAX_FILTER_CHARS = 100                                 # one department (or other name) filter value
MAX_FILTER_VALUES = 50                                 # values in one filter
SHOWN_VALUES = 30                                      # existing values named in an "unknown value" message


def _values(value, what: str) -> list:
    """A filter given as one value or a list of them -> a list (empty: no filter)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        values = [v for v in value if v is not None and v != ""]
    else:
        values = [value]
    if len(values) > MAX_FILTER_VALUES:
        raise SettingError(f"{what} 필터 값이 너무 많습니다 (최대 {MAX_FILTER_VALUES}개).")
    return values


def validate_year(value) -> int:
    """One year filter: 2022, "2022" or "2022년" -> 2022; anything else SettingError."""
    bad = SettingError(f"연도는 2022처럼 네 자리 숫자여야 합니다 (받은 값: {_shown(value)}).")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, float):
        if not value.is_integer():
            raise bad
        value = int(value)
    if isinstance(value, str):
        text = value.strip().removesuffix("년").strip()
        if not (text.isascii() and text.isdigit()):
            raise bad
        value = int(text)
    if not isinstance(value, int):
        raise bad
    if not YEAR_MIN <= value <= YEAR_MAX:
        raise SettingError(f"연도는 {YEAR_MIN}에서 {YEAR_MAX} 사이여야 합니다 (받은 값: {value}).")
    return value


def validate_years(value) -> list[int] | None:
    """A year filter (one value or a list) -> the years, or None for no filter."""
    years = [validate_year(v) for v in _values(value, "연도")]
    return sorted(set(years)) or None


def validate_names(value, what: str) -> list[str] | None:
    """A name filter such as a department (text, or a list of texts) -> the names, or None."""
    names = []
    for v in _values(value, what):
        if not isinstance(v, str):
            raise SettingError(f"{what}는 글자로 적어야 합니다 (받은 값: {_shown(v)}).")
        v = " ".join(v.split())
        if len(v) > MAX_FILTER_CHARS:
            raise SettingError(f"{what} 이름이 너무 깁니다 (최대 {MAX_FILTER_CHARS}자).")
        if v:
            names.append(v)
    return names or None


def check_known(wanted, known, what: str, *, key=lambda v: v, unit: str = "") -> None:
    """SettingError naming the values that exist when a filter asks for one the index does not hold."""
    have = {key(k) for k in known}
    missing = [w for w in wanted if key(w) not in have]
    if not missing:
        return
    shown = [f"{k}{unit}" for k in known[:SHOWN_VALUES]]
    more = f" 외 {len(known) - SHOWN_VALUES}개" if len(known) > SHOWN_VALUES else ""
    exist = f"있는 {what}: {', '.join(shown)}{more}" if known else f"색인에 {what} 정보가 없습니다"
    raise SettingError(f"색인에 없는 {what}: {', '.join(f'{m}{unit}' for m in missing)} ({exist}).")


def validate_question(value) -> None:
    """A question must be text (the API could send a number or a list)."""
    if value is not None and not isinstance(value, str):
        raise SettingError(f"질문은 글자로 적어야 합니다 (받은 값의 종류: {type(value).__name__}).")


def _shown(value, limit: int = 40) -> str:
    """A bad value as it may be quoted back in one line."""
    text = " ".join(repr(value)[1:-1].split()) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def is_no_model(model: str | None) -> bool:
    return model is None or model.strip().lower() in NO_MODEL


def validate_workers(value) -> int:
    """``--workers``: an int in 1..cpu_count * MAX_WORKERS_PER_CPU; None is the default."""
    if value is None:
        return DEFAULT_WORKERS
    top = (_os.cpu_count() or 1) * MAX_WORKERS_PER_CPU
    bad = SettingError(f"--workers(작업 프로세스 수)는 1에서 {top} 사이의 정수여야 합니다 (받은 값: {_shown(value)}).")
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise bad
    try:
        n = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise bad from None
    if not 1 <= n <= top:
        raise bad
    return n


def validate_device(value) -> str:
    """``--device``: cpu or cuda; None is the default."""
    if value is None:
        return DEFAULT_DEVICE
    device = str(value).strip().lower()
    if device not in DEVICES:
        raise SettingError(f"--device(임베딩 장치)는 {' 또는 '.join(DEVICES)} 여야 합니다 (받은 값: {_shown(value)}).")
    return device


def device_precision(device: str, precision: str | None) -> str | None:
    """The embedding precision asked for on ``device``. CUDA runs the fp32 torch path (the int8
    ONNX path is CPU-only): cuda means fp32 unless a precision is given, and int8 with cuda is an error.
    On cpu, ``precision`` as given (None: the index's recorded precision, else the default)."""
    if device != "cuda":
        return precision
    if precision == "int8":
        raise SettingError("int8 임베딩(ONNX)은 CPU 전용이라 --device cuda 와 함께 쓸 수 없습니다 "
                           "(--precision fp32 로 하거나 --precision 을 빼세요).")
    return "fp32"


# ---- search settings recorded in the manifest ----------------------------------------------
SEARCH_DEFAULTS = {"mode": DEFAULT_MODE, "top_k": DEFAULT_TOP_K, "fusion": DEFAULT_FUSION,
                   "dense_weight": DEFAULT_DENSE_WEIGHT, "phrase_weight": DEFAULT_PHRASE_WEIGHT}


def search_settings() -> dict:
    """What a build records in the manifest (``Manifest.search``): today's defaults."""
    return dict(SEARCH_DEFAULTS)


def resolve(flags: dict | None = None, manifest: dict | None = None) -> dict:
    """Search settings by precedence: a flag that was given (not None) > the manifest > the defaults.

    Validated; raises :class:`SettingError` with a Korean message.
    """
    out = dict(SEARCH_DEFAULTS)
    for src in (manifest or {}, flags or {}):
        out.update({k: v for k, v in src.items() if k in SEARCH_DEFAULTS and v is not None})
    validate_mode(out["mode"])
    validate_fusion(out["fusion"])
    out["top_k"] = validate_top_k(out["top_k"])
    out["dense_weight"], out["phrase_weight"] = validate_weights(out["dense_weight"], out["phrase_weight"])
    return out
