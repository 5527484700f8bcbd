"""Server-rendered pages (Jinja2, autoescaped) with small vanilla JavaScript.

One module per kind of page: ``pages_auth`` (login, logout, the app launcher),
``pages_lists`` (a form's record list), ``pages_records`` (record and form pages),
``pages_dashboards`` (dashboards), ``pages_notifications`` (the bell), ``pages_print``.
Pages call the same services as the API, so permissions are checked in one place;
the pages' scripts call the API with the session cookie and the CSRF token.
"""

from __future__ import annotations

import secrets
from functools import wraps

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import func, select

from engines.forms.definition import label_text
from runtime.auth.actors import load_actor
from runtime.storage import platform

web = Blueprint("web", __name__)

TEXT = {
    "zh": {"login": "登录", "logout": "退出", "username": "用户名", "password": "密码",
           "apps": "应用", "records": "条记录", "wrong": "用户名或密码错误",
           "prev": "上一页", "next": "下一页", "no_apps": "还没有可用的应用。",
           "no_records": "还没有记录。", "new": "新建", "save": "保存", "cancel": "取消",
           "edit": "编辑", "add_line": "添加一行", "remove": "删除此行", "up": "上移",
           "search": "输入以搜索", "scan": "扫描或输入条码后回车", "clear": "清除",
           "address": "地址", "history": "历史记录", "by": "操作人", "changed": "变更",
           "create": "创建", "update": "修改", "delete": "删除", "import": "导入",
           "export": "导出", "file": "文件", "key_field": "按此字段更新已有记录",
           "preview": "预览", "row": "行", "column": "列", "problem": "问题",
           "choose_file": "请选择文件", "rows": "行", "problems": "个问题",
           "nothing_imported": "修正后再导入，目前没有写入任何数据。", "ignored": "忽略的列",
           "imported": "导入完成", "created": "新增", "updated_n": "更新",
           "rows_ok": "全部通过检查，将会", "comment": "意见", "approve": "同意",
           "reject": "拒绝", "return_": "退回", "submit": "提交", "withdraw": "撤回",
           "approval": "审批记录", "inbox": "待办", "form": "表单", "step": "环节",
           "since": "时间", "open": "打开", "no_tasks": "没有任务。", "box_todo": "待我处理",
           "box_done": "我已处理", "box_cc": "抄送我的", "box_started": "我发起的",
           "approval_draft": "草稿", "approval_submitted": "已提交",
           "approval_running": "审批中", "approval_approved": "已通过",
           "approval_rejected": "已拒绝", "approval_returned": "已退回",
           "approval_withdrawn": "已撤回", "step_submit": "提交", "step_approve": "同意",
           "step_reject": "拒绝", "step_return": "退回", "step_withdraw": "撤回",
           "step_transfer": "转交", "step_add_signer": "加签", "step_comment": "评论",
           "step_urge": "催办", "step_resubmit": "重新提交", "void": "作废",
           "filter": "筛选", "apply": "查询", "reset": "重置", "total": "合计",
           "any": "全部", "from": "从", "to": "至", "keyword": "搜索单号/名称",
           "views": "视图", "all_records": "全部记录", "shared": "共享", "view_name": "视图名称",
           "share_view": "共享给所有人", "save_view": "保存为视图",
           "conflict_title": "你编辑期间，别人已保存了这条记录 (版本 {from} → {to})。"
                             "你填写的内容都还在。",
           "conflict_field": "字段", "conflict_theirs": "对方改为", "conflict_mine": "你的修改",
           "conflict_unchanged": "(未改)", "conflict_lines": "(明细已变)",
           "conflict_reapply": "在最新版本上应用我的修改",
           "job_checking": "正在检查", "job_writing": "正在写入", "job_written": "已写入",
           "job_failed": "导入中途停止", "export_background": "后台导出",
           "export_ready": "导出文件已生成", "download": "下载",
           "void_confirm": "作废会冲销这张单据过账的全部库存并释放预留，不能撤销。确定作废吗？",
           "approval_cancelled": "已作废", "audit_cancel": "作废", "dashboards": "看板",
           "comment_only": "评论", "more_actions": "转交 / 加签", "to_user": "人员",
           "transfer": "转交", "add_signer": "加签", "signer_position": "加签方式",
           "sign_before": "在我之前签", "sign_after": "在我之后签", "related": "相关记录",
           "all_n": "查看全部", "print": "打印", "print_template": "打印模板",
           "notifications": "通知", "unread": "未读", "mark_all_read": "全部标为已读",
           "no_notifications": "没有通知。", "scan_camera": "用摄像头扫码",
           "close_camera": "关闭摄像头", "camera_failed": "无法使用摄像头",
           "refresh": "刷新", "all": "全部", "loading": "加载中…",
           "no_data": "没有数据。", "drill": "明细记录", "close": "关闭",
           "drill_hint": "点击图表中的柱、点或扇区查看组成它的记录。",
           "truncated": "只显示前 1000 条。"},
    "en": {"login": "Log in", "logout": "Log out", "username": "Username",
           "password": "Password", "apps": "Apps", "records": "records",
           "wrong": "Wrong username or password", "prev": "Previous", "next": "Next",
           "no_apps": "No apps yet.", "no_records": "No records yet.", "new": "New",
           "save": "Save", "cancel": "Cancel", "edit": "Edit", "add_line": "Add line",
           "remove": "Remove line", "up": "Move up", "search": "Type to search",
           "scan": "Scan or type a code, then Enter", "clear": "Clear", "address": "Address",
           "history": "History", "by": "By", "changed": "Changed", "create": "Created",
           "update": "Changed", "delete": "Deleted", "import": "Import", "export": "Export",
           "file": "File", "key_field": "Update records matching this field",
           "preview": "Preview", "row": "Row", "column": "Column", "problem": "Problem",
           "choose_file": "Choose a file", "rows": "rows", "problems": "problems",
           "nothing_imported": "Fix them and import again; nothing was written.",
           "ignored": "Ignored columns", "imported": "Imported", "created": "created",
           "updated_n": "updated", "rows_ok": "all pass the checks and would be",
           "comment": "Comment", "approve": "Approve", "reject": "Reject",
           "return_": "Return", "submit": "Submit", "withdraw": "Withdraw",
           "approval": "Approval", "inbox": "To do", "form": "Form", "step": "Step",
           "since": "Since", "open": "Open", "no_tasks": "No tasks.",
           "box_todo": "To do", "box_done": "Done", "box_cc": "Copied to me",
           "box_started": "Started by me", "approval_draft": "Draft",
           "approval_submitted": "Submitted", "approval_running": "In approval",
           "approval_approved": "Approved", "approval_rejected": "Rejected",
           "approval_returned": "Returned", "approval_withdrawn": "Withdrawn",
           "step_submit": "Submitted", "step_approve": "Approved",
           "step_reject": "Rejected", "step_return": "Returned",
           "step_withdraw": "Withdrawn", "step_transfer": "Transferred",
           "step_add_signer": "Signer added", "step_comment": "Comment",
           "step_urge": "Urged", "step_resubmit": "Resubmitted", "void": "Cancel document",
           "filter": "Filter", "apply": "Apply", "reset": "Reset", "total": "Total",
           "any": "Any", "from": "From", "to": "To", "keyword": "Search by number or name",
           "views": "Views", "all_records": "All records", "shared": "shared",
           "view_name": "View name", "share_view": "Share with everyone",
           "save_view": "Save as view",
           "conflict_title": "Someone saved this record while you were editing (version {from} "
                             "→ {to}). Everything you typed is still here.",
           "conflict_field": "Field", "conflict_theirs": "They changed it to",
           "conflict_mine": "Your change", "conflict_unchanged": "(unchanged)",
           "conflict_lines": "(lines changed)",
           "conflict_reapply": "Apply my changes to the latest version",
           "job_checking": "Checking", "job_writing": "Writing", "job_written": "written",
           "job_failed": "The import stopped", "export_background": "Export in background",
           "export_ready": "The export is ready", "download": "Download",
           "void_confirm": "Cancelling reverses everything this document posted to stock "
                           "and releases what it reserved. It cannot be undone. Cancel it?",
           "approval_cancelled": "Cancelled", "audit_cancel": "Cancelled",
           "comment_only": "Comment", "more_actions": "Transfer / add signer",
           "to_user": "Person", "transfer": "Transfer", "add_signer": "Add signer",
           "signer_position": "Signs", "sign_before": "before me", "sign_after": "after me",
           "related": "Related records", "all_n": "See all", "print": "Print",
           "print_template": "Template", "notifications": "Notifications",
           "unread": "unread", "mark_all_read": "Mark all read",
           "no_notifications": "No notifications.", "scan_camera": "Scan with the camera",
           "close_camera": "Close the camera", "camera_failed": "The camera cannot be used",
           "dashboards": "Dashboards", "refresh": "Refresh", "all": "All", "loading": "Loading…",
           "no_data": "No data.", "drill": "Records", "close": "Close",
           "drill_hint": "Click a bar, point or slice to list the records behind it.",
           "truncated": "Only the first 1000 are shown."},
}


