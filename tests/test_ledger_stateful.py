"""Random receipts, issues, transfers, reservations and reversals against a model.

After every step, in SQL: each balance equals the sum of its movements, constrained
balances are never negative, the value at each valuation key equals the sum of its
movement values (and is 0 when its qty is), FIFO layers hold exactly that qty and
value, and reservations never exceed what is on hand. Every outgoing movement's value
is compared with the model's moving average or oldest-first FIFO layers.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import and_, func, select

from engines.ledgers import (
    LedgerError,
    create_ledger_tables,
    post_movements,
    release,
    reserve,
    reverse_source,
)
from runtime.storage.database import open_database

ITEMS, SITES, LOTS = (1, 2), (1, 2), ("A", "B", "C")
CENT = Decimal("0.01")
TOLERANCE = Decimal("0.0000001")


def definition(method):
    return {
        "key": "stock",
        "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                       {"key": "lot", "kind": "text"}],
        "item": "item", "lot": "lot",
        "constraint": ["item", "site", "lot"],
        "valuation": {"method": method, "level": ["item"]},
        "measures": {"qty": {"precision": 3}, "value": {"precision": 2}},
    }


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# ---- SQL checks, shared with the other ledger tests ------------------------------------

def assert_consistent(conn, ledger) -> None:
    """The ledger's kept state agrees with its movements, checked in SQL."""
    d, t = ledger.definition, ledger.tables
    m, b, c, ly, r = t.movements, t.balances, t.costs, t.layers, t.reservations

    def mismatches(kept, keys, measures):
        sums = select(*(m.c[k] for k in keys),
                      *(func.sum(m.c[x]).label(x) for x in measures)).group_by(
            *(m.c[k] for k in keys)).subquery()
        same = and_(*(kept.c[k] == sums.c[k] for k in keys))
        differ = [func.abs(kept.c[x] - func.coalesce(sums.c[x], 0)) > TOLERANCE
                  for x in measures]
        kept_wrong = conn.execute(select(func.count()).select_from(
            kept.outerjoin(sums, same)).where(differ[0] if len(differ) == 1 else
                                              differ[0] | differ[1])).scalar()
        unkept = conn.execute(select(func.count()).select_from(
            sums.outerjoin(kept, same)).where(kept.c.id.is_(None),
                                              func.abs(sums.c[measures[0]]) > TOLERANCE)
        ).scalar()
        return kept_wrong + unkept

    assert mismatches(b, d.keys, ["qty"]) == 0, "a balance differs from its movements"
    if d.constraint:
        negative = select(func.sum(b.c.qty).label("qty")).group_by(
            *(b.c[k] for k in d.constraint)).subquery()
        assert conn.execute(select(func.count()).select_from(negative).where(
            negative.c.qty < -TOLERANCE)).scalar() == 0, "a constrained balance is negative"
        held = select(*(r.c[k] for k in d.constraint), func.sum(r.c.qty).label("held")) \
            .group_by(*(r.c[k] for k in d.constraint)).subquery()
        onhand = select(*(b.c[k] for k in d.constraint), func.sum(b.c.qty).label("qty")) \
            .group_by(*(b.c[k] for k in d.constraint)).subquery()
        over = conn.execute(select(func.count()).select_from(held.outerjoin(
            onhand, and_(*(held.c[k] == onhand.c[k] for k in d.constraint)))).where(
            held.c.held > func.coalesce(onhand.c.qty, 0) + TOLERANCE)).scalar()
        assert over == 0, "more is reserved than on hand"
    if d.valued:
        level = d.valuation_level
        assert mismatches(c, level, ["qty", "value"]) == 0, \
            "a value balance differs from the sum of its movement values"
        assert conn.execute(select(func.count()).where(
            func.abs(c.c.qty) < TOLERANCE, func.abs(c.c.value) > TOLERANCE)).scalar() == 0, \
            "value without quantity"
    if d.method == "fifo":
        layers = select(*(ly.c[k] for k in level), func.sum(ly.c.qty_left).label("qty"),
                        func.sum(ly.c.value_left).label("value")).group_by(
            *(ly.c[k] for k in level)).subquery()
        wrong = conn.execute(select(func.count()).select_from(c.outerjoin(
            layers, and_(*(c.c[k] == layers.c[k] for k in level)))).where(
            (func.abs(c.c.qty - func.coalesce(layers.c.qty, 0)) > TOLERANCE)
            | (func.abs(c.c.value - func.coalesce(layers.c.value, 0)) > TOLERANCE))).scalar()
        assert wrong == 0, "FIFO layers differ from the value balance"


# ---- the model ---------------------------------------------------------------------------

class Short(Exception):
    pass


