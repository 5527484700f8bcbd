"""Record pages and form pages (the list page is pages_lists)."""

from __future__ import annotations

from flask import abort, g, render_template, request, url_for
from sqlalchemy import select

from engines.forms.display import display_text
from runtime.auth.permissions import allowed, field_rules, require
from runtime.services import approvals, apps, cancelling, records, related
from runtime.services.errors import ServiceError
from runtime.services.recordio import record_titles
from runtime.storage import platform
from runtime.web import TEXT, csrf_token, lang, login_required, store, web

CAMERA_TEXT = ("scan_camera", "close_camera", "camera_failed")


def _blocks(form, hidden=frozenset()):
    """Layout blocks with their fields; fields no block names come last; fields the
    user may not see are left out."""
    by_key = {f.key: f for f in form.fields if f.key not in hidden}
    blocks, placed = [], set()
    for block in form.raw.get("layout", []):
        fields = [by_key[k] for k in block["fields"] if k in by_key]
        placed |= {f.key for f in fields}
        blocks.append({"title": block.get("section") or block.get("tab"),
                       "columns": block.get("columns", 1), "fields": fields})
    rest = [f for f in by_key.values() if f.key not in placed]
    if rest:
        blocks.append({"title": None, "columns": 2 if len(rest) > 3 else 1, "fields": rest})
    return blocks


def _form_page(app, form, record_id=None):
    try:
        record = records.get_record(store(), g.actor, app, form, record_id) \
            if record_id else None
        with store().read() as conn:
            schema, ft = apps.open_form(store(), conn, g.actor, app, form)
            require(g.actor, schema, form, "update" if record_id else "create")
            users = conn.execute(select(platform.users.c.id, platform.users.c.display_name)
                                 .where(platform.users.c.active)
                                 .order_by(platform.users.c.display_name)).all()
            departments = conn.execute(select(platform.departments.c.id,
                                              platform.departments.c.name)).all()
            titles = _reference_titles(conn, schema, ft, [record] if record else [])
            rules = field_rules(g.actor, schema, form)
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    targets = {}
    for f in _all_fields(ft.form):
        if f.type == "relation" and schema.form(f.target):
            title = list(schema.form(f.target).form.title) or \
                [schema.form(f.target).form.scalar_fields[0].key]
            targets[f.target] = {"fields": title}
    words = TEXT[lang()]
    config = {"app": app, "form": form, "csrf": csrf_token(), "record": record,
              "text": {k: words[k] for k in words
                       if k.startswith("conflict_") or k in CAMERA_TEXT},
              "titles": titles, "targets": targets, "scans": _scans(ft.form),
              "recordPage": url_for("web.form_records", app=app, form=form) + "/"}
    return render_template("record_form.html", app=schema, form=ft.form, record=record,
                           blocks=_blocks(ft.form, rules.hidden), config=config, users=users,
                           departments=departments, readonly=rules.readonly)


def _scans(form) -> dict:
    """{"lines.scan": [fields a new scan clears]}: the relation it sets and that one's fills."""
    scans = {}
    scopes = [("", form.fields)] + [(f"{s.key}.", s.fields) for s in form.subtables]
    for prefix, fields in scopes:
        by_key = {f.key: f for f in fields}
        for f in fields:
            if f.type == "barcode":
                relation = by_key.get(f.get("relation"))
                fills = list((relation.get("fill") or {}) if relation else {})
                scans[prefix + f.key] = ([relation.key] if relation else []) + fills + \
                    list(f.get("fill") or {})
    return scans


def _all_fields(form):
    for f in form.fields:
        yield f
        yield from f.fields


def _reference_titles(conn, schema, ft, records) -> dict:
    """{path: {id: title}} for the relation, user and department values shown."""
    titles = {}
    for f in ft.form.scalar_fields:
        if f.type in ("relation", "user", "department"):
            titles[f.key] = {str(k): v for k, v in record_titles(
                conn, schema, f, [r.get(f.key) for r in records]).items()}
    for sub in ft.form.subtables:
        for f in sub.fields:
            if f.type in ("relation", "user", "department"):
                ids = [line.get(f.key) for r in records for line in r.get(sub.key, [])]
                titles[f"{sub.key}.{f.key}"] = {str(k): v for k, v in record_titles(
                    conn, schema, f, ids).items()}
    return titles


