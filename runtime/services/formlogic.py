"""The form engine inside the write path (and for reads and live evaluation).

Compiles each form's logic once per definition version (cached on its tables), builds
the record the expressions see — Python values by field key, linked records loaded as
mappings for the paths the expressions use — runs ``engines.forms.logic`` and writes
its results back: stored formulas, defaults, cleared hidden fields.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select

import engines.forms.functions  # noqa: F401  (registers USER, COUNT_RECORDS, LOOKUP)
from engines.expr import ErrorValue
from engines.forms.definition import label_text
from engines.forms.fieldtypes import FieldError, coerce_value, value_to_json
from engines.forms.logic import (
    FormLogic,
    LogicError,
    compile_logic,
    compute_formulas,
    run_logic,
)
from runtime.auth.actors import SYSTEM
from runtime.services import clock
from runtime.services.errors import Invalid
from runtime.services.ledgers import LedgerAccess


def logic_of(schema, ft) -> FormLogic | None:
    """The compiled logic of a form, or None when it has none."""
    if "logic" not in ft.cache:
        forms = {key: other.form for key, other in schema.forms.items()}
        try:
            logic = compile_logic(ft.form, forms)
        except LogicError as error:
            # Definitions are checked when saved; this guards against a form whose
            # references broke later (e.g. a related form changed).
            raise Invalid([{"field": f"definition#{p}", "message": m}
                           for p, m in error.problems]) from None
        ft.cache["logic"] = None if logic.empty else logic
    return ft.cache["logic"]


class RecordAccess:
    """What COUNT_RECORDS() and LOOKUP() read, inside the current transaction."""

    def __init__(self, conn, schema):
        self.conn, self.schema = conn, schema

    def _target(self, form: str, field: str):
        ft = self.schema.form(form)
        if ft is None or field not in ft.columns:
            return None, None
        return ft, next(f for f in ft.form.scalar_fields if f.key == field)

    def count(self, form: str, pairs) -> int:
        conditions, ft = [], self.schema.form(form)
        if ft is None:
            return 0
        for field_key, value in pairs:
            _, f = self._target(form, field_key)
            if f is None:
                return 0
            try:
                value = coerce_value(f, value)
            except FieldError:
                return 0
            conditions.append(ft.columns[field_key] == value if value is not None
                              else ft.columns[field_key].is_(None))
        return self.conn.execute(select(func.count()).select_from(ft.table)
                                 .where(and_(*conditions))).scalar()

    def lookup(self, form: str, field: str, value, result: str):
        ft, f = self._target(form, field)
        if ft is None or result not in ft.columns:
            return None
        try:
            value = coerce_value(f, value)
        except FieldError:
            return None
        return self.conn.execute(select(ft.columns[result]).where(ft.columns[field] == value)
                                 .limit(1)).scalar()


def environment(conn, schema, actor) -> dict:
    return {"now": clock.now(), "user": actor.id, "records": RecordAccess(conn, schema),
            "ledgers": LedgerAccess(conn, schema)}


# ---- the record as expressions see it -----------------------------------------------

def linked_record(conn, schema, form: str, record_id, paths: set[str], depth: int = 3):
    """A related record as a mapping, with nested relations loaded where ``paths`` go."""
    ft = schema.form(form)
    if ft is None or record_id is None or depth < 0:
        return None
    row = conn.execute(ft.statement("by_id"), {"rid": record_id}).mappings().first()
    if row is None:
        return None
    record = {"id": record_id}
    for f, column in ft.fields_with_columns():
        record[f.key] = row[column.name]
    for f in ft.form.scalar_fields:
        nested = {p.split(".", 1)[1] for p in paths if p.startswith(f.key + ".")}
        if f.type == "relation" and nested:
            record[f.key] = linked_record(conn, schema, f.target, record[f.key], nested,
                                          depth - 1)
    return record


def _python_line(sub, line_json: dict) -> dict:
    line = {"id": line_json.get("id")}
    for f, _ in sub.fields_with_columns():
        try:
            line[f.key] = coerce_value(f, line_json.get(f.key))
        except FieldError:
            line[f.key] = None
    return line


def build_record(conn, schema, ft, logic, values: dict, lines: dict, existing_row,
                 existing: dict | None) -> dict:
    """Field key -> Python value, from what is being written over what is stored."""
    record = {}
    for f, column in ft.fields_with_columns():
        if column.name in values:
            record[f.key] = values[column.name]
        elif existing_row is not None:
            record[f.key] = existing_row[column.name]
        else:
            record[f.key] = None
    for key, sub in ft.subtables.items():
        stored = {line["id"]: line for line in (existing or {}).get(key, [])}
        if key in lines:
            record[key] = []
            for line_id, line_values in lines[key]:
                base = _python_line(sub, stored[line_id]) if line_id in stored else {"id": None}
                for f, column in sub.fields_with_columns():
                    if column.name in line_values:
                        base[f.key] = line_values[column.name]
                    base.setdefault(f.key, None)
                record[key].append(base)
        else:
            record[key] = [_python_line(sub, line) for line in stored.values()]
    for path, nested in logic.relation_paths.items():
        if "." in path:
            sub_key, rel = path.split(".", 1)
            sub = ft.subtables.get(sub_key)
            target = sub.field.fields and next(f for f in sub.field.fields if f.key == rel)
            for line in record.get(sub_key, []):
                line[rel] = linked_record(conn, schema, target.target, line.get(rel), nested)
        else:
            target = ft.form.field(path)
            record[path] = linked_record(conn, schema, target.target, record.get(path), nested)
    return record


def add_read_formulas(conn, ft, rows, records: list[dict]) -> None:
    """Fill in the formulas computed on read (``store`` not set) of ``records``."""
    schema = ft.app_schema
    logic = logic_of(schema, ft)
    if logic is None:
        return
    scopes = ft.read_formulas()
    env = environment(conn, schema, SYSTEM)
    for row, record_json in zip(rows, records, strict=True):
        record = build_record(conn, schema, ft, logic, {}, {}, row, record_json)
        computed = compute_formulas(logic, record, env)
        for key in scopes.get("", ()):
            record_json[key] = _shown(ft.form.field(key), computed.get(key))
        for sub_key, keys in scopes.items():
            if not sub_key:
                continue
            fields = {f.key: f for f in ft.subtables[sub_key].field.fields}
            for line_json, line in zip(record_json[sub_key], computed.get(sub_key, []),
                                       strict=True):
                for key in keys:
                    line_json[key] = _shown(fields[key], line.get(key))


def _shown(field, value):
    if value is None or isinstance(value, ErrorValue):
        return None
    try:
        return value_to_json(field, coerce_value(field, value))
    except FieldError:
        return None


# ---- in the write path --------------------------------------------------------------

def apply_logic(conn, schema, ft, actor, data, values: dict, lines: dict, existing_row,
                existing: dict | None) -> None:
    """Run the form's logic on the record being written; update ``values`` / ``lines``
    in place with stored formulas, defaults and cleared hidden fields."""
    logic = logic_of(schema, ft)
    if logic is None:
        return
    record = build_record(conn, schema, ft, logic, values, lines, existing_row, existing)
    given = set(data) if isinstance(data, dict) else set()
    outcome = run_logic(logic, record, environment(conn, schema, actor),
                        creating=existing is None, given=given)
    if outcome.errors:
        raise Invalid(outcome.errors)
    _write_back(ft.fields_with_columns(), logic.main, record, outcome.values, values, "",
                outcome.hidden)
    for key, entries in lines.items():
        scope = logic.lines.get(key)
        if scope is None:
            continue
        for i, (_, line_values) in enumerate(entries):
            _write_back(ft.subtables[key].fields_with_columns(), scope, record[key][i],
                        outcome.values[key][i], line_values, f"{key}[{i}].", outcome.hidden)


def _write_back(fields_with_columns, scope, before: dict, after: dict, values: dict,
                prefix: str, hidden: set[str]) -> None:
    computed = {key for key, _ in scope.formulas} | set(scope.defaults)
    for f, column in fields_with_columns:
        if prefix + f.key in hidden:
            values[column.name] = None
        elif f.key in computed and after.get(f.key) != before.get(f.key):
            values[column.name] = after.get(f.key)


def check_unique(conn, ft, values: dict, existing_row) -> None:
    errors = []
    for f, column in ft.fields_with_columns():
        if not f.get("unique") or values.get(column.name) is None:
            continue
        query = select(ft.table.c.id).where(column == values[column.name])
        if existing_row is not None:
            query = query.where(ft.table.c.id != existing_row["id"])
        other = conn.execute(query.limit(1)).scalar()
        if other is not None:
            errors.append({"field": f.key, "message": f"{values[column.name]!r} is already "
                           f"used by record {other}; {label_text(f.label, 'en') or f.key} "
                           "must be unique"})
    if errors:
        raise Invalid(errors)
