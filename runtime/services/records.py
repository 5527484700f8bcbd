"""The single write path for records, and reading them back.

Every change — from the API, a web page, an import, sample data and, later, rule
actions — comes through ``create_record``, ``update_record`` or ``delete_record``,
each one database transaction:

    check permission -> coerce input -> check references -> scan and fill
    -> form logic (defaults, formulas, visibility, validations, unique)
    -> autonumber -> write -> derived data (rollups, dependent formulas)
    -> append to the audit log

and any failure rolls the whole transaction back with a structured error. Later
steps of DESIGN.md's write path (ledger posting, rules, flows) are added as named
steps inside these same functions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, delete, insert, select, update

from engines.forms.autonumber import parse_pattern
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules, missing, require, row_filter, scopes
from runtime.services import clock
from runtime.services.approvals import (
    check_edit,
    has_open_task,
    record_steps,
    visible_to_approver,
)
from runtime.services.apps import open_form
from runtime.services.attachments import claim_files
from runtime.services.audit import append_audit, record_history
from runtime.services.derived import refresh_derived
from runtime.services.errors import Conflict, Invalid
from runtime.services.fills import apply_fills, resolve_barcodes
from runtime.services.firing import on_record_event
from runtime.services.formlogic import apply_logic, check_unique
from runtime.services.recordio import (
    attached_file_ids,
    check_references,
    coerce_record,
    fetch_record,
    read_records,
    records_as_written,
)
from runtime.storage import platform
from runtime.storage.sequences import next_in_sequence
from runtime.storage.store import FormTables, Store


def prepare(conn, schema, ft: FormTables, actor: Actor, data, *, existing_row=None):
    """Input -> (main values by column, lines) ready to write, or ``Invalid``."""
    existing = read_records(conn, ft, [existing_row])[0] if existing_row is not None else None
    values, lines, errors = coerce_record(ft, data, creating=existing is None,
                                          existing=existing)
    check_references(conn, schema, ft, values, lines, errors,
                     record_id=existing["id"] if existing else None)
    if errors:
        raise Invalid(errors)
    _scan_and_fill(conn, schema, ft.fields_with_columns(), data, values, "", errors)
    for key, entries in lines.items():
        scope = ft.subtables[key].fields_with_columns()
        for i, (_, line_values) in enumerate(entries):
            _scan_and_fill(conn, schema, scope, data[key][i], line_values, f"{key}[{i}].",
                           errors)
    if errors:
        raise Invalid(errors)
    apply_logic(conn, schema, ft, actor, data, values, lines, existing_row, existing)
    check_unique(conn, ft, values, existing_row)
    return values, lines, existing


def _scan_and_fill(conn, schema, scope, given, row, prefix, errors):
    scanned = resolve_barcodes(conn, schema, scope, given, row, prefix, errors)
    apply_fills(conn, schema, scope, given, row, prefix, errors, also=scanned)


def _current(conn, ft: FormTables, record_id: int) -> dict:
    row = conn.execute(ft.statement("by_id"), {"rid": record_id}).mappings().one()
    return read_records(conn, ft, [row])[0]


def create_record(store: Store, actor: Actor, app: str, form: str, data) -> dict:
    with store.write() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        return create_in(conn, actor, schema, ft, data)


def create_in(conn, actor: Actor, schema, ft: FormTables, data) -> dict:
    """Create a record inside the caller's transaction (imports, rule actions)."""
    require(actor, schema, ft.form.key, "create")
    _refuse_locked_fields(actor, schema, ft, data, None)
    values, lines, _ = prepare(conn, schema, ft, actor, data)
    _assign_numbers(conn, schema.key, ft, values)
    now = platform.utcnow()
    row = {"_version": 1, "_created_at": now, "_created_by": actor.id,
           "_updated_at": now, "_updated_by": actor.id, "_dept": actor.department_id,
           "_approval": "draft", **values}
    record_id = conn.execute(insert(ft.table), row).inserted_primary_key[0]
    written = _write_lines(conn, ft, record_id, lines, {})  # a new record has no lines
    claim_files(conn, ft.form.key, record_id, attached_file_ids(ft, values, lines))
    # The record as written, without reading it back (the write path's hot spot).
    record = records_as_written(conn, ft, {c.name: None for c in ft.table.c} | row
                                | {"id": record_id}, written)
    refresh_derived(conn, schema, ft, None, record)
    append_audit(conn, actor, schema.key, ft.form.key, record_id, "create", None, record)
    if on_record_event(conn, schema, ft, "created", record, None, actor):
        record = _current(conn, ft, record_id)  # a rule may have changed it: as stored now
    return record


