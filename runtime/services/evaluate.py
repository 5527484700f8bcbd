"""Evaluate a draft record without saving it: what a form page shows as the user types.

The same steps as the write path — coerce, resolve references and scans, fill, run
the form's logic — in a read-only transaction, collecting every message instead of
stopping at the first, and returning computed values, hidden and required fields.
"""

from __future__ import annotations

from engines.forms.fieldtypes import FieldError, coerce_value, value_to_json
from engines.forms.logic import run_logic
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules, require
from runtime.services.apps import open_form
from runtime.services.errors import Invalid
from runtime.services.fills import apply_fills, resolve_barcodes
from runtime.services.formlogic import build_record, environment, logic_of
from runtime.services.recordio import (
    check_references,
    coerce_record,
    fetch_record,
    read_records,
    record_titles,
)


def evaluate_record(store, actor: Actor, app: str, form: str, draft,
                    record_id: int | None = None) -> dict:
    if not isinstance(draft, dict):
        raise Invalid([{"field": None, "message": "expected a draft record (a JSON object)"}])
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = require(actor, schema, form, "update" if record_id else "create")
        row = fetch_record(conn, actor, ft, granted, record_id) if record_id else None
        existing = read_records(conn, ft, [row])[0] if row is not None else None
        values, lines, errors = coerce_record(ft, draft, creating=row is None,
                                              existing=existing)
        check_references(conn, schema, ft, values, lines, errors, record_id=record_id)
        scope = ft.fields_with_columns()
        scanned = resolve_barcodes(conn, schema, scope, draft, values, "", errors)
        apply_fills(conn, schema, scope, draft, values, "", errors, also=scanned)
        for key, entries in lines.items():
            sub_scope = ft.subtables[key].fields_with_columns()
            for i, (_, line_values) in enumerate(entries):
                given = draft[key][i] if i < len(draft[key]) else {}
                found = resolve_barcodes(conn, schema, sub_scope, given, line_values,
                                         f"{key}[{i}].", errors)
                apply_fills(conn, schema, sub_scope, given, line_values, f"{key}[{i}].",
                            errors, also=found)
        logic = logic_of(schema, ft)
        hidden, required = set(), set()
        if logic is not None:
            record = build_record(conn, schema, ft, logic, values, lines, row, existing)
            outcome = run_logic(logic, record, environment(conn, schema, actor),
                                creating=row is None, given=set(draft))
            errors += outcome.errors
            hidden, required = outcome.hidden, outcome.required
            shown = _json(ft.form.fields, outcome.values)
        else:
            shown = _from_columns(ft, values, lines, existing)
        # Fields the user may not see are not answered, computed ones included.
        rules = field_rules(actor, schema, form)
        shown = rules.visible(shown)
        hidden = set(hidden) | set(rules.hidden)
        errors = [e for e in errors if (e.get("field") or "").split("[")[0].split(".")[0]
                  not in rules.hidden]
        return {"values": shown, "hidden": sorted(hidden), "required": sorted(required),
                "errors": errors, "titles": _titles(conn, schema, ft, shown)}


def _titles(conn, schema, ft, shown: dict) -> dict:
    """{path: title} of the linked records in the draft, so a page can name them."""
    titles = {}
    for f in ft.form.scalar_fields:
        if f.type in ("relation", "user", "department") and shown.get(f.key):
            found = record_titles(conn, schema, f, [shown[f.key]])
            titles[f.key] = found.get(shown[f.key])
    for sub in ft.form.subtables:
        for f in sub.fields:
            if f.type not in ("relation", "user", "department"):
                continue
            lines = shown.get(sub.key) or []
            found = record_titles(conn, schema, f, [line.get(f.key) for line in lines])
            for i, line in enumerate(lines):
                if line.get(f.key) in found:
                    titles[f"{sub.key}[{i}].{f.key}"] = found[line[f.key]]
    return titles


def _value(field, value):
    if isinstance(value, dict) and field.type == "relation":
        value = value.get("id")
    try:
        return value_to_json(field, coerce_value(field, value))
    except (FieldError, TypeError, ValueError):
        return None


def _json(fields, values: dict) -> dict:
    shown = {}
    for f in fields:
        if f.type == "subtable":
            shown[f.key] = [{"id": line.get("id"), **_json(f.fields, line)}
                            for line in values.get(f.key) or []]
        elif f.key in values:
            shown[f.key] = _value(f, values[f.key])
    return shown


def _from_columns(ft, values: dict, lines: dict, existing: dict | None) -> dict:
    shown = dict(existing or {})
    for f, column in ft.fields_with_columns():
        if column.name in values:
            shown[f.key] = _value(f, values[column.name])
    for key, entries in lines.items():
        sub = ft.subtables[key]
        shown[key] = [{"id": line_id, **{f.key: _value(f, line_values.get(column.name))
                                         for f, column in sub.fields_with_columns()}}
                      for line_id, line_values in entries]
    return shown
