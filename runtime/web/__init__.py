"""Server-rendered pages: login, the app launcher and read-only record lists.

Forms, approvals and dashboards pages grow here (issue 8); the pages share the
API's services and permission checks.
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

from engines.forms.definition import label_text
from engines.forms.display import display_text
from runtime.auth.actors import load_actor
from runtime.auth.users import authenticate
from runtime.services import apps, query
from runtime.services.errors import ServiceError
from runtime.services.recordio import record_titles

web = Blueprint("web", __name__)

TEXT = {
    "zh": {"login": "登录", "logout": "退出", "username": "用户名", "password": "密码",
           "apps": "应用", "records": "条记录", "wrong": "用户名或密码错误",
           "prev": "上一页", "next": "下一页", "no_apps": "还没有可用的应用。",
           "no_records": "还没有记录。"},
    "en": {"login": "Log in", "logout": "Log out", "username": "Username",
           "password": "Password", "apps": "Apps", "records": "records",
           "wrong": "Wrong username or password", "prev": "Previous", "next": "Next",
           "no_apps": "No apps yet.", "no_records": "No records yet."},
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
            "csrf_token": csrf_token}


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        abort(400, "The form expired; reload the page and try again.")


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


@web.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        _check_csrf()
        with store().read() as conn:
            user_id = authenticate(conn, request.form.get("username", ""),
                                   request.form.get("password", ""))
        if user_id is not None:
            session.clear()
            session["user_id"] = user_id
            target = request.args.get("next", "")
            # Only local paths: an absolute URL here would be an open redirect.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("web.home")
            return redirect(target)
        error = TEXT[lang()]["wrong"]
    return render_template("login.html", error=error), 401 if error else 200


@web.post("/logout")
def logout():
    _check_csrf()
    session.clear()
    return redirect(url_for("web.login"))


@web.get("/")
@login_required
def home():
    return render_template("home.html", apps=apps.list_apps(store(), g.actor))


@web.get("/apps/<app>/forms/<form>")
@login_required
def form_records(app, form):
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    size = 50
    try:
        with store().read() as conn:
            schema = apps.app_schema(store(), conn, g.actor, app)
            ft = schema.form(form)
            if ft is None:
                abort(404)
        result = query.list_records(store(), g.actor, app, form, limit=size,
                                    offset=(page - 1) * size, sort="-id")
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    columns = [f for f in ft.form.scalar_fields][:8]
    language = lang()
    with store().read() as conn:
        titles = {f.key: record_titles(conn, schema, f, [r[f.key] for r in result["records"]])
                  for f in columns if f.type in ("relation", "user", "department")}
    rows = [[display_text(f, r.get(f.key), language, titles.get(f.key)) for f in columns]
            for r in result["records"]]
    return render_template("records.html", app=schema, form=ft.form, columns=columns,
                           rows=zip([r["id"] for r in result["records"]], rows, strict=True),
                           result=result, page=page, pages=max(1, -(-result["total"] // size)))


def error_page(error):
    return render_template("error.html", error=error), error.code or 500
