"""FIFO lot allocation, serials (one unit, one place), reservations and balance queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engines.ledgers import (
    LedgerError,
    allocate_fifo,
    available,
    balance,
    create_ledger_tables,
    post_movements,
    release,
    reservations_of,
    reserve,
    reserved,
)
from runtime.storage.database import open_database

DEFINITION = {
    "key": "stock",
    "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                   {"key": "bin", "kind": "ref"}, {"key": "lot", "kind": "text"},
                   {"key": "serial", "kind": "text"}],
    "item": "item", "lot": "lot", "serial": "serial",
    "constraint": ["item", "site", "bin", "lot", "serial"],
    "measures": {"qty": {"precision": 3}},
}


@pytest.fixture
def ready(database_url):
    engine = open_database(database_url).execution_options(loom_write=True)
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", DEFINITION)
    yield engine, stock
    engine.dispose()


def day(n):
    return dt.date(2024, 5, n)


def receive(conn, stock, record, date, *lines):
    post_movements(conn, stock, [{"item": 1, "site": 1, "date": date, **line} for line in lines],
                   source=("receipts", record))


def test_fifo_allocation_takes_the_oldest_lot_first(ready):
    engine, stock = ready
    with engine.begin() as conn:
        # Lot codes do not sort by age: "B" came first, "A" and "C" on the same day.
        receive(conn, stock, 1, day(1), {"lot": "B", "qty": 5, "bin": 2})
        receive(conn, stock, 2, day(3), {"lot": "C", "qty": 4}, {"lot": "A", "qty": 4})
        receive(conn, stock, 3, day(4), {"lot": "B", "qty": 2})  # more of the old lot
        receive(conn, stock, 4, day(2), {"lot": "D", "qty": 3, "site": 2})  # another site
        taken = allocate_fifo(conn, stock, {"item": 1, "site": 1}, 10)
        assert [(a["lot"], a["bin"], a["qty"]) for a in taken] == [
            ("B", None, 2), ("B", 2, 5), ("A", None, 3)]
        assert all(a["serial"] is None and a["site"] == 1 for a in taken)
        # Posting the allocation as it is succeeds.
        post_movements(conn, stock, [{**a, "qty": -a["qty"], "date": day(5)} for a in taken],
                       source=("issues", 1))
        assert balance(conn, stock, item=1, site=1) == 5
        assert balance(conn, stock, item=1, lot="A") == 1
        with pytest.raises(LedgerError, match=r"short by 1 \(needs 9, available 8\)"):
            allocate_fifo(conn, stock, {"item": 1}, 9)


def test_serials_one_unit_each_in_one_place(ready):
    engine, stock = ready
    with engine.begin() as conn:
        receive(conn, stock, 1, day(1), {"lot": "L1", "serial": "S2", "qty": 1},
                {"lot": "L1", "serial": "S1", "qty": 1})
        receive(conn, stock, 2, day(2), {"lot": "L0", "serial": "S3", "qty": 1})
        with pytest.raises(LedgerError, match="^item 1 serial S1 cannot come in at site 2 lot "
                                              "L1: it is already in stock at site 1 lot L1"):
            receive(conn, stock, 3, day(3), {"lot": "L1", "serial": "S1", "qty": 1, "site": 2})
        with pytest.raises(LedgerError, match="exactly one unit"):
            receive(conn, stock, 3, day(3), {"serial": "S9", "qty": 2})
        with pytest.raises(LedgerError, match="short by 1"):
            post_movements(conn, stock, [{"item": 1, "site": 2, "lot": "L1", "serial": "S1",
                                          "qty": -1, "date": day(3)}], source=("issues", 1))
        taken = allocate_fifo(conn, stock, {"item": 1}, 2)
        assert [(a["lot"], a["serial"], a["qty"]) for a in taken] == [("L1", "S1", 1),
                                                                      ("L1", "S2", 1)]
        # Moving a serial: out of one place and into another in the same posting.
        post_movements(conn, stock, [
            {"item": 1, "site": 1, "lot": "L1", "serial": "S1", "qty": -1, "date": day(4)},
            {"item": 1, "site": 2, "lot": "L1", "serial": "S1", "qty": 1, "date": day(4)},
        ], source=("transfers", 1))
        assert balance(conn, stock, item=1, serial="S1") == 1
        assert balance(conn, stock, item=1, serial="S1", site=2) == 1


def test_reservations_hold_stock_until_consumed_or_released(ready):
    engine, stock = ready
    place = {"item": 1, "site": 1, "bin": None, "lot": "L1", "serial": None}
    with engine.begin() as conn:
        receive(conn, stock, 1, day(1), {"lot": "L1", "qty": 10})
        reserve(conn, stock, place, 6, source=("orders", 1))
        assert available(conn, stock, item=1) == 4
        assert reserved(conn, stock, item=1, lot="L1") == 6
        with pytest.raises(LedgerError, match=r"short by 2 \(needs 6, available 4; 6 more"):
            reserve(conn, stock, place, 6, source=("orders", 2))
        with pytest.raises(LedgerError, match="6 more is reserved for other documents"):
            post_movements(conn, stock, [{**place, "qty": -5, "date": day(2)}],
                           source=("issues", 1))
        # The order's own delivery uses its reservation up.
        post_movements(conn, stock, [{**place, "qty": -4, "date": day(2),
                                      "reserved_by": ("orders", 1)}], source=("deliveries", 1))
        assert [r["qty"] for r in reservations_of(conn, stock, ("orders", 1))] == [2]
        assert balance(conn, stock, item=1) == 6 and available(conn, stock, item=1) == 4
        # The allocation offers only what is not held for others.
        assert sum(a["qty"] for a in allocate_fifo(conn, stock, {"item": 1}, 4)) == 4
        with pytest.raises(LedgerError):
            allocate_fifo(conn, stock, {"item": 1}, 5)
        assert allocate_fifo(conn, stock, {"item": 1}, 5, reserved_by=("orders", 1))
        assert release(conn, stock, ("orders", 1)) == 2
        assert available(conn, stock, item=1) == 6
        assert reservations_of(conn, stock, ("orders", 1)) == []


def test_balances_sum_over_dimensions_not_given_and_as_of_a_date(ready):
    engine, stock = ready
    with engine.begin() as conn:
        receive(conn, stock, 1, day(1), {"lot": "L1", "qty": "2.5", "bin": 1},
                {"lot": "L2", "qty": 4, "bin": 2})
        receive(conn, stock, 2, day(3), {"lot": "L1", "qty": 1, "site": 2})
        post_movements(conn, stock, [{"item": 1, "site": 1, "bin": 2, "lot": "L2",
                                      "qty": "-1.25", "date": day(4)}], source=("issues", 1))
        assert balance(conn, stock, item=1) == Decimal("6.25")
        assert balance(conn, stock, item=1, lot="L1") == Decimal("3.5")
        assert balance(conn, stock, item=1, site=1, bin=2) == Decimal("2.75")
        assert balance(conn, stock, item=1, as_of=day(2)) == Decimal("6.5")
        assert balance(conn, stock, item=1, as_of=day(3)) == Decimal("7.5")
        assert balance(conn, stock, item=2) == 0
        with pytest.raises(ValueError, match="cannot be asked by"):
            balance(conn, stock, colour=1)
