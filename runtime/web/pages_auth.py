"""Logging in and out, and the app launcher."""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for

from runtime.auth.users import authenticate
from runtime.services import apps, reports
from runtime.web import TEXT, _check_csrf, lang, login_required, store, web


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
    listed = apps.list_apps(store(), g.actor)
    for app in listed:
        app["dashboards"] = reports.list_reports(store(), g.actor, app["key"],
                                                 lang())["dashboards"] \
            if g.actor.is_admin or g.actor.roles_in(app["key"]) else []
    return render_template("home.html", apps=listed)


