"""Concurrent issues of the same stock: each in its own connection and transaction,
they can never take more than there is, and the ones refused say why."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from engines.ledgers import (
    LedgerError,
    balance,
    create_ledger_tables,
    post_movements,
    reserve,
)
from runtime.storage.database import open_database

THREADS = 8


def definition(constraint):
    return {
        "key": "stock",
        "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                       {"key": "bin", "kind": "ref"}, {"key": "lot", "kind": "text"}],
        "item": "item", "lot": "lot", "constraint": constraint,
        "valuation": {"method": "fifo", "level": ["item"]},
    }


@pytest.fixture
def writer(database_url):
    engine = open_database(database_url)
    yield engine.execution_options(loom_write=True)
    engine.dispose()


def race(writer, work):
    """Run ``work(i, conn)`` in THREADS threads at once, each in its own transaction."""
    barrier = threading.Barrier(THREADS)
    outcomes = [None] * THREADS

    def run(i):
        barrier.wait()
        try:
            with writer.begin() as conn:
                work(i, conn)
            outcomes[i] = "ok"
        except LedgerError as refused:
            outcomes[i] = refused
        except Exception as failure:  # noqa: BLE001 - reported by the assertions below
            outcomes[i] = repr(failure)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_eight_threads_issue_the_same_lot(writer):
    with writer.begin() as conn:
        stock = create_ledger_tables(conn, "race", definition(["item", "site", "bin", "lot"]))
    for round_no in range(1, 4):
        lot = f"B{round_no}"
        with writer.begin() as conn:
            post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 2, "lot": lot,
                                          "qty": 10, "unit_value": 1,
                                          "date": dt.date(2024, 1, 1)}],
                           source=("receipts", round_no))

        def issue(i, conn, lot=lot, round_no=round_no):
            post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 2, "lot": lot,
                                          "qty": -3, "date": dt.date(2024, 1, 2)}],
                           source=("issues", round_no * 100 + i))

        outcomes = race(writer, issue)
        assert outcomes.count("ok") == 3, outcomes
        refused = [o for o in outcomes if o != "ok"]
        assert len(refused) == 5 and all(isinstance(o, LedgerError) for o in refused), outcomes
        assert {o.message for o in refused} == {
            f"item 3 at site 1 / bin 2 lot {lot}: short by 2 (needs 3, available 1)"}
        with writer.begin() as conn:
            assert balance(conn, stock, item=3, lot=lot) == 1
            m = stock.tables.movements
            issued = conn.execute(m.select().where(m.c.lot == lot, m.c.qty < 0)).all()
            assert len(issued) == 3


def test_eight_threads_issue_from_new_bins_under_a_site_constraint(writer):
    """The constraint is per site, so each issue takes its own bin below zero: the
    balance rows differ, and the site total must still hold."""
    with writer.begin() as conn:
        stock = create_ledger_tables(conn, "race", definition(["item", "site"]))
        post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 1, "qty": 10,
                                      "unit_value": 2, "date": dt.date(2024, 1, 1)}],
                       source=("receipts", 1))
        for i in range(0, THREADS, 2):  # half the bins have a (zero) balance row already
            bin_ = {"item": 3, "site": 1, "bin": 100 + i, "date": dt.date(2024, 1, 1)}
            post_movements(conn, stock, [{**bin_, "qty": 1, "unit_value": 2}, {**bin_, "qty": -1}],
                           source=("counts", i))

    def issue(i, conn):
        post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 100 + i, "qty": -3,
                                      "date": dt.date(2024, 1, 2)}], source=("issues", i))

    outcomes = race(writer, issue)
    assert outcomes.count("ok") == 3, outcomes
    assert all(isinstance(o, LedgerError) and o.message ==
               "item 3 at site 1: short by 2 (needs 3, available 1)"
               for o in outcomes if o != "ok"), outcomes
    with writer.begin() as conn:
        assert balance(conn, stock, item=3, site=1) == 1


def test_reservations_and_issues_race(writer):
    with writer.begin() as conn:
        stock = create_ledger_tables(conn, "race", definition(["item", "site", "bin", "lot"]))
        post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 2, "lot": "B1", "qty": 10,
                                      "unit_value": 1, "date": dt.date(2024, 1, 1)}],
                       source=("receipts", 1))
    place = {"item": 3, "site": 1, "bin": 2, "lot": "B1"}

    def reserve_or_issue(i, conn):
        if i % 2:
            reserve(conn, stock, place, 3, source=("orders", i))
        else:
            post_movements(conn, stock, [{**place, "qty": -3, "date": dt.date(2024, 1, 2)}],
                           source=("issues", i))

    outcomes = race(writer, reserve_or_issue)
    assert outcomes.count("ok") == 3, outcomes
    with writer.begin() as conn:
        r = stock.tables.reservations
        held = sum(row.qty for row in conn.execute(r.select()))
        assert balance(conn, stock, **place) - held == 1
