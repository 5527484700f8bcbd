"""Derived values kept exact in the write transaction: rollups, and stored formulas
that read other records (``material.standard_cost``).

After a record is written, every record whose derived values may depend on it is
recomputed — a material's rollup of received quantity when a receipt line names it,
a receipt's stored ``cost`` formula when its material's cost changes — and so on
along the chain (at most ``MAX_DEPTH`` steps, each record once). Rollups are computed
by one aggregate query in the database, never by loading rows.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, func, select, update

from engines.forms.logic import compute_formulas
from runtime.auth.actors import SYSTEM
from runtime.services.formlogic import build_record, environment, logic_of
from runtime.services.query import Filter, filter_condition
from runtime.services.recordio import read_records

MAX_DEPTH = 8
AGGREGATES = {"sum": func.sum, "count": func.count, "avg": func.avg, "min": func.min,
              "max": func.max}


def refresh_derived(conn, schema, ft, before: dict | None, after: dict | None) -> None:
    work = _dependents(conn, schema, ft.form.key, before, after)
    seen = set()
    for _ in range(MAX_DEPTH):
        next_work = []
        for form, record_id in work:
            if (form, record_id) in seen:
                continue
            seen.add((form, record_id))
            target = schema.form(form)
            old, new = _recompute(conn, schema, target, record_id)
            if old != new:
                next_work += _dependents(conn, schema, form, {"id": record_id, **old},
                                         {"id": record_id, **new})
        if not next_work:
            return
        work = next_work


def _ids_at(record: dict | None, via: str) -> set:
    if not record:
        return set()
    if "." in via:
        sub, key = via.split(".", 1)
        return {line.get(key) for line in record.get(sub) or [] if line.get(key)}
    value = record.get(via)
    return {value} if value else set()


def _readers_of(schema, form: str) -> tuple[list, list]:
    """(rollup fields aggregating ``form``, forms with stored formulas), per app version."""
    cache = schema.cache.setdefault("derived", {})
    if form not in cache:
        rollups = [(other.form.key, f) for other in schema.forms.values()
                   for f in other.form.scalar_fields
                   if f.type == "rollup" and f.get("source") == form]
        formulas = [other for other in schema.forms.values() if _has_stored_formulas(other)]
        cache[form] = (rollups, formulas)
    return cache[form]


def _dependents(conn, schema, form: str, before, after) -> list[tuple[str, int]]:
    """(form, record id) of every record whose derived values use this record."""
    rollups, formula_forms = _readers_of(schema, form)
    found = []
    for other_key, f in rollups:
        ids = _ids_at(before, f.get("via")) | _ids_at(after, f.get("via"))
        found += [(other_key, i) for i in sorted(ids)]
    if before is not None and after is not None:  # an update: readers may be stale
        for other in formula_forms:
            found += [(other.form.key, i) for i in _formula_readers(
                conn, schema, other, form, after["id"])]
    return found


def _formula_readers(conn, schema, other, form: str, record_id) -> list[int]:
    """Ids of records of ``other`` whose stored formulas read a record of ``form``."""
    if not _has_stored_formulas(other):
        return []
    logic = logic_of(schema, other)
    if logic is None:
        return []
    ids = set()
    for path in logic.relation_paths:
        sub, _, rel = path.rpartition(".")
        scope = other.subtables[sub] if sub else other
        fields = scope.field.fields if sub else other.form.fields
        field = next((f for f in fields if f.key == rel), None)
        if field is None or field.target != form or rel not in scope.columns:
            continue
        owner = scope.table.c.parent_id if sub else scope.table.c.id
        ids |= set(conn.execute(select(owner).where(scope.columns[rel] == record_id)
                                .distinct()).scalars())
    return sorted(ids)


def _has_stored_formulas(ft) -> bool:
    fields = list(ft.form.scalar_fields) + [f for s in ft.subtables.values()
                                            for f in s.field.fields]
    return any(f.type == "formula" and f.get("store") for f in fields)


def _recompute(conn, schema, ft, record_id) -> tuple[dict, dict]:
    """Recompute a record's rollups and stored formulas; (old, new) stored values."""
    row = conn.execute(ft.statement("by_id"), {"rid": record_id}).mappings().first()
    if row is None:
        return {}, {}
    old, new, values = {}, {}, {}
    for f, column in ft.fields_with_columns():
        if f.type == "rollup":
            old[f.key] = row[column.name]
            new[f.key] = _rollup(conn, schema, f, record_id)
            if new[f.key] != old[f.key]:
                values[column.name] = new[f.key]
    logic = logic_of(schema, ft)
    line_updates = []
    if logic is not None and _has_stored_formulas(ft):
        merged = {**row, **values}
        existing = read_records(conn, ft, [row])[0]
        record = build_record(conn, schema, ft, logic, {}, {}, merged, existing)
        computed = compute_formulas(logic, record, environment(conn, schema, SYSTEM))
        for f, column in ft.fields_with_columns():
            if f.type == "formula" and f.get("store"):
                old[f.key], new[f.key] = row[column.name], computed.get(f.key)
                if new[f.key] != old[f.key]:
                    values[column.name] = new[f.key]
        for key, sub in ft.subtables.items():
            for before, after in zip(record.get(key, []), computed.get(key, []), strict=True):
                changes = {column.name: after.get(f.key) for f, column in sub.fields_with_columns()
                           if f.type == "formula" and f.get("store")
                           and after.get(f.key) != before.get(f.key)}
                if changes:
                    line_updates.append((sub.table, before["id"], changes))
    if values:
        # Derived data: no new version (a person editing the record is not in conflict).
        conn.execute(update(ft.table).where(ft.table.c.id == record_id), values)
    for table, line_id, changes in line_updates:
        conn.execute(update(table).where(table.c.id == line_id), changes)
    return old, new


def _rollup(conn, schema, field, record_id):
    source = schema.form(field.get("source"))
    via, of = field.get("via"), field.get("of")
    aggregate = AGGREGATES[field.get("aggregate")]
    if "." in via:
        sub_key, rel = via.split(".", 1)
        sub = source.subtables[sub_key]
        joined = sub.table.join(source.table, sub.table.c.parent_id == source.table.c.id)
        measured = sub.columns[of.split(".", 1)[1]] if of and of.startswith(sub_key + ".") \
            else (source.columns[of] if of else sub.table.c.id)
        condition = sub.columns[rel] == record_id
    else:
        joined = source.table
        measured = source.columns[of] if of else source.table.c.id
        condition = source.columns[via] == record_id
    conditions = [condition] + [filter_condition(schema, source, Filter(*_split(k), str(v)))
                                for k, v in (field.get("where") or {}).items()]
    value = conn.execute(select(aggregate(measured)).select_from(joined)
                         .where(and_(*conditions))).scalar()
    return Decimal(0) if value is None and field.get("aggregate") in ("sum", "count") \
        else (None if value is None else Decimal(str(value)))


def _split(name: str) -> tuple[str, str]:
    path, _, op = name.partition("__")
    return path, op or "eq"
