"""보고서 관리 (issue 16): store uploads in the reports folder, index them one job at a time,
remove reports to ``<reports>/.trash``, and keep an audit log. The app only wires this to its UI.

* **Where:** the reports folder is the one the operator gave (``kosearch serve --corpus DIR``),
  never one read from the manifest. An upload goes to ``DIR/<year>/<safe name>`` (the year read
  from the report; ``DIR/uploads/`` when none), so the same name from another year never
  collides; a name taken in that folder gets `` (2)``. Files are first read in
  ``DIR/.incoming`` (a dotted folder, never indexed): one that does not read (zip bomb, broken,
  encrypted, empty) is rejected with its reason and nothing else is touched.
* **Duplicates:** a file whose sha256 is already indexed is reported with the id that holds it.
* **One at a time:** every upload and removal is a :class:`Job` on one in-process queue and one
  worker thread; indexing itself also holds the index's writer lock (``index.store.open_writer``),
  so a ``kosearch index`` at the same time waits or is refused, never interleaved.
* **Shared models:** the worker builds with the app's ``ModelRegistry`` (kiwi, the encoder).
* **Audit:** ``audit.jsonl`` in the data folder: time, user, action, file, result.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from index import config
from index.roots import absolute, entry_path, under

log = logging.getLogger("kosearch.manage")

TRASH = ".trash"
INCOMING = ".incoming"
UPLOADS = "uploads"
LOCK_WAIT_S = 300.0        # a `kosearch index` running at the same time: wait for it this long
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


class ManageError(Exception):
    """Refused: the message is one Korean line for the user."""


def safe_name(name: str) -> str:
    """A file name that is safe to create in the reports folder: no folders, NFC, no control or
    reserved characters, no leading dots or spaces, at most 120 characters (the suffix kept)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(". ").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix.lower()[:8]
    stem = stem.strip()[:110].rstrip(". ") or "report"
    return f"{stem}.{suffix}" if suffix else stem