@web.get("/apps/<app>/forms/<form>/new")
@login_required
def new_record(app, form):
    return _form_page(app, form)


@web.get("/apps/<app>/forms/<form>/<int:record_id>/edit")
@login_required
def edit_record(app, form, record_id):
    return _form_page(app, form, record_id)


@web.get("/apps/<app>/forms/<form>/<int:record_id>")
@login_required
def show_record(app, form, record_id):
    try:
        record = records.get_record(store(), g.actor, app, form, record_id)
        audit = records.history(store(), g.actor, app, form, record_id)
        history, steps = audit["history"], audit["approvals"]
        with store().read() as conn:
            schema, ft = apps.open_form(store(), conn, g.actor, app, form)
            titles = _reference_titles(conn, schema, ft, [record])
            my_tasks = conn.execute(select(platform.tasks.c.id, platform.tasks.c.node_id).where(
                platform.tasks.c.app == app, platform.tasks.c.form == form,
                platform.tasks.c.record_id == record_id, platform.tasks.c.status == "open",
                platform.tasks.c.assignee == g.actor.id, platform.tasks.c.kind != "cc")).all()
            has_flow = approvals.flow_of_form(conn, schema, form) is not None
            users = conn.execute(select(platform.users.c.id, platform.users.c.display_name)
                                 .where(platform.users.c.active, platform.users.c.id !=
                                        g.actor.id)
                                 .order_by(platform.users.c.display_name)).all() \
                if my_tasks else []
        linked = related.related_records(store(), g.actor, app, form, record_id)
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    language = lang()

    def shown(f, value, path):
        known = {int(k): v for k, v in titles.get(path, {}).items()}
        return display_text(f, value, language, known)

    hidden = field_rules(g.actor, schema, form).hidden
    fields = [(f, shown(f, record.get(f.key), f.key)) for f in ft.form.scalar_fields
              if f.key not in hidden]
    subtables = [(s, [[shown(c, line.get(c.key), f"{s.key}.{c.key}") for c in s.fields]
                      for line in record.get(s.key, [])]) for s in ft.form.subtables
                 if s.key not in hidden]
    can_update = allowed(g.actor, schema, form, "update")
    actions = {
        "submit": can_update and record["approval"] in approvals.EDITABLE,
        "withdraw": record["approval"] == "running" and record["created_by"] == g.actor.id,
        "tasks": [task.id for task in my_tasks],
        "edit": can_update and record["approval"] in approvals.EDITABLE or bool(my_tasks),
        "cancel": allowed(g.actor, schema, form, "cancel")
        and record["approval"] in cancelling.CANCELLABLE,
    }
    return render_template("record.html", app=schema, form=ft.form, record=record,
                           fields=fields, subtables=subtables, history=history, steps=steps,
                           actions=actions, has_flow=has_flow, csrf=csrf_token(),
                           users=users, related=linked)


@web.get("/tasks")
@login_required
def inbox():
    box = request.args.get("box", "todo")
    chosen = request.args.get("form", "")
    app, _, form = chosen.partition(".")
    try:
        result = approvals.list_tasks(store(), g.actor, box, limit=200, app=app or None,
                                      form=form or None)
        every = approvals.list_tasks(store(), g.actor, box, limit=500)["tasks"]
    except ServiceError as error:
        abort(400, error.message)
    with store().read() as conn:
        labels = {}
        for task in every:
            key = (task["app"], task["form"])
            if key not in labels:
                schema = store().app(conn, task["app"])
                ft = schema.form(task["form"]) if schema else None
                labels[key] = ft.form.label if ft else task["form"]
    return render_template("inbox.html", box=box, tasks=result["tasks"], labels=labels,
                           boxes=approvals.BOXES, chosen=chosen, csrf=csrf_token())


@web.get("/apps/<app>/forms/<form>/import")
@login_required
def import_page(app, form):
    try:
        with store().read() as conn:
            schema, ft = apps.open_form(store(), conn, g.actor, app, form)
            require(g.actor, schema, form, "create")
    except ServiceError as error:
        abort(error.status if error.status in (403, 404) else 400, error.message)
    return render_template("import.html", app=schema, form=ft.form)
