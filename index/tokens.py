"""The one Korean tokeniser used at index time and at query time (kiwipiepy morphemes)."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from index.files import file_sha256

# Content morphemes kept as terms. Particles (J*), endings (E*), punctuation and
# bound nouns (NNB: 년, 원, 개) only add noise to BM25.
DEFAULT_TAGS = ("NNG", "NNP", "NR", "SN", "SL", "SH", "XR", "VV", "VA", "MAG", "W_SERIAL")
_NOUNISH = {"NNG", "NNP", "XR", "SL", "SH"}


@dataclass(frozen=True)
class TokenizerConfig:
    tags: tuple[str, ...] = DEFAULT_TAGS
    compounds: bool = True          # also emit adjacent noun runs joined ("스마트메디컬특구")
    split_numbers: bool = False     # "391,300" -> "391300" (False) or digits groups
    userdict: str | None = None     # path of a user dictionary (one word per line, optional tag)
    userdict_hash: str | None = None
    # kiwi's multi-word dictionary ("자연어 처리" as one NNP) costs ~2 s at every start (load plus
    # the first analysis); without it such names are their words, and the pair index keeps them
    # together. Indexes from before this field was recorded used it.
    multi_dict: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        d = dict(d)
        d["tags"] = tuple(d.get("tags", DEFAULT_TAGS))
        d.setdefault("multi_dict", True)
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def load_userdict(path: str | Path) -> list[tuple[str, str, float]]:
    """Entries of a user dictionary: ``word [TAG [score]]`` per line, ``#`` comments."""
    entries = []
    for raw in Path(path).read_text(encoding="utf-8-sig").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        word = parts[0]
        tag = parts[1] if len(parts) > 1 else "NNP"
        score = float(parts[2]) if len(parts) > 2 else 0.0
        entries.append((word, tag, score))
    return entries


def config_with_userdict(path: str | Path | None, base: TokenizerConfig | None = None) -> TokenizerConfig:
    base = base or TokenizerConfig()
    if path is None or not Path(path).is_file():
        return base
    digest = file_sha256(path)[:16]
    return TokenizerConfig(**{**base.__dict__, "userdict": str(path), "userdict_hash": digest})


@dataclass
class Term:
    text: str
    start: int
    end: int
    compound: bool = False  # a joined noun run, emitted after its parts
    tag: str = ""           # kiwi's part-of-speech tag ("compound" for a joined noun run)


PAIR_SEP = " "


def term_pairs(terms: list[Term]) -> list[str]:
    """Adjacent-term pairs ("제19조 제2항", "예비 인가"): BM25 over these rewards passages that
    hold the question's words in the same order, a phrase signal plain BM25 lacks."""
    base = [t.text for t in terms if not t.compound]
    return [a + PAIR_SEP + b for a, b in zip(base, base[1:])]


class KoreanTokenizer:
    """Kiwi loads once, lazily, per instance (about a second)."""

    def __init__(self, config: TokenizerConfig | None = None, threads: int | None = None):
        """``threads``: kiwi's analysis threads (default: one per core; build workers use 1)."""
        self.config = config or TokenizerConfig()
        self.threads = threads
        self._kiwi = None
        self._lock = threading.Lock()
        self._tags = frozenset(self.config.tags)

    @property
    def kiwi(self):
        if self._kiwi is None:
            with self._lock:
                if self._kiwi is None:
                    from kiwipiepy import Kiwi

                    kw = {"num_workers": self.threads} if self.threads else {}
                    kiwi = Kiwi(load_multi_dict=self.config.multi_dict, **kw)
                    if self.config.userdict and Path(self.config.userdict).is_file():
                        for word, tag, score in load_userdict(self.config.userdict):
                            kiwi.add_user_word(word, tag, score)
                    self._kiwi = kiwi
        return self._kiwi

    def _terms(self, text: str, tokens) -> list[Term]:
        out: list[Term] = []
        run: list = []

        def flush():
            if self.config.compounds and len(run) > 1:
                a, b = run[0], run[-1]
                joined = "".join(t.form for t in run)
                out.append(Term(joined.lower(), a.start, b.start + b.len, compound=True, tag="compound"))
            run.clear()

        for t in tokens:
            tag = t.tag.split("-")[0]
            if tag in _NOUNISH and run and run[-1].start + run[-1].len == t.start:
                run.append(t)
            else:
                flush()
                if tag in _NOUNISH:
                    run.append(t)
            if tag not in self._tags:
                continue
            form = t.form
            if tag in ("SN", "W_SERIAL"):
                form = form.replace(",", "").replace(" ", "")
            elif tag == "SL":
                form = form.lower()
            if len(form) == 1 and tag in ("MAG", "VV", "VA"):
                # single-syllable verbs/adverbs (하, 되, 및) carry no meaning for search
                continue
            out.append(Term(form, t.start, t.start + t.len, tag=tag))
        flush()
        return out

    def terms(self, text: str) -> list[Term]:
        """Terms of one text with character offsets (for highlights)."""
        return self._terms(text, self.kiwi.tokenize(text))

    def tokenize(self, text: str) -> list[str]:
        return [t.text for t in self.terms(text)]

    def terms_many(self, texts: list[str]) -> list[list[Term]]:
        """Batch form of :meth:`terms`; kiwi processes the list in one call."""
        results = self.kiwi.tokenize(texts)
        return [self._terms(text, toks) for text, toks in zip(texts, results)]
