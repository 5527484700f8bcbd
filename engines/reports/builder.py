"""The parts every dataset query is made of: the source with its joins, the WHERE
conditions (row permissions, filters), the dimensions and the aggregate measures —
each a SQLAlchemy expression, checked against the tables with messages that point
into the definition. ``compiler`` and the analyses assemble statements from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Text,
    bindparam,
    literal_column,
    select,
)

from engines.expr.errors import ExpressionError
from engines.expr.nodes import Call, walk
from engines.reports.definition import Dimension, Report
from engines.reports.dialects import (
    DateBucket,
    ReportNumber,
    age_case,
    bins_case,
)
from engines.reports.filters import dict_condition, is_param
from engines.reports.measures import Aggregate
from engines.reports.paths import PathError, Scope
from engines.reports.sources import (
    DATE_TYPES,
    NUMERIC_TYPES,
    REFERENCE_TYPES,
    ReportError,
    Sources,
    SourceTable,
)
from engines.reports.sqlexpr import Name, SqlExpression, bind_clock

PARAM_SQL_TYPES = {"number": ReportNumber, "date": Date, "datetime": DateTime,
                   "checkbox": Boolean, "relation": Integer, "user": Integer,
                   "department": Integer}
AS_OF = "as_of"


def open_source(sources: Sources, source) -> SourceTable:
    """The ``SourceTable`` a dataset's ``source`` names; ReportError when there is none."""
    try:
        if isinstance(source, dict):
            return sources.ledger_table(source["ledger"], source.get("part", "movements"))
        form, _, sub = source.partition(".")
        if "." in sub:
            raise KeyError(source)
        return sources.subtable_for(form, sub) if sub else sources.table_for(form)
    except KeyError:
        what = (f"ledger '{source['ledger']}'" if isinstance(source, dict)
                else f"'{source}'")
        raise ReportError([("/dataset/source", f"there is no {what} to report on (or you may "
                            "not read it); name a form, form.subtable or {\"ledger\": key}")]) \
            from None


def value_type(kind: str) -> str:
    """A field type -> the type of a result column."""
    if kind in NUMERIC_TYPES - {"integer"}:
        return "number"
    if kind in REFERENCE_TYPES or kind == "integer":
        return "integer"
    if kind in DATE_TYPES:
        return kind
    if kind in ("checkbox", "boolean"):
        return "boolean"
    return "text"


def expression_error(error: ExpressionError) -> str:
    return "; ".join(f"line {p.line}, column {p.column}: {p.message}" for p in error.problems)


@dataclass
class DimensionSql:
    dim: Dimension
    expr: ColumnElement
    type: str
    labels: tuple | None = None  # a bin's label per index

    @property
    def bucket(self) -> str | None:
        return self.dim.bucket

    @property
    def key(self) -> str:
        return self.dim.key


