"""The 보고서 관리 panel of the web app (issue 16): UI wiring only.

Uploading, the job queue, remove-to-trash and the audit log live in ``index/manage.py``; who may
do what in ``index.manage.ManagePolicy``. ``app.build_app`` calls :func:`panel` inside its Blocks.
"""
from __future__ import annotations

import html
import logging

from index import config
from index.manage import ManageError, ManagePolicy, ReportManager

log = logging.getLogger("kosearch.app")

POLL_S = 0.5
HEADERS = ["연도", "부서", "파일", "제목", "청크", "색인 일시"]


def _esc(text) -> str:
    return html.escape(str(text if text is not None else ""))


def progress_html(job) -> str:
    pct = int(round(100 * job.progress))
    lines = "".join(f'<li class="{"ok" if o.ok else "bad"}">{"✔" if o.ok else "✘"} <b>{_esc(o.name)}</b> — {_esc(o.message)}</li>'
                    for o in job.outcomes)
    head = _esc(job.summary) if job.finished else f"{_esc(job.stage)} …"
    return (f'<div class="ks-manage-progress" data-state="{_esc(job.state)}">'
            f'<progress max="100" value="{pct}"></progress> <span>{pct}%</span>'
            f'<div class="ks-manage-stage">{head}</div><ul>{lines}</ul></div>')


def table(manager: ReportManager) -> list[list]:
    return [[r["year"] or "", r["department"], r["id"], r["title"], r["chunks"], r["indexed"]]
            for r in manager.reports()]


def failed_html(manager: ReportManager) -> str:
    rows = manager.failed()
    if not rows:
        return ""
    items = "".join(f"<li><b>{_esc(n)}</b>: {_esc(r)}</li>" for n, r in rows[-30:])
    return f'<div class="ks-manage-failed"><b>색인하지 못한 파일 {len(rows)}개</b><ul>{items}</ul></div>'


def gate_html(policy: ManagePolicy, admin: str | None) -> str:
    if policy.refusal():
        return f'<div class="ks-manage-gate warn">{_esc(policy.refusal())}</div>'
    if policy.mode == "admin":
        return (f'<div class="ks-manage-gate">관리자 <b>{_esc(admin)}</b> 로 로그인했습니다.</div>' if admin
                else '<div class="ks-manage-gate">보고서를 올리거나 빼려면 관리자 로그인이 필요합니다.</div>')
    return ""


