"""Compiling a dataset to one SQL statement and running it.

    report = parse_report(doc)
    compiled = compile_dataset(report, sources)   # checks it against the tables
    result = compiled.run(conn, {"site": "3"}, today=date(2026, 11, 21))

The statement is built once per set of parameters that have a value (a filter whose
parameter is empty drops out of the SQL) and never depends on the values: they are
bound when it runs. Aggregation happens in the database; Python only receives the
grouped rows.

A plain dataset compiles to::

    WITH g AS (SELECT dims, aggregates FROM source JOIN ... WHERE ... GROUP BY dims)
    SELECT dims, aggregates, calculated, window measures FROM g ORDER BY ... LIMIT n
    [UNION ALL SELECT the grand total FROM g]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import BindParameter, func, literal, null, select, union_all
from sqlalchemy.sql import visitors

from engines.expr.errors import ExpressionError, suggestion
from engines.reports.builder import AS_OF, Builder, expression_error
from engines.reports.definition import Report, parse_report
from engines.reports.dialects import PeriodIndex, TextOrder
from engines.reports.filters import parameter_values, sql_number
from engines.reports.measures import window_measure
from engines.reports.paths import PathError
from engines.reports.result import Column, Result
from engines.reports.sources import ReportError, Sources
from engines.reports.sqlexpr import Name, SqlExpression


@dataclass
class Plan:
    """A statement ready to run and how to turn its rows into a ``Result``."""

    statement: object
    finish: Callable[[list], Result]
    binds: frozenset[str] = field(default_factory=frozenset)
    derived: dict = field(default_factory=dict)  # bind name -> fn(as_of) -> value
    # (parameter values, today) -> (more bind values, what to add to Result.extra)
    more_binds: Callable | None = None


class CompiledDataset:
    """A report's dataset checked against the tables, with its statements cached."""

    def __init__(self, report: Report, sources: Sources):
        self.report = report
        self.sources = sources
        self._plans: dict[frozenset, Plan] = {}
        # Check everything now, as if every parameter had a value.
        self.plan(frozenset(report.parameters))

    def plan(self, given: frozenset) -> Plan:
        if given not in self._plans:
            self._plans[given] = build_plan(self.report, self.sources, given)
        return self._plans[given]

    def bind(self, values: dict, plan: Plan, today, now) -> dict:
        binds = {f"p_{key}": _bindable(value) for key, value in values.items()}
        missing = sorted(name[2:] for name in plan.binds
                         if name.startswith("p_") and name not in binds)
        if missing:  # named outside a filter (a measure, a threshold): it needs a value
            raise ReportError([(f"/parameters/{name}", f"the report needs a value for "
                                f"'{name}' (or a default)") for name in missing])
        clock = {"today": today, "now": now, AS_OF: values.get(AS_OF, today)}
        for name in ("today", "now", AS_OF):
            if name in plan.binds or (name == AS_OF and plan.derived):
                if clock[name] is None:
                    raise ReportError([("/", f"this report uses {name.replace('_', ' ')}: "
                                        f"pass {'today' if name == AS_OF else name}= to run it")])
                binds[name] = clock[name]
        for name, compute in plan.derived.items():
            as_of = clock[AS_OF]
            binds[name] = compute(as_of.date() if isinstance(as_of, dt.datetime) else as_of)
        return binds

    def run(self, conn, params: dict | None = None, *, today: dt.date | None = None,
            now: dt.datetime | None = None) -> Result:
        """Run on ``conn``; ``params`` maps parameter keys to values (text is read with
        the parameter's type); ``today`` / ``now`` are the caller's clock."""
        if now is not None and today is None:
            today = now.date()
        values = parameter_values(self.report, params, today)
        plan = self.plan(frozenset(values))
        binds = self.bind(values, plan, today, now)
        extra = {}
        if plan.more_binds is not None:
            more, extra = plan.more_binds(values, today)
            binds.update(more)
        result = plan.finish(conn.execute(plan.statement, binds).all())
        result.extra.update(extra)
        return result


def compile_dataset(report, sources: Sources) -> CompiledDataset:
    """Check ``report`` (a ``Report`` or its JSON document) against ``sources`` and
    prepare its SQL; ``ReportError`` lists every problem with where it is."""
    if isinstance(report, dict):
        report = parse_report(report)
    return CompiledDataset(report, sources)


def run_dataset(conn, report, sources: Sources, params: dict | None = None, **clock) -> Result:
    """Compile and run in one call (callers that run a report often keep the compiled one)."""
    return compile_dataset(report, sources).run(conn, params, **clock)


