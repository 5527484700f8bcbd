"""docs/ledgers.md covers what the ledger engine offers (as tests/test_docs.py does for
the rest of Loom), and its worked example states what the engine really answers."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import engines.ledgers as ledgers
from engines.ledgers import TEMPLATES, parse_ledger
from engines.schema import schema

DOC = (Path(__file__).resolve().parents[1] / "docs" / "ledgers.md").read_text(encoding="utf-8")


def test_every_refusal_code_is_documented():
    for code in TEMPLATES:
        assert f"`{code}`" in DOC, code


def test_every_public_function_is_documented():
    for name in ledgers.__all__:
        if callable(getattr(ledgers, name)) and name[0].islower():
            assert f"`{name}(" in DOC, name


def test_every_definition_property_is_documented():
    for name in schema("ledger")["properties"]:
        assert f"`{name}`" in DOC or f"`{name}." in DOC, name


def test_the_documented_definition_is_valid():
    block = re.search(r"```json\n(.*?)```", DOC, re.S).group(1)
    assert parse_ledger(json.loads(block)).key == "stock"


def test_the_worked_example_says_what_the_engine_answers(database_url):
    from runtime.storage.database import open_database

    definition = json.loads(re.search(r"```json\n(.*?)```", DOC, re.S).group(1))
    engine = open_database(database_url).execution_options(loom_write=True)
    try:
        with engine.begin() as conn:
            stock = ledgers.create_ledger_tables(conn, "demo", definition)
            for record, lot, bin_, qty, price, day in ((1, "B1", 1, 100, "10.00", 2),
                                                      (2, "B2", 2, 50, "13.00", 5)):
                ledgers.post_movements(conn, stock, [{
                    "item": 1, "site": 1, "bin": bin_, "lot": lot, "qty": qty,
                    "unit_value": price, "date": dt.date(2024, 1, day), "line": 1}],
                    source=("receipts", record))
            assert ledgers.balance(conn, stock, item=1) == Decimal("150.000")
            assert ledgers.value_balance(conn, stock, item=1) == Decimal("1650.00")
            assert ledgers.balance(conn, stock, item=1, as_of=dt.date(2024, 1, 3)) == 100
            lines = ledgers.allocate_fifo(conn, stock, {"item": 1, "site": 1}, 120)
            assert [(x["lot"], x["qty"]) for x in lines] == [("B1", 100), ("B2", 20)]
            ids = ledgers.post_movements(conn, stock, [
                {**x, "qty": -x["qty"], "date": dt.date(2024, 1, 8)} for x in lines],
                source=("issues", 1))
            m = stock.tables.movements
            values = conn.execute(m.select().with_only_columns(m.c.value)
                                  .where(m.c.id.in_(ids)).order_by(m.c.id)).scalars().all()
            assert values == [-1100, -220]
            assert ledgers.value_balance(conn, stock, item=1) == Decimal("330.00")
    finally:
        engine.dispose()
    for text in ("−1,100.00 (B1) and −220.00 (B2)", "30 @ 330.00",
                 "item 1 at site 1 / bin 2 lot B2: short by 10 (needs 40, available 30)"):
        assert text in DOC, text
