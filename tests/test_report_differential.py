"""Differential tests: random datasets over random data give the numbers pandas gives
for the same aggregation, and filters give the records Loom's Python expression
evaluator selects — on SQLite and on PostgreSQL.

The tables are shaped like form tables (``id``, ``_created_by``, one column per field,
a subtable with ``parent_id``), behind a small ``Sources`` of the test's own;
``TableSources`` and ``Fixture`` are reused by the other report tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    delete,
    insert,
)

from engines.expr import compile_expression
from engines.reports import SourceField, SourceTable, compile_dataset, parse_report
from engines.reports.sources import ledger_source
from runtime.storage.physical import DecimalNumber

TODAY = dt.date(2026, 11, 21)
ITEMS = [  # id, created_by, code, name, category, cost
    (1, 1, "M-01", "主控芯片", "chip", Decimal("18.5")),
    (2, 1, "M-02", "bolt", "mechanical", Decimal("0.25")),
    (3, 2, "M-03", "Bolt", "mechanical", Decimal("1.5")),
    (4, 1, "M-04", "彩盒", None, Decimal("2")),
]
SITES = [(1, 1, "东厂", "north"), (2, 2, "West", "south"), (3, 1, "south hall", None)]


def build_tables(metadata: MetaData) -> dict[str, Table]:
    def system():
        return [Column("id", Integer, primary_key=True), Column("_created_by", Integer)]

    sites = Table("t_sites", metadata, *system(), Column("name", Text), Column("region", Text))
    items = Table("t_items", metadata, *system(), Column("code", Text), Column("name", Text),
                  Column("category", Text), Column("cost", DecimalNumber()))
    docs = Table("t_docs", metadata, *system(), Column("day", Date),
                 Column("site", Integer, ForeignKey("t_sites.id")), Column("status", Text),
                 Column("urgent", Boolean))
    lines = Table("t_docs__lines", metadata, Column("id", Integer, primary_key=True),
                  Column("parent_id", Integer, ForeignKey("t_docs.id"), nullable=False),
                  Column("line_no", Integer, nullable=False),
                  Column("item", Integer, ForeignKey("t_items.id")),
                  Column("qty", DecimalNumber()), Column("price", DecimalNumber()),
                  Column("kind", Text))
    return {"sites": sites, "items": items, "docs": docs, "docs.lines": lines}


FIELDS = {
    "sites": {"name": "text", "region": "select"},
    "items": {"code": "text", "name": "text", "category": "select", "cost": "money"},
    "docs": {"day": "date", "site": ("relation", "sites"), "status": "select",
             "urgent": "checkbox"},
    "docs.lines": {"item": ("relation", "items"), "qty": "number", "price": "money",
                   "kind": "select"},
}


class TableSources:
    """``Sources`` over the test tables; ``readers`` (a set of creator ids) limits the
    rows of every form to those created by them, as a row permission does. ``fields``
    describes the forms (key -> field -> type or (relation, target)); ``ledgers`` maps
    keys to ``engines.ledgers.Ledger``."""

    def __init__(self, tables: dict[str, Table], readers: set[int] | None = None, *,
                 fields: dict | None = None, ledgers: dict | None = None):
        self.tables = tables
        self.readers = readers
        self.fields = fields or FIELDS
        self.ledgers = ledgers or {}

    def _source(self, key: str) -> SourceTable:
        table = self.tables[key]
        fields = {"id": SourceField(table.c.id, "integer")}
        for name, kind in self.fields[key].items():
            kind, target = kind if isinstance(kind, tuple) else (kind, None)
            fields[name] = SourceField(table.c[name], kind, target, label={"zh": name})
        form, _, sub = key.partition(".")
        subtables = frozenset(k.split(".")[1] for k in self.tables if k.startswith(f"{key}."))
        return SourceTable(key, table, fields, form=form, parent=form if sub else None,
                           subtables=subtables)

    def table_for(self, form):
        if form not in self.tables or "." in form:
            raise KeyError(form)
        return self._source(form)

    def subtable_for(self, form, subtable):
        return self._source(f"{form}.{subtable}")

    def ledger_table(self, ledger, part):
        return ledger_source(self.ledgers[ledger], part)

    def row_filter(self, source, table):
        if self.readers is None or source.parent:
            return None
        return table.c._created_by.in_(sorted(self.readers))


@dataclass
class Fixture:
    """An engine with the test tables; ``load`` replaces their rows."""

    url: str
    metadata: MetaData = field(default_factory=MetaData)

    def __post_init__(self):
        self.engine = create_engine(self.url)
        self.tables = build_tables(self.metadata)
        self.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(insert(self.tables["sites"]), [
                dict(zip(("id", "_created_by", "name", "region"), s, strict=True))
                for s in SITES])
            conn.execute(insert(self.tables["items"]), [
                dict(zip(("id", "_created_by", "code", "name", "category", "cost"), i,
                         strict=True)) for i in ITEMS])

    def load(self, docs: list[dict]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.tables["docs.lines"]))
            conn.execute(delete(self.tables["docs"]))
            heads = [{k: v for k, v in d.items() if k != "lines"} for d in docs]
            lines = [dict(line, parent_id=d["id"], line_no=n)
                     for d in docs for n, line in enumerate(d["lines"], start=1)]
            if heads:
                conn.execute(insert(self.tables["docs"]), heads)
            if lines:
                conn.execute(insert(self.tables["docs.lines"]), lines)

    def sources(self, readers=None) -> TableSources:
        return TableSources(self.tables, readers)


@pytest.fixture
def fixture(database_url):
    fx = Fixture(database_url)
    yield fx
    fx.engine.dispose()


# ---- random data --------------------------------------------------------------------

numbers = st.one_of(st.none(), st.integers(-3, 40).map(Decimal),
                    st.sampled_from([Decimal("0.25"), Decimal("2.5"), Decimal("7.75")]))
# Edges of age bins, months, quarters, ISO years and weeks are where off-by-one hides.
EDGE_DAYS = [TODAY - dt.timedelta(days=n) for n in (0, 30, 31, 90, 91, 180, 181)] + [
    dt.date(2025, 12, 28), dt.date(2025, 12, 29), dt.date(2026, 1, 1), dt.date(2026, 1, 4),
    dt.date(2026, 1, 5), dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2026, 12, 31)]
days = st.one_of(st.none(), st.dates(dt.date(2025, 6, 1), dt.date(2026, 12, 31)),
                 st.sampled_from(EDGE_DAYS))
line_rows = st.fixed_dictionaries({
    "item": st.sampled_from([None, 1, 2, 3, 4]), "qty": numbers,
    "price": st.sampled_from([None, Decimal("0"), Decimal("0.5"), Decimal("4"), Decimal("12.25")]),
    "kind": st.sampled_from([None, "in", "out"])})
doc_rows = st.lists(st.fixed_dictionaries({
    "_created_by": st.sampled_from([1, 2]), "day": days,
    "site": st.sampled_from([None, 1, 2, 3]), "status": st.sampled_from([None, "open", "done"]),
    "urgent": st.sampled_from([None, True, False]),
    "lines": st.lists(line_rows, max_size=4)}), max_size=9).map(
    lambda docs: [dict(d, id=i) for i, d in enumerate(docs, start=1)])


def flat_lines(docs, readers=None) -> list[dict]:
    """Every line with the values of its paths, as the report sees them."""
    items = {i[0]: i for i in ITEMS}
    sites = {s[0]: s for s in SITES}
    visible = (lambda creator: True) if readers is None else (lambda creator: creator in readers)
    rows = []
    for d in docs:
        if not visible(d["_created_by"]):
            continue
        site = sites.get(d["site"])
        site = site if site and visible(site[1]) else None
        for line in d["lines"]:
            item = items.get(line["item"])
            item = item if item and visible(item[1]) else None
            # The id of a linked record is the line's own column: readable even when
            # the record itself is not.
            linked = None if line["item"] is None else {
                "id": line["item"], "name": item[3] if item else None,
                "category": item[4] if item else None}
            rows.append({
                "qty": line["qty"], "price": line["price"], "kind": line["kind"],
                "item": line["item"],
                "item.name": item[3] if item else None,
                "item.category": item[4] if item else None,
                "parent.day": d["day"], "parent.status": d["status"],
                "parent.urgent": d["urgent"],
                "parent.site.name": site[2] if site else None,
                "parent.site.region": site[3] if site else None,
                "_record": {
                    "qty": line["qty"], "price": line["price"], "kind": line["kind"],
                    "item": linked,
                    "parent": {"day": d["day"], "status": d["status"], "urgent": d["urgent"],
                               "site": {"name": site[2], "region": site[3]} if site else None}},
            })
    return rows


DESCRIPTION = {
    "qty": "number", "price": "money", "kind": "select",
    "item": {"type": "relation", "fields": {"id": "number", "name": "text",
                                            "category": "select"}},
    "parent": {"type": "relation", "fields": {
        "day": "date", "status": "select", "urgent": "checkbox",
        "site": {"type": "relation", "fields": {"name": "text", "region": "select"}}}},
}


@functools.cache
def _compiled(expr: str):
    return compile_expression(expr, DESCRIPTION)


def loom_value(expr: str, record: dict):
    return _compiled(expr).evaluate(record, {"now": dt.datetime(TODAY.year, TODAY.month,
                                                                TODAY.day)})


# ---- random datasets ----------------------------------------------------------------

DIMENSIONS = {
    "category": {"field": "item.category"},
    "item_name": {"field": "item.name"},
    "item": {"field": "item"},
    "kind": {"field": "kind"},
    "site": {"field": "parent.site.name"},
    "status": {"field": "parent.status"},
    "urgent": {"field": "parent.urgent"},
    "day": {"field": "parent.day", "bucket": "day"},
    "week": {"field": "parent.day", "bucket": "week"},
    "month": {"field": "parent.day", "bucket": "month"},
    "quarter": {"field": "parent.day", "bucket": "quarter"},
    "year": {"field": "parent.day", "bucket": "year"},
    "size": {"field": "qty", "bins": [0, 10]},
    "age": {"field": "parent.day", "age": [30, 90, 180]},
    "big": {"expr": 'IF(qty * price > 20, "big", "small")'},
}
MEASURES = {
    "qty": {"agg": "sum", "field": "qty"},
    "amount": {"agg": "sum", "expr": "qty * price"},
    "lines": {"agg": "count"},
    "with_item": {"agg": "count", "field": "item"},
    "items": {"agg": "count_distinct", "field": "item"},
    "avg_qty": {"agg": "avg", "field": "qty"},
    "min_price": {"agg": "min", "field": "price"},
    "max_qty": {"agg": "max", "field": "qty"},
    "first_day": {"agg": "min", "field": "parent.day"},
    "outbound": {"agg": "sum", "field": "qty", "where": 'kind = "out"'},
    "out_lines": {"agg": "count", "where": 'kind = "out"'},
}
DICT_FILTERS = [
    {"kind": "in"}, {"qty__gte": 3}, {"qty__lt": 10}, {"item.category__in": ["chip", "mechanical"]},
    {"parent.status__empty": True}, {"parent.site.region": "north"}, {"item.name__contains": "B"},
    {"kind__ne": "out"}, {"parent.day__gte": "2026-01-01"}, {"price__empty": False},
]
comparisons = st.one_of(
    st.builds(lambda f, op, n: f"{f} {op} {n}",
              st.sampled_from(["qty", "price", "qty * price", "qty + price", "-qty",
                               "price / qty", "ROUND(qty / 3, 1)", "ABS(qty - 5)"]),
              st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), st.integers(-2, 25)),
    st.builds(lambda f, op, v: f'{f} {op} "{v}"',
              st.sampled_from(["kind", "item.category", "item.name", "parent.site.name",
                               "LOWER(item.name)"]),
              st.sampled_from(["=", "<>", "<", ">="]),
              st.sampled_from(["in", "OUT", "chip", "bolt", "东厂", ""])),
    st.builds(lambda f, vs: f"{f} IN ({vs})", st.sampled_from(["kind", "item.category"]),
              st.sampled_from(['"in", "chip"', '"OUT", "mechanical", ""', '"out"'])),
    st.builds(lambda f, vs: f"{f} IN ({vs})", st.sampled_from(["qty", "price", "item.id"]),
              st.sampled_from(["1, 2, 3", "0, 5", "4, 12.25"])),
    st.sampled_from(["parent.day >= DATE(2026, 3, 1)", "parent.day < DATE(2026, 1, 1)",
                     "DAYS(TODAY(), parent.day) > 90", "YEAR(parent.day) = 2026",
                     "parent.status = BLANK", "ISBLANK(item.category)", "parent.urgent",
                     "NOT parent.urgent", "MONTH(parent.day) IN (1, 2, 3)",
                     'item.category & kind = "chipin"', "LEN(item.name) > 3"]),
)
expressions = st.recursive(
    comparisons,
    lambda inner: st.one_of(st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
                            st.builds(lambda a, b: f"({a}) OR ({b})", inner, inner),
                            st.builds(lambda a: f"NOT ({a})", inner)),
    max_leaves=3)


@st.composite
def datasets(draw):
    dims = draw(st.lists(st.sampled_from(sorted(DIMENSIONS)), unique=True, max_size=2))
    measures = draw(st.lists(st.sampled_from(sorted(MEASURES)), unique=True, min_size=1,
                             max_size=4))
    filters = draw(st.lists(st.sampled_from(DICT_FILTERS), max_size=2))
    filters += draw(st.lists(expressions, max_size=1))
    dataset = {"source": "docs.lines", "filters": filters,
               "dimensions": [{"key": k, **DIMENSIONS[k]} for k in dims],
               "measures": [{"key": k, **MEASURES[k]} for k in measures],
               "totals": draw(st.booleans())}
    if "amount" in measures and "qty" in measures:
        dataset["measures"].append({"key": "unit_price", "calc": "amount / qty"})
    if dims and draw(st.booleans()):
        first = next(m for m in measures if m in ("qty", "amount", "lines", "with_item",
                                                  "items")) if set(measures) & {
            "qty", "amount", "lines", "with_item", "items"} else None
        if first:
            dataset["sort"] = [f"-{first}"]
            dataset["limit"] = draw(st.integers(1, 4))
    return dataset


# ---- the oracle ---------------------------------------------------------------------

def bin_index(value, edges):
    if value is None:
        return None
    for i, edge in enumerate(edges):
        if value <= edge:
            return i
    return len(edges)


def dimension_value(spec: dict, row: dict):
    from engines.reports.builder import age_labels, bin_labels
    if "expr" in spec:
        return loom_value(spec["expr"], row["_record"])
    value = row[spec["field"]]
    if "bucket" in spec:
        if value is None:
            return None
        return {"day": value.isoformat(), "month": f"{value:%Y-%m}", "year": f"{value:%Y}",
                "quarter": f"{value.year}-Q{(value.month - 1) // 3 + 1}",
                "week": "{}-W{:02d}".format(*value.isocalendar()[:2])}[spec["bucket"]]
    if "bins" in spec:
        index = bin_index(value, spec["bins"])
        return None if index is None else bin_labels(spec["bins"])[index]
    if "age" in spec:
        index = None if value is None else bin_index((TODAY - value).days, spec["age"])
        return None if index is None else age_labels(spec["age"])[index]
    return value


def order_value(spec: dict, value):
    from engines.reports.builder import age_labels, bin_labels
    if value is None:
        return (1, 0)
    if "bins" in spec:
        return (0, bin_labels(spec["bins"]).index(value))
    if "age" in spec:
        return (0, age_labels(spec["age"]).index(value))
    return (0, value)


LIST_OPS = {"eq": lambda v, w: v == w, "ne": lambda v, w: v != w, "gte": lambda v, w: v >= w,
            "lt": lambda v, w: v < w, "in": lambda v, w: v in w,
            "contains": lambda v, w: str(w).lower() in str(v).lower()}


def holds(flt, row) -> bool:
    if isinstance(flt, str):
        return loom_value(flt, row["_record"]) is True
    for name, value in flt.items():
        path, _, op = name.partition("__")
        op = op or "eq"
        v = row[path]
        if op == "empty":
            if (v is None) != bool(value):
                return False
            continue
        if v is None:
            return False
        if path == "parent.day":
            value = dt.date.fromisoformat(value)
        if not LIST_OPS[op](v, value):
            return False
    return True


def expected(dataset: dict, rows: list[dict]):
    """(groups {key tuple: {measure: value}}, ordered keys, totals) computed with pandas."""
    kept = [r for r in rows if all(holds(f, r) for f in dataset["filters"])]
    dims = dataset["dimensions"]
    frame = pd.DataFrame({
        **{f"d{i}": pd.Series([dimension_value(d, r) for r in kept], dtype=object)
           for i, d in enumerate(dims)},
        "qty": pd.Series([_float(r["qty"]) for r in kept], dtype=float),
        "amount": pd.Series([_float(loom_value("qty * price", r["_record"])) for r in kept],
                            dtype=float),
        "price": pd.Series([_float(r["price"]) for r in kept], dtype=float),
        "item": pd.Series([r["item"] for r in kept], dtype=object),
        "day": pd.Series([r["parent.day"] for r in kept], dtype=object),
        "kind": pd.Series([r["kind"] for r in kept], dtype=object),
        "outbound": pd.Series([_float(r["qty"]) if r["kind"] == "out" else math.nan
                               for r in kept], dtype=float),
    })

    def aggregate(group: pd.DataFrame) -> dict:
        out = {}
        for m in dataset["measures"]:
            key = m["key"]
            out[key] = {
                "qty": lambda: group["qty"].sum(min_count=1),
                "amount": lambda: group["amount"].sum(min_count=1),
                "lines": lambda: len(group),
                "with_item": lambda: int(group["item"].notna().sum()),
                "items": lambda: int(group["item"].dropna().nunique()),
                "avg_qty": lambda: group["qty"].mean(),
                "min_price": lambda: group["price"].min(),
                "max_qty": lambda: group["qty"].max(),
                "first_day": lambda: min((d for d in group["day"] if d is not None),
                                         default=None),
                "outbound": lambda: group["outbound"].sum(min_count=1),
                "out_lines": lambda: int((group["kind"] == "out").sum()),
                "unit_price": lambda: None,
            }[key]()
        if "unit_price" in out:
            q, a = out["qty"], out["amount"]
            out["unit_price"] = None if _missing(q) or _missing(a) or q == 0 else a / q
        return {k: None if _missing(v) else v for k, v in out.items()}

    groups = {}
    if dims:
        for key, group in frame.groupby([f"d{i}" for i in range(len(dims))], dropna=False,
                                        sort=False):
            key = key if isinstance(key, tuple) else (key,)
            groups[tuple(None if _missing(k) else k for k in key)] = aggregate(group)
    else:
        groups[()] = aggregate(frame)
    order = sorted(groups, key=lambda k: tuple(order_value(d, v) for d, v in zip(dims, k,
                                                                                   strict=True)))
    if dataset.get("sort"):
        first = dataset["sort"][0].lstrip("-")
        order = sorted(order, key=lambda k: (groups[k][first] is None,
                                             -(groups[k][first] or 0)))
        order = order[:dataset["limit"]]
    return groups, order, aggregate(frame)


def _float(value):
    return math.nan if value is None else float(value)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def same(a, b) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    if isinstance(a, Decimal | float | int) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b


# ---- the tests ----------------------------------------------------------------------

SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=70, deadline=None, suppress_health_check=SLOW)
@given(docs=doc_rows, dataset=datasets(), restricted=st.booleans())
def test_datasets_match_pandas(fixture, docs, dataset, restricted):
    fixture.load(docs)
    readers = {1} if restricted else None
    report = parse_report({"key": "random", "dataset": dataset})
    compiled = compile_dataset(report, fixture.sources(readers))
    with fixture.engine.connect() as conn:
        result = compiled.run(conn, today=TODAY)
    groups, order, totals = expected(dataset, flat_lines(docs, readers))
    dims = [d["key"] for d in dataset["dimensions"]]
    got = {tuple(r[k] for k in dims): r for r in result.records()}
    if dataset.get("limit"):
        assert [tuple(r[k] for k in dims) for r in result.records()] == order
    else:
        assert set(got) == set(groups)
        assert list(got) == order
    for key in order:
        for name, value in groups[key].items():
            assert same(got[key][name], value), (key, name, got[key][name], value)
    if dataset["totals"]:
        row = dict(zip([c.key for c in result.columns], result.totals, strict=True))
        for name, value in totals.items():
            assert same(row[name], value), (name, row[name], value)


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(docs=doc_rows, condition=expressions)
def test_expression_filters_select_what_the_evaluator_selects(fixture, docs, condition):
    """The same condition, compiled to SQL, keeps exactly the lines for which Loom's
    Python evaluator says TRUE — blanks, text case, division by zero included."""
    fixture.load(docs)
    doc = {"key": "ids", "dataset": {"source": "docs.lines", "filters": [condition],
                                     "dimensions": [{"key": "line", "field": "id"}],
                                     "measures": [{"key": "n", "agg": "count"}]}}
    with fixture.engine.connect() as conn:
        result = compile_dataset(doc, fixture.sources()).run(conn, today=TODAY)
    ids = _line_ids(fixture)  # in the order flat_lines lists the lines
    records = flat_lines(docs)
    wanted = {i for i, r in zip(ids, records, strict=True)
              if loom_value(condition, r["_record"]) is True}
    assert set(result.column("line")) == wanted


# Every TRUE / FALSE / blank combination of a checkbox in AND, OR and NOT, with
# quantities that are blank, zero and positive: blanks are skipped by AND / OR, all
# blank is #VALUE!, NOT of a blank is TRUE — the SQL must select what the evaluator does.
BLANK_LOGIC_DOCS = [
    {"id": n, "_created_by": 1, "day": None, "site": None, "status": None, "urgent": urgent,
     "lines": [{"item": None, "qty": qty, "price": None, "kind": None}
               for qty in (None, Decimal(0), Decimal(4))]}
    for n, urgent in enumerate((None, True, False), start=1)]
BLANK_LOGIC = [
    "parent.urgent AND qty > 3", "NOT (parent.urgent AND qty > 3)",
    "parent.urgent OR qty > 3", "NOT (parent.urgent OR qty > 3)",
    "parent.urgent AND parent.urgent", "NOT (parent.urgent AND parent.urgent)",
    "parent.urgent OR parent.urgent", "NOT (parent.urgent OR parent.urgent)",
    "AND(parent.urgent, qty)", "NOT OR(parent.urgent, qty)", "OR(qty, NOT parent.urgent)",
    "(parent.urgent AND qty) OR qty = 0", "NOT ((parent.urgent OR qty) AND NOT qty)",
    "(parent.urgent AND BLANK) OR qty > 3", "NOT (BLANK OR parent.urgent)",
    "IF(parent.urgent AND qty, 1, 0) = 0", "NOT (IF(qty > 3, parent.urgent) AND qty)",
]


@pytest.mark.parametrize("condition", BLANK_LOGIC)
def test_blank_logicals_in_and_or_not(fixture, condition):
    fixture.load(BLANK_LOGIC_DOCS)
    doc = {"key": "ids", "dataset": {"source": "docs.lines", "filters": [condition],
                                     "dimensions": [{"key": "line", "field": "id"}],
                                     "measures": [{"key": "n", "agg": "count"}]}}
    with fixture.engine.connect() as conn:
        result = compile_dataset(doc, fixture.sources()).run(conn, today=TODAY)
    records = flat_lines(BLANK_LOGIC_DOCS)
    wanted = {i for i, r in zip(_line_ids(fixture), records, strict=True)
              if loom_value(condition, r["_record"]) is True}
    assert set(result.column("line")) == wanted


def _line_ids(fixture) -> list[int]:
    from sqlalchemy import select
    lines = fixture.tables["docs.lines"]
    with fixture.engine.connect() as conn:
        return list(conn.execute(select(lines.c.id).order_by(lines.c.parent_id,
                                                               lines.c.line_no)).scalars())


PIVOT_MEASURES = [{"key": "qty", "agg": "sum", "field": "qty"},
                  {"key": "lines", "agg": "count"},
                  {"key": "items", "agg": "count_distinct", "field": "item"},
                  {"key": "avg_qty", "agg": "avg", "field": "qty"}]


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(docs=doc_rows, with_distinct=st.booleans())
def test_pivot_cells_and_subtotals_match_pandas(fixture, docs, with_distinct):
    fixture.load(docs)
    measures = [m for m in PIVOT_MEASURES if with_distinct or m["key"] != "items"]
    doc = {"key": "pivot", "dataset": {
        "source": "docs.lines",
        "dimensions": [{"key": "category", "field": "item.category"},
                       {"key": "kind", "field": "kind"},
                       {"key": "quarter", "field": "parent.day", "bucket": "quarter"}],
        "measures": measures,
        "pivot": {"rows": ["category", "kind"], "columns": ["quarter"]}}}
    with fixture.engine.connect() as conn:
        result = compile_dataset(doc, fixture.sources()).run(conn)
    rows = flat_lines(docs)
    frame = pd.DataFrame({
        "category": pd.Series([r["item.category"] for r in rows], dtype=object),
        "kind": pd.Series([r["kind"] for r in rows], dtype=object),
        "quarter": pd.Series([dimension_value(DIMENSIONS["quarter"], r) for r in rows],
                             dtype=object),
        "qty": pd.Series([_float(r["qty"]) for r in rows], dtype=float),
        "item": pd.Series([r["item"] for r in rows], dtype=object)})

    def cell(selection: pd.DataFrame) -> dict:
        return {"qty": selection["qty"].sum(min_count=1), "lines": len(selection),
                "items": selection["item"].dropna().nunique(),
                "avg_qty": selection["qty"].mean()}

    def match(mask) -> pd.DataFrame:
        return frame[mask] if len(frame) else frame

    layout = result.extra["pivot"]
    quarters = [k[0] for k in layout["column_keys"]]
    assert quarters == sorted(set(frame["quarter"]), key=lambda q: (q is None, q or ""))
    levels = layout["row_levels"]
    for row, level in zip(result.rows, levels, strict=True):
        category, kind = row[0], row[1]
        mask = pd.Series(True, index=frame.index)
        mask &= frame["category"].map(lambda v, c=category: v == c or (v is None and c is None))
        if level == 2:
            mask &= frame["kind"].map(lambda v, k=kind: v == k or (v is None and k is None))
        for i, quarter in enumerate(quarters + [None]):
            in_quarter = frame["quarter"].map(
                lambda v, q=quarter: v == q or (v is None and q is None))
            selection = match(mask) if i == len(quarters) else match(mask & in_quarter)
            want = cell(selection)
            for j, m in enumerate(measures):
                got = row[2 + i * len(measures) + j]
                if len(selection) == 0:
                    assert got is None
                else:
                    assert same(got, want[m["key"]]), (row, quarter, m["key"], got, want)
    grand = cell(frame)
    for j, m in enumerate(measures):
        got = result.totals[2 + len(quarters) * len(measures) + j]
        if len(frame):
            assert same(got, grand[m["key"]]), (m["key"], got, grand)
