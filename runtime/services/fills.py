"""Scan to fill: a barcode resolves to a record, a picked record fills fields.

Runs in the write path after input is coerced and references are checked, and in the
evaluate endpoint for live pages. A value the user typed is never overwritten: a fill
only sets fields the input did not name.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from engines.forms.fieldtypes import FieldError, coerce_value, value_to_json


def resolve_barcodes(conn, schema, scope_fields, given: dict, row: dict, prefix: str,
                     errors: list) -> set[str]:
    """Set each scanned barcode's relation; returns the relation keys it set."""
    columns = dict((f.key, c) for f, c in scope_fields)
    fields = {f.key: f for f, _ in scope_fields}
    changed = set()
    for field, column in scope_fields:
        code = row.get(column.name)
        if field.type != "barcode" or field.key not in given or code is None:
            continue
        target = schema.form(field.target)
        matches = field.get("match")
        matches = matches if isinstance(matches, list) else [matches]
        conditions = [target.columns[key] == code for key in matches if key in target.columns]
        ids = list(conn.execute(select(target.table.c.id).where(or_(*conditions)).limit(2))
                   .scalars()) if conditions else []
        if len(ids) != 1:
            what = "no" if not ids else "more than one"
            errors.append({"field": prefix + field.key, "message": f"{what} record of "
                           f"'{field.target}' has the code {code!r}; check the label or pick "
                           "the record by hand"})
            continue
        relation = field.get("relation")
        if relation in fields and relation not in given:
            row[columns[relation].name] = ids[0]
            changed.add(relation)
        _fill(conn, schema, field, ids[0], fields, columns, given, row, prefix, errors)
    return changed


def apply_fills(conn, schema, scope_fields, given: dict, row: dict, prefix: str, errors: list,
                also: set[str] = frozenset()) -> None:
    """Copy ``fill`` fields from every relation the input set (or a scan set)."""
    columns = dict((f.key, c) for f, c in scope_fields)
    fields = {f.key: f for f, _ in scope_fields}
    for field, column in scope_fields:
        if field.type != "relation" or not field.get("fill"):
            continue
        if field.key not in given and field.key not in also:
            continue
        record_id = row.get(column.name)
        if isinstance(record_id, int):
            _fill(conn, schema, field, record_id, fields, columns, given, row, prefix, errors)


def _fill(conn, schema, field, record_id, fields, columns, given, row, prefix, errors):
    mapping = {local: remote for local, remote in (field.get("fill") or {}).items()
               if local in columns and local not in given}
    target = schema.form(field.target)
    wanted = {local: target.columns[remote] for local, remote in mapping.items()
              if remote in target.columns}
    if not wanted:
        return
    source = conn.execute(select(*wanted.values()).where(target.table.c.id == record_id)) \
        .first()
    if source is None:
        return
    remote_fields = {f.key: f for f in target.form.scalar_fields}
    for (local, _), value in zip(wanted.items(), source, strict=True):
        remote = remote_fields[mapping[local]]
        try:
            row[columns[local].name] = coerce_value(fields[local], value_to_json(remote, value))
        except FieldError as error:
            errors.append({"field": prefix + local, "message": f"cannot take "
                           f"'{mapping[local]}' from the picked record: {error}"})
