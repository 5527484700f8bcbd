"""Records that point at a record: for a material, the receipts and issues whose lines
name it; for a receipt, its inspections. Found through the app's relation fields
(on the record or on its lines), counted and listed in SQL with the reader's row
permission, so nobody sees a related record they could not open."""

from __future__ import annotations

from sqlalchemy import exists, func, select

from engines.forms.definition import Field
from runtime.auth.actors import Actor
from runtime.auth.permissions import require, row_filter, scopes
from runtime.services.apps import open_form
from runtime.services.recordio import fetch_record, record_titles

SHOWN = 10  # records listed per relation; the count and a link give the rest


def related_records(store, actor: Actor, app: str, form: str, record_id: int) -> list[dict]:
    """``[{form, field, path, label, count, records: [{id, title}]}]`` for every relation
    field of the app that targets ``form`` and has records pointing at this one."""
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        fetch_record(conn, actor, ft, require(actor, schema, form, "read"), record_id)
        found = []
        for key, other in schema.forms.items():
            granted = scopes(actor, schema, key, "read")
            if not granted:
                continue
            for path, field, condition in _pointers(other, form, record_id):
                where = [condition, row_filter(actor, other, granted)]
                count = conn.execute(select(func.count()).select_from(other.table)
                                     .where(*where)).scalar()
                if not count:
                    continue
                ids = conn.execute(select(other.table.c.id).where(*where)
                                   .order_by(other.table.c.id.desc()).limit(SHOWN)).scalars()
                ids = list(ids)
                titles = record_titles(conn, schema, Field("related", "relation", target=key),
                                       ids)
                found.append({"form": key, "form_label": other.form.label, "field": path,
                              "label": field.label, "count": count,
                              "records": [{"id": i, "title": titles.get(i) or f"#{i}"}
                                          for i in ids]})
        return found


def _pointers(other, form: str, record_id: int):
    """(filter path, field, SQL condition) of each relation of ``other`` to ``form``."""
    for field in other.form.scalar_fields:
        if field.type == "relation" and field.target == form and field.key in other.columns:
            yield field.key, field, other.columns[field.key] == record_id
    for sub in other.form.subtables:
        lines = other.subtables[sub.key]
        for field in sub.fields:
            if field.type == "relation" and field.target == form and field.key in lines.columns:
                yield f"{sub.key}.{field.key}", field, exists().where(
                    lines.table.c.parent_id == other.table.c.id,
                    lines.columns[field.key] == record_id)

