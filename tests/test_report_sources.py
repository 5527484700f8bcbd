"""The report engine's ``Sources`` over the runtime's storage, and reports on the
example app through it.

``RuntimeSources`` is the adapter the runtime will adopt (runtime/services/reports.py):
it wraps an ``AppSchema`` (FormTables per form) and, optionally, ledgers; it applies
the viewer's row permission to every table a report reads and leaves out the forms and
fields the viewer may not read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engines.reports import ReportError, SourceField, SourceTable, compile_dataset
from runtime.auth.actors import SYSTEM, Actor
from runtime.auth.permissions import row_filter as runtime_row_filter
from runtime.auth.permissions import scopes

SYSTEM_FIELDS = (("id", "id", "integer"), ("created_at", "_created_at", "datetime"),
                 ("created_by", "_created_by", "user"), ("updated_at", "_updated_at", "datetime"))


def _field_type(f) -> str:
    return f.get("result", "number") if f.type == "formula" else f.type


class RuntimeSources:
    """``engines.reports.Sources`` over a runtime ``AppSchema`` for one viewer.

    ``actor`` decides what is readable: forms without a read grant are missing (a
    KeyError, as for a form that does not exist), and every form table read gets
    ``runtime.auth.permissions.row_filter``. ``readable(form, field)`` may hide
    fields. ``ledgers`` maps ledger keys to ``engines.ledgers.Ledger`` objects."""

    def __init__(self, schema, actor: Actor = SYSTEM, *, ledgers=None, readable=None):
        self.schema = schema
        self.actor = actor
        self.ledgers = ledgers or {}
        self.readable = readable or (lambda form, field: True)

    def _granted(self, form: str) -> set[str]:
        granted = scopes(self.actor, self.schema, form, "read")
        if not granted:
            raise KeyError(form)
        return granted

    def _fields(self, form: str, table, pairs, *, system: bool) -> dict:
        fields = {}
        if system:
            for key, column, kind in SYSTEM_FIELDS:
                fields[key] = SourceField(table.c[column], kind, label=key)
        else:
            fields["id"] = SourceField(table.c.id, "integer", label="id")
        for f, column in pairs:
            if self.readable(form, f.key):
                fields[f.key] = SourceField(column, _field_type(f), f.target, f.label)
        return fields

    def table_for(self, form: str) -> SourceTable:
        ft = self.schema.form(form)
        if ft is None:
            raise KeyError(form)
        self._granted(form)
        return SourceTable(form, ft.table, self._fields(form, ft.table, ft.fields_with_columns(),
                                                        system=True),
                           form=form, label=ft.form.label, subtables=frozenset(ft.subtables))

    def subtable_for(self, form: str, subtable: str) -> SourceTable:
        ft = self.schema.form(form)
        if ft is None or subtable not in ft.subtables:
            raise KeyError(f"{form}.{subtable}")
        self._granted(form)
        st = ft.subtables[subtable]
        fields = self._fields(form, st.table, st.fields_with_columns(), system=False)
        return SourceTable(f"{form}.{subtable}", st.table, fields, form=form, parent=form,
                           label=st.field.label)

    def ledger_table(self, ledger: str, part: str) -> SourceTable:
        return ledger_source(self.ledgers[ledger], part)

    def row_filter(self, source: SourceTable, table):
        if source.form is None or source.parent:
            return None  # ledgers: the runtime's ledger permission; lines: their parent's
        ft = self.schema.form(source.form)
        return runtime_row_filter(self.actor, ft, self._granted(source.form), table=table)


def ledger_source(ledger, part: str) -> SourceTable:
    """A ledger's movements or balances table (``engines.ledgers.Ledger``) as a source:
    ref dimensions with a ``target`` are relations to that form."""
    if part not in ("movements", "balances"):
        raise KeyError(part)
    table = getattr(ledger.tables, part)
    targets = {d["key"]: d.get("target") for d in ledger.definition.raw.get("dimensions", ())}
    fields = {"id": SourceField(table.c.id, "integer")}
    for dim in ledger.definition.dimensions:
        target = targets.get(dim.key)
        kind = "relation" if dim.kind == "ref" and target else (
            "integer" if dim.kind == "ref" else "text")
        fields[dim.key] = SourceField(table.c[dim.key], kind, target, dim.label)
    for key in ("qty", "value") if part == "movements" else ("qty",):
        fields[key] = SourceField(table.c[key], "number", label=key)
    if part == "movements":
        fields["date"] = SourceField(table.c.date, "date", label="date")
        fields["source_form"] = SourceField(table.c.source_form, "text")
        fields["source_record"] = SourceField(table.c.source_record, "integer")
        fields["trace_group"] = SourceField(table.c.trace_group, "text")
    else:
        fields["last_date"] = SourceField(table.c.last_date, "date")
    return SourceTable(f"ledger {ledger.definition.key}.{part}", table, fields,
                       label=ledger.definition.label)


# ---- reports on the example app ------------------------------------------------------

def sources_of(store, actor: Actor = SYSTEM, **kw) -> RuntimeSources:
    with store.read() as conn:
        return RuntimeSources(store.app(conn, "receipts"), actor, **kw)


AMOUNT_BY_CATEGORY = {
    "key": "amount_by_category",
    "dataset": {
        "source": "receipts.lines",
        "filters": [{"parent.status": "received"}],
        "dimensions": [{"key": "category", "field": "material.category"}],
        "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                     {"key": "amount", "agg": "sum", "field": "amount"},
                     {"key": "lines", "agg": "count"},
                     {"key": "avg_price", "calc": "amount / qty", "decimals": 4}],
        "sort": ["-amount"],
        "totals": True,
    },
}


def test_lines_by_material_category(installed):
    compiled = compile_dataset(AMOUNT_BY_CATEGORY, sources_of(installed))
    with installed.read() as conn:
        result = compiled.run(conn)
    records = result.records()
    # Received: M-001 500 x 18.20, M-002 20000 x 0.01 (chip, passive); M-004 300 x 11.80,
    # M-005 10000 x 0.08 (mechanical; the material's cost filled the price). The draft
    # receipt (packaging) is left out.
    assert [r["category"] for r in records] == ["chip", "mechanical", "passive"]
    assert records[0]["amount"] == Decimal("9100")
    assert records[1]["amount"] == Decimal("4340")
    assert records[1]["qty"] == Decimal("10300")
    assert records[2]["avg_price"] == Decimal("0.01")
    assert result.totals[result.index("amount")] == Decimal("13640")
    assert result.totals[result.index("lines")] == 4


def test_monthly_receipts_by_supplier_and_parameter(installed):
    doc = {
        "key": "monthly",
        "parameters": {"supplier": {"type": "relation", "target": "suppliers"}},
        "dataset": {
            "source": "receipts",
            "filters": [{"supplier": {"param": "supplier"}}],
            "dimensions": [{"key": "month", "field": "received_on", "bucket": "month"},
                           {"key": "supplier", "field": "supplier.name"}],
            "measures": [{"key": "total", "agg": "sum", "field": "total"},
                         {"key": "receipts", "agg": "count"}],
        },
    }
    compiled = compile_dataset(doc, sources_of(installed))
    with installed.read() as conn:
        everything = compiled.run(conn).records()
        supplier_id = conn.exec_driver_sql(
            "SELECT id FROM f_receipts_suppliers WHERE code = 'S-002'").scalar()
        one = compiled.run(conn, {"supplier": str(supplier_id)}).records()
    assert [(r["month"], r["supplier"], r["receipts"]) for r in everything] == [
        ("2026-11", "东莞包装材料", 1), ("2026-11", "深圳华强电子", 1),
        ("2026-11", "苏州精密五金", 1)]
    assert one == [{"month": "2026-11", "supplier": "苏州精密五金", "total": Decimal("4340"),
                    "receipts": 1}]


def test_row_permission_reaches_lines_and_related_forms(installed):
    # A clerk reads only the receipts they created: the system created the samples.
    clerk = Actor(id=999, username="clerk", roles=frozenset({("receipts", "clerk")}))
    compiled = compile_dataset(AMOUNT_BY_CATEGORY, sources_of(installed, clerk))
    with installed.read() as conn:
        result = compiled.run(conn)
    assert result.rows == []
    assert result.totals[result.index("lines")] == 0


def test_unreadable_fields_and_forms_are_unknown(installed):
    hide_cost = sources_of(installed, readable=lambda form, field: field != "price")
    doc = {"key": "r", "dataset": {"source": "receipts.lines",
                                   "measures": [{"key": "p", "agg": "max", "field": "price"}]}}
    with pytest.raises(ReportError, match="has no field 'price'"):
        compile_dataset(doc, hide_cost)
    nobody = Actor(id=5, username="x", roles=frozenset({("receipts", "nothing")}))
    with pytest.raises(ReportError, match="no 'receipts.lines' to report on"):
        compile_dataset(doc, sources_of(installed, nobody))


def test_ageing_of_receipts(installed):
    doc = {"key": "age", "dataset": {
        "source": "receipts",
        "dimensions": [{"key": "age", "field": "received_on", "age": [7, 14]}],
        "measures": [{"key": "n", "agg": "count"}]}}
    compiled = compile_dataset(doc, sources_of(installed))
    with installed.read() as conn:
        result = compiled.run(conn, today=dt.date(2026, 11, 20))
    # Received 2026-11-02 (18 days), 11-09 (11 days), 11-18 (2 days).
    assert result.records() == [{"age": "0-7", "n": 1}, {"age": "8-14", "n": 1},
                                {"age": ">14", "n": 1}]
