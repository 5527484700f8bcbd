"""Attachments: upload a file, attach it to a record's field, download it.

Files live in the store's files folder under a random name (never the user's), with
a row in ``loom_files``. Upload first (any user with a role that may create or update
something in the app), then name the file ids in an attachment field; the write path
checks each file's size and type against the field and marks it as the record's.
A file is downloadable by its uploader until attached, then by whoever may read the
record.
"""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
import secrets
from pathlib import Path, PurePosixPath

from sqlalchemy import insert, select, update

from engines.forms.fieldtypes import FileRefs
from runtime.auth.actors import Actor
from runtime.auth.permissions import allowed, row_filter, scopes
from runtime.services.apps import app_schema
from runtime.services.errors import Forbidden, Invalid, NotFound
from runtime.storage import platform

DEFAULT_MAX_MB = 20
files = platform.files


def _folder(store) -> Path:
    if store.files_dir is None:
        raise Invalid([{"field": "file", "message": "this server has no folder for files; "
                        "start it with a data folder (LOOM_DATA)"}])
    return Path(store.files_dir)


def _safe_name(name: str) -> str:
    name = PurePosixPath(name.replace("\\", "/")).name.strip() or "file"
    return "".join(ch for ch in name if ch.isprintable())[:200]


def upload(store, actor: Actor, app: str, name: str, stream, content_type: str | None) -> dict:
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        if not any(allowed(actor, schema, form, action) for form in schema.forms
                   for action in ("create", "update")):
            raise Forbidden(f"you may not add files in app '{app}'")
    name = _safe_name(name)
    content_type = (content_type or "").split(";")[0].strip().lower() or \
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    relative = Path(secrets.token_hex(2)) / secrets.token_hex(16)
    target = _folder(store) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    with store.write() as conn:
        file_id = conn.execute(insert(files).values(
            app=app, name=name, content_type=content_type, size=size,
            sha256=digest.hexdigest(), path=relative.as_posix(), created_at=platform.utcnow(),
            created_by=actor.id)).inserted_primary_key[0]
    return {"id": file_id, "name": name, "size": size, "type": content_type}


def open_download(store, actor: Actor, app: str, file_id: int):
    """(path on disk, row) of a file the actor may read; 404 otherwise."""
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        row = conn.execute(select(files).where(files.c.id == file_id, files.c.app == app)) \
            .mappings().first()
        if row is None or not _may_read(conn, actor, schema, row):
            raise NotFound(f"no file {file_id} in app '{app}' (or you may not see it)")
    return _folder(store) / row["path"], row


def _may_read(conn, actor: Actor, schema, row) -> bool:
    if row["record_id"] is None:
        return actor.is_admin or (actor.id is not None and row["created_by"] == actor.id)
    ft = schema.form(row["form"])
    granted = scopes(actor, schema, row["form"], "read") if ft else set()
    if not granted:
        return False
    return conn.execute(select(ft.table.c.id).where(
        ft.table.c.id == row["record_id"], row_filter(actor, ft, granted))).first() \
        is not None


def _accepts(field, name: str, content_type: str) -> bool:
    accept = field.get("accept")
    if not accept:
        return True
    lowered = name.lower()
    return any(lowered.endswith(rule.lower()) if rule.startswith(".")
               else fnmatch.fnmatch(content_type, rule) for rule in accept)


def resolve_files(conn, app: str, field, refs: FileRefs, path: str, errors: list,
                  record_id: int | None) -> list[dict] | None:
    """Check the named files against the field; their stored description, or None."""
    rows = {r["id"]: r for r in conn.execute(select(files).where(
        files.c.id.in_(refs.ids), files.c.app == app)).mappings()}
    limit = field.get("max_size_mb", DEFAULT_MAX_MB)
    described = []
    for file_id in refs.ids:
        row = rows.get(file_id)
        if row is None:
            errors.append({"field": path, "message": f"there is no uploaded file {file_id}"})
            continue
        if row["record_id"] is not None and row["record_id"] != record_id:
            errors.append({"field": path, "message": f"file {file_id} ({row['name']}) belongs "
                           "to another record; upload it again"})
            continue
        if row["size"] > limit * 1024 * 1024:
            errors.append({"field": path, "message": f"{row['name']} is "
                           f"{row['size'] / 1048576:.1f} MB; at most {limit} MB allowed"})
            continue
        if not _accepts(field, row["name"], row["content_type"]):
            errors.append({"field": path, "message": f"{row['name']} ({row['content_type']}) "
                           f"is not an accepted type: {', '.join(field.get('accept'))}"})
            continue
        described.append({"id": file_id, "name": row["name"], "size": row["size"],
                          "type": row["content_type"]})
    return described or None


def claim_files(conn, form: str, record_id: int, file_ids: list[int]) -> None:
    if file_ids:
        conn.execute(update(files).where(files.c.id.in_(file_ids))
                     .values(form=form, record_id=record_id))
