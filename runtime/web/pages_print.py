"""Print pages: one record (from its page), or a batch of the records a list shows
(labels for every material of a category, the day's receipt slips), each on its own
sheet of the template's paper (A4, A5 or a 100 x 60 mm label)."""

from __future__ import annotations

from flask import abort, g, render_template, request, url_for
from markupsafe import Markup

from runtime.services import apps, printing, query
from runtime.services.errors import ServiceError
from runtime.web import lang, login_required, store, web

LIST_ARGS = {"page", "lang", "q", "sort", "template"}


@web.get("/apps/<app>/forms/<form>/<int:record_id>/print")
@login_required
def print_record(app, form, record_id):
    back = url_for("web.show_record", app=app, form=form, record_id=record_id)
    return _print_page(app, form, [record_id], back, f"#{record_id}")


@web.get("/apps/<app>/forms/<form>/print")
@login_required
def print_list(app, form):
    """The records the list's filters select (at most printing.MAX_BATCH), in its order."""
    filters = [(k, v) for k, v in request.args.items(multi=True)
               if k not in LIST_ARGS and v.strip()]
    try:
        found = query.list_records(store(), g.actor, app, form,
                                   filters=query.parse_filters(filters),
                                   search=request.args.get("q"),
                                   sort=request.args.get("sort") or "-id",
                                   limit=printing.MAX_BATCH)
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    ids = [r["id"] for r in found["records"]]
    back = url_for("web.form_records", app=app, form=form) + "?" + request.query_string.decode()
    return _print_page(app, form, ids, back, f"{len(ids)} / {found['total']}")


def _print_page(app, form, ids, back, caption):
    chosen = request.args.get("template") or None
    try:
        template, pages = printing.print_records(
            store(), g.actor, app, form, ids, template=chosen, lang=lang(),
            url=lambda rid: url_for("web.show_record", app=app, form=form, record_id=rid,
                                    _external=True))
        templates = printing.list_prints(store(), g.actor, app, form, lang())
        with store().read() as conn:
            schema, ft = apps.open_form(store(), conn, g.actor, app, form)
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    return render_template("print.html", app=schema, form=ft.form, caption=caption,
                           pages=[Markup(html) for html in pages], paper=template.paper,
                           templates=templates, chosen=template.key, back=back)
