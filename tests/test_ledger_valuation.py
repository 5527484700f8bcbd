"""Ledger valuation against hand-worked examples: moving average, FIFO, returns,
transfers, back-dated postings, period close, and the wording of refusals."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engines.ledgers import (
    DefinitionError,
    LedgerError,
    Wording,
    avg_cost,
    balance,
    close_period,
    create_ledger_tables,
    parse_ledger,
    post_movements,
    reverse_source,
    value_balance,
)
from runtime.storage.database import open_database
from tests.test_ledger_stateful import assert_consistent


def stock_definition(method="moving_average", level=("item",)):
    return {
        "key": "stock", "label": {"en": "Stock", "zh": "库存"},
        "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                       {"key": "bin", "kind": "ref"}, {"key": "lot", "kind": "text"}],
        "item": "item", "lot": "lot",
        "measures": {"qty": {"precision": 3}, "value": {"precision": 2}},
        "constraint": ["item", "site", "bin", "lot"],
        "valuation": {"method": method, "level": list(level)},
    }


@pytest.fixture
def engine(database_url):
    engine = open_database(database_url).execution_options(loom_write=True)
    yield engine
    engine.dispose()


def day(n: int) -> dt.date:
    return dt.date(2024, 1, n)


def receive(conn, ledger, record, qty, price, date, *, item=1, site=1, lot="L1"):
    return post_movements(conn, ledger, [{"item": item, "site": site, "lot": lot, "qty": qty,
                                          "unit_value": price, "date": date}],
                          source=("receipts", record))


def issue(conn, ledger, record, qty, date, *, item=1, site=1, lot="L1"):
    ids = post_movements(conn, ledger, [{"item": item, "site": site, "lot": lot, "qty": -qty,
                                         "date": date}], source=("issues", record))
    return movement_value(conn, ledger, ids[0])


def movement_value(conn, ledger, movement_id):
    m = ledger.tables.movements
    return conn.execute(m.select().where(m.c.id == movement_id)).mappings().one()["value"]


def state(conn, ledger, **dims):
    return balance(conn, ledger, **dims), value_balance(conn, ledger, **dims)


def test_moving_average_hand_worked(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition())
        receive(conn, stock, 1, 100, "10.00", day(1))
        receive(conn, stock, 2, 50, "13.00", day(5))
        assert avg_cost(conn, stock, item=1) == Decimal(11)
        assert issue(conn, stock, 1, 60, day(10)) == Decimal("-660")
        assert state(conn, stock, item=1) == (90, 990)
        receive(conn, stock, 3, 30, "15.00", day(12))
        assert avg_cost(conn, stock, item=1) == Decimal(12)
        assert issue(conn, stock, 2, 100, day(15)) == Decimal("-1200")
        assert state(conn, stock, item=1) == (20, 240)
        # A return: the issue of day 10 comes back at the value it left with.
        reverse_source(conn, stock, ("issues", 1), date=day(16))
        assert state(conn, stock, item=1) == (80, 900)
        assert avg_cost(conn, stock, item=1) == Decimal("11.25")
        # The last units take all remaining value: nothing left, nothing valued.
        assert issue(conn, stock, 3, 80, day(20)) == Decimal("-900")
        assert state(conn, stock, item=1) == (0, 0)
        assert avg_cost(conn, stock, item=1) == Decimal("11.25")  # remembered at qty 0


def test_moving_average_rounding_never_leaves_value_without_qty(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition())
        receive(conn, stock, 1, 3, "3.33", day(1))
        receive(conn, stock, 2, 1, "3.34", day(1))
        assert state(conn, stock, item=1) == (4, Decimal("13.33"))
        assert issue(conn, stock, 1, 1, day(2)) == Decimal("-3.33")  # 3.3325 rounds half up
        assert issue(conn, stock, 2, 1, day(2)) == Decimal("-3.33")
        assert issue(conn, stock, 3, 2, day(3)) == Decimal("-6.67")
        assert state(conn, stock, item=1) == (0, 0)


def test_fifo_hand_worked(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition("fifo"))
        receive(conn, stock, 1, 100, "10", day(1))
        receive(conn, stock, 2, 50, "13", day(5))
        assert issue(conn, stock, 1, 60, day(10)) == Decimal("-600")   # 60 of the first 100
        receive(conn, stock, 3, 30, "15", day(12))
        # 40 @ 10 + 50 @ 13 + 10 @ 15
        assert issue(conn, stock, 2, 100, day(15)) == Decimal("-1200")
        assert state(conn, stock, item=1) == (20, 300)
        reverse_source(conn, stock, ("issues", 1), date=day(16))  # back at 60 @ 10
        assert state(conn, stock, item=1) == (80, 900)
        # The return is the newest layer: 20 @ 15 go first, then 10 of the returned @ 10.
        assert issue(conn, stock, 3, 30, day(20)) == Decimal("-400")
        assert state(conn, stock, item=1) == (50, 500)
        # Cancelling a receipt takes back its own layer, not the oldest one.
        receive(conn, stock, 4, 10, "20", day(21))
        reverse_source(conn, stock, ("receipts", 4), date=day(22))
        assert state(conn, stock, item=1) == (50, 500)
        assert avg_cost(conn, stock, item=1) == Decimal(10)
        assert issue(conn, stock, 4, 50, day(23)) == Decimal("-500")
        assert state(conn, stock, item=1) == (0, 0)


def transfer(conn, ledger, record, qty, date, *, from_site, to_site, item=1, lot="L1"):
    return post_movements(conn, ledger, [
        {"item": item, "site": from_site, "lot": lot, "qty": -qty, "date": date, "ref": "out"},
        {"item": item, "site": to_site, "lot": lot, "qty": qty, "date": date,
         "cost_from": "out"},
    ], source=("transfers", record))


def test_a_back_dated_fifo_receipt_recosts_a_transfer_and_what_it_fed(engine):
    """FIFO per item and site: a receipt dated before a transfer is what the transfer
    took, so the transfer, the stock it brought to site 2 and the issue there that used
    it are all valued again."""
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition("fifo", ("item", "site")))
        receive(conn, stock, 1, 10, "1", day(2))
        out, into = transfer(conn, stock, 1, 5, day(3), from_site=1, to_site=2)
        assert issue(conn, stock, 1, 5, day(4), lot="L1") == Decimal("-5")
        [late] = post_movements(conn, stock, [{"item": 1, "site": 2, "lot": "L1", "qty": -5,
                                               "date": day(4)}], source=("issues", 2))
        assert movement_value(conn, stock, late) == Decimal("-5")  # 5 @ 1 came over
        receive(conn, stock, 2, 5, "2", day(1), lot="L0")  # back-dated, before all of it
        effective = dict(history_values(conn, stock))
        assert effective[out] == Decimal("-10")    # the transfer took the older 5 @ 2
        assert effective[into] == Decimal("10")
        assert effective[late] == Decimal("-10")   # and so did the issue at site 2
        assert state(conn, stock, item=1, site=1) == (5, 5)
        assert state(conn, stock, item=1, site=2) == (0, 0)
        assert_consistent(conn, stock)


def history_values(conn, ledger):
    m = ledger.tables.movements
    owner = func.coalesce(m.c.corrects, m.c.id)
    return conn.execute(select(owner, func.sum(m.c.value)).group_by(owner)).all()


def test_items_valued_their_own_way_in_one_ledger(engine):
    """Item 1 names FIFO on its first movement, item 2 keeps the ledger's moving average;
    each key stays on the method it started with."""
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition("moving_average"))
        for item in (1, 2):
            method = {"valuation_method": "fifo"} if item == 1 else {}
            for record, (qty, price, date) in enumerate(((10, "1", day(1)), (10, "2", day(2)))):
                post_movements(conn, stock, [{"item": item, "site": 1, "lot": "L1", "qty": qty,
                                              "unit_value": price, "date": date, **method}],
                               source=("receipts", 10 * item + record))
        assert issue(conn, stock, 1, 15, day(3), item=1) == Decimal("-20")   # 10 @ 1 + 5 @ 2
        assert issue(conn, stock, 2, 15, day(3), item=2) == Decimal("-22.5")  # 15 @ 1.5
        assert value_balance(conn, stock, item=1) == Decimal("10")
        assert value_balance(conn, stock, item=2) == Decimal("7.5")
        with pytest.raises(LedgerError) as refused:
            post_movements(conn, stock, [{"item": 1, "site": 1, "lot": "L1", "qty": 1,
                                          "unit_value": "3", "date": day(4),
                                          "valuation_method": "moving_average"}],
                           source=("receipts", 99))
        assert refused.value.code == "method_fixed"
        assert "valued by fifo" in refused.value.message
        assert_consistent(conn, stock)


def test_fifo_transfer_keeps_layers_between_sites(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition("fifo", ("item", "site")))
        receive(conn, stock, 1, 10, "1", day(1))
        receive(conn, stock, 2, 10, "2", day(2))
        receive(conn, stock, 3, 10, "5", day(3), site=2)
        transfer(conn, stock, 1, 15, day(4), from_site=1, to_site=2)
        assert state(conn, stock, item=1, site=1) == (5, 10)
        assert state(conn, stock, item=1, site=2) == (25, 70)
        # Site 2 now holds layers of day 1 and day 2 (moved) before its own of day 3.
        assert issue(conn, stock, 1, 12, day(5), site=2) == Decimal("-14")  # 10 @ 1 + 2 @ 2
        assert issue(conn, stock, 2, 4, day(5), site=2) == Decimal("-11")   # 3 @ 2 + 1 @ 5
        assert state(conn, stock, item=1) == (14, 55)


def test_back_dated_receipt_recomputes_later_costs_across_a_transfer(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition(level=("item", "site")))
        receive(conn, stock, 1, 10, "1", day(1))
        receive(conn, stock, 2, 10, "3", day(2))
        ids = transfer(conn, stock, 1, 5, day(4), from_site=1, to_site=2)
        assert movement_value(conn, stock, ids[0]) == Decimal("-10")
        assert issue(conn, stock, 1, 2, day(5), site=2) == Decimal("-4")
        # Received on day 3, entered late: at the transfer site 1 held 40 @ 120, avg 3.
        receive(conn, stock, 3, 20, "4", day(3), lot="L2")
        assert state(conn, stock, item=1, site=1) == (35, 105)
        assert state(conn, stock, item=1, site=2) == (3, 9)
        m = stock.tables.movements
        target = m.alias("target")
        fixes = conn.execute(
            m.select().with_only_columns(m.c.value, m.c.qty, m.c.source_form,
                                         m.c.source_record, target.c.source_form)
            .join_from(m, target, target.c.id == m.c.corrects).order_by(m.c.id)).all()
        # Movements are never edited: three revaluation rows carry the differences, in
        # the name of the document that caused them.
        assert [(f[4], f[0], f[1]) for f in fixes] == [
            ("transfers", Decimal(-5), 0), ("transfers", Decimal(5), 0),
            ("issues", Decimal(-2), 0)]
        assert all(f[2] == "receipts" and f[3] == 3 for f in fixes)
        assert value_balance(conn, stock, item=1, site=2, as_of=day(4)) == 15


def test_back_dated_issue_refused_naming_the_first_negative_date(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition())
        receive(conn, stock, 1, 10, "1", day(1))
        issue(conn, stock, 1, 8, day(10))
        receive(conn, stock, 2, 10, "1", day(12))
        with pytest.raises(LedgerError) as refused:
            issue(conn, stock, 2, 5, day(5))
        assert refused.value.code == "short_later"
        assert refused.value.details["negative_date"] == day(10)
        assert refused.value.message.startswith(
            "item 1 at site 1 lot L1: taking 5 on 2024-01-05 would leave the balance "
            "negative on 2024-01-10 (short by 3)")
        assert issue(conn, stock, 3, 2, day(5)) == Decimal(-2)   # this one fits
        assert balance(conn, stock, item=1) == 10
        assert balance(conn, stock, item=1, as_of=day(7)) == 8
        receive(conn, stock, 3, 20, "1", day(20))
        with pytest.raises(LedgerError, match=r"short by 1 on 2024-01-01 \(needs 11, "
                                              r"available 10 on that date\)"):
            issue(conn, stock, 4, 11, day(1))


def test_closed_period_refuses_postings_on_or_before_it(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", stock_definition())
        receive(conn, stock, 1, 10, "1", day(1))
        close_period(conn, stock, day(31))
        with pytest.raises(LedgerError, match="up to 2024-01-31 is closed.*2024-02-01 or later"):
            receive(conn, stock, 2, 1, "1", day(31))
        with pytest.raises(LedgerError, match="closed"):
            reverse_source(conn, stock, ("receipts", 1))
        reverse_source(conn, stock, ("receipts", 1), date=dt.date(2024, 2, 1))
        assert balance(conn, stock, item=1) == 0
        with pytest.raises(LedgerError, match="already closed"):
            close_period(conn, stock, day(15))


def test_refusal_in_default_english_and_in_the_apps_words(engine):
    with engine.begin() as conn:
        definition = stock_definition()
        stock = create_ledger_tables(conn, "demo", definition)
        post_movements(conn, stock, [{"item": 3, "site": 1, "bin": 2, "lot": "B1", "qty": 3,
                                      "unit_value": 1, "date": day(1)}], source=("r", 1))
        move = [{"item": 3, "site": 1, "bin": 2, "lot": "B1", "qty": -5, "date": day(2)}]
        with pytest.raises(LedgerError) as refused:
            post_movements(conn, stock, move, source=("i", 1))
        assert str(refused.value) == \
            "item 3 at site 1 / bin 2 lot B1: short by 2 (needs 5, available 3)"
        codes = {("item", 3): "M-001", ("site", 1): "WH1", ("bin", 2): "A-01"}
        chinese = Wording(labels={"item": "物料", "site": "", "bin": "", "lot": "批次"},
                          display=lambda key, value: codes.get((key, value), str(value)),
                          place_separator="/",
                          templates={"short": "{what} 在 {where} 库存不足: 需要 {needs}, "
                                              "可用 {available}"})
        with pytest.raises(LedgerError) as refused:
            post_movements(conn, stock, move, source=("i", 1), wording=chinese)
        assert refused.value.message == "物料 M-001 在 WH1/A-01 批次 B1 库存不足: 需要 5, 可用 3"
        assert refused.value.render(Wording()) == \
            "item 3 at site 1 / bin 2 lot B1: short by 2 (needs 5, available 3)"
        # The refused call left nothing behind; the transaction goes on.
        assert balance(conn, stock, item=3) == 3


@pytest.mark.parametrize("change, message", [
    ({"constraint": ["item", "site", "place"]}, "'place' is not a dimension"),
    ({"valuation": {"method": "fifo", "level": ["item", "lot2"]}}, "'lot2' is not a dimension"),
    ({"constraint": ["site"]}, "cost can only be kept by dimensions of the constraint"),
    ({"lot": "item"}, "the lot dimension 'item' must be of kind text"),
    ({"dimensions": [{"key": "qty", "kind": "ref"}]}, "/dimensions/0/key"),
    ({"valuation": {"method": "lifo", "level": ["item"]}}, "/valuation/method"),
])
def test_definition_problems_are_named(change, message):
    with pytest.raises(DefinitionError, match=message):
        parse_ledger({**stock_definition(), **change})


def test_definition_parses():
    d = parse_ledger(stock_definition("fifo", ("item", "site")))
    assert d.keys == ("item", "site", "bin", "lot")
    assert d.identity == ("item", "lot") and d.places == ("site", "bin")
    assert d.method == "fifo" and d.valuation_level == ("item", "site")
    assert d.qty_precision == 3 and d.value_precision == 2


# ---- back-dated postings against a replay in date order ---------------------------------

def replay(movements):
    """Effective values of moving-average movements posted in (date, id) order, and
    whether any running balance per (item, site, lot) went negative."""
    state, running, values = {}, {}, {}
    for m in sorted(movements, key=lambda m: (m["date"], m["id"])):
        key = (m["item"], m["site"], m["lot"])
        running[key] = running.get(key, 0) + m["qty"]
        if running[key] < 0:
            return values, state, True
        qty, value = state.get(m["item"], (Decimal(0), Decimal(0)))
        if m["fixed"] is not None:
            new = m["fixed"]
        elif qty + m["qty"] == 0:
            new = -value
        else:
            new = (m["qty"] * value / qty).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        values[m["id"]] = new
        state[m["item"]] = (qty + m["qty"], value + new)
    return values, state, False


operations = st.lists(st.tuples(
    st.sampled_from([1, 2]), st.sampled_from([1, 2]), st.sampled_from(["A", "B"]),
    st.integers(-6, 8).filter(bool), st.integers(1, 12), st.integers(100, 999)),
    min_size=1, max_size=12)


@pytest.fixture
def shared(engine):
    """One ledger for every example; each example has items and documents of its own."""
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "replay", stock_definition())
    return stock, itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_back_dated_postings_match_a_replay_in_date_order(engine, shared, ops):
    stock, runs = shared
    base = 10 * next(runs)
    posted = []
    for n, (item, site, lot, qty, day_no, cents) in enumerate(ops, 1):
        item, record = base + item, base * 100 + n
        price = Decimal(cents) / 100 if qty > 0 else None
        move = {"item": item, "site": site, "lot": lot, "qty": qty, "date": day(day_no)}
        if price is not None:
            move["unit_value"] = price
        fixed = (qty * price).quantize(Decimal("0.01")) if price is not None else None
        try:
            with engine.begin() as conn:
                [new] = post_movements(conn, stock, [move], source=("docs", record))
        except LedgerError as refused:
            assert refused.code in ("short", "short_on_date", "short_later")
            candidate = {**move, "id": 10**9, "fixed": fixed, "qty": Decimal(qty)}
            assert replay([*posted, candidate])[2], "refused, yet no balance goes negative"
            continue
        posted.append({**move, "id": new, "fixed": fixed, "qty": Decimal(qty)})
        expected, state, negative = replay(posted)
        assert not negative
        with engine.begin() as conn:
            m = stock.tables.movements
            owner = func.coalesce(m.c.corrects, m.c.id)
            effective = dict(conn.execute(select(owner, func.sum(m.c.value))
                                          .where(m.c.item > base, m.c.item <= base + 2)
                                          .group_by(owner)).all())
            assert {i: Decimal(v).quantize(Decimal("0.01")) for i, v in effective.items()} \
                == expected
            for item, (qty_now, value_now) in state.items():
                assert state_of(conn, stock, item) == (qty_now, value_now)
            assert_consistent(conn, stock)


def state_of(conn, ledger, item):
    return balance(conn, ledger, item=item), value_balance(conn, ledger, item=item)


def replay_fifo(movements):
    """FIFO values of the movements posted in (date, id) order: receipts make layers,
    issues take the oldest (a part of a layer at its share of the value, rounded half
    up; the rest of a layer all that is left of it); and whether any running balance
    per (item, site, lot) went negative."""
    layers, running, values = {}, {}, {}
    for m in sorted(movements, key=lambda m: (m["date"], m["id"])):
        key = (m["item"], m["site"], m["lot"])
        running[key] = running.get(key, 0) + m["qty"]
        if running[key] < 0:
            return values, layers, True
        stock = layers.setdefault(m["item"], [])
        if m["qty"] > 0:
            values[m["id"]] = m["fixed"]
            stock.append([m["date"], m["id"], m["qty"], m["fixed"]])
            stock.sort(key=lambda layer: (layer[0], layer[1]))
            continue
        left, taken = -m["qty"], Decimal(0)
        for layer in stock:
            if left <= 0:
                break
            part = min(left, layer[2])
            value = layer[3] if part == layer[2] else \
                (layer[3] * part / layer[2]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            layer[2] -= part
            layer[3] -= value
            left -= part
            taken += value
        layers[m["item"]] = [layer for layer in stock if layer[2] > 0]
        values[m["id"]] = -taken
    return values, layers, False


@pytest.fixture
def shared_fifo(engine):
    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "replay_fifo", stock_definition("fifo"))
    return stock, itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_back_dated_fifo_postings_match_a_replay_in_date_order(engine, shared_fifo, ops):
    """A receipt dated before later issues is taken by them, an issue dated before later
    receipts cannot take those: every movement's effective value is what posting in
    date order would have given, and the open layers hold the rest."""
    stock, runs = shared_fifo
    base = 10 * next(runs)
    posted = []
    for n, (item, site, lot, qty, day_no, cents) in enumerate(ops, 1):
        item, record = base + item, base * 100 + n
        price = Decimal(cents) / 100 if qty > 0 else None
        move = {"item": item, "site": site, "lot": lot, "qty": qty, "date": day(day_no)}
        if price is not None:
            move["unit_value"] = price
        fixed = (qty * price).quantize(Decimal("0.01")) if price is not None else None
        try:
            with engine.begin() as conn:
                [new] = post_movements(conn, stock, [move], source=("docs", record))
        except LedgerError as refused:
            assert refused.code in ("short", "short_on_date", "short_later")
            candidate = {**move, "id": 10**9, "fixed": fixed, "qty": Decimal(qty)}
            assert replay_fifo([*posted, candidate])[2], "refused, yet nothing goes negative"
            continue
        posted.append({**move, "id": new, "fixed": fixed, "qty": Decimal(qty)})
        expected, layers, negative = replay_fifo(posted)
        assert not negative
        with engine.begin() as conn:
            m = stock.tables.movements
            owner = func.coalesce(m.c.corrects, m.c.id)
            effective = dict(conn.execute(select(owner, func.sum(m.c.value))
                                          .where(m.c.item > base, m.c.item <= base + 2)
                                          .group_by(owner)).all())
            assert {i: Decimal(v).quantize(Decimal("0.01")) for i, v in effective.items()} \
                == expected
            ly = stock.tables.layers
            for item in (base + 1, base + 2):
                open_layers = conn.execute(select(ly.c.qty_left, ly.c.value_left).where(
                    ly.c.item == item, ly.c.qty_left > 0).order_by(ly.c.date, ly.c.id)).all()
                assert [(Decimal(q).quantize(Decimal("0.001")),
                         Decimal(v).quantize(Decimal("0.01"))) for q, v in open_layers] == \
                    [(layer[2], layer[3]) for layer in layers.get(item, [])]
            assert_consistent(conn, stock)