def build_plan(report: Report, sources: Sources, given: frozenset) -> Plan:
    from engines.reports import forecast, pivot, tree  # the shapes build on this module
    from engines.reports.metric import metric_plan

    ds = report.dataset
    builder = Builder(report, sources, given)
    builder.check()
    compare = report.widget.get("compare") if report.widget.get("type") == "metric" else None
    if ds.tree:
        plan = tree.tree_plan(builder)
    elif compare:
        plan = metric_plan(builder, compare)
    elif ds.pivot:
        plan = pivot.pivot_plan(builder)
    elif ds.forecast:
        plan = forecast.forecast_plan(builder)
    else:
        plan = aggregate_plan(builder)
    builder.check()
    plan.binds = frozenset(_bind_names(plan.statement))
    plan.derived = dict(builder.derived)
    return plan


def _bind_names(statement) -> set[str]:
    return {node.key for node in visitors.iterate(statement) if isinstance(node, BindParameter)}


def _bindable(value):
    if isinstance(value, list):
        return [sql_number(v) for v in value]
    return sql_number(value)


# ---- the plain shape: dims, measures, calc, windows, ABC, sort, top N, totals ----------

@dataclass
class Windows:
    """Where window measures walk: the period index of the bucket dimension, the other
    dimensions (each its own series) and the row order without a period."""

    period: object
    partition: list
    order: list


class Layer:
    """Measures computed over the grouped rows ``g``: calculated measures (compiled
    over the names of other measures) and window measures, by key, each built once."""

    def __init__(self, builder: Builder, g, names: dict[str, Name],
                 windows: Windows | None = None):
        self.builder = builder
        self.g = g
        self.names = dict(names)
        self.windows = windows
        self.windowed: set[str] = set()  # keys whose SQL holds a window function
        self._calculating: list[str] = []

    def measure(self, key: str) -> Name:
        """The SQL of measure ``key`` at this layer."""
        if key in self.names:
            return self.names[key]
        index, m = next((i, m) for i, m in enumerate(self.builder.ds.measures) if m.key == key)
        if key in self._calculating:
            cycle = " -> ".join([*self._calculating[self._calculating.index(key):], key])
            raise PathError(f"measures use each other in a circle: {cycle}")
        self._calculating.append(key)
        try:
            name = self._window(index, m) if m.window else self._calc(index, m)
        finally:
            self._calculating.pop()
        self.names[key] = name
        return name

    def _calc(self, index: int, m) -> Name:
        try:
            compiled = SqlExpression(m.calc, self.resolve, self.builder.parameter,
                                     self.builder.clock)
            name = Name(compiled.value().expr, "number")
        except ExpressionError as error:
            self.builder.problems.append((f"/dataset/measures/{index}/calc",
                                          expression_error(error)))
            return Name(null(), "number")
        if any(ref.split(".")[0] in self.windowed for ref in compiled.names):
            self.windowed.add(m.key)
        return name

    def _window(self, index: int, m) -> Name:
        where = f"/dataset/measures/{index}"
        if self.windows is None:
            self.builder.problems.append((where, f"'{m.window}' is not available here"))
            return Name(null(), "number")
        try:
            value = self.measure(m.of).column
        except PathError as error:
            self.builder.problems.append((f"{where}/of", str(error)))
            return Name(null(), "number")
        if m.of in self.windowed:
            self.builder.problems.append((f"{where}/of", f"'{m.of}' already uses a window "
                                          "measure; a window cannot be computed over another"))
            return Name(null(), "number")
        w = self.windows
        first = func.min(w.period).over() if w.period is not None else None
        self.windowed.add(m.key)
        return Name(window_measure(m, value, partition=w.partition, period=w.period,
                                   first_period=first, order=w.order), "number")

    def resolve(self, path) -> Name:
        parts = tuple(path)
        if len(parts) != 1:
            raise PathError("a calculated measure names other measures by key, "
                            f"e.g. {self._example()}", 1)
        key = parts[0]
        m = self.builder.ds.measure(key)
        if m is not None and (m.calc or m.window):
            return self.measure(key)
        if key in self.names:
            return self.names[key]
        raise PathError(f"'{key}' is not a measure or dimension of this dataset"
                        f"{suggestion(key, self.names)}")

    def _example(self) -> str:
        keys = [m.key for m in self.builder.ds.measures if m.agg]
        return " / ".join(keys[:2]) or "amount / qty"


def measure_columns(builder: Builder, g) -> dict[str, Name]:
    """Dimension and aggregate columns of ``g`` as names calc measures can use."""
    names = {d.key: Name(g.c[d.key], d.type if not d.labels else "integer")
             for d in builder.dims}
    for a in builder.aggregates:
        names[a.key] = Name(g.c[a.key], a.result_type)
    return names


