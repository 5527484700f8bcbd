"""The ``Store``: one database, its transactions, and the live shape of every app.

``store.app(conn, key)`` returns an ``AppSchema`` with the parsed definitions and the
SQLAlchemy tables of every form. It is cached per app *revision* (a counter bumped
in the same transaction as any definition change), so several server processes
sharing one database notice each other's changes on their next transaction.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column, Table, bindparam, select

from engines.forms.definition import Field, Form, parse_form
from runtime.storage import definitions, physical, platform
from runtime.storage.database import open_database


@dataclass
class FormTables:
    """A form and where its data lives."""

    app: str
    form: Form
    table: Table
    columns: dict[str, Column]  # scalar field key -> column
    subtables: dict[str, SubtableTables] = field(default_factory=dict)
    # Built once per definition version and reused: compiled expressions, statements.
    cache: dict = field(default_factory=dict, repr=False)
    app_schema: AppSchema | None = field(default=None, repr=False)

    def read_formulas(self) -> dict[str, tuple[str, ...]]:
        """Keys of formulas computed on read, by scope ("" for the record, else subtable)."""
        if "read_formulas" not in self.cache:
            scopes = {"": self.form.fields, **{k: s.field.fields
                                                for k, s in self.subtables.items()}}
            found = {scope: tuple(f.key for f in fields
                                  if f.type == "formula" and not f.get("store"))
                     for scope, fields in scopes.items()}
            self.cache["read_formulas"] = {k: v for k, v in found.items() if v}
        return self.cache["read_formulas"]

    def statement(self, name: str):
        """A prebuilt statement (bind parameters, no values) so SQLAlchemy compiles it once."""
        if name not in self.cache:
            if name == "by_id":
                self.cache[name] = select(self.table).where(self.table.c.id == bindparam("rid"))
            else:
                raise KeyError(name)
        return self.cache[name]

    def fields_with_columns(self):
        return [(f, self.columns[f.key]) for f in self.form.scalar_fields if f.key in self.columns]

    def fields_with_columns_by_key(self):
        return [(f.key, (f, column)) for f, column in self.fields_with_columns()]


@dataclass
class SubtableTables:
    field: Field
    table: Table
    columns: dict[str, Column]
    cache: dict = field(default_factory=dict, repr=False)

    def lines_of(self):
        """SELECT the lines of records ``ids`` in order (built once, bound per call)."""
        if "lines_of" not in self.cache:
            t = self.table
            self.cache["lines_of"] = select(t).where(
                t.c.parent_id.in_(bindparam("ids", expanding=True))).order_by(
                t.c.parent_id, t.c.line_no, t.c.id)
        return self.cache["lines_of"]

    def fields_with_columns(self):
        return [(f, self.columns[f.key]) for f in self.field.fields if f.key in self.columns]


@dataclass
class AppSchema:
    key: str
    revision: int
    definition: dict
    forms: dict[str, FormTables]
    metadata: object = None
    cache: dict = field(default_factory=dict, repr=False)  # derived per app version

    def form(self, key: str) -> FormTables | None:
        return self.forms.get(key)

    def form_order(self) -> list[str]:
        listed = [k for k in self.definition.get("forms", []) if k in self.forms]
        return listed + sorted(k for k in self.forms if k not in listed)


class Store:
    def __init__(self, url: str, files_dir: Path | None = None):
        self.url = url
        # Where attachments are kept (a shared folder when several servers run).
        self.files_dir = files_dir
        self.engine = open_database(url)
        # Write transactions take SQLite's write lock at BEGIN (see database.py).
        self.write_engine = self.engine.execution_options(loom_write=True)
        self._apps: dict[str, AppSchema] = {}
        self._lock = threading.Lock()
        # Called after a commit that queued outbox entries (a server wakes its sender).
        self.after_commit: list = []
        with self.write() as conn:
            platform.create_platform_tables(conn)

    @contextmanager
    def read(self):
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self):
        """A write transaction. An exception carrying ``after_rollback`` (callables of a
        connection) has them run in a transaction of their own once the failed one is
        rolled back: e.g. the rule log's record of the failure that rolled it back.
        After a commit that queued outbox entries, the ``after_commit`` hooks run."""
        try:
            with self.write_engine.begin() as conn:
                try:
                    yield conn
                finally:
                    wake = conn.info.pop(OUTBOX_QUEUED, False)
            if wake:  # committed with messages queued: tell the sender (no wait for it)
                for hook in self.after_commit:
                    hook()
        except Exception as error:
            notes = getattr(error, "after_rollback", None)
            if notes:
                with self.write_engine.begin() as conn:
                    for note in notes:
                        note(conn)
            raise

    def dispose(self) -> None:
        self.engine.dispose()

    def app_keys(self, conn) -> list[str]:
        return list(conn.execute(select(platform.apps.c.key).order_by(platform.apps.c.key))
                    .scalars())

    def app(self, conn, key: str) -> AppSchema | None:
        revision = conn.execute(_REVISION, {"key": key}).scalar()
        if revision is None:
            return None
        cached = self._apps.get(key)
        if cached is not None and cached.revision == revision:
            return cached
        schema = load_app_schema(conn, key, revision)
        with self._lock:
            self._apps[key] = schema
        return schema

    def forget(self, key: str) -> None:
        with self._lock:
            self._apps.pop(key, None)

    def forget_all(self) -> None:
        with self._lock:
            self._apps.clear()


# Set on a connection by runtime.notify.outbox.queue for the transaction it is in.
OUTBOX_QUEUED = "loom.outbox_queued"
_REVISION = select(platform.apps.c.revision).where(platform.apps.c.key == bindparam("key"))


def load_app_schema(conn, key: str, revision: int) -> AppSchema:
    docs = definitions.current(conn, key)
    metadata, tables, columns = physical.build_metadata(conn, key)
    forms = {}
    for (kind, form_key), body in docs.items():
        if kind != "form" or (form_key, "") not in tables:
            continue
        form = parse_form(body)
        main = FormTables(key, form, tables[(form_key, "")], {
            f.key: columns[(form_key, "", f.key)][0] for f in form.scalar_fields
            if (form_key, "", f.key) in columns})
        for sub in form.subtables:
            if (form_key, sub.key) in tables:
                main.subtables[sub.key] = SubtableTables(sub, tables[(form_key, sub.key)], {
                    f.key: columns[(form_key, sub.key, f.key)][0] for f in sub.fields
                    if (form_key, sub.key, f.key) in columns})
        forms[form_key] = main
    schema = AppSchema(key, revision, docs.get(("app", "app"), {"key": key, "name": key}),
                       forms, metadata)
    for ft in forms.values():
        ft.app_schema = schema  # expressions on read need the other forms
    return schema
