"""Saved list views: a named list query (filters, search, sort) a user keeps for a
form, for themselves or shared with everyone who may read the form.

The query is stored as the list page's query string and checked when saved, the way
the list reads it, so a saved view always opens."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlalchemy import and_, delete, insert, or_, select

from runtime.auth.actors import Actor
from runtime.auth.permissions import require
from runtime.services import query
from runtime.services.apps import open_form
from runtime.services.errors import Conflict, Forbidden, Invalid, NotFound
from runtime.storage import platform

views = platform.saved_views
LIST_KEYS = {"q", "sort"}  # besides filters
MAX_VIEWS = 50


def list_views(store, actor: Actor, app: str, form: str) -> dict:
    with store.read() as conn:
        schema, _ = open_form(store, conn, actor, app, form)
        require(actor, schema, form, "read")
        rows = conn.execute(select(views).where(
            views.c.app == app, views.c.form == form,
            or_(views.c.owner == actor.id, views.c.shared)).order_by(views.c.name)).mappings()
        return {"views": [_json(r, actor) for r in rows]}


def save_view(store, actor: Actor, app: str, form: str, body) -> dict:
    """Save (or replace, by name) one of the actor's views."""
    name, text, shared = _read(body)
    pairs = [(k, v) for k, v in parse_qsl(text, keep_blank_values=False)
             if k not in ("page", "lang")]
    # Check it the way the list will read it: a view that cannot be listed is refused.
    try:
        query.list_records(store, actor, app, form, limit=1,
                           filters=query.parse_filters([(k, v) for k, v in pairs
                                                        if k not in LIST_KEYS]),
                           sort=dict(pairs).get("sort"), search=dict(pairs).get("q"))
    except Invalid as error:
        raise Invalid([{"field": f"query.{e['field']}" if e.get("field") else "query",
                        "message": e["message"]} for e in error.errors]) from None
    with store.write() as conn:
        where = and_(views.c.app == app, views.c.form == form, views.c.owner == actor.id)
        conn.execute(delete(views).where(where, views.c.name == name))  # saved again
        if len(conn.execute(select(views.c.id).where(where)).all()) >= MAX_VIEWS:
            raise Conflict(f"you have {MAX_VIEWS} views of this form already; delete one")
        view_id = conn.execute(insert(views).values(
            app=app, form=form, owner=actor.id, name=name, query=urlencode(pairs),
            shared=shared, created_at=platform.utcnow())).inserted_primary_key[0]
        row = conn.execute(select(views).where(views.c.id == view_id)).mappings().one()
        return _json(row, actor)


def delete_view(store, actor: Actor, app: str, form: str, view_id: int) -> None:
    with store.write() as conn:
        schema, _ = open_form(store, conn, actor, app, form)
        require(actor, schema, form, "read")
        row = conn.execute(select(views).where(
            views.c.id == view_id, views.c.app == app, views.c.form == form,
            or_(views.c.owner == actor.id, views.c.shared))).mappings().first()
        if row is None:
            raise NotFound(f"no view {view_id} of form '{form}'")
        if row["owner"] != actor.id and not actor.is_admin:
            raise Forbidden("only its owner or an administrator may delete a shared view")
        conn.execute(delete(views).where(views.c.id == view_id))


def _read(body) -> tuple[str, str, bool]:
    if not isinstance(body, dict):
        raise Invalid([{"field": None, "message": "expected a JSON object with name and query"}])
    problems = []
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 60:
        problems.append({"field": "name", "message": "give the view a name of 1 to 60 "
                         "characters"})
    text = body.get("query", "")
    if not isinstance(text, str) or len(text) > 2000:
        problems.append({"field": "query", "message": "the list's query string, e.g. "
                         "\"category=chip&sort=-code\", at most 2000 characters"})
    shared = body.get("shared", False)
    if not isinstance(shared, bool):
        problems.append({"field": "shared", "message": "true or false"})
    if problems:
        raise Invalid(problems)
    return name.strip(), text.lstrip("?"), shared


def _json(row, actor: Actor) -> dict:
    return {"id": row["id"], "name": row["name"], "query": row["query"],
            "shared": row["shared"], "mine": row["owner"] == actor.id}
