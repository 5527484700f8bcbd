"""The audit log: one row per change (who, when, what, before, after), never updated."""

from __future__ import annotations

from sqlalchemy import insert, select

from runtime.auth.actors import Actor
from runtime.storage import platform

audit = platform.audit


def append_audit(conn, actor: Actor, app: str, form: str, record_id: int, action: str,
                 before: dict | None, after: dict | None) -> None:
    conn.execute(insert(audit), {"at": platform.utcnow(), "user_id": actor.id, "app": app,
                                 "form": form, "record_id": record_id, "action": action,
                                 "before": before, "after": after})


def changed_fields(before: dict | None, after: dict | None) -> list[str]:
    skip = {"version", "updated_at", "updated_by"}
    keys = set(before or {}) | set(after or {})
    return sorted(k for k in keys - skip if (before or {}).get(k) != (after or {}).get(k))


def record_history(conn, app: str, form: str, record_id: int) -> list[dict]:
    users = platform.users
    rows = conn.execute(
        select(audit, users.c.username).outerjoin(users, users.c.id == audit.c.user_id)
        .where(audit.c.app == app, audit.c.form == form, audit.c.record_id == record_id)
        .order_by(audit.c.id)).mappings().all()
    return [{"id": r["id"], "at": r["at"].isoformat(), "user_id": r["user_id"],
             "username": r["username"] or "system", "action": r["action"],
             "changed": changed_fields(r["before"], r["after"]),
             "before": r["before"], "after": r["after"]} for r in rows]
