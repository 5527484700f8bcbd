"""Bring a form's tables in line with a new definition, losing no data.

- a new field gets a column;
- a removed field's column is kept and hidden, its data intact; re-adding the same
  key with the same kind of storage shows it again, data and all (converted to the
  new type if that changed, like a type change);
- a label or option text change touches nothing;
- a type change converts every stored value in place (into a new column, because
  SQLite cannot change a column's type, and the old one is emptied: its values
  moved) or, if any value does not convert, refuses and names up to ten offending
  records (for a line field, the records holding the lines);
- a removed subtable's table is kept the same way, and adding it back is adding its
  line fields back.

Everything runs in the caller's transaction: a refusal rolls back every step.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from engines.forms.definition import Field, Form
from engines.forms.fieldtypes import FieldError, coerce_value, storage_of, value_to_json
from runtime.storage import physical, platform

MAX_NAMED = 10


@dataclass
class Change:
    """One thing a migration did, worded for the person who changed the form."""

    action: str  # create_table | add_column | hide_column | show_column | convert | ...
    field: str | None
    message: str

    def as_json(self) -> dict:
        return {"action": self.action, "field": self.field, "message": self.message}


class MigrationRefused(Exception):
    """A change would lose or corrupt stored values; ``errors`` say which and how to fix."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def migrate_form(conn, app: str, new: Form, old: Form | None) -> list[Change]:
    changes: list[Change] = []
    main = _ensure_table(conn, app, new.key, "", None, changes)
    _migrate_scope(conn, app, new.key, "", main, new.scalar_fields,
                   old.scalar_fields if old else (), changes)
    old_subtables = {f.key: f for f in old.subtables} if old else {}
    new_subtables = {f.key for f in new.subtables}
    for sub in new.subtables:
        child = _ensure_table(conn, app, new.key, sub.key, main, changes)
        before = old_subtables.get(sub.key)
        _migrate_scope(conn, app, new.key, sub.key, child, sub.fields,
                       before.fields if before else (), changes, prefix=f"{sub.key}.")
    for key in old_subtables.keys() - new_subtables:
        conn.execute(update(platform.physical_tables).where(
            _scope(platform.physical_tables, app, new.key, key)).values(active=False))
        changes.append(Change("hide_table", key, f"subtable '{key}' removed: its lines are "
                              "kept and hidden; add the subtable back to see them again"))
    if old:
        _refuse_kind_switches(conn, app, new, old)
    return changes


def _scope(table, app, form, subtable):
    return and_(table.c.app == app, table.c.form == form, table.c.subtable == subtable)


def _ensure_table(conn, app, form, subtable, parent, changes) -> str:
    row = conn.execute(select(platform.physical_tables).where(
        _scope(platform.physical_tables, app, form, subtable))).mappings().first()
    if row is None:
        name = physical.table_name(app, form, subtable)
        physical.create_table(conn, name, parent=parent)
        conn.execute(insert(platform.physical_tables).values(
            app=app, form=form, subtable=subtable, table_name=name, active=True))
        changes.append(Change("create_table", subtable or None,
                              f"table {name} created for "
                              + (f"subtable '{subtable}'" if subtable else f"form '{form}'")))
        return name
    if not row["active"]:
        conn.execute(update(platform.physical_tables).where(
            platform.physical_tables.c.id == row["id"]).values(active=True))
        changes.append(Change("show_table", subtable, f"subtable '{subtable}' added back: "
                              "its earlier lines are visible again"))
    return row["table_name"]


