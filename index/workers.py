"""``kosearch index --workers N``: read -> parse -> chunk -> kiwi analysis of the added and changed
files in a pool of worker processes. Their results come back, in the build's file order, to the
one writer in the main process, which keeps the lock, embeds with the one encoder and writes.

Workers start by forkserver (spawn where there is none), never by fork: the main process may hold
threads and a loaded model. Each worker loads its own Kiwi once, with the main process's
``TokenizerConfig``, and takes the main process's limits (``index.config``), so a file yields the
same document, the same terms and the same skip reason as with one process.
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from index import config
from index.documents import load_document
from index.model import Document
from index.readers import ReadError
from index.tokens import KoreanTokenizer, TokenizerConfig

Analysis = tuple[list[list[str]], list[list[str]]]  # per chunk: its kiwi terms, its term pairs


def load_file(path: Path, name: str) -> tuple[Document | None, str | None]:
    """``load_document`` that never raises: (document, None), or (None, why the file is skipped)."""
    try:
        return load_document(path, name=name), None
    except ReadError as exc:
        return None, str(exc)
    except Exception as exc:  # one broken file must not stop the corpus
        return None, f"unreadable ({type(exc).__name__}: {exc})"


class FileLoader:
    """Documents for the build loop, asked for in its order. With one worker each file is loaded
    when asked, in this process, as before. With more, :meth:`prefetch` hands the files to the
    pool at once and :meth:`load` waits for each in turn; kiwi has then analysed its chunks too."""

    def __init__(self, workers: int = 1):
        self.workers = workers
        self.processes = 0                       # worker processes started (0: none)
        self.problem: str | None = None          # why none could be started, when asked for
        self.fallbacks = 0                       # files read here after the pool broke
        self.analysed: dict[str, Analysis] = {}  # file id -> its chunks' analysis from a worker
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[tuple[str, str], Future] = {}

    def prefetch(self, jobs: list[tuple[Path, str]], tok_config: TokenizerConfig) -> None:
        """Start reading ``jobs`` (path, file id) in worker processes; a no-op with one worker or one file."""
        if self.workers < 2 or len(jobs) < 2:
            return
        try:
            self._pool = ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=_context(),
                                             initializer=_start, initargs=(tok_config, _settings()))
            self._futures = {(str(p), name): self._pool.submit(_work, p, name) for p, name in jobs}
        except Exception as exc:  # no processes here (no /dev/shm, a sandbox): read in this process
            self.close(wait=False)
            self.problem = f"작업 프로세스를 시작하지 못해 한 프로세스로 읽음 ({type(exc).__name__}: {exc})"
            return
        self.processes = min(self.workers, len(jobs))

    def load(self, path: Path, name: str) -> tuple[Document | None, str | None]:
        """The file's document, or None and why it is skipped (see :func:`load_file`)."""
        future = self._futures.pop((str(path), name), None)
        if future is not None:
            try:
                doc, why, analysis = future.result()
            except Exception:  # the pool broke (a worker died) or a result did not pickle: read it here
                self.fallbacks += 1
            else:
                if analysis is not None:
                    self.analysed[name] = analysis
                return doc, why
        return load_file(path, name)

    def summary(self, read: int) -> str | None:
        """One line for the build's log when worker processes were asked for and there were files to share."""
        if self.problem:
            return self.problem
        if not self.processes:
            return None
        broke = f"; 작업 프로세스가 멈춰 {self.fallbacks}개는 이 프로세스에서 읽음" if self.fallbacks else ""
        return f"작업 프로세스 {self.processes}개로 읽음 (새로 읽은 파일 {read}개{broke})"

    def analysis(self, names: list[str]) -> Analysis | None:
        """The workers' analysis of these files' chunks, joined in order; None unless each file has one."""
        if not names or any(n not in self.analysed for n in names):
            return None
        terms: list[list[str]] = []
        pairs: list[list[str]] = []
        for n in names:
            terms += self.analysed[n][0]
            pairs += self.analysed[n][1]
        return terms, pairs

    def close(self, wait: bool = True) -> None:
        """Stop the workers (files prefetched but never asked for are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
        self._futures.clear()

    def __enter__(self) -> "FileLoader":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(wait=exc_type is None)


def _context():
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _settings() -> dict:
    """The main process's settings (``index.config``), which a caller or a test may have changed."""
    kinds = (bool, int, float, str, tuple, frozenset, dict, type(None))
    return {k: v for k, v in vars(config).items() if k.isupper() and isinstance(v, kinds)}


# ---- in the worker processes ---------------------------------------------------------------
_tokenizer: KoreanTokenizer | None = None


def _start(tok_config: TokenizerConfig, settings: dict) -> None:
    """Worker initializer: the main process's settings, and one Kiwi, loaded now."""
    import signal

    global _tokenizer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    for k, v in settings.items():
        setattr(config, k, v)
    # one analysis thread per worker: the processes are the parallelism, N x all cores only fight
    _tokenizer = KoreanTokenizer(tok_config, threads=1)
    _tokenizer.kiwi.tokenize("구청")   # kiwi's own first-use set-up, before any file waits on it


def _work(path: Path, name: str) -> tuple[Document | None, str | None, Analysis | None]:
    from index.build import analyse

    doc, why = load_file(path, name)
    if doc is None:
        return None, why, None
    return doc, None, analyse(_tokenizer, doc.chunks) if doc.chunks else ([], [])
