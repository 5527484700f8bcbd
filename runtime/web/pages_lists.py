"""The list page of a form: search, a filter bar per field type, sortable columns,
a totals row for numeric columns and export of exactly what is listed.

Filters are the API's (``field__op=value`` in the page's query string), so a filtered
list can be bookmarked, shared and exported as is; totals are summed in the database
over every matching record, not over the page shown.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, g, render_template, request

from engines.forms.display import display_text
from runtime.auth.permissions import allowed, field_rules
from runtime.services import apps, query, views
from runtime.services.errors import Invalid, ServiceError
from runtime.services.recordio import record_titles
from runtime.web import csrf_token, lang, login_required, store, web

PAGE_SIZE = 50
DIRECT_EXPORT = 10_000  # rows a request exports at once; more go to a background job
MAX_COLUMNS = 8
TEXT_TYPES = ("text", "textarea", "autonumber", "barcode", "phone", "email", "url")
NUMBER_TYPES = ("number", "money", "percent")
RANGE_TYPES = NUMBER_TYPES + ("date", "datetime")
PAGE_ARGS = {"page", "lang", "q", "sort"}


def filter_controls(schema, columns) -> list[dict]:
    """One control per filterable column: what to show and which query parameters."""
    controls = []
    for f in columns:
        kind = f.get("result", "number") if f.type == "formula" else f.type
        if kind in TEXT_TYPES:
            controls.append({"field": f, "kind": "text", "name": f"{f.key}__contains"})
        elif kind in RANGE_TYPES:
            input_type = "number" if kind in NUMBER_TYPES else kind.replace(
                "datetime", "datetime-local")
            controls.append({"field": f, "kind": "range", "input": input_type,
                             "names": (f"{f.key}__gte", f"{f.key}__lte")})
        elif kind == "select":
            controls.append({"field": f, "kind": "choice", "name": f.key,
                             "options": [(o, o) if isinstance(o, str) else (o["value"], o)
                                         for o in f.options]})
        elif kind == "checkbox":
            controls.append({"field": f, "kind": "choice", "name": f.key,
                             "options": [("true", "✓"), ("false", "✗")]})
        elif kind == "relation" and schema.form(f.target):
            target = schema.form(f.target).form
            title = next(iter(target.title), None)
            if title:
                controls.append({"field": f, "kind": "text",
                                 "name": f"{f.key}.{title}__contains"})
    return controls


@web.get("/apps/<app>/forms/<form>")
@login_required
def form_records(app, form):
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    try:
        with store().read() as conn:
            schema = apps.app_schema(store(), conn, g.actor, app)
            ft = schema.form(form)
            if ft is None:
                abort(404)
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    hidden = field_rules(g.actor, schema, form).hidden
    columns = [f for f in ft.form.scalar_fields if f.key not in hidden][:MAX_COLUMNS]
    summed = [f.key for f in columns if f.type in NUMBER_TYPES or f.type == "formula"
              and f.get("result", "number") in NUMBER_TYPES]
    filters = [(k, v) for k, v in request.args.items(multi=True)
               if k not in PAGE_ARGS and v.strip()]
    sort = request.args.get("sort") or "-id"
    errors = []
    try:
        result = query.list_records(store(), g.actor, app, form, limit=PAGE_SIZE,
                                    offset=(page - 1) * PAGE_SIZE, sort=sort,
                                    filters=query.parse_filters(filters),
                                    search=request.args.get("q"), totals=summed)
    except Invalid as error:
        errors = error.errors  # shown above the list; the user fixes the filter
        result = {"records": [], "total": 0}
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    saved = views.list_views(store(), g.actor, app, form)["views"]
    language = lang()
    with store().read() as conn:
        titles = {f.key: record_titles(conn, schema, f, [r[f.key] for r in result["records"]])
                  for f in columns if f.type in ("relation", "user", "department")}
    rows = [[display_text(f, r.get(f.key), language, titles.get(f.key)) for f in columns]
            for r in result["records"]]
    totals = [display_text(f, result["totals"][f.key], language) if f.key in
              result.get("totals", {}) else None for f in columns]
    # What the list shows, without empty inputs of the filter form (the export and the
    # API read an empty filter as a mistake).
    listed = [(k, v) for k, v in request.args.items(multi=True) if k != "page" and v.strip()]

    def link(**changes) -> str:
        args = [(k, v) for k, v in listed if k not in changes] + \
            [(k, v) for k, v in changes.items() if v is not None]
        return "?" + urlencode(args)

    return render_template(
        "records.html", app=schema, form=ft.form, columns=columns, totals=totals,
        can_create=allowed(g.actor, schema, form, "create"),
        rows=zip([r["id"] for r in result["records"]], rows, strict=True), result=result,
        page=page, pages=max(1, -(-result["total"] // PAGE_SIZE)), errors=errors,
        controls=filter_controls(schema, columns), args=request.args, sort=sort,
        link=link, export_args=urlencode([(k, v) for k, v in listed if k != "lang"]),
        filtered=bool(filters or request.args.get("q", "").strip()), views=saved,
        current=urlencode(listed), csrf=csrf_token(), direct_export=DIRECT_EXPORT)