def order_of(builder: Builder, columns: dict, g, *, available_only: bool = False) -> list:
    """ORDER BY of the grouped rows: the dataset's sort, then every dimension (a total
    order, so top N is the same on every database)."""
    ds = builder.ds
    order = []
    dims = {d.key: d for d in builder.dims}

    def sortable(key):
        d = dims.get(key)
        if d is not None and d.type == "text" and d.labels is None:
            return TextOrder(columns[key])
        return columns[key]

    sort = list(ds.sort)
    if ds.abc and not sort:
        sort = [("rank", False)]
    for key, descending in sort:
        if available_only and key not in columns:
            continue
        expr = sortable(key)
        order.append((expr.desc() if descending else expr.asc()).nulls_last())
    for d in builder.dims:  # bucket labels sort in calendar order
        order.append(sortable(d.key).asc().nulls_last())
    return order


def aggregate_plan(builder: Builder) -> Plan:
    from engines.reports.analysis import abc_columns

    ds = builder.ds
    g = builder.grouped(builder.dims, parts=ds.totals).cte("g")
    columns = {d.key: g.c[d.key] for d in builder.dims}
    period_dim = next((d for d in builder.dims if d.bucket), None)
    windows = Windows(
        period=PeriodIndex(g.c[period_dim.key], period_dim.bucket)
        if period_dim is not None else None,
        partition=[g.c[d.key] for d in builder.dims if d is not period_dim],
        order=order_of(builder, columns, g, available_only=True))
    layer = Layer(builder, g, measure_columns(builder, g), windows)
    for m in ds.measures:
        columns[m.key] = layer.measure(m.key).column
    extra = []
    if ds.abc:
        extra = abc_columns(builder, columns, g)
        columns.update({c.key: expr for c, expr in extra})
    order = order_of(builder, columns, g)
    labelled = [expr.label(key) for key, expr in columns.items()]
    described = describe_columns(builder) + [c for c, _ in extra]
    if not ds.totals:
        statement = select(*labelled).order_by(*order)
        if ds.limit:
            statement = statement.limit(ds.limit)
        return Plan(statement, lambda rows: finish_rows(builder, described, rows))
    detail = select(literal(0).label("_level"),
                    func.row_number().over(order_by=order).label("_row"), *labelled) \
        .order_by(*order)
    if ds.limit:
        detail = detail.limit(ds.limit)
    detail = detail.subquery("detail")
    total = total_select(builder, g, columns)
    both = union_all(select(*detail.c), total).subquery("report")
    statement = select(*both.c).order_by(both.c._level, both.c._row)
    return Plan(statement, lambda rows: finish_rows(builder, described, rows, levels=True))


def total_select(builder: Builder, g, columns: dict):
    """The grand total row: aggregates of the groups (count distinct from the rows)."""
    totals = {}
    for a in builder.aggregates:
        again = a.reaggregate(g)
        totals[a.key] = again if again is not None else a.distinct_over(
            builder.scope.from_clause, builder.where)
    layer = Layer(builder, g, {k: Name(v, "number") for k, v in totals.items()})
    windowed = {m.key for m in builder.ds.measures if m.window}
    out = [literal(1).label("_level"), null().label("_row")]
    for key in columns:
        m = builder.ds.measure(key)
        if m is None or m.window or _uses(builder, key, windowed):
            expr = literal(1) if m is not None and m.window == "share" else null()
        elif m.agg:
            expr = totals[key]
        else:
            expr = layer.measure(key).column
        out.append(expr.label(key))
    statement = select(*out)
    # Over g only when something aggregates it: a lone scalar subquery (count distinct)
    # over g would give one row per group instead of one row.
    if any(a.reaggregate(g) is not None for a in builder.aggregates):
        statement = statement.select_from(g)
    return statement


def _uses(builder: Builder, key: str, windowed: set[str]) -> bool:
    """Whether calculated measure ``key`` depends on a window measure (no total then)."""
    m = builder.ds.measure(key)
    if m is None or not m.calc:
        return False
    from engines.expr.grammar import parse
    from engines.expr.nodes import Field, walk
    names = {n.path[0] for n in walk(parse(m.calc)) if isinstance(n, Field)}
    return bool(names & windowed) or any(_uses(builder, n, windowed) for n in names
                                         if n != key)


def describe_columns(builder: Builder) -> list[Column]:
    columns = [Column(d.key, d.dim.label, "dimension", d.type) for d in builder.dims]
    aggregates = {a.key: a for a in builder.aggregates}
    for m in builder.ds.measures:
        kind = aggregates[m.key].result_type if m.key in aggregates else "number"
        columns.append(Column(m.key, m.label, "measure", kind, m.decimals,
                              m.percent or m.window in ("share", "change")))
    return columns


def finish_rows(builder: Builder, columns: list[Column], rows, *, levels: bool = False) -> Result:
    labels = {d.key: d.labels for d in builder.dims if d.labels}
    positions = [(i, labels[c.key]) for i, c in enumerate(columns) if c.key in labels]
    out, totals = [], None
    for row in rows:
        values = list(row[2:] if levels else row)
        for i, names in positions:
            if values[i] is not None:
                values[i] = names[values[i]]
        if levels and row[0] == 1:
            totals = values
        else:
            out.append(values)
    return Result(columns, out, totals)