@dataclass
class Model:
    method: str
    onhand: dict = field(default_factory=dict)    # (item, site, lot) -> qty
    held: dict = field(default_factory=dict)      # (form, record) -> {(item, site, lot): qty}
    cost: dict = field(default_factory=dict)      # item -> [qty, value]
    layers: dict = field(default_factory=dict)    # item -> [[date, seq, movement, qty, value]]
    seq: int = 0

    def available(self, key, owner):
        others = sum((q for src, held in self.held.items() if src != owner
                      for k, q in held.items() if k == key), Decimal(0))
        return self.onhand.get(key, Decimal(0)) - others

    def take(self, key, qty, owner, prefer=None):
        """Outgoing qty (positive); returns (value (negative), FIFO slices)."""
        if qty > self.available(key, owner):
            raise Short
        item = key[0]
        have_qty, have_value = self.cost.get(item, [Decimal(0), Decimal(0)])
        slices = []
        if self.method == "moving_average":
            value = -have_value if have_qty == qty else cents(-qty * have_value / have_qty)
        else:
            layers = sorted(self.layers[item], key=lambda x: (x[2] != prefer or prefer is None,
                                                              x[0], x[1]))
            left, value = qty, Decimal(0)
            for layer in layers:
                if left == 0:
                    break
                part = min(left, layer[3])
                taken = layer[4] if part == layer[3] else cents(layer[4] * part / layer[3])
                layer[3] -= part
                layer[4] -= taken
                left -= part
                value -= taken
                slices.append((layer[0], part, taken))
            self.layers[item] = [x for x in self.layers[item] if x[3] > 0]
        self.onhand[key] -= qty
        self.cost[item] = [have_qty - qty, have_value + value]
        if owner in self.held and key in self.held[owner]:
            self.held[owner][key] = max(Decimal(0), self.held[owner][key] - qty)
        return value, slices

    def put(self, key, qty, value, date, movement_id, slices=()):
        item = key[0]
        self.onhand[key] = self.onhand.get(key, Decimal(0)) + qty
        have_qty, have_value = self.cost.get(item, [Decimal(0), Decimal(0)])
        self.cost[item] = [have_qty + qty, have_value + value]
        if self.method == "fifo":
            for layer_date, part, taken in (slices or [(date, qty, value)]):
                self.seq += 1
                self.layers.setdefault(item, []).append(
                    [layer_date, self.seq, movement_id, part, taken])


# ---- the machine -----------------------------------------------------------------------

quantities = st.integers(1, 8).map(Decimal)
prices = st.integers(1, 2000).map(lambda c: Decimal(c) / 100)
keys = st.tuples(st.sampled_from(ITEMS), st.sampled_from(SITES), st.sampled_from(LOTS))


