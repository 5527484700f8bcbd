"""Reports on the example app through the runtime's ``RuntimeSources``: real form,
subtable and relation tables, the viewer's row permission on every table a report
reads, and the forms the viewer may not read left out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engines.reports import ReportError, compile_dataset
from runtime.auth.actors import SYSTEM, Actor
from runtime.services.reports import RuntimeSources

# ---- reports on the example app ------------------------------------------------------


def sources_of(store, actor: Actor = SYSTEM) -> RuntimeSources:
    with store.read() as conn:
        return RuntimeSources(conn, store.app(conn, "receipts"), actor)


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


def test_unreadable_forms_are_unknown(installed):
    doc = {"key": "r", "dataset": {"source": "receipts.lines",
                                   "measures": [{"key": "p", "agg": "max", "field": "price"}]}}
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
