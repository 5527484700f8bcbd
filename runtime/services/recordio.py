"""Records between JSON and rows: coercing input, checking references, reading back.

Field paths in errors follow the JSON: ``qty``, ``lines[2].qty``.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, select

from engines.forms.definition import SYSTEM_KEYS, Field
from engines.forms.fieldtypes import (
    COMPUTED,
    FieldError,
    FileRefs,
    Lookup,
    coerce_value,
    value_to_json,
)
from engines.schema.check import suggest
from runtime.auth.actors import Actor
from runtime.auth.permissions import missing, row_filter
from runtime.services.attachments import resolve_files
from runtime.services.formlogic import add_read_formulas
from runtime.storage import physical, platform
from runtime.storage.store import FormTables

MAX_LINES = 10_000


def record_json(ft: FormTables, row, lines: dict[str, list]) -> dict:
    record = {
        "id": row["id"],
        "version": row["_version"],
        "created_at": row["_created_at"].isoformat(),
        "created_by": row["_created_by"],
        "updated_at": row["_updated_at"].isoformat(),
        "updated_by": row["_updated_by"],
        "approval": row["_approval"],
    }
    for field, column in ft.fields_with_columns():
        record[field.key] = value_to_json(field, row[column.name])
    for key in ft.read_formulas().get("", ()):
        record[key] = None  # computed below, on read
    for key in ft.subtables:
        record[key] = lines.get(key, [])
    return record


def line_json(sub, row) -> dict:
    line = {"id": row["id"]}
    for field, column in sub.fields_with_columns():
        line[field.key] = value_to_json(field, row[column.name])
    for f in sub.field.fields:
        if f.type == "formula" and not f.get("store"):
            line[f.key] = None  # computed on read
    return line


def read_records(conn, ft: FormTables, rows) -> list[dict]:
    """JSON of ``rows`` (main-table mappings), with their lines: one query per subtable."""
    ids = [row["id"] for row in rows]
    lines_by_record: dict[int, dict[str, list]] = defaultdict(dict)
    if ids:
        for key, sub in ft.subtables.items():
            for line in conn.execute(sub.lines_of(), {"ids": ids}).mappings():
                lines_by_record[line["parent_id"]].setdefault(key, []).append(
                    line_json(sub, line))
    records = [record_json(ft, row, lines_by_record[row["id"]]) for row in rows]
    if ft.read_formulas():
        add_read_formulas(conn, ft, rows, records)
    return records


def record_titles(conn, schema, field: Field, ids) -> dict:
    """{id: title text} of the records (users, departments) a reference field names."""
    ids = sorted({i for i in ids if isinstance(i, int)})
    if not ids:
        return {}
    if field.type == "user":
        t = platform.users
        return dict(conn.execute(select(t.c.id, t.c.display_name).where(t.c.id.in_(ids))).all())
    if field.type == "department":
        t = platform.departments
        return dict(conn.execute(select(t.c.id, t.c.name).where(t.c.id.in_(ids))).all())
    target = schema.form(field.target)
    if target is None:
        return {}
    keys = [k for k in target.form.title if k in target.columns] or \
        [f.key for f, _ in target.fields_with_columns()[:1]]
    columns = [target.columns[k] for k in keys]
    rows = conn.execute(select(target.table.c.id, *columns).where(target.table.c.id.in_(ids)))
    return {row[0]: " ".join(str(v) for v in row[1:] if v is not None) for row in rows}


def fetch_record(conn, actor: Actor, ft: FormTables, granted, record_id):
    table = ft.table
    if not isinstance(record_id, int) or record_id <= 0:
        raise missing(ft.form.key, record_id)
    query = ft.statement("by_id") if "all" in granted else select(table).where(
        table.c.id == bindparam("rid"), row_filter(actor, ft, granted))
    row = conn.execute(query, {"rid": record_id}).mappings().first()
    if row is None:
        raise missing(ft.form.key, record_id)
    return row


def records_as_written(conn, ft: FormTables, row: dict, lines: dict[str, list]) -> dict:
    """JSON of a record just inserted, from the rows written (no read back)."""
    record = record_json(ft, row, {key: [line_json(ft.subtables[key], line) for line in rows]
                                   for key, rows in lines.items()})
    if ft.read_formulas():
        add_read_formulas(conn, ft, [row], [record])
    return record


def _coerce_fields(fields_with_columns, data: dict, prefix: str, errors: list,
                   *, creating: bool, existing: dict | None = None) -> dict:
    values = {}
    # A relation set by a scanned barcode is not missing: the scan resolves it later.
    scanned = {f.get("relation") for f, _ in fields_with_columns
               if f.type == "barcode" and data.get(f.key) not in (None, "")}
    for field, column in fields_with_columns:
        if field.type in COMPUTED:
            continue  # computed by the write path; a value sent back is ignored
        if field.type == "autonumber":
            # Assigned by the write path; sending back the stored number is harmless.
            given = data.get(field.key)
            if given not in (None, "") and given != (existing or {}).get(field.key):
                errors.append({"field": prefix + field.key, "message": "is numbered "
                               "automatically; leave it out"})
            continue
        if field.key not in data:
            if creating and field.required and field.key not in scanned:
                errors.append({"field": prefix + field.key, "message": "is required"})
            continue
        try:
            value = coerce_value(field, data[field.key])
        except FieldError as error:
            errors.append({"field": prefix + field.key, "message": str(error)})
            continue
        if value is None and field.required:
            errors.append({"field": prefix + field.key, "message": "is required"})
            continue
        values[column.name] = value
    return values


def _unknown_keys(data: dict, known: set[str], prefix: str, errors: list,
                  allowed_extra=SYSTEM_KEYS) -> None:
    for key in data:
        if key not in known and key not in allowed_extra:
            errors.append({"field": prefix + key, "message":
                           f"unknown field '{key}'{suggest(key, known)}"})


def coerce_record(ft: FormTables, data, *, creating: bool, existing: dict | None = None):
    """(main values by column, {subtable: [line values]} or None per subtable, errors).

    ``existing`` is the record as stored (JSON), when updating."""
    errors: list[dict] = []
    if not isinstance(data, dict):
        return {}, {}, [{"field": None, "message": "expected a record (a JSON object of "
                         "field keys and values)"}]
    known = {f.key for f in ft.form.fields}
    _unknown_keys(data, known, "", errors)
    values = _coerce_fields(ft.fields_with_columns(), data, "", errors, creating=creating,
                            existing=existing)
    existing_lines = {key: {line["id"]: line for line in (existing or {}).get(key, [])}
                      for key in ft.subtables}
    lines = {}
    for key, sub in ft.subtables.items():
        if key not in data:
            if creating and sub.field.required:
                errors.append({"field": key, "message": "needs at least one line"})
            continue
        given = data[key] if data[key] is not None else []
        if not isinstance(given, list):
            errors.append({"field": key, "message": "expected a list of lines"})
            continue
        if len(given) > MAX_LINES:
            errors.append({"field": key, "message": f"has {len(given)} lines; at most "
                           f"{MAX_LINES} are allowed in one record"})
            continue
        if sub.field.required and not given:
            errors.append({"field": key, "message": "needs at least one line"})
        previous = existing_lines[key]
        lines[key] = []
        for i, line in enumerate(given):
            prefix = f"{key}[{i}]."
            if not isinstance(line, dict):
                errors.append({"field": f"{key}[{i}]", "message": "expected a line "
                               "(a JSON object of field keys and values)"})
                continue
            _unknown_keys(line, {f.key for f in sub.field.fields}, prefix, errors,
                          allowed_extra=("id",))
            line_id = line.get("id")
            if line_id is not None and (not isinstance(line_id, int) or isinstance(line_id, bool)
                                        or line_id not in previous):
                errors.append({"field": f"{prefix}id", "message": f"line id {line_id} is not "
                               "a line of this record; leave id out to add a new line"})
                continue
            line_values = _coerce_fields(sub.fields_with_columns(), line, prefix, errors,
                                         creating=line_id is None)
            lines[key].append((line_id, line_values))
    return values, lines, errors


def check_references(conn, schema, ft: FormTables, values: dict, lines: dict,
                     errors: list, record_id: int | None = None) -> None:
    """Every relation, user and department must name an existing row, every attachment
    an uploaded file that fits its field. References given as field values
    (``{"code": "M-001"}``) and file ids are resolved here, in place."""
    wanted = defaultdict(set)  # referenced table -> ids
    places = []  # (table, id, field path, field)

    def collect(fields_with_columns, row_values, prefix):
        for field, column in fields_with_columns:
            value = row_values.get(column.name)
            if isinstance(value, FileRefs):
                row_values[column.name] = resolve_files(conn, schema.key, field, value,
                                                        prefix + field.key, errors, record_id)
                continue
            if value is None or _target_table(schema.key, field) is None:
                continue
            if isinstance(value, Lookup):
                value = _resolve(conn, schema, field, value, prefix + field.key, errors)
                row_values[column.name] = value
                if value is None:
                    continue
            target = _target_table(schema.key, field)
            wanted[target].add(value)
            places.append((target, value, prefix + field.key, field))

    collect(ft.fields_with_columns(), values, "")
    for key, entries in lines.items():
        sub = ft.subtables[key]
        for i, (_, line_values) in enumerate(entries):
            collect(sub.fields_with_columns(), line_values, f"{key}[{i}].")
    found = {}
    for target, ids in wanted.items():
        found[target] = set(conn.execute(physical.existing_ids_query(target),
                                         {"ids": sorted(ids)}).scalars())
    for target, value, path, field in places:
        if value not in found[target]:
            errors.append({"field": path, "message": f"there is no {_what(field)} with id "
                           f"{value}"})


def attached_file_ids(ft: FormTables, values: dict, lines: dict) -> list[int]:
    """Ids of the files that ``values`` and ``lines`` (as written) attach."""
    ids = []
    scopes = [(ft.fields_with_columns(), [values])]
    scopes += [(ft.subtables[key].fields_with_columns(), [v for _, v in entries])
               for key, entries in lines.items()]
    for fields, rows in scopes:
        for field, column in fields:
            if field.type == "attachment":
                for row in rows:
                    ids += [f["id"] for f in row.get(column.name) or []]
    return ids


def _what(field: Field) -> str:
    return {"user": "user", "department": "department"}.get(
        field.type, f"record of form '{field.target}'")


def _resolve(conn, schema, field: Field, lookup: Lookup, path: str, errors: list):
    """The id of the one row matching ``lookup``, or None with an error."""
    if field.type == "relation":
        target = schema.form(field.target)
        if target is None:
            errors.append({"field": path, "message": f"form '{field.target}' does not exist"})
            return None
        table, columns = target.table, dict(target.fields_with_columns_by_key())
    else:
        table = platform.users if field.type == "user" else platform.departments
        names = ("username", "display_name", "email") if field.type == "user" else ("name",)
        columns = {n: (None, table.c[n]) for n in names}
    conditions = []
    for key, raw in lookup.match:
        if key not in columns:
            errors.append({"field": path, "message": f"cannot look up a {_what(field)} by "
                           f"'{key}'{suggest(key, columns)}"})
            return None
        target_field, column = columns[key]
        try:
            value = coerce_value(target_field, raw) if target_field is not None else raw
        except FieldError as error:
            errors.append({"field": path, "message": f"{key}: {error}"})
            return None
        conditions.append(column == value)
    ids = list(conn.execute(select(table.c.id).where(*conditions).limit(2)).scalars())
    shown = ", ".join(f"{k}={v!r}" for k, v in lookup.match)
    if not ids:
        errors.append({"field": path, "message": f"no {_what(field)} has {shown}"})
        return None
    if len(ids) > 1:
        errors.append({"field": path, "message": f"more than one {_what(field)} has {shown}; "
                       "give its id instead"})
        return None
    return ids[0]


def _target_table(app: str, field: Field) -> str | None:
    if field.type == "relation":
        return physical.table_name(app, field.target)
    if field.type == "user":
        return platform.users.name
    if field.type == "department":
        return platform.departments.name
    return None