class LedgerMachine(RuleBasedStateMachine):
    """Each run has items of its own in one ledger per method (creating tables for
    every run would cost more than the run), and documents numbered apart."""

    engine = None
    ledgers = {}
    runs = itertools.count()
    records = itertools.count(1)

    @initialize(method=st.sampled_from(["moving_average", "fifo"]))
    def start(self, method):
        if method not in self.ledgers:
            with self.engine.begin() as conn:
                self.ledgers[method] = create_ledger_tables(conn, method[:4],
                                                            definition(method))
        self.ledger = self.ledgers[method]
        self.base = 10 * next(self.runs)  # the model's item 1 is item base + 1 here
        self.model = Model(method)
        self.day = dt.date(2024, 1, 1)
        self.documents = []  # [source, [(movement id, key, qty, value)]] not reversed yet

    def movement(self, key, qty, **extra):
        return {"item": self.base + key[0], "site": key[1], "lot": key[2], "qty": qty,
                "date": self.day, **extra}

    def values(self, conn, ids):
        m = self.ledger.tables.movements
        rows = conn.execute(select(m.c.id, m.c.value).where(m.c.id.in_(ids))).all()
        return {i: cents(v) for i, v in rows}

    def attempt(self, model, post):
        """Post with the engine; refused exactly when the model said Short."""
        with self.engine.begin() as conn:
            if model is None:
                try:
                    post(conn)
                except LedgerError as refused:
                    assert refused.code in ("short", "short_reserved"), refused.code
                    return None
                raise AssertionError("the ledger accepted what the model refuses")
            return post(conn)

    @rule(later=st.booleans())
    def next_day(self, later):
        self.day += dt.timedelta(days=int(later))

    @rule(key=keys, qty=quantities, price=prices)
    def receive(self, key, qty, price):
        source = ("receipts", next(LedgerMachine.records))
        with self.engine.begin() as conn:
            [new] = post_movements(conn, self.ledger, [self.movement(key, qty, unit_value=price)],
                                   source=source)
        value = cents(qty * price)
        self.model.put(key, qty, value, self.day, new)
        self.documents.append([source, [(new, key, qty, value)]])

    @rule(key=keys, qty=quantities, data=st.data())
    def issue(self, key, qty, data):
        orders = sorted(self.model.held)
        owner = data.draw(st.sampled_from([None, *orders])) if orders else None
        source = ("issues", next(LedgerMachine.records))
        model = copy.deepcopy(self.model)
        try:
            expected, _ = model.take(key, qty, owner or source)
        except Short:
            model = None
        extra = {"reserved_by": owner} if owner else {}
        done = self.attempt(model, lambda conn: post_movements(
            conn, self.ledger, [self.movement(key, -qty, **extra)], source=source))
        if done:
            [new] = done
            with self.engine.begin() as conn:
                assert self.values(conn, [new])[new] == expected
            self.model = model
            self.documents.append([source, [(new, key, -qty, expected)]])

    @rule(key=keys, to_site=st.sampled_from(SITES), qty=quantities)
    def transfer(self, key, to_site, qty):
        target = (key[0], to_site, key[2])
        source = ("transfers", next(LedgerMachine.records))
        model = copy.deepcopy(self.model)
        try:
            value, slices = model.take(key, qty, source)
        except Short:
            model = None
        done = self.attempt(model, lambda conn: post_movements(conn, self.ledger, [
            self.movement(key, -qty, ref="out"), self.movement(target, qty, cost_from="out")],
            source=source))
        if done:
            out, into = done
            model.put(target, qty, -value, self.day, into, slices)
            with self.engine.begin() as conn:
                assert self.values(conn, [out, into]) == {out: value, into: -value}
            self.model = model
            self.documents.append([source, [(out, key, -qty, value), (into, target, qty, -value)]])

    @rule(key=keys, qty=st.integers(1, 4).map(Decimal))
    def hold(self, key, qty):
        source = ("orders", next(LedgerMachine.records))
        short = qty > self.model.available(key, source)
        with self.engine.begin() as conn:
            try:
                reserve(conn, self.ledger, {"item": self.base + key[0], "site": key[1],
                                            "lot": key[2]}, qty, source=source)
            except LedgerError:
                assert short
                return
        assert not short, "reserved more than available"
        self.model.held[source] = {key: qty}

    @precondition(lambda self: self.model.held)
    @rule(data=st.data())
    def cancel(self, data):
        source = data.draw(st.sampled_from(sorted(self.model.held)))
        with self.engine.begin() as conn:
            released = release(conn, self.ledger, source)
        assert released == sum(self.model.held.pop(source).values())

    @precondition(lambda self: self.documents)
    @rule(data=st.data())
    def reverse(self, data):
        document = data.draw(st.sampled_from(self.documents))
        source, lines = document
        model = copy.deepcopy(self.model)
        expected = []
        try:
            for movement_id, key, qty, value in reversed(lines):
                if qty > 0:  # leaves again, FIFO from its own layer first
                    expected.append(model.take(key, qty, None, prefer=movement_id)[0])
                else:  # comes back at the value it left with
                    model.put(key, -qty, -value, self.day, None)
                    expected.append(-value)
        except Short:
            model = None
        done = self.attempt(model, lambda conn: reverse_source(conn, self.ledger, source,
                                                               date=self.day))
        if done:
            ids = done
            with self.engine.begin() as conn:
                values = self.values(conn, ids)
            assert [values[i] for i in ids] == expected
            self.model = model
            self.documents.remove(document)

    @invariant()
    def consistent(self):
        with self.engine.begin() as conn:
            assert_consistent(conn, self.ledger)
            t = self.ledger.tables
            mine = [self.base + i for i in ITEMS]
            kept = {(r.item - self.base, r.site, r.lot): r.qty for r in conn.execute(
                select(t.balances).where(t.balances.c.item.in_(mine)))}
            for key, qty in self.model.onhand.items():
                assert kept.get(key, 0) == qty, (key, kept.get(key), qty)
            costs = {r.item - self.base: (r.qty, cents(r.value)) for r in conn.execute(
                select(t.costs).where(t.costs.c.item.in_(mine)))}
            for item, (qty, value) in self.model.cost.items():
                assert costs[item] == (qty, value), (item, costs[item], qty, value)


def test_ledger_against_a_model(database_url):
    engine = open_database(database_url).execution_options(loom_write=True)
    LedgerMachine.engine = engine
    LedgerMachine.ledgers = {}
    try:
        run_state_machine_as_test(LedgerMachine, settings=settings(
            max_examples=20, stateful_step_count=40, deadline=None,
            suppress_health_check=[HealthCheck.too_slow]))
    finally:
        engine.dispose()
