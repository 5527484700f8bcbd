"""Lot and serial genealogy through a 4-level build:
components -> sub-assembly lots -> assembly serials -> shipments to customers."""

from __future__ import annotations

import datetime as dt

import pytest

from engines.ledgers import create_ledger_tables, post_movements, reverse_source, trace
from runtime.storage.database import open_database

COMP_A, COMP_B, SUB, ASSY = 1, 2, 10, 20

DEFINITION = {
    "key": "stock",
    "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                   {"key": "lot", "kind": "text"}, {"key": "serial", "kind": "text"}],
    "item": "item", "lot": "lot", "serial": "serial",
    "constraint": ["item", "site", "lot", "serial"],
}


def day(n):
    return dt.date(2024, 3, n)


def move(item, qty, n, *, lot=None, serial=None, site=1, **extra):
    return {"item": item, "site": site, "lot": lot, "serial": serial, "qty": qty,
            "date": day(n), **extra}


@pytest.fixture
def built(database_url):
    """The build, posted document by document as the shop floor would."""
    engine = open_database(database_url).execution_options(loom_write=True)
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "plant", DEFINITION)
        post = post_movements
        post(conn, stock, [move(COMP_A, 10, 1, lot="C1"), move(COMP_A, 10, 1, lot="C2")],
             source=("receipts", 1))
        post(conn, stock, [move(COMP_B, 10, 2, lot="C3")], source=("receipts", 2))
        # Sub-assemblies: each work order's outputs come from all of its inputs.
        post(conn, stock, [move(COMP_A, -4, 3, lot="C1", trace_group="WO1"),
                           move(COMP_B, -2, 3, lot="C3", trace_group="WO1")],
             source=("issues", 1))
        post(conn, stock, [move(SUB, 2, 4, lot="S1", trace_group="WO1")],
             source=("completions", 1))
        post(conn, stock, [move(SUB, 2, 4, lot="S2", trace_group="WO2")],  # output first
             source=("completions", 2))
        post(conn, stock, [move(COMP_A, -4, 5, lot="C2", trace_group="WO2"),
                           move(COMP_B, -2, 5, lot="C3", trace_group="WO2")],
             source=("issues", 2))
        # S2 moves to the assembly site: a transfer is no genealogy step.
        post(conn, stock, [move(SUB, -1, 6, lot="S2"), move(SUB, 1, 6, lot="S2", site=2)],
             source=("transfers", 1))
        # Assembly: explicit links say which serial holds which sub-assembly, finer
        # than the work order; one component lot goes into both serials.
        post(conn, stock, [
            move(SUB, -1, 7, lot="S1", trace_group="WO3", ref="s1"),
            move(SUB, -1, 7, lot="S2", site=2, trace_group="WO3", ref="s2"),
            move(COMP_B, -2, 7, lot="C3", trace_group="WO3", ref="c3"),
            move(ASSY, 1, 7, serial="A1", site=2, trace_group="WO3", ref="a1"),
            move(ASSY, 1, 7, serial="A2", site=2, trace_group="WO3", ref="a2"),
        ], source=("assembly", 3), links=[("s1", "a1"), ("c3", "a1"), ("s2", "a2"),
                                          ("c3", "a2")])
        # A second assembly order without explicit links.
        post(conn, stock, [move(SUB, -1, 8, lot="S1", trace_group="WO4"),
                           move(ASSY, 1, 8, serial="A3", trace_group="WO4")],
             source=("assembly", 4))
        # Shipments to customers.
        post(conn, stock, [move(ASSY, -1, 9, serial="A1", site=2)], source=("deliveries", 1))
        post(conn, stock, [move(ASSY, -1, 9, serial="A2", site=2),
                           move(ASSY, -1, 9, serial="A3")], source=("deliveries", 2))
        # A mistaken issue, reversed: it must not appear in any trace.
        post(conn, stock, [move(COMP_A, -1, 9, lot="C1", trace_group="WO4")],
             source=("issues", 9))
        reverse_source(conn, stock, ("issues", 9))
    yield engine, stock
    engine.dispose()


def lots(result, stock):
    return {tuple(x for x in identity if x is not None) for identity in result.identities()}


def test_backward_from_a_serial(built):
    engine, stock = built
    with engine.connect() as conn:
        result = trace(conn, stock, serial="A1", direction="backward")
    assert lots(result, stock) == {(ASSY, "A1"), (SUB, "S1"), (COMP_A, "C1"), (COMP_B, "C3")}
    assert result.documents() == {("assembly", 3), ("completions", 1), ("issues", 1),
                                  ("receipts", 1), ("receipts", 2)}
    by_doc = {(n.source[:2], n.dims["lot"] or n.dims["serial"]): n.id
              for n in result.nodes.values()}
    a1 = by_doc[(("assembly", 3), "A1")]
    assert result.roots == [a1]
    # A1 <- the S1 and C3 issues of WO3 <- S1's completion <- WO1's issues <- receipts.
    s1_in, c3_in = by_doc[(("assembly", 3), "S1")], by_doc[(("assembly", 3), "C3")]
    s1_made = by_doc[(("completions", 1), "S1")]
    assert {(s1_in, a1), (c3_in, a1), (s1_made, s1_in)} <= result.edges
    assert (by_doc[(("issues", 1), "C1")], s1_made) in result.edges
    assert (by_doc[(("receipts", 1), "C1")], by_doc[(("issues", 1), "C1")]) in result.edges
    assert len(result.edges) == 8


def test_backward_from_a_serial_through_a_transfer(built):
    engine, stock = built
    with engine.connect() as conn:
        result = trace(conn, stock, serial="A2", direction="backward")
    assert lots(result, stock) == {(ASSY, "A2"), (SUB, "S2"), (COMP_A, "C2"), (COMP_B, "C3")}
    assert ("transfers", 1) in result.documents()  # S2 came to site 2 by transfer
    assert ("completions", 2) in result.documents()  # and was made by WO2 before that


def test_forward_from_a_component_lot(built):
    engine, stock = built
    with engine.connect() as conn:
        result = trace(conn, stock, lot="C1", item=COMP_A, direction="forward")
    assert lots(result, stock) == {(COMP_A, "C1"), (SUB, "S1"), (ASSY, "A1"), (ASSY, "A3")}
    assert result.documents() == {("issues", 1), ("completions", 1), ("assembly", 3),
                                  ("assembly", 4), ("deliveries", 1), ("deliveries", 2)}
    shipped = {n.dims["serial"] for n in result.nodes.values() if n.source[0] == "deliveries"}
    assert shipped == {"A1", "A3"}  # not A2: S1 went into A1 only, by explicit link


def test_forward_from_a_lot_used_everywhere(built):
    engine, stock = built
    with engine.connect() as conn:
        result = trace(conn, stock, lot="C3", direction="forward")
    assert lots(result, stock) == {(COMP_B, "C3"), (SUB, "S1"), (SUB, "S2"), (ASSY, "A1"),
                                   (ASSY, "A2"), (ASSY, "A3")}
    shipped = {n.dims["serial"] for n in result.nodes.values() if n.source[0] == "deliveries"}
    assert shipped == {"A1", "A2", "A3"}
    assert result.as_json()["direction"] == "forward"


def test_trace_of_an_unknown_lot_is_empty(built):
    engine, stock = built
    with engine.connect() as conn:
        result = trace(conn, stock, lot="NOPE")
    assert result.nodes == {} and result.edges == set()
    with pytest.raises(ValueError, match="lot= or serial="):
        trace(conn, stock)
