"""Definition documents with their full version history.

Every accepted change of an app's ``app.json`` or a form is a new row (who, when);
nothing is overwritten, so any earlier version can be read back or exported.
"""

from __future__ import annotations

from sqlalchemy import and_, func, insert, select

from runtime.storage import platform

defs = platform.definitions


def latest_versions(app: str | None = None):
    """Subquery: (app, kind, key, version) of each definition's newest version."""
    query = select(defs.c.app, defs.c.kind, defs.c.key,
                   func.max(defs.c.version).label("version"))
    if app is not None:
        query = query.where(defs.c.app == app)
    return query.group_by(defs.c.app, defs.c.kind, defs.c.key).subquery()


def current(conn, app: str) -> dict[tuple[str, str], dict]:
    """{(kind, key): body} of an app's live definitions (deleted ones left out)."""
    latest = latest_versions(app)
    rows = conn.execute(
        select(defs.c.kind, defs.c.key, defs.c.body).join(latest, and_(
            defs.c.app == latest.c.app, defs.c.kind == latest.c.kind,
            defs.c.key == latest.c.key, defs.c.version == latest.c.version))
        .order_by(defs.c.id)).all()
    return {(kind, key): body for kind, key, body in rows if body is not None}


def save(conn, app: str, kind: str, key: str, body: dict | None, user_id: int | None,
         comment: str | None = None) -> int | None:
    """Store a new version; returns it, or None when nothing changed."""
    row = conn.execute(select(defs.c.version, defs.c.body).where(
        defs.c.app == app, defs.c.kind == kind, defs.c.key == key)
        .order_by(defs.c.version.desc()).limit(1)).first()
    if row is not None and row.body == body:
        return None
    if row is None and body is None:
        return None
    version = (row.version if row else 0) + 1
    conn.execute(insert(defs).values(app=app, kind=kind, key=key, version=version, body=body,
                                     created_by=user_id, comment=comment,
                                     created_at=platform.utcnow()))
    return version


def history(conn, app: str, kind: str, key: str) -> list[dict]:
    rows = conn.execute(select(defs.c.version, defs.c.created_at, defs.c.created_by,
                               defs.c.comment, defs.c.body)
                        .where(defs.c.app == app, defs.c.kind == kind, defs.c.key == key)
                        .order_by(defs.c.version)).mappings().all()
    return [dict(r) for r in rows]
