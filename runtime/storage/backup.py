"""Backup and restore: a consistent, portable copy of everything Loom stores.

A backup is a zip of one JSON-lines file per table (platform tables and every form
table, hidden columns included) plus a manifest, read in one snapshot transaction.
Being plain data rather than a database file, it restores into SQLite or PostgreSQL
alike, which also makes it the way to move a plant from one to the other.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Date, DateTime, func, insert, select, text, update

from runtime.storage import definitions, physical, platform
from runtime.storage.physical import DecimalNumber

FORMAT = 1
BATCH = 1000


class RestoreRefused(Exception):
    pass


def _encode(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot back up a {type(value).__name__}")


def _decoder(column):
    kind = column.type
    if isinstance(kind, DateTime):
        return lambda v: None if v is None else dt.datetime.fromisoformat(v)
    if isinstance(kind, Date):
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if isinstance(kind, DecimalNumber):
        return lambda v: None if v is None else Decimal(v)
    return lambda v: v


def _form_tables(conn):
    """Every form and subtable table (hidden ones too), parents before children."""
    tables = []
    for app in conn.execute(select(platform.apps.c.key).order_by(platform.apps.c.key)).scalars():
        _, by_scope, _ = physical.build_metadata(conn, app)
        for _scope, table in sorted(by_scope.items(), key=lambda kv: (
                kv[0][0], kv[0][1] != "", kv[0][1])):
            tables.append((app, table))
    return tables


def backup(store, target: Path) -> dict:
    """Write a backup zip to ``target``; returns the manifest (tables and row counts)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    engine = store.engine
    options = {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin(), \
            zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        tables = list(platform.metadata.sorted_tables) + [t for _, t in _form_tables(conn)]
        for table in tables:
            with archive.open(f"tables/{table.name}.jsonl", "w") as out:
                n = 0
                pk = list(table.primary_key.columns)
                for row in conn.execute(select(table).order_by(*pk)).mappings():
                    out.write(json.dumps(dict(row), default=_encode, ensure_ascii=False)
                              .encode() + b"\n")
                    n += 1
            counts[table.name] = n
        files = _backup_files(store, archive, conn)
        manifest = {"loom_backup": FORMAT, "files": files,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "tables": counts}
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return manifest


def _backup_files(store, archive, conn) -> int:
    """Copy the attachment files the backed-up rows name (files folder layout kept)."""
    if store.files_dir is None:
        return 0
    count = 0
    for relative in conn.execute(select(platform.files.c.path)).scalars():
        path = Path(store.files_dir) / relative
        if path.is_file():
            archive.write(path, f"files/{relative}")
            count += 1
    return count


def _restore_files(store, archive) -> None:
    names = [n for n in archive.namelist() if n.startswith("files/") and not n.endswith("/")]
    if not names:
        return
    if store.files_dir is None:
        raise RestoreRefused("the backup holds attachment files but this store has no "
                             "files folder; restore with a data folder")
    root = Path(store.files_dir).resolve()
    for name in names:
        target = (root / name[len("files/"):]).resolve()
        if root not in target.parents:  # a crafted archive must not write elsewhere
            raise RestoreRefused(f"unsafe file name in backup: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(name) as source, open(target, "wb") as out:
            out.write(source.read())


def _rows(archive, table):
    decoders = {c.name: _decoder(c) for c in table.columns}
    with archive.open(f"tables/{table.name}.jsonl") as lines:
        for line in lines:
            row = json.loads(line)
            yield {k: decoders[k](v) for k, v in row.items() if k in decoders}


def _load(conn, archive, table, deferred: list[str], later: list) -> int:
    """Insert a table's rows; ``deferred`` reference columns are left empty and queued
    in ``later``, set once every table is loaded, so rows may point at rows that come
    after them (self references, cycles between forms)."""
    count, batch = 0, []
    for row in _rows(archive, table):
        for name in deferred:
            if row.get(name) is not None:
                later.append((table, row["id"], name, row[name]))
                row[name] = None
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


def _set_deferred(conn, later: list) -> None:
    for table, row_id, name, value in later:
        conn.execute(update(table).where(table.c.id == row_id).values({name: value}))


def restore(store, source: Path) -> dict:
    """Load a backup into ``store``, which must hold no apps and no users yet."""
    with zipfile.ZipFile(source) as archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except KeyError:
            raise RestoreRefused(f"{source} is not a Loom backup (no manifest.json)") from None
        if manifest.get("loom_backup") != FORMAT:
            raise RestoreRefused(f"{source} is a backup format this Loom cannot read")
        with store.write() as conn:
            platform.create_platform_tables(conn)
            for table in (platform.apps, platform.users):
                if conn.execute(select(func.count()).select_from(table)).scalar():
                    raise RestoreRefused("the target database is not empty; restore into a "
                                         "new data folder (or an empty database)")
            later: list = []
            for table in platform.metadata.sorted_tables:
                deferred = ["parent_id"] if table is platform.departments else []
                _load(conn, archive, table, deferred, later)
            for app in conn.execute(select(platform.apps.c.key)).scalars():
                _create_form_tables(conn, app)
            for app, table in _form_tables(conn):
                refs = [r.column_name for r in conn.execute(
                    select(platform.physical_columns.c.column_name).where(
                        platform.physical_columns.c.app == app,
                        platform.physical_columns.c.storage.like("ref:form:%"),
                        platform.physical_columns.c.column_name.in_(
                            [c.name for c in table.columns])))]
                _load(conn, archive, table, refs, later)
            _set_deferred(conn, later)
            _reset_sequences(conn)
            _restore_files(store, archive)
    store.forget_all()
    return manifest


def _create_form_tables(conn, app: str) -> None:
    tables = conn.execute(select(platform.physical_tables).where(
        platform.physical_tables.c.app == app).order_by(
        platform.physical_tables.c.subtable != "", platform.physical_tables.c.id)).mappings().all()
    names = {(t["form"], t["subtable"]): t["table_name"] for t in tables}
    for t in tables:
        parent = names[(t["form"], "")] if t["subtable"] else None
        physical.create_table(conn, t["table_name"], parent=parent)
    columns = conn.execute(select(platform.physical_columns).where(
        platform.physical_columns.c.app == app).order_by(platform.physical_columns.c.id)) \
        .mappings().all()
    for c in columns:
        physical.add_column(conn, names[(c["form"], c["subtable"])], c["column_name"],
                            c["storage"], app)
    # Indexes asked for by definitions (relations got theirs with their columns).
    active = {(c["form"], c["subtable"], c["field"]): c["column_name"] for c in columns
              if c["active"]}
    for (kind, form), body in definitions.current(conn, app).items():
        if kind != "form":
            continue
        scopes = [("", body["fields"])] + [(f["key"], f["fields"]) for f in body["fields"]
                                           if f["type"] == "subtable"]
        for subtable, fields in scopes:
            for field in fields:
                column = active.get((form, subtable, field["key"]))
                if field.get("indexed") and column and (form, subtable) in names:
                    physical.create_index(conn, names[(form, subtable)], column)


def _reset_sequences(conn) -> None:
    """PostgreSQL hands out ids from sequences that must move past the restored ids."""
    if conn.dialect.name != "postgresql":
        return
    tables = [t for t in platform.metadata.sorted_tables if "id" in t.c]
    names = [t.name for t in tables] + [t.name for _, t in _form_tables(conn)]
    for name in names:
        conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                          "coalesce((SELECT max(id) FROM " + conn.dialect.identifier_preparer
                          .quote(name) + "), 0) + 1, false)"), {"t": name})