def panel(gr, manager: ReportManager, policy: ManagePolicy, on_change=None):
    """The accordion: admin login (when KOSEARCH_ADMIN is set), upload with a progress bar, the
    list of indexed reports with failures, and remove with a confirmation. Returns the accordion."""
    exts = list(config.UPLOAD_SUFFIXES)

    def user_of(request, admin) -> str:
        return admin or (getattr(request, "username", None) if request is not None else None) or "-"

    def refused(admin) -> str | None:
        if policy.refusal():
            return policy.refusal()
        if not policy.allowed(admin):
            return "관리자 로그인이 필요합니다."
        return None

    def choices():
        return [r["id"] for r in manager.reports()]

    def show(admin):
        can = policy.allowed(admin) and not policy.refusal()
        return (gate_html(policy, admin), gr.update(visible=policy.mode == "admin" and not admin),
                gr.update(visible=can), table(manager), failed_html(manager), gr.update(choices=choices(), value=None))

    def login(user, password, request: gr.Request):
        client = getattr(getattr(request, "client", None), "host", None) or "-"
        try:
            name = policy.login(user, password, client)
        except ManageError as exc:
            return (None, f'<div class="ks-manage-gate warn">{_esc(exc)}</div>', gr.skip(), gr.skip(), gr.skip(),
                    gr.skip(), gr.skip(), "")
        manager.audit(name, "login", "-", result="관리자 로그인")
        return (name, *show(name), "")

    def upload(files, admin, request: gr.Request):
        why = refused(admin)
        if why:
            yield f'<div class="ks-manage-gate warn">{_esc(why)}</div>', gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        items = []
        for f in files or []:
            path = getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else f)
            original = getattr(f, "orig_name", None) or (f.get("orig_name") if isinstance(f, dict) else None)
            items.append((path, original or str(path).rsplit("/", 1)[-1]))
        try:
            job = manager.submit("upload", items, user_of(request, admin))
        except ManageError as exc:
            yield f'<div class="ks-manage-gate warn">{_esc(exc)}</div>', gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        while not job.done.wait(POLL_S):
            yield progress_html(job), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if on_change is not None:
            on_change()
        yield progress_html(job), table(manager), failed_html(manager), gr.update(choices=choices(), value=None), None

    def ask_remove(fid, admin):
        why = refused(admin)
        if why:
            return f'<div class="ks-manage-gate warn">{_esc(why)}</div>', gr.update(visible=False)
        if not fid:
            return '<div class="ks-manage-gate warn">뺄 보고서를 고르세요.</div>', gr.update(visible=False)
        return (f'<div class="ks-manage-gate warn"><b>{_esc(fid)}</b> 을(를) 색인에서 빼고 파일을 '
                f'{_esc(manager.corpus.name)}/.trash 로 옮깁니다. 계속할까요?</div>', gr.update(visible=True))

    def do_remove(fid, admin, request: gr.Request):
        why = refused(admin)
        if why or not fid:
            return (f'<div class="ks-manage-gate warn">{_esc(why or "뺄 보고서를 고르세요.")}</div>',
                    gr.update(visible=False), gr.skip(), gr.skip(), gr.skip())
        try:
            job = manager.submit("remove", [fid], user_of(request, admin))
        except ManageError as exc:
            return (f'<div class="ks-manage-gate warn">{_esc(exc)}</div>', gr.update(visible=False),
                    gr.skip(), gr.skip(), gr.skip())
        job.done.wait()
        if on_change is not None:
            on_change()
        return (progress_html(job), gr.update(visible=False), table(manager), failed_html(manager),
                gr.update(choices=choices(), value=None))

    for fn in (login, upload, do_remove):
        fn.__annotations__ = {**{k: v for k, v in fn.__annotations__.items() if k != "request"},
                              "request": gr.Request}

    common = dict(api_visibility="private", concurrency_id="manage", concurrency_limit=4)
    with gr.Accordion("보고서 관리", open=False, elem_id="ks-manage") as box:
        admin = gr.State(None)
        gate = gr.HTML(gate_html(policy, None), elem_id="ks-manage-gate")
        with gr.Row(visible=policy.mode == "admin", elem_id="ks-manage-login") as login_row:
            user = gr.Textbox(label="관리자 아이디", scale=2, elem_id="ks-admin-user")
            password = gr.Textbox(label="비밀번호", type="password", scale=2, elem_id="ks-admin-pass")
            login_btn = gr.Button("관리자 로그인", scale=1, elem_id="ks-admin-login")
        with gr.Column(visible=policy.mode == "open", elem_id="ks-manage-tools") as tools:
            files = gr.File(label=f"보고서 올리기 (HWP·HWPX·PDF·DOCX·TXT, 여러 개 가능, 파일당 "
                                  f"{config.MAX_UPLOAD_BYTES // 2**20} MB까지)",
                            file_count="multiple", file_types=exts, elem_id="ks-upload")
            upload_btn = gr.Button("올리고 색인하기", variant="primary", elem_id="ks-upload-btn")
            progress = gr.HTML("", elem_id="ks-manage-progress")
            with gr.Row(equal_height=True):
                pick = gr.Dropdown(choices(), value=None, label="뺄 보고서", scale=4, elem_id="ks-remove-pick")
                remove_btn = gr.Button("색인에서 빼기", variant="stop", scale=1, elem_id="ks-remove-btn")
            with gr.Row(visible=False, elem_id="ks-remove-confirm") as confirm_row:
                yes = gr.Button("네, 빼기", variant="stop", elem_id="ks-remove-yes")
                no = gr.Button("취소", elem_id="ks-remove-no")
        reports = gr.Dataframe(table(manager), headers=HEADERS, label="색인된 보고서", interactive=False,
                               wrap=True, elem_id="ks-reports")
        failed = gr.HTML(failed_html(manager), elem_id="ks-manage-failed")

    login_btn.click(login, [user, password], [admin, gate, login_row, tools, reports, failed, pick, password],
                    **common)
    password.submit(login, [user, password], [admin, gate, login_row, tools, reports, failed, pick, password],
                    **common)
    upload_btn.click(upload, [files, admin], [progress, reports, failed, pick, files], **common)
    remove_btn.click(ask_remove, [pick, admin], [progress, confirm_row], **common)
    no.click(lambda: ("", gr.update(visible=False)), None, [progress, confirm_row], **common)
    yes.click(do_remove, [pick, admin], [progress, confirm_row, reports, failed, pick], **common)
    box.expand(lambda a: show(a)[3:], admin, [reports, failed, pick], **common)
    return box


def wiring(handlers, corpus, index_dir, host: str, admins):
    """The manager and policy for an app: the reports folder is the first ``--corpus``; the
    models are the ones the searcher already holds; a finished job makes the live searcher
    look for the new index at once."""
    live = handlers.live
    searcher = live.current
    model = searcher.manifest.model.get("id") or "none"

    def refresh():
        live.refresh_soon()
        handlers.current()     # reload here, in the finished job's thread, not in the next question's

    manager = ReportManager(corpus, index_dir, models=searcher.models, model=model)
    return manager, ManagePolicy(host, admins), refresh

