"""Posting: what a movement may say, all-or-nothing calls, quantity-only ledgers and a
constraint coarser than the balances."""

from __future__ import annotations

import datetime as dt

import pytest

from engines.ledgers import (
    LedgerError,
    balance,
    create_ledger_tables,
    post_movements,
    reverse_source,
    value_balance,
)
from runtime.storage.database import open_database
from tests.test_ledger_stateful import assert_consistent

TOOLS = {
    "key": "tools",
    "dimensions": [{"key": "tool", "kind": "ref"}, {"key": "person", "kind": "ref"},
                   {"key": "shelf", "kind": "text"}],
    "item": "tool",
    "constraint": ["tool", "person"],
}
DAY = dt.date(2024, 6, 3)


@pytest.fixture
def tools(database_url):
    engine = open_database(database_url).execution_options(loom_write=True)
    with engine.begin() as conn:
        ledger = create_ledger_tables(conn, "shop", TOOLS)
    yield engine, ledger
    engine.dispose()


def test_a_quantity_only_ledger_with_a_constraint_coarser_than_its_balances(tools):
    engine, ledger = tools
    with engine.begin() as conn:
        post_movements(conn, ledger, [{"tool": 5, "person": 1, "shelf": "A", "qty": 3,
                                       "date": DAY}], source=("handouts", 1))
        # The constraint is per tool and person: shelf B may go below zero ...
        post_movements(conn, ledger, [{"tool": 5, "person": 1, "shelf": "B", "qty": -2,
                                       "date": DAY}], source=("returns", 1))
        assert balance(conn, ledger, tool=5, shelf="B") == -2
        # ... the person's total may not.
        with pytest.raises(LedgerError, match=r"^tool 5 at person 1: short by 1 "
                                              r"\(needs 2, available 1\)$"):
            post_movements(conn, ledger, [{"tool": 5, "person": 1, "shelf": "C", "qty": -2,
                                           "date": DAY}], source=("returns", 2))
        assert balance(conn, ledger, tool=5) == 1
        with pytest.raises(ValueError, match="keeps no value"):
            value_balance(conn, ledger, tool=5)
        assert_consistent(conn, ledger)


def test_one_call_is_all_or_nothing(tools):
    engine, ledger = tools
    with engine.begin() as conn:
        post_movements(conn, ledger, [{"tool": 5, "person": 1, "qty": 2, "date": DAY}],
                       source=("handouts", 1))
        with pytest.raises(LedgerError):
            post_movements(conn, ledger, [
                {"tool": 5, "person": 1, "qty": -1, "date": DAY},   # fits
                {"tool": 6, "person": 1, "qty": -1, "date": DAY},   # does not
            ], source=("returns", 1))
        assert balance(conn, ledger, tool=5) == 2
        assert reverse_source(conn, ledger, ("returns", 1)) == []  # nothing was posted
        m = ledger.tables.movements
        assert len(conn.execute(m.select()).all()) == 1


@pytest.mark.parametrize("movement, message", [
    ({"tool": 5, "qty": 1, "date": DAY, "colour": "red"}, "unknown movement keys"),
    ({"tool": "5", "qty": 1, "date": DAY}, "dimension tool takes a record id"),
    ({"tool": 5, "shelf": 7, "qty": 1, "date": DAY}, "dimension shelf takes text"),
    ({"tool": 5, "qty": 0, "date": DAY}, "qty must not be 0"),
    ({"tool": 5, "qty": "1.0000001", "date": DAY}, "more than 6 decimals"),
    ({"tool": 5, "qty": "many", "date": DAY}, "qty must be a number"),
    ({"tool": 5, "qty": 1, "date": dt.datetime(2024, 6, 3, 9)}, "date must be a datetime.date"),
    ({"tool": 5, "qty": 1, "date": DAY, "unit_value": 3}, "unit_value is the cost"),
])
def test_mistakes_in_a_movement_are_named(tools, movement, message):
    engine, ledger = tools
    with engine.begin() as conn, pytest.raises(ValueError, match=message):
        post_movements(conn, ledger, [movement], source=("handouts", 1))


def test_links_must_go_from_an_input_to_an_output(tools):
    engine, ledger = tools
    with engine.begin() as conn:
        post_movements(conn, ledger, [{"tool": 5, "person": 1, "qty": 2, "date": DAY}],
                       source=("handouts", 1))
        with pytest.raises(ValueError, match="from an outgoing"):
            post_movements(conn, ledger, [
                {"tool": 5, "person": 1, "qty": -1, "date": DAY, "ref": "in"},
                {"tool": 9, "person": 1, "qty": 1, "date": DAY, "ref": "out"},
            ], source=("repairs", 1), links=[("out", "in")])
        with pytest.raises(ValueError, match="no movement of this posting"):
            post_movements(conn, ledger, [
                {"tool": 9, "person": 1, "qty": 1, "date": DAY, "ref": "out"},
            ], source=("repairs", 1), links=[("nope", "out")])
        assert balance(conn, ledger, tool=9) == 0