def free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).suffix`` … when that is taken."""
    p = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in itertools.count(2):
        if not p.exists() and not p.is_symlink():
            return p
        p = folder / f"{stem} ({n}){suffix}"
    raise AssertionError("unreachable")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Outcome:
    name: str            # the name as uploaded, or the file id removed
    ok: bool
    message: str         # one line: "색인됨: 2022/보고.pdf (청크 12개)" or the reason


@dataclass
class Job:
    id: int
    action: str                          # "upload" | "remove"
    user: str
    items: list                          # upload: [(temp path, original name)]; remove: [file id]
    state: str = "대기"                   # 대기 → 처리 중 → 완료 | 실패
    progress: float = 0.0
    stage: str = "대기열에서 기다리는 중"
    outcomes: list[Outcome] = field(default_factory=list)
    summary: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.done.is_set()


class ReportManager:
    """Uploads and removals of one reports folder and one index, queued on one worker thread."""

    def __init__(self, corpus: str | Path, index_dir: str | Path, *, models=None, model: str | None = None,
                 audit_path: str | Path | None = None, max_bytes: int = config.MAX_UPLOAD_BYTES,
                 on_indexed: Callable[[], None] | None = None, lock_wait: float = LOCK_WAIT_S):
        self.corpus = absolute(corpus)
        self.index_dir = Path(index_dir)
        self.models = models
        self.model = model
        self.max_bytes = max_bytes
        self.lock_wait = lock_wait
        self.on_indexed = on_indexed
        data = Path(config.DATA_DIR) if config.DATA_DIR else absolute(self.index_dir).parent
        self.audit_path = Path(audit_path) if audit_path else data / "audit.jsonl"
        self._queue: queue.Queue[Job] = queue.Queue()
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._audit_lock = threading.Lock()
        self.failures: list[tuple[str, str, str]] = []   # (time, name, reason) of rejected uploads, newest last
        self._worker = threading.Thread(target=self._run, name="kosearch-manage", daemon=True)
        self._worker.start()

    # ---- the queue -------------------------------------------------------------------------
    def submit(self, action: str, items: list, user: str = "") -> Job:
        if action not in ("upload", "remove"):
            raise ManageError(f"알 수 없는 작업: {action}")
        if not items:
            raise ManageError("올릴 파일을 고르세요." if action == "upload" else "뺄 보고서를 고르세요.")
        if action == "upload" and len(items) > config.MAX_UPLOAD_FILES:
            raise ManageError(f"한 번에 {config.MAX_UPLOAD_FILES}개까지 올릴 수 있습니다 ({len(items)}개를 고름).")
        job = Job(next(self._ids), action, user or "-", list(items))
        ahead = self._queue.qsize() + sum(1 for j in self._jobs.values() if j.state == "처리 중")
        if ahead:
            job.stage = f"대기열에서 기다리는 중 (앞에 {ahead}건)"
        self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def job(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def busy(self) -> bool:
        return any(not j.finished for j in self._jobs.values())

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            job.state, job.stage = "처리 중", "시작"
            try:
                _lower_priority()
                (self._upload if job.action == "upload" else self._remove)(job)
                job.state = "완료"
            except ManageError as exc:
                job.state, job.summary = "실패", str(exc)
            except Exception as exc:   # never kill the worker; the user gets one line
                log.exception("job %s failed", job.id)
                job.state = "실패"
                job.summary = f"처리 중 문제가 발생했습니다 ({type(exc).__name__}). 관리자에게 알려 주세요."
            finally:
                job.progress = 1.0
                job.done.set()
                # forget old finished jobs (a long-running app)
                for old in [i for i, j in self._jobs.items() if j.finished and i < job.id - 50]:
                    self._jobs.pop(old, None)

    # ---- what is indexed -------------------------------------------------------------------
    def manifest(self):
        from index.store import IndexStoreError, read_manifest

        try:
            return read_manifest(self.index_dir)
        except IndexStoreError:
            return None

    def reports(self) -> list[dict]:
        """Indexed reports, newest year first: id, title, year, department, chunks, indexed, format."""
        m = self.manifest()
        if m is None:
            return []
        rows = [{"id": name, "title": e.title or "", "year": e.year, "department": e.department or "",
                 "chunks": e.chunks, "indexed": (e.indexed or m.created or "")[:16].replace("T", " "),
                 "format": e.format} for name, e in m.files.items() if e.hash]
        return sorted(rows, key=lambda r: (-(r["year"] or 0), r["id"]))

    def failed(self) -> list[tuple[str, str]]:
        """Files that could not be indexed: the last build's skips, then rejected uploads."""
        m = self.manifest()
        out = [(Path(s.get("file", "")).name, s.get("reason", "")) for s in (m.skipped if m else [])]
        return out + [(name, reason) for _, name, reason in self.failures[-20:]]

    # ---- upload ----------------------------------------------------------------------------
    def _upload(self, job: Job) -> None:
        from index.documents import load_document
        from index.readers import ReadError

        m = self.manifest()
        known = {e.hash: name for name, e in (m.files.items() if m else ()) if e.hash}
        incoming = self.corpus / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        placed: list[tuple[Path, str, str]] = []    # (final path, original name, sha256)
        n = len(job.items)
        for i, (src, original) in enumerate(job.items):
            job.stage, job.progress = f"확인 중: {original}", 0.3 * i / n
            name = safe_name(original)
            why = None
            suffix = Path(name).suffix.lower()
            src = Path(src)
            try:
                size = src.stat().st_size
            except OSError:
                size = -1
            if suffix not in config.UPLOAD_SUFFIXES:
                why = f"지원하지 않는 형식입니다 ({suffix or '확장자 없음'}; 가능: HWP, HWPX, PDF, DOCX, TXT)"
            elif size < 0:
                why = "올린 파일을 읽을 수 없습니다 (다시 올려 보세요)"
            elif size == 0:
                why = "빈 파일입니다"
            elif size > self.max_bytes:
                why = f"파일이 너무 큽니다 ({size / 2**20:.1f} MB; 한도 {self.max_bytes // 2**20} MB)"
            digest = None
            if why is None:
                digest = sha256(src)
                if digest in known:
                    why = f"이미 색인된 내용입니다 ({known[digest]} 과(와) 같은 파일)"
                elif digest in {d for _, _, d in placed}:
                    why = "이번에 함께 올린 다른 파일과 내용이 같습니다"
            staged = None
            if why is None:
                staged = incoming / f"{uuid.uuid4().hex}{suffix}"
                shutil.copyfile(src, staged)
                try:
                    doc = load_document(staged, name=name)
                except ReadError as exc:
                    why = f"읽을 수 없어 거부함: {exc}"
                except Exception as exc:   # a hostile file must not stop anything else
                    why = f"읽을 수 없는 파일입니다 ({type(exc).__name__})"
            if why is not None:
                if staged is not None:
                    staged.unlink(missing_ok=True)
                job.outcomes.append(Outcome(original, False, why))
                self.failures.append((time.strftime("%Y-%m-%d %H:%M"), name, why))
                self.audit(job.user, "upload", original, result="거부", reason=why, sha256=digest)
                continue
            folder = self.corpus / (str(doc.meta.year) if doc.meta.year else UPLOADS)
            folder.mkdir(parents=True, exist_ok=True)
            final = free_path(folder, name)
            os.replace(staged, final)
            placed.append((final, original, digest))
            known[digest] = str(final.relative_to(self.corpus))
        if not placed:
            job.summary = "색인한 파일이 없습니다: " + "; ".join(f"{o.name}: {o.message}" for o in job.outcomes)
            return
        job.stage, job.progress = "색인 중", 0.3
        try:
            report = self._build([p for p, _, _ in placed], job)
        except Exception:
            for p, original, digest in placed:   # nothing half-done: the files leave with the failed build
                self._to_trash(p, "failed")
            raise
        by_path = {str(absolute(p)): (original, digest) for p, original, digest in placed}
        skipped = {str(absolute(s.file)): s.reason for s in report.skipped}
        m = self.manifest()
        ids = {str(entry_path(e)): name for name, e in (m.files.items() if m else ())}
        for path, (original, digest) in by_path.items():
            if path in skipped:
                self._to_trash(Path(path), "failed")
                job.outcomes.append(Outcome(original, False, skipped[path]))
                self.failures.append((time.strftime("%Y-%m-%d %H:%M"), original, skipped[path]))
                self.audit(job.user, "upload", original, result="거부", reason=skipped[path], sha256=digest)
                continue
            fid = ids.get(path, Path(path).name)
            chunks = m.files[fid].chunks if m and fid in m.files else 0
            job.outcomes.append(Outcome(original, True, f"색인됨: {fid} (청크 {chunks}개)"))
            self.audit(job.user, "upload", original, result="색인", id=fid, sha256=digest,
                       path=str(Path(path).relative_to(self.corpus)))
        ok = sum(o.ok for o in job.outcomes)
        job.summary = f"올린 {len(job.items)}개 중 {ok}개 색인" + (f", {len(job.items) - ok}개 거부" if ok < len(job.items) else "")

    def _build(self, paths: list[Path], job: Job):
        from index.build import build
        from index.store import IndexStoreError

        def on_file(done, total, name):
            job.stage, job.progress = f"읽는 중 ({done + 1}/{total})", 0.3 + 0.3 * done / max(total, 1)

        model = self.model if self.model is not None else _index_model(self.index_dir)
        try:
            job.stage = "색인 중 (다른 색인 작업이 끝나기를 기다릴 수 있음)"
            report = build(paths, self.index_dir, model=model, models=self.models, wait=self.lock_wait,
                           on_file=on_file, log=lambda m: log.info("%s", m))
        except IndexStoreError as exc:
            raise ManageError(str(exc)) from None
        job.progress, job.stage = 0.95, "새 색인으로 바꾸는 중"
        if self.on_indexed is not None:
            self.on_indexed()
        return report

    # ---- remove ----------------------------------------------------------------------------
    def _remove(self, job: Job) -> None:
        from index.build import remove
        from index.store import IndexStoreError

        m = self.manifest()
        if m is None:
            raise ManageError("색인이 없습니다.")
        for fid in job.items:
            job.stage = f"빼는 중: {fid}"
            entry = m.files.get(fid)
            if entry is None:
                job.outcomes.append(Outcome(fid, False, "색인에 없는 보고서입니다 (이미 빠졌을 수 있음)"))
                continue
            p = entry_path(entry)
            moved = None
            if p is not None and under(p, self.corpus) and p.is_file():
                moved = self._to_trash(p, "removed")
            try:
                # a file moved away is not on disk: nothing to remember, and no index run brings it back;
                # one outside the reports folder is never moved, only remembered as removed
                remove([str(p) if p is not None else fid], self.index_dir, wait=self.lock_wait)
            except IndexStoreError as exc:
                if moved is not None:
                    os.replace(moved, p)   # put it back: nothing half-done
                raise ManageError(str(exc)) from None
            where = f"{TRASH}/{moved.relative_to(self.corpus / TRASH)}" if moved else "파일은 그대로(보고서 폴더 밖)"
            job.outcomes.append(Outcome(fid, True, f"뺌: {fid} → {where}"))
            self.audit(job.user, "remove", fid, result="뺌", trash=where)
        if self.on_indexed is not None:
            self.on_indexed()
        job.summary = f"{sum(o.ok for o in job.outcomes)}개를 색인에서 뺐습니다"

    def _to_trash(self, path: Path, why: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        rel = path.relative_to(self.corpus) if under(path, self.corpus) else Path(path.name)
        target = free_path((self.corpus / TRASH / f"{stamp}-{why}" / rel).parent, rel.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return target

    # ---- audit -----------------------------------------------------------------------------
    def audit(self, user: str, action: str, file: str, **extra) -> None:
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": user or "-", "action": action,
               "file": file, **{k: v for k, v in extra.items() if v is not None}}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self._audit_lock:
            try:
                self.audit_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.audit_path, "a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError:
                log.exception("audit log %s not written", self.audit_path)


def _index_model(index_dir: Path) -> str:
    """The model the index was built with ("none" for BM25 only), so an upload never forces a rebuild."""
    from index.store import IndexStoreError, read_manifest

    try:
        return read_manifest(index_dir).model.get("id") or "none"
    except IndexStoreError:
        return config.DEFAULT_MODEL


def _lower_priority() -> None:
    """Run indexing at a lower CPU priority than the searches it shares the machine with (Linux: per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


# ---- who may manage (issue 16, item 4) -----------------------------------------------------------
ADMIN_ENV = "KOSEARCH_ADMIN"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ManagePolicy:
    """Who may upload and remove.

    * ``KOSEARCH_ADMIN`` set: only those accounts, after their own login in the 보고서 관리 panel
      (reading stays as ``KOSEARCH_AUTH`` says: open when it is unset);
    * else on 127.0.0.1: anyone who can open the app (everyone on this machine, or everyone
      logged in with ``KOSEARCH_AUTH``);
    * else (any other address): managing is refused.
    """

    MAX_FAILURES, WINDOW_S = 5, 60.0

    def __init__(self, host: str = "127.0.0.1", admins: list[tuple[str, str]] | None = None):
        self.host = host
        self.admins = list(admins or [])
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """"admin" (panel login), "open" (no login for managing) or "off"."""
        if self.admins:
            return "admin"
        return "open" if self.host in LOCAL_HOSTS else "off"

    def refusal(self) -> str | None:
        if self.mode == "off":
            return (f"보고서 관리가 꺼져 있습니다: {self.host} 처럼 127.0.0.1 이 아닌 주소에서는 "
                    f"관리자 계정({ADMIN_ENV}='user:pass')을 설정해야 올리거나 뺄 수 있습니다.")
        return None

    def login(self, user: str, password: str, client: str = "-") -> str:
        """The admin's name, or ManageError (wrong, or too many failures from this address)."""
        import hmac

        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.WINDOW_S]
            self._failures[client] = recent
            if len(recent) >= self.MAX_FAILURES:
                raise ManageError(f"로그인 실패가 너무 많습니다. {int(self.WINDOW_S - (now - recent[0])) + 1}초 뒤에 다시 시도하세요.")
        ok = None
        for u, p in self.admins:   # compare every account: the time does not tell which name exists
            if hmac.compare_digest(u.encode(), str(user or "").encode()) & \
                    hmac.compare_digest(p.encode(), str(password or "").encode()):
                ok = u
        if ok is None:
            with self._lock:
                self._failures.setdefault(client, []).append(now)
            raise ManageError("관리자 아이디 또는 비밀번호가 맞지 않습니다.")
        return ok

    def allowed(self, session_admin: str | None) -> bool:
        return self.mode == "open" or (self.mode == "admin" and bool(session_admin))
