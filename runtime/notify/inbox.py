"""The in-app inbox: each user's notifications, newest first, read or unread.

Rows are written by ``notify`` in the firing transaction (runtime.notify.messages);
a user reaches only their own."""

from __future__ import annotations

from sqlalchemy import func, select, update

from runtime.auth.actors import Actor
from runtime.services.errors import Invalid, NotFound, ServiceError
from runtime.storage import platform

notes = platform.notifications


class Unauthenticated(ServiceError):
    status = 401


def _user(actor: Actor) -> int:
    if actor.id is None:
        raise Unauthenticated("the inbox belongs to a user: log in or use a user's token")
    return actor.id


def _json(row) -> dict:
    return {"id": row["id"], "app": row["app"], "rule": row["rule"], "title": row["title"],
            "body": row["body"], "form": row["form"], "record_id": row["record_id"],
            "created_at": row["created_at"].isoformat(),
            "read_at": row["read_at"].isoformat() if row["read_at"] else None}


def list_notifications(store, actor: Actor, *, unread: bool = False, limit: int = 50,
                       offset: int = 0) -> dict:
    if limit < 1 or limit > 500 or offset < 0:
        raise Invalid([{"field": "limit", "message": "limit is 1 to 500, offset 0 or more"}])
    query = select(notes).where(notes.c.user_id == _user(actor))
    if unread:
        query = query.where(notes.c.read_at.is_(None))
    with store.read() as conn:
        rows = conn.execute(query.order_by(notes.c.id.desc()).limit(limit).offset(offset)) \
            .mappings().all()
        count = unread_count(conn, actor)
    return {"notifications": [_json(r) for r in rows], "unread": count}


def count_unread(store, actor: Actor) -> int:
    with store.read() as conn:
        return unread_count(conn, actor)


def unread_count(conn, actor: Actor) -> int:
    return conn.execute(select(func.count()).select_from(notes).where(
        notes.c.user_id == _user(actor), notes.c.read_at.is_(None))).scalar()


def mark_read(store, actor: Actor, note_id: int | None = None) -> dict:
    """Mark one notification (or, without an id, all of the user's) as read."""
    where = [notes.c.user_id == _user(actor), notes.c.read_at.is_(None)]
    with store.write() as conn:
        if note_id is not None:
            exists = conn.execute(select(notes.c.id).where(
                notes.c.id == note_id, notes.c.user_id == actor.id)).first()
            if exists is None:
                raise NotFound(f"you have no notification {note_id}")
            where.append(notes.c.id == note_id)
        changed = conn.execute(update(notes).where(*where),
                               {"read_at": platform.utcnow()}).rowcount
        return {"marked": changed, "unread": unread_count(conn, actor)}