def get_record(store: Store, actor: Actor, app: str, form: str, record_id: int) -> dict:
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = scopes(actor, schema, form, "read")
        if not granted and has_open_task(conn, actor, ft, record_id):
            # An approver from outside the form's readers sees what their step shows.
            row = fetch_record(conn, actor, ft, {"own"}, record_id)
            return visible_to_approver(conn, actor, ft, read_records(conn, ft, [row])[0])
        granted = granted or require(actor, schema, form, "read")
        row = fetch_record(conn, actor, ft, granted, record_id)
        return field_rules(actor, schema, form).visible(read_records(conn, ft, [row])[0])


def update_record(store: Store, actor: Actor, app: str, form: str, record_id: int, patch,
                  *, version: int | None = None) -> dict:
    """Change the fields given in ``patch``; a subtable given is replaced as a whole
    (lines keep their ids when the patch names them). ``version`` (or ``patch["version"]``)
    makes the write conditional: a record changed since then gets 409 and no change."""
    with store.write() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        return update_in(conn, actor, schema, ft, record_id, patch, version=version)


def update_in(conn, actor: Actor, schema, ft: FormTables, record_id: int, patch, *,
              version: int | None = None) -> dict:
    """Update a record inside the caller's transaction (see ``update_record``)."""
    form = ft.form.key
    # An approver may change the fields their step allows without an update grant.
    granted = scopes(actor, schema, form, "update") or (
        {"own"} if has_open_task(conn, actor, ft, record_id) else require(
            actor, schema, form, "update"))
    row = fetch_record(conn, actor, ft, granted, record_id)
    if isinstance(patch, dict) and version is None:
        version = patch.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise Invalid([{"field": "version", "message": "version must be a whole number"}])
    if version is not None and version != row["_version"]:
        raise _stale(form, record_id, version, row)
    check_edit(conn, actor, ft, row, patch)
    _refuse_locked_fields(actor, schema, ft, patch, read_records(conn, ft, [row])[0])
    values, lines, before = prepare(conn, schema, ft, actor, patch, existing_row=row)
    result = conn.execute(
        update(ft.table).where(and_(ft.table.c.id == record_id,
                                    ft.table.c._version == row["_version"])),
        {"_version": row["_version"] + 1, "_updated_at": platform.utcnow(),
         "_updated_by": actor.id, **values})
    if result.rowcount != 1:  # changed between our read and write (PostgreSQL)
        raise _stale(form, record_id, row["_version"], row)
    _write_lines(conn, ft, record_id, lines, before)
    claim_files(conn, form, record_id, attached_file_ids(ft, values, lines))
    after = _current(conn, ft, record_id)
    refresh_derived(conn, schema, ft, before, after)
    append_audit(conn, actor, schema.key, form, record_id, "update", before, after)
    if on_record_event(conn, schema, ft, "updated", after, before, actor):
        after = _current(conn, ft, record_id)  # a rule may have changed it: as stored now
    return after


def _stale(form: str, record_id: int, version: int, row) -> Conflict:
    return Conflict(f"record {record_id} of '{form}' was changed by someone else (you had "
                    f"version {version}, it is now at version {row['_version']}); reload it "
                    "and apply your change again")


def delete_record(store: Store, actor: Actor, app: str, form: str, record_id: int) -> None:
    with store.write() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = require(actor, schema, form, "delete")
        row = fetch_record(conn, actor, ft, granted, record_id)
        if row["_approval"] in ("running", "submitted", "approved", "cancelled"):
            hint = {"running": "; withdraw it first", "submitted": "; cancel it instead",
                    "approved": "; cancel it instead",
                    "cancelled": "; it stays as the record of what was reversed"}
            raise Conflict(f"record {record_id} is {row['_approval']} and cannot be deleted"
                           + hint[row["_approval"]])
        _refuse_if_referenced(conn, schema, form, record_id)
        before = read_records(conn, ft, [row])[0]
        for sub in ft.subtables.values():
            conn.execute(delete(sub.table).where(sub.table.c.parent_id == record_id))
        conn.execute(delete(ft.table).where(ft.table.c.id == record_id))
        refresh_derived(conn, schema, ft, before, None)
        append_audit(conn, actor, app, form, record_id, "delete", before, None)
        on_record_event(conn, schema, ft, "deleted", None, before, actor)


