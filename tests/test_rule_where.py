"""`update <form> where <condition>` narrows the records in SQL: the same records as the
evaluator picks, for conditions of every kind, and only those records are read."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engines.expr import compile_expression
from engines.forms.logic import describe
from runtime.auth.actors import SYSTEM
from runtime.services import recordio
from runtime.services.firing import record_values
from runtime.services.records import create_record
from runtime.services.rule_where import sql_condition
from tests.test_rule_runtime import _with_rules

TRIGGER = {"category": "passive", "qty": Decimal(1000), "supplier": 1, "name": "贴片电阻",
           "since": None}
CONDITIONS = [
    "category = trigger.category",
    "safety_stock > trigger.qty AND active",
    'code = "M-001" OR safety_stock >= 3000',
    "NOT(active) OR safety_stock < 150",
    "safety_stock = trigger.qty OR safety_stock = 2 * trigger.qty",
    'spec = ""',
    "standard_cost * safety_stock > 50",
    'name = trigger.name',
    "safety_stock / (safety_stock - 200) > 1",
]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_the_sql_picks_what_the_evaluator_picks(installed, condition):
    store = installed
    with store.read() as conn:
        schema = store.app(conn, "receipts")
        ft = schema.form("materials")
        where = sql_condition(ft, condition, TRIGGER)
        assert where is not None, condition
        by_sql = set(conn.execute(select(ft.table.c.id).where(where)).scalars())
        forms = {k: other.form for k, other in schema.forms.items()}
        compiled = compile_expression(condition, {**describe(ft.form, forms), "trigger": {
            "type": "relation", "fields": {"category": "text", "qty": "number",
                                           "supplier": "number", "name": "text",
                                           "since": "date"}}})
        rows = conn.execute(select(ft.table)).mappings().all()
        by_python = set()
        for record in recordio.read_records(conn, ft, rows):
            values = record_values(conn, schema, ft, record, set())
            if compiled.evaluate({**values, "trigger": TRIGGER}, {}) is True:
                by_python.add(record["id"])
    assert by_sql == by_python


@pytest.mark.parametrize("condition", [
    'default_supplier.code = "S-001"',   # through a relation: left to Python
    "safety_stock > trigger.since",       # a blank trigger value: the evaluator decides
])
def test_what_sql_cannot_say_is_left_to_the_evaluator(installed, condition):
    with installed.read() as conn:
        ft = installed.app(conn, "receipts").form("materials")
        assert sql_condition(ft, condition, TRIGGER) is None


def test_an_update_rule_reads_only_the_records_it_changes(installed, monkeypatch):
    store = installed
    _with_rules(store, {"touch": '''
rule "同类物料提醒"
when purchase_requests created
then update materials where category = trigger.material.category set {spec: spec & " *"}
'''})
    read, real = [], recordio.read_records

    def counting(conn, ft, rows):
        if ft.form.key == "materials":
            read.extend(r["id"] for r in rows)
        return real(conn, ft, rows)

    monkeypatch.setattr(recordio, "read_records", counting)
    with store.read() as conn:
        ft = store.app(conn, "receipts").form("materials")
        chips = conn.execute(select(ft.table.c.id).where(
            ft.columns["category"] == "passive")).scalars().all()
        m002 = conn.execute(select(ft.table.c.id).where(
            ft.columns["code"] == "M-002")).scalar()
    create_record(store, SYSTEM, "receipts", "purchase_requests", {"material": m002, "qty": 9})
    with store.read() as conn:
        specs = dict(conn.execute(select(ft.table.c.id, ft.columns["spec"])).all())
    assert sorted(i for i, spec in specs.items() if spec.endswith(" *")) == sorted(chips)
    assert len(chips) == 2 and set(read) <= set(chips) | {m002}  # no other material read
