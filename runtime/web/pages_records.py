"""Record lists, record pages and form pages."""

from __future__ import annotations

from flask import abort, g, render_template, request

from engines.forms.display import display_text
from runtime.services import apps, query
from runtime.services.errors import ServiceError
from runtime.services.recordio import record_titles
from runtime.web import lang, login_required, store, web


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


