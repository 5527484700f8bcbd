"""Apps and their definitions: create, install, change a form, import and export.

Every change is checked (schema, then references), migrated (``storage.migrate``),
stored as a new definition version and bumps the app's revision, all in one
transaction: a refused change leaves tables, data and definitions as they were.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update

from engines.forms.definition import parse_form
from engines.ledgers import create_ledger_tables
from engines.schema import validate
from engines.schema.bundle import BUNDLE_FORMAT
from engines.schema.check import (
    APP_FILE,
    check_app,
    check_flow,
    check_form,
    check_posting,
    kind_of,
)
from runtime.auth.actors import Actor
from runtime.auth.permissions import require_admin, require_app
from runtime.services.errors import Conflict, Invalid, NotFound
from runtime.storage import definitions, physical, platform
from runtime.storage.migrate import Change, MigrationRefused, migrate_form
from runtime.storage.store import Store


class _DryRun(Exception):
    """Raised inside a transaction to roll back a change that was only previewed."""


def list_apps(store: Store, actor: Actor) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(select(platform.apps).order_by(platform.apps.c.key)).mappings().all()
        result = []
        for row in rows:
            schema = store.app(conn, row["key"])
            if actor.is_admin or actor.roles_in(row["key"]):
                result.append({"key": row["key"], "name": row["name"],
                               "revision": row["revision"],
                               "description": schema.definition.get("description"),
                               "forms": [{"key": k, "label": schema.forms[k].form.label}
                                         for k in schema.form_order()]})
        return result


def app_schema(store: Store, conn, actor: Actor, key: str):
    schema = store.app(conn, key)
    if schema is None:
        raise NotFound(f"no app '{key}'; GET /api/v1/apps lists the installed ones")
    if not _approver_in(conn, actor, key):  # approvers reach the records of their tasks
        require_app(actor, schema)
    return schema


def _approver_in(conn, actor: Actor, app: str) -> bool:
    if actor.is_admin or actor.id is None or actor.roles_in(app):
        return False
    tasks = platform.tasks
    return conn.execute(select(tasks.c.id).where(tasks.c.app == app,
                                                 tasks.c.assignee == actor.id).limit(1)) \
        .first() is not None


def open_form(store: Store, conn, actor: Actor, app: str, form: str):
    """(app schema, form tables) after checking the actor may see the app."""
    schema = app_schema(store, conn, actor, app)
    ft = schema.form(form)
    if ft is None:
        raise NotFound(f"app '{app}' has no form '{form}'; GET /api/v1/apps/{app}/forms "
                       "lists them")
    return schema, ft


def create_app(store: Store, actor: Actor, key: str, name) -> dict:
    require_admin(actor, "create apps")
    document = {"key": key, "name": name}
    problems = validate("app", document)
    if problems:
        raise Invalid([{"field": p.lstrip("/") or None, "message": m} for p, m in problems])
    with store.write() as conn:
        _insert_app(conn, key, name)
        definitions.save(conn, key, "app", "app", document, actor.id, "created")
    return {"key": key, "name": name}


def _insert_app(conn, key: str, name) -> None:
    if conn.execute(select(platform.apps.c.key).where(platform.apps.c.key == key)).first():
        raise Conflict(f"app '{key}' already exists; choose another key, or import into it "
                       "with PUT /api/v1/apps/{app}")
    now = platform.utcnow()
    conn.execute(insert(platform.apps).values(key=key, name=name, revision=1,
                                              created_at=now, updated_at=now))


def _bump(conn, key: str, name=None) -> None:
    values = {"revision": platform.apps.c.revision + 1, "updated_at": platform.utcnow()}
    if name is not None:
        values["name"] = name
    conn.execute(update(platform.apps).where(platform.apps.c.key == key).values(values))


def _problems_to_errors(problems) -> list[dict]:
    return [{"field": f"{path}#{pointer}" if pointer else path, "message": message}
            for path, pointer, message in problems]


def install_documents(store: Store, actor: Actor, documents: dict[str, dict], *,
                      replace: bool = False, comment: str = "installed") -> dict:
    """Install (or, with ``replace``, re-import over) an app from its documents."""
    require_admin(actor, "install or import apps")
    problems = check_app(documents)
    if problems:
        raise Invalid(_problems_to_errors(problems))
    app_doc = documents[APP_FILE]
    key = app_doc["key"]
    forms = {doc["key"]: doc for path, doc in documents.items() if kind_of(path) == "form"}
    changes: list[Change] = []
    with store.write() as conn:
        exists = conn.execute(select(platform.apps.c.key)
                              .where(platform.apps.c.key == key)).first()
        if exists and not replace:
            raise Conflict(f"app '{key}' is already installed; import the bundle with "
                           f"`loom app import FILE` or PUT /api/v1/apps/{key} to update it")
        if not exists:
            _insert_app(conn, key, app_doc["name"])
        live = definitions.current(conn, key)
        # Every form's table exists before any relation column points at it.
        for form_key in forms:
            _ensure_main_table(conn, key, form_key)
        for doc in forms.values():
            changes += _apply_form(conn, actor, key, doc, comment)
        for kind, form_key in live:
            if kind == "form" and form_key not in forms:
                definitions.save(conn, key, "form", form_key, None, actor.id, "removed by import")
                changes.append(Change("hide_form", None, f"form '{form_key}' removed: its "
                                      "records are kept and come back if the form is re-added"))
        for path, doc in documents.items():
            if kind_of(path) == "ledger":
                definitions.save(conn, key, "ledger", doc["key"], doc, actor.id, comment)
                create_ledger_tables(conn, key, doc)
        flows = {doc["key"]: doc for path, doc in documents.items() if kind_of(path) == "flow"}
        for flow_key, doc in flows.items():
            definitions.save(conn, key, "flow", flow_key, doc, actor.id, comment)
        for kind, flow_key in live:
            if kind == "flow" and flow_key not in flows:
                definitions.save(conn, key, "flow", flow_key, None, actor.id, "removed by import")
        for kind in ("report", "dashboard"):
            docs = {doc["key"]: doc for path, doc in documents.items() if kind_of(path) == kind}
            for doc_key, doc in docs.items():
                definitions.save(conn, key, kind, doc_key, doc, actor.id, comment)
            for live_kind, doc_key in live:
                if live_kind == kind and doc_key not in docs:
                    definitions.save(conn, key, kind, doc_key, None, actor.id,
                                     "removed by import")
        rules = {path[len("rules/"):-len(".rule")]: text for path, text in documents.items()
                 if kind_of(path) == "rule"}
        for name, text in rules.items():
            definitions.save(conn, key, "rule", name, {"source": text}, actor.id, comment)
        for kind, name in live:
            if kind == "rule" and name not in rules:
                definitions.save(conn, key, "rule", name, None, actor.id, "removed by import")
        prints = {path[len("prints/"):-len(".html.j2")]: text
                  for path, text in documents.items() if kind_of(path) == "print"}
        for name, text in prints.items():
            definitions.save(conn, key, "print", name, {"source": text}, actor.id, comment)
        for kind, name in live:
            if kind == "print" and name not in prints:
                definitions.save(conn, key, "print", name, None, actor.id, "removed by import")
        definitions.save(conn, key, "app", "app", app_doc, actor.id, comment)
        _bump(conn, key, app_doc["name"])
    store.forget(key)
    return {"key": key, "changes": [c.as_json() for c in changes]}


def _ensure_main_table(conn, app: str, form: str) -> None:
    exists = conn.execute(select(platform.physical_tables.c.id).where(
        platform.physical_tables.c.app == app, platform.physical_tables.c.form == form,
        platform.physical_tables.c.subtable == "")).first()
    if exists is None:
        name = physical.table_name(app, form)
        physical.create_table(conn, name)
        conn.execute(insert(platform.physical_tables).values(
            app=app, form=form, subtable="", table_name=name, active=True))


def _last_body(conn, app: str, form: str):
    for row in reversed(definitions.history(conn, app, "form", form)):
        if row["body"] is not None:
            return row["body"]
    return None


def _apply_form(conn, actor: Actor, app: str, doc: dict, comment: str) -> list[Change]:
    previous = _last_body(conn, app, doc["key"])
    try:
        changes = migrate_form(conn, app, parse_form(doc),
                               parse_form(previous) if previous else None)
    except MigrationRefused as refused:
        raise Invalid(refused.errors) from None
    definitions.save(conn, app, "form", doc["key"], doc, actor.id, comment)
    return changes


def put_form(store: Store, actor: Actor, app: str, form_key: str, doc, *,
             dry_run: bool = False) -> dict:
    """Create or change one form; ``dry_run`` reports what would happen and keeps nothing."""
    require_admin(actor, "change form definitions")
    if not isinstance(doc, dict):
        raise Invalid([{"field": None, "message": "expected a form definition (a JSON object)"}])
    problems = validate("form", doc)
    if problems:
        raise Invalid([{"field": p or None, "message": m} for p, m in problems])
    if doc["key"] != form_key:
        raise Invalid([{"field": "/key", "message": f"the definition's key '{doc['key']}' "
                        f"differs from the form in the URL '{form_key}'; keys never change"}])
    result = {}
    try:
        with store.write() as conn:
            schema = app_schema(store, conn, actor, app)
            forms = {key: ft.form.raw for key, ft in schema.forms.items()}
            problems = check_form(doc, forms) + check_posting(doc, {
                key: body for (kind, key), body in definitions.current(conn, app).items()
                if kind == "ledger"})
            if problems:
                raise Invalid([{"field": p, "message": m} for p, m in problems])
            _check_rules_with(conn, schema, {f"forms/{form_key}.json": doc})
            changes = _apply_form(conn, actor, app, doc, "changed")
            _bump(conn, app)
            version = definitions.history(conn, app, "form", form_key)[-1]["version"]
            result = {"form": doc, "version": version, "dry_run": dry_run,
                      "changes": [c.as_json() for c in changes]}
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    store.forget(app)
    return result


def _check_rules_with(conn, schema, changed: dict) -> None:
    """Refuse a definition change that would break the app's rules (a field a rule
    reads removed, a flow renamed): every write of the app would fail otherwise."""
    from engines.schema.check import check_rule_files
    from runtime.services.rulebook import app_documents

    documents = {**app_documents(conn, schema), **changed}
    found = check_rule_files(documents)
    if found:
        raise Invalid([{"field": path, "message": f"line {p.line}, column {p.column}: "
                        f"{p.message} (change the rule first, or with this change)"}
                       for path, p in found])


def get_form(store: Store, actor: Actor, app: str, form_key: str) -> dict:
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        ft = schema.form(form_key)
        if ft is None:
            raise NotFound(f"app '{app}' has no form '{form_key}'")
        history = definitions.history(conn, app, "form", form_key)
        return {"form": ft.form.raw, "version": history[-1]["version"],
                "history": [{"version": h["version"], "created_at": h["created_at"].isoformat(),
                             "created_by": h["created_by"], "comment": h["comment"]}
                            for h in history]}


def export_bundle(store: Store, actor: Actor, app: str) -> dict:
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        docs = definitions.current(conn, app)
    documents = {APP_FILE: schema.definition}
    for (kind, key), body in docs.items():
        if kind in ("form", "flow", "ledger", "report", "dashboard"):
            documents[f"{kind}s/{key}.json"] = body
        elif kind == "rule":
            documents[f"rules/{key}.rule"] = body["source"]
        elif kind == "print":
            documents[f"prints/{key}.html.j2"] = body["source"]
    return {"loom_bundle": BUNDLE_FORMAT, "app": app,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "documents": documents}


def bundle_documents(bundle) -> dict[str, dict]:
    """The documents of an uploaded bundle, or a clear 422."""
    if not isinstance(bundle, dict) or bundle.get("loom_bundle") != BUNDLE_FORMAT \
            or not isinstance(bundle.get("documents"), dict):
        raise Invalid([{"field": None, "message": "not a Loom app bundle: expected "
                        f'{{"loom_bundle": {BUNDLE_FORMAT}, "documents": {{...}}}}, as made by '
                        "`loom app export` or GET /api/v1/apps/{app}"}])
    return bundle["documents"]


def put_flow(store: Store, actor: Actor, app: str, flow_key: str, doc) -> dict:
    """Create or change an approval flow. Running instances keep the version they
    started with; new submissions use the new one."""
    require_admin(actor, "change approval flows")
    if not isinstance(doc, dict):
        raise Invalid([{"field": None, "message": "expected a flow definition (a JSON object)"}])
    problems = validate("flow", doc)
    if problems:
        raise Invalid([{"field": p or None, "message": m} for p, m in problems])
    if doc["key"] != flow_key:
        raise Invalid([{"field": "/key", "message": f"the definition's key '{doc['key']}' "
                        f"differs from the flow in the URL '{flow_key}'"}])
    with store.write() as conn:
        schema = app_schema(store, conn, actor, app)
        forms = {key: ft.form.raw for key, ft in schema.forms.items()}
        roles = [r["key"] for r in schema.definition.get("roles", [])]
        problems = check_flow(doc, forms, roles)
        if problems:
            raise Invalid([{"field": p, "message": m} for p, m in problems])
        _check_rules_with(conn, schema, {f"flows/{flow_key}.json": doc})
        definitions.save(conn, app, "flow", flow_key, doc, actor.id, "changed")
        _bump(conn, app)
        version = definitions.history(conn, app, "flow", flow_key)[-1]["version"]
    store.forget(app)
    return {"flow": doc, "version": version}


def get_flow(store: Store, actor: Actor, app: str, flow_key: str) -> dict:
    with store.read() as conn:
        app_schema(store, conn, actor, app)
        history = definitions.history(conn, app, "flow", flow_key)
    if not history or history[-1]["body"] is None:
        raise NotFound(f"app '{app}' has no flow '{flow_key}'")
    return {"flow": history[-1]["body"], "version": history[-1]["version"]}
