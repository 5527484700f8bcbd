"""Dashboards: the page, and plotly.js served from the installed ``plotly`` package.

The page is a shell — title, global filters, one box per widget on the grid — and
``static/dashboard.js`` fills it from ``GET /api/v1/apps/{app}/dashboards/{key}``,
so the page and the API show the same numbers under the same permissions.
"""

from __future__ import annotations

import functools
from pathlib import Path

import plotly
from flask import abort, g, render_template, send_file
from sqlalchemy import select

from engines.forms.definition import Field
from runtime.auth.permissions import allowed, row_filter, scopes
from runtime.services import apps, reports
from runtime.services.errors import ServiceError
from runtime.services.recordio import record_titles
from runtime.web import lang, login_required, store, web

FILTER_CHOICES = 200  # records offered by a relation filter


@functools.cache
def _plotly_js() -> Path:
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@web.get("/vendor/plotly.min.js")
def plotly_js():
    return send_file(_plotly_js(), mimetype="text/javascript", max_age=86400)


@web.get("/apps/<app>/dashboards/<dashboard>")
@login_required
def dashboard_page(app, dashboard):
    try:
        with store().read() as conn:
            schema = apps.app_schema(store(), conn, g.actor, app)
            if not (g.actor.is_admin or g.actor.roles_in(app)):
                abort(403)
            board = reports.app_reports(conn, schema)[1].get(dashboard)
            if board is None:
                abort(404)
            choices = {f["key"]: _choices(conn, schema, f["target"]) for f in board.filters
                       if f["type"] == "relation" and f.get("target")}
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    return render_template("dashboard.html", app=schema, dashboard=board, choices=choices,
                           language=lang())


def _choices(conn, schema, form: str) -> list[tuple[int, str]]:
    """(id, title) of the records a relation filter offers: those the viewer may read."""
    ft = schema.form(form)
    if ft is None or not allowed(g.actor, schema, form, "read"):
        return []
    condition = row_filter(g.actor, ft, scopes(g.actor, schema, form, "read"))
    ids = list(conn.execute(select(ft.table.c.id).where(condition).order_by(ft.table.c.id)
                            .limit(FILTER_CHOICES)).scalars())
    titles = record_titles(conn, schema, Field("choice", "relation", target=form), ids)
    return [(i, titles.get(i) or f"#{i}") for i in ids]
