"""Analyses against hand-worked numbers: ABC, ageing buckets, turnover, period over
period and moving averages, tree explosion of a 4-level BOM with shared
sub-assemblies, and moving-average / exponential-smoothing forecasts — over a ledger's
movements and form-shaped tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, Text, create_engine, insert

from engines.ledgers import create_ledger_tables
from engines.reports import ReportError, compile_dataset, forecast_series
from runtime.storage.physical import DecimalNumber
from tests.test_report_differential import TableSources

AS_OF = dt.date(2026, 6, 15)
STOCK = {
    "key": "stock", "label": {"zh": "库存", "en": "Stock"},
    "dimensions": [{"key": "item", "kind": "ref", "target": "items"},
                   {"key": "site", "kind": "ref", "target": "sites"},
                   {"key": "lot", "kind": "text"}],
    "item": "item", "lot": "lot", "constraint": ["item", "site", "lot"],
}
ITEMS = {1: ("P", "成品", "product"), 2: ("A", "组件A", "assembly"),
         3: ("B", "组件B", "assembly"), 4: ("C", "共用件C", "assembly"),
         5: ("D", "螺丝D", "part"), 6: ("E", "组件E", "assembly"), 7: ("F", "垫片F", "part"),
         8: ("G", "线缆G", "part")}
FIELDS = {
    "items": {"code": "text", "name": "text", "category": "select"},
    "sites": {"name": "text"},
    "boms": {"product": ("relation", "items"), "status": "select"},
    "boms.lines": {"component": ("relation", "items"), "qty": "number"},
}


class World:
    def __init__(self, url: str):
        self.engine = create_engine(url)
        md = MetaData()

        def system():
            return [Column("id", Integer, primary_key=True), Column("_created_by", Integer)]

        self.tables = {
            "items": Table("a_items", md, *system(), Column("code", Text), Column("name", Text),
                           Column("category", Text)),
            "sites": Table("a_sites", md, *system(), Column("name", Text)),
            "boms": Table("a_boms", md, *system(), Column("product", Integer,
                                                          ForeignKey("a_items.id")),
                          Column("status", Text)),
            "boms.lines": Table("a_boms__lines", md, Column("id", Integer, primary_key=True),
                                Column("parent_id", Integer, ForeignKey("a_boms.id")),
                                Column("line_no", Integer),
                                Column("component", Integer, ForeignKey("a_items.id")),
                                Column("qty", DecimalNumber())),
        }
        md.create_all(self.engine)
        with self.engine.begin() as conn:
            self.stock = create_ledger_tables(conn, "t", STOCK)
            conn.execute(insert(self.tables["items"]), [
                {"id": k, "_created_by": 1, "code": c, "name": n, "category": cat}
                for k, (c, n, cat) in ITEMS.items()])
            conn.execute(insert(self.tables["sites"]), [
                {"id": 1, "_created_by": 1, "name": "一厂"},
                {"id": 2, "_created_by": 1, "name": "二厂"}])
        self.sources = TableSources(self.tables, fields=FIELDS, ledgers={"stock": self.stock})
        self._next = 0

    def moves(self, rows) -> list[int]:
        """Insert movements (item, site, qty, value, date); returns their ids."""
        out = []
        with self.engine.begin() as conn:
            for item, site, qty, value, date in rows:
                self._next += 1
                conn.execute(insert(self.stock.tables.movements).values(
                    id=self._next, item=item, site=site, lot="", qty=Decimal(str(qty)),
                    value=None if value is None else Decimal(str(value)), date=date,
                    source_form="receipts" if qty > 0 else "issues", source_record=self._next))
                out.append(self._next)
        return out

    def run(self, doc, params=None, today=AS_OF):
        compiled = compile_dataset(doc, self.sources)
        with self.engine.connect() as conn:
            return compiled.run(conn, params, today=today)


@pytest.fixture
def world(database_url):
    w = World(database_url)
    yield w
    w.engine.dispose()


def test_abc_classes_by_cumulative_share(world):
    # Values 500, 300, 100, 50, 30, 20 (total 1000): cumulative 50 %, 80 %, 90 %, 95 %,
    # 98 %, 100 %. With thresholds 80 % / 95 %: A = items 1, 2; B = 3, 4; C = 5, 6.
    values = {1: 500, 2: 300, 3: 100, 4: 50, 5: 30, 6: 20}
    world.moves([(item, 1, 1, value / 2, dt.date(2026, 5, 1)) for item, value in values.items()]
                + [(item, 2, 1, value / 2, dt.date(2026, 5, 2)) for item, value in values.items()])
    doc = {"key": "abc",
           "parameters": {"a": {"type": "number", "default": 0.8}},
           "dataset": {"source": {"ledger": "stock"},
                       "dimensions": [{"key": "code", "field": "item.code"}],
                       "measures": [{"key": "value", "agg": "sum", "field": "value"}],
                       "abc": {"measure": "value", "thresholds": [{"param": "a"}, 0.95]}}}
    result = world.run(doc)
    rows = [(r["code"], r["value"], r["cumulative_share"], r["class"], r["rank"])
            for r in result.records()]
    assert rows == [
        ("P", 500, Decimal("0.5"), "A", 1), ("A", 300, Decimal("0.8"), "A", 2),
        ("B", 100, Decimal("0.9"), "B", 3), ("C", 50, Decimal("0.95"), "B", 4),
        ("D", 30, Decimal("0.98"), "C", 5), ("E", 20, Decimal("1"), "C", 6)]
    assert result.column("share")[1] == Decimal("0.3")
    # The threshold is a parameter: at 50 % only the first item is A.
    assert world.run(doc, {"a": "0.5"}).column("class") == ["A", "B", "B", "B", "C", "C"]


AGES = [0, 30, 31, 90, 91, 180, 181, 400]


def test_ageing_buckets_and_their_drill_down(world):
    ids = world.moves([(1, 1, 10 * (i + 1), None, AS_OF - dt.timedelta(days=age))
                       for i, age in enumerate(AGES)])
    doc = {"key": "ageing", "dataset": {
        "source": {"ledger": "stock"},
        "dimensions": [{"key": "age", "field": "date", "age": [30, 90, 180]}],
        "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                     {"key": "n", "agg": "count"}]}}
    result = world.run(doc)
    # qty 10..80 for ages 0, 30 | 31, 90 | 91, 180 | 181, 400
    assert result.records() == [
        {"age": "0-30", "qty": 30, "n": 2}, {"age": "31-90", "qty": 70, "n": 2},
        {"age": "91-180", "qty": 110, "n": 2}, {"age": ">180", "qty": 150, "n": 2}]
    from engines.reports import drill_down, drill_records, parse_report
    report = parse_report(doc)
    with world.engine.connect() as conn:
        for index, label in enumerate(["0-30", "31-90", "91-180", ">180"]):
            drill = drill_down(report, {"age": label}, today=AS_OF)
            assert drill_records(conn, drill, world.sources, today=AS_OF) == \
                ids[2 * index:2 * index + 2]


def test_turnover_is_division_safe(world):
    # P: received 100, issued 60 -> on hand 40, turnover 1.5.
    # A: received 50, issued 50 -> on hand 0: turnover blank, not an error.
    # B: received 20, nothing issued -> turnover 0.
    world.moves([(1, 1, 100, None, dt.date(2026, 1, 5)), (1, 1, -60, None, dt.date(2026, 2, 5)),
                 (2, 1, 50, None, dt.date(2026, 1, 5)), (2, 2, -50, None, dt.date(2026, 3, 1)),
                 (3, 1, 20, None, dt.date(2026, 1, 9))])
    doc = {"key": "turnover", "dataset": {
        "source": {"ledger": "stock"},
        "dimensions": [{"key": "item", "field": "item.code"}],
        "measures": [{"key": "issued", "agg": "sum", "expr": "-qty", "where": "qty < 0"},
                     {"key": "on_hand", "agg": "sum", "field": "qty"},
                     {"key": "turnover", "calc": "IF(ISBLANK(issued), 0, issued) / on_hand",
                      "decimals": 2}],
        "totals": True}}
    result = world.run(doc)
    assert [(r["item"], r["issued"], r["on_hand"], r["turnover"]) for r in result.records()] \
        == [("A", 50, 0, None), ("B", None, 20, 0), ("P", 60, 40, Decimal("1.5"))]
    totals = dict(zip([c.key for c in result.columns], result.totals, strict=True))
    assert totals["issued"] == 110 and totals["on_hand"] == 60
    assert totals["turnover"] == Decimal(110) / 60 or abs(totals["turnover"] - Decimal(110) / 60) \
        < Decimal("1e-8")


def test_period_over_period_moving_average_and_turnover_trend(world):
    # Issues: Jan 10, Feb 20, (none in Mar), Apr 40; receipts: Jan 100.
    world.moves([(1, 1, 100, None, dt.date(2026, 1, 2)), (1, 1, -10, None, dt.date(2026, 1, 20)),
                 (1, 1, -20, None, dt.date(2026, 2, 10)), (1, 1, -40, None, dt.date(2026, 4, 3))])
    doc = {"key": "trend", "dataset": {
        "source": {"ledger": "stock"},
        "dimensions": [{"key": "month", "field": "date", "bucket": "month"}],
        "measures": [{"key": "issued", "agg": "sum", "expr": "-qty", "where": "qty < 0"},
                     {"key": "net", "agg": "sum", "field": "qty"},
                     {"key": "previous", "window": "previous", "of": "issued"},
                     {"key": "change", "window": "change", "of": "issued"},
                     {"key": "avg3", "window": "moving_avg", "of": "issued", "periods": 3},
                     {"key": "stock", "window": "running_total", "of": "net"},
                     {"key": "turnover", "calc": "issued / stock"}]}}
    rows = [(r["month"], r["issued"], r["previous"], r["change"], r["avg3"], r["stock"],
             r["turnover"]) for r in world.run(doc).records()]
    assert rows == [
        # first month: no previous period, no full 3-month window
        ("2026-01", 10, None, None, None, 90, Decimal(10) / 90 if False else rows[0][6]),
        ("2026-02", 20, 10, 1, None, 70, rows[1][6]),
        # March had no movement: April's previous period is 0, its change blank
        ("2026-04", 40, 0, None, Decimal(20), 30, rows[2][6]),
    ]
    assert abs(rows[0][6] - Decimal(10) / 90) < Decimal("1e-9")
    assert abs(rows[1][6] - Decimal(20) / 70) < Decimal("1e-9")
    assert abs(rows[2][6] - Decimal(40) / 30) < Decimal("1e-9")


# ---- tree explosion -------------------------------------------------------------------

# P: A x2, B x1, C x3;  A: C x1, D x4;  B: E x2;  C: D x2, F x5;  E: C x1, G x10.
# C is shared (under P, A and E); the deepest path P > B > E > C > D is 4 levels.
BOM = {1: [(2, 2), (3, 1), (4, 3)], 2: [(4, 1), (5, 4)], 3: [(6, 2)], 4: [(5, 2), (7, 5)],
       6: [(4, 1), (8, 10)]}


def load_bom(world, extra=None, status="released"):
    with world.engine.begin() as conn:
        line = 0
        structure = {**BOM, **(extra or {})}
        for bom_id, (product, lines) in enumerate(structure.items(), start=1):
            conn.execute(insert(world.tables["boms"]).values(
                id=bom_id, _created_by=1, product=product, status=status))
            for n, (component, qty) in enumerate(lines, start=1):
                line += 1
                conn.execute(insert(world.tables["boms.lines"]).values(
                    id=line, parent_id=bom_id, line_no=n, component=component,
                    qty=Decimal(qty)))


def explosion(summary="lines", quantity=None, fields=("code",)):
    tree = {"parent": "parent.product", "child": "component", "qty": "qty",
            "root": {"param": "product"}, "summary": summary, "fields": list(fields)}
    if quantity is not None:
        tree["quantity"] = {"param": "quantity"}
    return {"key": "explode",
            "parameters": {"product": {"type": "relation", "target": "items", "required": True},
                           "quantity": {"type": "number", "default": 1}},
            "dataset": {"source": "boms.lines", "filters": [{"parent.status": "released"}],
                        "tree": tree}}


def test_tree_explosion_lines_with_levels(world):
    load_bom(world)
    result = world.run(explosion(), {"product": 1})
    lines = sorted((r["level"], r["path"], r["code"], r["qty"]) for r in result.records())
    assert lines == sorted([
        (1, "/1/2/", "A", 2), (1, "/1/3/", "B", 1), (1, "/1/4/", "C", 3),
        (2, "/1/2/4/", "C", 2), (2, "/1/2/5/", "D", 8), (2, "/1/3/6/", "E", 2),
        (2, "/1/4/5/", "D", 6), (2, "/1/4/7/", "F", 15),
        (3, "/1/2/4/5/", "D", 4), (3, "/1/2/4/7/", "F", 10), (3, "/1/3/6/4/", "C", 2),
        (3, "/1/3/6/8/", "G", 20),
        (4, "/1/3/6/4/5/", "D", 4), (4, "/1/3/6/4/7/", "F", 10)])


def test_tree_explosion_totals_per_item_and_leaves(world):
    load_bom(world)
    items = world.run(explosion("items", quantity=True), {"product": 1, "quantity": 10})
    assert [(r["code"], r["qty"]) for r in items.records()] == [
        ("A", 20), ("B", 10), ("C", 70), ("D", 220), ("E", 20), ("F", 350), ("G", 200)]
    leaves = world.run(explosion("leaves"), {"product": 1})
    assert [(r["code"], r["qty"]) for r in leaves.records()] == [("D", 22), ("F", 35),
                                                                 ("G", 20)]
    # A sub-assembly explodes on its own too.
    sub = world.run(explosion("items"), {"product": 6})
    assert [(r["code"], r["qty"]) for r in sub.records()] == [("C", 1), ("D", 2), ("F", 5),
                                                              ("G", 10)]


def test_tree_explosion_stops_at_a_cycle_and_respects_filters(world):
    load_bom(world, extra={7: [(1, 1)]})  # F contains P: a cycle
    result = world.run(explosion("items"), {"product": 1})
    assert dict((r["code"], r["qty"]) for r in result.records())["F"] == 35
    with world.engine.begin() as conn:
        conn.execute(world.tables["boms"].update().where(world.tables["boms"].c.product == 4)
                     .values(status="draft"))
    without_c = world.run(explosion("leaves"), {"product": 1})
    # With C's BOM not released, C is a leaf: 7 of it; D only through A (8).
    assert [(r["code"], r["qty"]) for r in without_c.records()] == [("C", 7), ("D", 8),
                                                                    ("G", 20)]
    with pytest.raises(ReportError, match="needs a value for 'product'"):
        world.run(explosion())


# ---- forecasts ------------------------------------------------------------------------

SERIES = {dt.date(2026, 1, 10): 10, dt.date(2026, 2, 10): 20, dt.date(2026, 4, 10): 40,
          dt.date(2026, 5, 10): 30, dt.date(2026, 6, 10): 50}


def forecast_doc(method, **options):
    return {"key": "forecast", "dataset": {
        "source": {"ledger": "stock"}, "filters": ["qty < 0"],
        "dimensions": [{"key": "item", "field": "item.code"},
                       {"key": "month", "field": "date", "bucket": "month"}],
        "measures": [{"key": "demand", "agg": "sum", "expr": "-qty"}],
        "forecast": {"measure": "demand", "method": method, "horizon": 3, **options}}}


def test_moving_average_forecast(world):
    world.moves([(1, 1, -qty, None, day) for day, qty in SERIES.items()])
    rows = [(r["month"], r["demand"], r["fitted"], r["forecast"])
            for r in world.run(forecast_doc("moving_average", periods=3)).records()]
    third = Decimal(70) / 3
    assert rows[:6] == [("2026-01", 10, None, None), ("2026-02", 20, None, None),
                        ("2026-03", 0, None, None), ("2026-04", 40, 10, None),
                        ("2026-05", 30, 20, None), ("2026-06", 50, rows[5][2], None)]
    assert abs(rows[5][2] - third) < Decimal("1e-9")
    assert rows[6:] == [("2026-07", None, None, 40), ("2026-08", None, None, 40),
                        ("2026-09", None, None, 40)]


def test_exponential_smoothing_forecast(world):
    world.moves([(1, 1, -qty, None, day) for day, qty in SERIES.items()])
    world.moves([(2, 1, -5, None, dt.date(2026, 6, 1))])
    result = world.run(forecast_doc("exponential", alpha=0.5))
    a = [(r["month"], r["fitted"], r["forecast"]) for r in result.records() if r["item"] == "P"]
    # level: 10, 15, 7.5, 23.75, 26.875, 38.4375 (alpha 0.5; March is 0)
    assert a == [("2026-01", None, None), ("2026-02", 10, None), ("2026-03", 15, None),
                 ("2026-04", Decimal("7.5"), None), ("2026-05", Decimal("23.75"), None),
                 ("2026-06", Decimal("26.875"), None), ("2026-07", None, Decimal("38.4375")),
                 ("2026-08", None, Decimal("38.4375")), ("2026-09", None, Decimal("38.4375"))]
    # A only moved in June: zeros before, level 0 -> 0 ... -> 2.5 after June.
    b = [(r["month"], r["demand"], r["forecast"]) for r in result.records() if r["item"] == "A"]
    assert b[0] == ("2026-01", 0, None) and b[5] == ("2026-06", 5, None)
    assert b[6] == ("2026-07", None, Decimal("2.5"))


def test_forecast_functions_directly():
    values = [Decimal(v) for v in (10, 20, 0, 40, 30, 50)]
    fitted, future = forecast_series(values, "moving_average", periods=2, horizon=2)
    assert fitted == [None, None, 15, 10, 20, 35] and future == [40, 40]
    fitted, future = forecast_series(values, "exponential", alpha=Decimal("0.5"), horizon=1)
    assert future == [Decimal("38.4375")]


# ---- ledger balances and the metric comparison ----------------------------------------

def test_metric_compares_with_the_previous_period(world):
    world.moves([(1, 1, -30, None, dt.date(2026, 5, 3)), (1, 1, -20, None, dt.date(2026, 6, 1)),
                 (1, 2, -30, None, dt.date(2026, 6, 14)), (1, 1, -99, None, dt.date(2026, 4, 30))])
    from engines.reports import parse_report, run_report
    report = parse_report({
        "key": "issued_this_month", "label": {"zh": "本月出库", "en": "Issued this month"},
        "dataset": {"source": {"ledger": "stock"},
                    "measures": [{"key": "issued", "agg": "sum", "expr": "-qty",
                                  "where": "qty < 0"},
                                 {"key": "moves", "agg": "count"},
                                 {"key": "per_move", "calc": "issued / moves"}]},
        "widget": {"type": "metric", "value": "issued",
                   "compare": {"field": "date", "period": "month"}}})
    with world.engine.connect() as conn:
        out = run_report(conn, report, world.sources, today=AS_OF, lang="en")
    assert out["rows"] == [[50, 2, 25]]
    assert out["previous"] == 30 and out["periods"] == ["2026-06", "2026-05"]
    indicator = out["figure"]["data"][0]
    assert indicator["type"] == "indicator" and indicator["value"] == 50
    assert indicator["delta"]["reference"] == 30
    assert out["figure"]["layout"]["title"]["text"] == "Issued this month"


def test_posted_movements_and_balances_of_a_ledger(world):
    """Movements posted by the ledger engine, reported from movements and balances."""
    from engines.ledgers import post_movements
    with world.engine.begin() as conn:
        post_movements(conn, world.stock, [
            {"item": 1, "site": 1, "lot": "L1", "qty": 10, "date": dt.date(2026, 5, 2)},
            {"item": 1, "site": 2, "lot": "L2", "qty": 7, "date": dt.date(2026, 5, 3)},
            {"item": 2, "site": 1, "lot": "L3", "qty": 4, "date": dt.date(2026, 5, 3)}],
            source=("receipts", 1))
        post_movements(conn, world.stock, [
            {"item": 1, "site": 1, "lot": "L1", "qty": -6, "date": dt.date(2026, 6, 1)}],
            source=("issues", 1))
    on_hand = world.run({"key": "on_hand", "dataset": {
        "source": {"ledger": "stock", "part": "balances"},
        "dimensions": [{"key": "site", "field": "site.name"}],
        "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                     {"key": "lots", "agg": "count_distinct", "field": "lot"}],
        "totals": True}})
    assert on_hand.records() == [{"site": "一厂", "qty": 8, "lots": 2},
                                 {"site": "二厂", "qty": 7, "lots": 1}]
    assert on_hand.totals[1:] == [15, 3]
    by_document = world.run({"key": "docs", "dataset": {
        "source": {"ledger": "stock"},
        "filters": [{"source_form": "receipts"}],
        "dimensions": [{"key": "item", "field": "item.name"}],
        "measures": [{"key": "qty", "agg": "sum", "field": "qty"}]}})
    assert by_document.records() == [{"item": "成品", "qty": 17}, {"item": "组件A", "qty": 4}]