class Builder:
    """The SQL parts of ``report``'s dataset when the parameters ``given`` have values."""

    def __init__(self, report: Report, sources: Sources, given: frozenset = frozenset()):
        self.report = report
        self.ds = report.dataset
        self.sources = sources
        self.given = given
        self.problems: list[tuple[str, str]] = []
        # Bind values computed from the as_of date when the report runs (age bounds).
        self.derived: dict[str, object] = {}
        self.scope = Scope(sources, open_source(sources, self.ds.source))
        self.where: list[ColumnElement] = list(self.scope.conditions)
        self._filters()
        self.dims = [d for d in (self._dimension(i, d) for i, d in enumerate(self.ds.dimensions))
                     if d is not None]
        self.aggregates = [a for a in (self._aggregate(i, m)
                                       for i, m in enumerate(self.ds.measures) if m.agg)
                           if a is not None]

    def check(self) -> None:
        if self.problems:
            raise ReportError(self.problems)

    # ---- names and parameters ------------------------------------------------------

    def name(self, path) -> Name:
        resolved = self.scope.resolve(path)
        return Name(resolved.column, resolved.field.type, resolved.nullable)

    def parameter(self, key: str):
        p = self.report.parameters[key]
        return self.param_bind(key), p.type, p.multiple

    def param_bind(self, key: str):
        p = self.report.parameters[key]
        kind = PARAM_SQL_TYPES.get(p.type, Text)
        return bindparam(f"p_{key}", type_=kind(), expanding=p.multiple)

    def clock(self, name: str):
        return bind_clock(name)

    def expression(self, text: str, where: str) -> SqlExpression | None:
        try:
            return SqlExpression(text, self.name, self.parameter, self.clock)
        except ExpressionError as error:
            self.problems.append((where, expression_error(error)))
            return None

    def _missing_params(self, compiled: SqlExpression, where: str) -> bool:
        """Whether the expression names a parameter without a value (it is left out then);
        an undeclared parameter is a problem."""
        used = {n.args[0].value for n in walk(compiled.tree)
                if isinstance(n, Call) and n.name == "PARAM"}
        for name in sorted(used - set(self.report.parameters)):
            self.problems.append((where, f"parameter '{name}' is not declared: add it under "
                                  f"\"parameters\" with its type"))
        return bool(used - self.given)

    # ---- filters -------------------------------------------------------------------

    def _filters(self) -> None:
        for i, flt in enumerate(self.ds.filters):
            where = f"/dataset/filters/{i}"
            if isinstance(flt, str):
                compiled = self.expression(flt, where)
                if compiled is None or self._missing_params(compiled, where):
                    continue
                try:
                    self.where.append(compiled.condition())
                except ExpressionError as error:
                    self.problems.append((where, expression_error(error)))
                continue
            for name, value in flt.items():
                if is_param(value):
                    if value["param"] not in self.given:
                        continue
                try:
                    self.where.append(dict_condition(self.scope, name, value, self.param_bind))
                except (PathError, ValueError) as error:
                    self.problems.append((f"{where}/{name}", str(error)))
                except KeyError as error:
                    self.problems.append((f"{where}/{name}", f"there is no {error} to filter "
                                          "through (or you may not read it)"))

    # ---- dimensions ----------------------------------------------------------------

    def _dimension(self, i: int, d: Dimension) -> DimensionSql | None:
        where = f"/dataset/dimensions/{i}"
        if d.expr:
            compiled = self.expression(d.expr, f"{where}/expr")
            if compiled is None:
                return None
            try:
                value = compiled.value()
            except ExpressionError as error:
                self.problems.append((f"{where}/expr", expression_error(error)))
                return None
            kind = {"number": "number", "date": "date", "datetime": "datetime",
                    "boolean": "boolean"}.get(value.type, "text")
            return DimensionSql(d, value.expr, kind)
        try:
            resolved = self.scope.resolve(d.field)
        except PathError as error:
            self.problems.append((f"{where}/field", str(error)))
            return None
        column, kind = resolved.column, resolved.field.type
        if d.bucket or d.age:
            if kind not in DATE_TYPES:
                option = "bucket" if d.bucket else "age"
                self.problems.append((f"{where}/{option}", f"'{d.field}' is {kind}, not a "
                                      f"date: '{option}' groups dates"))
                return None
            if d.bucket:
                return DimensionSql(d, DateBucket(column, d.bucket), "text")
            bounds = []
            for index, edge in enumerate(d.age):
                name = f"_age_{d.key}_{index}"
                # Age <= edge (whole days)  <=>  day >= as_of - edge.
                self.derived[name] = lambda as_of, days=int(edge): as_of - dt.timedelta(days=days)
                bounds.append(bindparam(name, type_=Date()))
            return DimensionSql(d, age_case(column, bounds), "text",
                                labels=d.labels or age_labels(d.age))
        if d.bins:
            if kind not in NUMERIC_TYPES:
                self.problems.append((f"{where}/bins", f"'{d.field}' is {kind}, not a number: "
                                      "'bins' groups numbers"))
                return None
            return DimensionSql(d, bins_case(column, d.bins), "text",
                                labels=d.labels or bin_labels(d.bins))
        return DimensionSql(d, column, value_type(kind))

    # ---- aggregate measures --------------------------------------------------------

    def _aggregate(self, i: int, m) -> Aggregate | None:
        where_ptr = f"/dataset/measures/{i}"
        value, kind = None, "integer"
        if m.field:
            try:
                resolved = self.scope.resolve(m.field)
            except PathError as error:
                self.problems.append((f"{where_ptr}/field", str(error)))
                return None
            value, kind = resolved.column, value_type(resolved.field.type)
        elif m.expr:
            compiled = self.expression(m.expr, f"{where_ptr}/expr")
            if compiled is None:
                return None
            sql = compiled.value()
            value = sql.expr
            kind = {"number": "number", "date": "date", "datetime": "datetime",
                    "boolean": "boolean"}.get(sql.type, "text")
        if m.agg in ("sum", "avg") and kind not in ("number", "integer"):
            self.problems.append((where_ptr, f"'{m.agg}' adds numbers, and "
                                  f"'{m.field or m.expr}' is {kind}; use count, "
                                  "count_distinct, min or max"))
            return None
        condition = None
        if m.where:
            compiled = self.expression(m.where, f"{where_ptr}/where")
            if compiled is None:
                return None
            condition = compiled.condition()
        return Aggregate(m, value, condition, kind)

    # ---- statements ----------------------------------------------------------------

    def grouped(self, dims: list[DimensionSql], *, parts: bool = False, extra_where=()):
        """SELECT dimensions, aggregates FROM source ... GROUP BY dimensions."""
        columns = [d.expr.label(d.key) for d in dims]
        for a in self.aggregates:
            for key, expr in (a.parts() if parts else [(a.key, a.over_rows())]):
                columns.append(expr.label(key))
        # By position: an expression with bound constants (a date format, bin edges) is
        # not "the same expression" to PostgreSQL when it appears twice.
        statement = select(*columns).select_from(self.scope.from_clause) \
            .where(*self.where, *extra_where)
        if dims:
            statement = statement.group_by(*[literal_column(str(i + 1))
                                             for i in range(len(dims))])
        return statement


def _edge(value) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def age_labels(edges) -> tuple[str, ...]:
    """[30, 90, 180] -> 0-30, 31-90, 91-180, >180 (whole days)."""
    labels, low = [], 0
    for edge in edges:
        labels.append(f"{_edge(low)}-{_edge(edge)}")
        low = Decimal(str(edge)) + 1
    return (*labels, f">{_edge(edges[-1])}")


def bin_labels(edges) -> tuple[str, ...]:
    """[10, 100] -> <=10, 10-100, >100 (a value on an edge falls in the lower bin)."""
    labels = [f"<={_edge(edges[0])}"]
    labels += [f"{_edge(a)}-{_edge(b)}" for a, b in zip(edges, edges[1:], strict=False)]
    return (*labels, f">{_edge(edges[-1])}")