def store():
    return current_app.extensions["loom"]


def lang() -> str:
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in TEXT:
        session["lang"] = chosen
        return chosen
    return request.accept_languages.best_match(["zh", "en"]) or "zh"


@web.app_context_processor
def _context():
    language = lang() if request else "zh"
    return {"t": TEXT[language], "lang": language, "label": lambda x: label_text(x, language),
            "csrf_token": csrf_token, "todo_count": todo_count, "unread_count": unread_count}


def unread_count() -> int:
    """Unread notifications of the logged-in user, for the header's bell."""
    if "unread" not in g:
        from runtime.notify.inbox import unread_count as count

        with store().read() as conn:
            g.unread = count(conn, g.actor)
    return g.unread


def todo_count() -> int:
    """Open approval tasks of the logged-in user, for the header's badge."""
    if "todo" not in g:
        tasks = platform.tasks
        with store().read() as conn:
            g.todo = conn.execute(select(func.count()).select_from(tasks).where(
                tasks.c.assignee == g.actor.id, tasks.c.status == "open",
                tasks.c.kind != "cc")).scalar()
    return g.todo


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        abort(400, "The form expired; reload the page and try again.")


@web.before_request
def _every_post_has_its_token():
    """Every form a page posts carries the session's token, whichever view takes it
    (the API checks X-CSRF-Token for the page scripts' requests)."""
    if request.method == "POST":
        _check_csrf()


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user_id = session.get("user_id")
        actor = None
        if user_id is not None:
            with store().read() as conn:
                actor = load_actor(conn, user_id)
        if actor is None:
            return redirect(url_for("web.login", next=request.path))
        g.actor = actor
        return view(*args, **kwargs)
    return wrapper


def error_page(error):
    return render_template("error.html", error=error), error.code or 500


from runtime.web import (  # noqa: E402,F401
    pages_auth,
    pages_dashboards,
    pages_lists,
    pages_notifications,
    pages_print,
    pages_records,
)