def _migrate_scope(conn, app, form, subtable, table, fields, old_fields, changes, prefix=""):
    cols = platform.physical_columns
    old_by_key = {f.key: f for f in old_fields}
    rows = _scope_columns(conn, app, form, subtable, old_by_key)
    lines = bool(subtable)
    active = {r["field"]: r for r in rows if r["active"]}
    stored = [f for f in fields if storage_of(f) is not None]  # not computed-on-read formulas
    wanted = {f.key for f in stored}
    for field in stored:
        storage = storage_of(field)
        name = prefix + field.key
        current = active.get(field.key)
        # Active columns are the previous definition's (see _scope_columns).
        before = old_by_key.get(field.key)
        if current is not None and current["storage"] == storage:
            if before.type != field.type:
                _convert_in_place(conn, table, current["column_name"], before, field, name,
                                  lines)
                changes.append(Change("convert", name, f"field '{name}' now of type "
                                      f"{field.type}: every stored value converted"))
            elif before.raw != field.raw:
                _check_values(conn, table, current["column_name"], before, field, name, lines)
            continue
        if current is not None:
            column = _next_column_name(conn, app, form, subtable, field.key)
            _convert(conn, app, table, current, column, before, field, storage, name, lines)
            conn.execute(update(cols).where(cols.c.id == current["id"]).values(active=False))
            _record_column(conn, app, form, subtable, field.key, column, storage)
            changes.append(Change("convert", name, f"field '{name}' converted from "
                                  f"{before.type} to {field.type}; every value converted"))
            continue
        hidden = [r for r in rows if r["field"] == field.key and not r["active"]]
        same = [r for r in hidden if r["storage"] == storage]
        if same:
            # The hidden values come back under the new definition, which may be another
            # type of the same storage (text data re-added as a select): they are converted
            # like in a type change, or the re-add is refused naming the records; else a
            # select would show values that are none of its options.
            _convert_in_place(conn, table, same[-1]["column_name"], field, field, name, lines)
            conn.execute(update(cols).where(cols.c.id == same[-1]["id"]).values(active=True))
            changes.append(Change("show_column", name, f"field '{name}' added back: "
                                  "its earlier values are visible again"))
            continue
        column = _next_column_name(conn, app, form, subtable, field.key)
        physical.add_column(conn, table, column, storage, app)
        _record_column(conn, app, form, subtable, field.key, column, storage)
        if field.indexed:
            physical.create_index(conn, table, column)
        changes.append(Change("add_column", name, f"field '{name}' added"))
    for key, row in active.items():
        if key not in wanted:
            conn.execute(update(cols).where(cols.c.id == row["id"]).values(active=False))
            changes.append(Change("hide_column", prefix + key,
                                  f"field '{prefix + key}' removed: its data is kept and "
                                  "hidden; add a field with the same key back to see it again"))
    for field in stored:  # indexes asked for on an existing field
        if field.indexed and not old_by_key.get(field.key, field).indexed:
            row = conn.execute(select(cols.c.column_name).where(
                _scope(cols, app, form, subtable), cols.c.field == field.key,
                cols.c.active)).scalar_one()
            physical.create_index(conn, table, row)


def _scope_columns(conn, app, form, subtable, old_by_key) -> list[dict]:
    """The scope's columns, oldest first. A column still active for a field the previous
    definition lacks is hidden first: removing a subtable leaves its columns active, and
    adding it back must follow the rules of adding a field back (a line field's type may
    have changed meanwhile; there is no previous definition to convert from)."""
    cols = platform.physical_columns
    rows = [dict(r) for r in conn.execute(select(cols).where(
        _scope(cols, app, form, subtable)).order_by(cols.c.id)).mappings()]
    for row in rows:
        if row["active"] and row["field"] not in old_by_key:
            conn.execute(update(cols).where(cols.c.id == row["id"]).values(active=False))
            row["active"] = False
    return rows


def _next_column_name(conn, app, form, subtable, key: str) -> str:
    """A free column name for ``key``: read afresh, because a column added earlier in
    this same migration may hold it (field ``a`` converting into ``a__v2`` while a
    field keyed ``a__v2`` is added), and never a system column (a line field ``line_no``)."""
    cols = platform.physical_columns
    taken = set(conn.execute(select(cols.c.column_name).where(
        _scope(cols, app, form, subtable))).scalars())
    taken |= {c.name for c in physical.system_columns(bool(subtable))}
    if key not in taken:
        return key
    n = 2
    while f"{key}__v{n}" in taken:
        n += 1
    return f"{key}__v{n}"


def _record_column(conn, app, form, subtable, field, column, storage):
    conn.execute(insert(platform.physical_columns).values(
        app=app, form=form, subtable=subtable, field=field, column_name=column,
        storage=storage, active=True))


def _stub(table: str, *columns):
    return Table(table, MetaData(), Column("id", Integer, primary_key=True), *columns)


def _stored_values(conn, table: str, column: str, storage: str, lines: bool = False):
    """(row id, record id, value) of every non-blank value, record by record. A line's
    record is its parent: refusals name records, which a person can open and fix."""
    value = Column(column, physical.sql_type(storage))
    if lines:
        stub = _stub(table, Column("parent_id", Integer), Column("line_no", Integer), value)
        record, order = stub.c.parent_id, (stub.c.parent_id, stub.c.line_no, stub.c.id)
    else:
        stub = _stub(table, value)
        record, order = stub.c.id.label("record"), (stub.c.id,)
    return conn.execute(select(stub.c.id, record, stub.c[column])
                        .where(stub.c[column].is_not(None)).order_by(*order))


