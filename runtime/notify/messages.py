"""What ``notify`` and ``call webhook`` do inside the firing transaction: find the
recipients, render titles, bodies and payloads with the event's values, write the
in-app inbox and queue everything else in the outbox (sent after commit)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import bindparam, insert, select

from engines.expr import ErrorValue
from runtime.auth.actors import department_subtree
from runtime.notify.outbox import queue
from runtime.services.errors import Invalid
from runtime.storage import platform

users, user_roles, departments = platform.users, platform.user_roles, platform.departments
# E-mail bodies are HTML made from a template in Jinja2's sandbox with autoescape: the
# title and body carry record values a user typed.
_EMAIL = SandboxedEnvironment(autoescape=True).from_string(
    (Path(__file__).parent / "email.html.j2").read_text(encoding="utf-8"))


_COLUMNS = (users.c.id, users.c.username, users.c.display_name, users.c.email)
# Built once (bound per call), so SQLAlchemy compiles each once: notify is on the write path.
_BY_ID = select(*_COLUMNS).where(users.c.id == bindparam("who"), users.c.active)
_BY_NAME = select(*_COLUMNS).where(users.c.username == bindparam("who"), users.c.active)
_BY_ROLE = select(*_COLUMNS).join(user_roles, user_roles.c.user_id == users.c.id).where(
    user_roles.c.app == bindparam("app"), user_roles.c.role == bindparam("who"),
    users.c.active).order_by(users.c.id)
_DEPARTMENT = select(departments.c.id).where(departments.c.name == bindparam("who"))


def recipients(conn, app: str, rule, action, record, env) -> list[dict]:
    """The active users a recipient list names, each once, in the order named."""
    found: dict[int, dict] = {}
    for r in action.recipients:
        name = r.name
        if r.expr is not None:
            name = r.expr.evaluate(record, env)
            if isinstance(name, ErrorValue) or name is None:
                continue
            if isinstance(name, dict):
                name = name.get("id")
            if isinstance(name, Decimal):
                name = int(name)
        if r.kind == "user":
            rows = conn.execute(_BY_ID if isinstance(name, int) else _BY_NAME, {"who": name})
        elif r.kind == "role":
            rows = conn.execute(_BY_ROLE, {"app": app, "who": str(name)})
        else:
            dept = conn.execute(_DEPARTMENT, {"who": str(name)}).scalar()
            if dept is None:
                raise Invalid([{"field": None, "message": f"no department named '{name}'; "
                                "add it or correct the rule"}])
            rows = conn.execute(select(*_COLUMNS).where(
                users.c.department_id.in_(department_subtree(conn, dept)), users.c.active)
                .order_by(users.c.id))
        for row in rows.mappings():
            found.setdefault(row["id"], dict(row))
    return list(found.values())


def notify(conn, schema, rule, action, firing, env) -> dict:
    people = recipients(conn, schema.key, rule, action, firing.record, env)
    title = action.title.render(firing.record, env)
    body = action.body.render(firing.record, env) if action.body else None
    sent = {}
    for channel in action.channels:
        if channel == "inapp":
            if people:
                conn.execute(insert(platform.notifications), [
                    {"user_id": p["id"], "app": schema.key, "rule": rule.name, "title": title,
                     "body": body, "form": firing.form, "record_id": firing.record_id,
                     "created_at": platform.utcnow()} for p in people])
            sent[channel] = [p["username"] for p in people]
        elif channel == "email":
            addresses = [p["email"] for p in people if p["email"]]
            if addresses:
                html = _EMAIL.render(title=title, body=body, app=schema.key, rule=rule.name)
                queue(conn, schema.key, rule.name, "email", ", ".join(addresses),
                      {"subject": title, "text": body or title, "html": html})
            sent[channel] = addresses
        else:  # webhook, dingtalk, wecom: the app's configured endpoint
            endpoint = (schema.definition.get("notify") or {}).get(channel)
            if not endpoint:
                raise Invalid([{"field": None, "message": f"notify by {channel} needs an "
                                f"endpoint: add \"notify\": {{\"{channel}\": {{\"url\": ...}}}} "
                                "to app.json"}])
            queue(conn, schema.key, rule.name, channel, endpoint["url"], {
                "title": title, "body": body, "recipients": [p["username"] for p in people],
                "form": firing.form, "record_id": firing.record_id})
            sent[channel] = endpoint["url"]
    return {"action": "notify", "title": title, "body": body, "channels": sent}


def call_webhook(conn, schema, rule, action, firing, env) -> dict:
    if action.payload is not None:
        payload = {a.field: jsonable(a.value.evaluate(firing.record, env))
                   for a in action.payload}
    else:
        payload = jsonable(firing.source) if firing.source is not None else {}
    queue(conn, schema.key, rule.name, "call", action.url, {"payload": payload})
    return {"action": "call webhook", "url": action.url, "payload": payload}


def jsonable(value):
    """A value of an expression or a record as JSON."""
    if isinstance(value, ErrorValue):
        return value.code
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