def _refuse_if_referenced(conn, schema, form: str, record_id: int) -> None:
    """Name the records that point here instead of failing on a foreign key."""
    for other in schema.forms.values():
        scopes = [(other.table, other.fields_with_columns(), "")]
        scopes += [(s.table, s.fields_with_columns(), f"{k}.") for k, s in other.subtables.items()]
        for table, fields, prefix in scopes:
            for field, column in fields:
                if field.type != "relation" or field.target != form:
                    continue
                owner = table.c.parent_id if prefix else table.c.id
                ids = list(conn.execute(select(owner).where(column == record_id).distinct()
                                        .limit(10)).scalars())
                if ids:
                    raise Conflict(
                        f"record {record_id} of '{form}' is used by '{other.form.key}' "
                        f"record(s) {', '.join(map(str, ids))} (field '{prefix}{field.key}'); "
                        "change or delete those first")


def _assign_numbers(conn, app: str, ft: FormTables, values: dict) -> None:
    for field, column in ft.fields_with_columns():
        if field.type == "autonumber":
            pattern = parse_pattern(field.get("pattern"))
            day = values.get(ft.columns[field.get("date_field")].name) \
                if field.get("date_field") in ft.columns else None
            day = day.date() if isinstance(day, dt.datetime) else day or clock.today()
            seq = next_in_sequence(conn, app, ft.form.key, field.key, pattern.period(day))
            values[column.name] = pattern.format(day, seq)


def _write_lines(conn, ft: FormTables, record_id: int, lines: dict, before: dict) -> dict:
    """Replace the given subtables' lines; returns the new lines' rows with their ids."""
    written = {}
    for key, entries in lines.items():
        table = ft.subtables[key].table
        kept = {line_id for line_id, _ in entries if line_id is not None}
        dropped = {line["id"] for line in before.get(key, [])} - kept
        if dropped:
            conn.execute(delete(table).where(table.c.id.in_(dropped)))
        new_rows = []
        for line_no, (line_id, values) in enumerate(entries, start=1):
            if line_id is None:
                new_rows.append({"parent_id": record_id, "line_no": line_no, **values})
            else:
                conn.execute(update(table).where(table.c.id == line_id),
                             {"line_no": line_no, **values})
        if new_rows:
            # Rows can differ in which columns they set; insert() needs uniform keys.
            columns = [c.name for c in table.c if c.name != "id"]
            rows = [{c: row.get(c) for c in columns} for row in new_rows]
            ids = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                               rows).scalars().all()
            written[key] = [{**row, "id": line_id} for row, line_id in zip(rows, ids,
                                                                          strict=True)]
    return written


def _refuse_locked_fields(actor: Actor, schema, ft, data, current: dict | None) -> None:
    """A field the user may not change (``hidden`` / ``readonly`` in their grants) is
    refused when given with a value other than the one it has (a form page may send
    back what it showed)."""
    rules = field_rules(actor, schema, ft.form.key)
    if not rules.readonly or not isinstance(data, dict):
        return
    problems = []
    for key in sorted(rules.readonly & set(data)):
        given = data[key]
        unchanged = given in (None, "", []) if current is None else \
            _same(given, current.get(key))
        if not unchanged:
            problems.append({"field": key, "message": "you may not change this field; it is "
                             "read-only for your role"})
    if problems:
        raise Invalid(problems)


def _same(given, stored) -> bool:
    if isinstance(stored, dict) and isinstance(given, int):
        return given == stored.get("id")
    if isinstance(given, int | float) and isinstance(stored, int | float):
        return float(given) == float(stored)
    return given == stored or (given in (None, "", []) and stored in (None, "", []))


def history(store: Store, actor: Actor, app: str, form: str, record_id: int) -> list[dict]:
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = require(actor, schema, form, "read")
        exists = conn.execute(select(ft.table.c.id).where(
            ft.table.c.id == record_id, row_filter(actor, ft, granted))).first()
        entries = record_history(conn, app, form, record_id)
        if exists is None and not (entries and actor.is_admin):
            raise missing(form, record_id)
        rules = field_rules(actor, schema, form)
        if rules.hidden:  # the history would show what the record page hides
            for entry in entries:
                entry["before"] = rules.visible(entry["before"]) if entry["before"] else None
                entry["after"] = rules.visible(entry["after"]) if entry["after"] else None
                entry["changed"] = [k for k in entry["changed"] if k not in rules.hidden]
        return {"history": entries, "approvals": record_steps(conn, app, form, record_id)}