def _converted(conn, table, column, storage, before: Field, after: Field, name: str,
               lines: bool = False):
    """(row id, stored, converted) of every non-blank stored value converted to
    ``after``'s type, or a refusal naming the records whose values do not convert."""
    result = _stored_values(conn, table, column, storage, lines)
    if storage.startswith("ref:") or storage_of(after).startswith("ref:"):
        if storage != storage_of(after):
            ids = _first_records(result)
            if ids:
                raise MigrationRefused([{"field": name, "records": ids, "message":
                    f"field '{name}' cannot change from {before.type} to {after.type} while "
                    f"records hold values (records {_ids(ids)}); add a new field instead"}])
            return []
    converted, failures, count = [], {}, 0
    for row_id, record_id, value in result:
        try:
            converted.append((row_id, value,
                              coerce_value(after, value_to_json(before, value))))
        except FieldError as error:
            failures.setdefault(record_id, str(error))  # a record's first failing value
            count += 1
    if failures:
        shown = list(failures.items())[:MAX_NAMED]
        more = len(failures) - len(shown)
        more = f" and {more} more record(s)" if more else ""
        details = "; ".join(f"record {rid}: {msg}" for rid, msg in shown)
        raise MigrationRefused([{"field": name, "records": [rid for rid, _ in shown],
                                 "message": f"field '{name}' cannot become {after.type}: "
                                 f"{count} stored value(s) do not convert ({details}{more}). "
                                 "Fix those records first, or add a new field instead."}])
    return converted


def _first_records(result) -> list[int]:
    records: dict[int, None] = {}
    for _, record_id, _ in result:
        records.setdefault(record_id)
        if len(records) == MAX_NAMED:
            break
    result.close()
    return list(records)


def _ids(ids) -> str:
    return ", ".join(str(i) for i in ids)


def _check_values(conn, table, column, before, after, name, lines):
    storage = storage_of(after)
    _converted(conn, table, column, storage, before, after, name, lines)


def _convert_in_place(conn, table, column, before, after, name, lines):
    """A type change within one kind of storage (text -> select) keeps the column but
    still converts: the values are rewritten as the new type reads them (" a" -> "a"),
    or a select would hold values that are none of its options."""
    storage = storage_of(after)
    values = _converted(conn, table, column, storage, before, after, name, lines)
    _write_values(conn, table, column, storage,
                  [(rid, new) for rid, old, new in values if new != old])


def _convert(conn, app, table, current, column, before, after, storage, name, lines):
    values = _converted(conn, table, current["column_name"], current["storage"],
                        before, after, name, lines)
    physical.add_column(conn, table, column, storage, app)
    _write_values(conn, table, column, storage, [(rid, new) for rid, _, new in values])
    # The values moved to the new column. Clear the old one: adding the key back later
    # with its old type must not show values from before this change (edited since,
    # in the new column) as if they were current.
    _write_values(conn, table, current["column_name"], current["storage"],
                  [(rid, None) for rid, _, _ in values])


def _write_values(conn, table, column, storage, values):
    if values:
        stub = _stub(table, Column(column, physical.sql_type(storage)))
        conn.execute(update(stub).where(stub.c.id == bindparam("rid"))
                     .values({column: bindparam("value")}),
                     [{"rid": rid, "value": value} for rid, value in values])


def _refuse_kind_switches(conn, app, new: Form, old: Form):
    """A field may not turn into a subtable (or back) while it holds data."""
    for field in new.fields:
        before = old.field(field.key)
        if before is None or before.is_subtable == field.is_subtable:
            continue
        if before.is_subtable:
            table = physical.table_name(app, new.key, field.key)
            count = conn.execute(select(func.count()).select_from(_stub(table))).scalar()
        else:
            cols = platform.physical_columns
            row = conn.execute(select(cols).where(
                _scope(cols, app, new.key, ""), cols.c.field == field.key)
                .order_by(cols.c.id.desc())).mappings().first()
            count = 0
            if row is not None:
                result = _stored_values(conn, physical.table_name(app, new.key),
                                        row["column_name"], row["storage"])
                count = len(result.fetchmany(1))
        if count:
            raise MigrationRefused([{"field": field.key, "message":
                f"field '{field.key}' cannot change between a subtable and a single value "
                "while records hold data; add a field with a new key instead"}])
