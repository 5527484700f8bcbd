"""How each measure becomes SQL: aggregates over the source rows, aggregates of
aggregates (for totals and pivot subtotals), calculated measures over other measures,
and window measures over the grouped rows (previous period, change, moving average,
running total, share)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Integer,
    case,
    distinct,
    func,
    literal,
    null,
    select,
    type_coerce,
)

from engines.reports.definition import Measure
from engines.reports.dialects import ReportNumber, SafeDivide

NUMBER_RESULT = ("number", "integer")


@dataclass
class Aggregate:
    """An aggregate measure: ``value`` per source row (None: count rows), kept only
    where ``where`` holds."""

    measure: Measure
    value: ColumnElement | None
    where: ColumnElement | None
    value_type: str  # "number", "integer", "date", "text", "boolean"

    @property
    def key(self) -> str:
        return self.measure.key

    @property
    def agg(self) -> str:
        return self.measure.agg

    @property
    def result_type(self) -> str:
        if self.agg in ("count", "count_distinct"):
            return "integer"
        if self.agg in ("sum", "avg"):
            return "number"
        return self.value_type

    def _input(self):
        value = self.value
        if value is None:  # count rows: COUNT(*), or COUNT(CASE WHEN where THEN 1 END)
            if self.where is None:
                return None
            value = literal(1)
        if self.where is None:
            return value
        return case((self.where, value), else_=null())

    def over_rows(self) -> ColumnElement:
        """The aggregate over source rows."""
        value = self._input()
        if self.agg == "count":
            return func.count() if value is None else func.count(value)
        if self.agg == "count_distinct":
            return func.count(distinct(value))
        if self.agg in ("sum", "avg"):
            return type_coerce(getattr(func, self.agg)(value), ReportNumber())
        expr = getattr(func, self.agg)(value)
        return type_coerce(expr, ReportNumber()) if self.value_type == "number" else expr

    def parts(self) -> list[tuple[str, ColumnElement]]:
        """Columns of a grouped query: the value, plus what re-aggregating an average
        needs (its sum and count)."""
        columns = [(self.key, self.over_rows())]
        if self.agg == "avg":
            value = self._input()
            columns += [(f"_s_{self.key}", type_coerce(func.sum(value), ReportNumber())),
                        (f"_n_{self.key}", func.count(value))]
        return columns

    def reaggregate(self, g) -> ColumnElement | None:
        """The aggregate over groups of ``g`` (a grouped subquery holding ``parts``);
        None for count_distinct, which only the source rows can answer."""
        column = g.c[self.key]
        if self.agg in ("sum", "count"):
            total = func.sum(column)
            if self.agg == "count":
                return func.coalesce(type_coerce(total, Integer()), 0)
            return type_coerce(total, ReportNumber())
        if self.agg in ("min", "max"):
            expr = getattr(func, self.agg)(column)
            return type_coerce(expr, ReportNumber()) if self.value_type == "number" else expr
        if self.agg == "avg":
            return SafeDivide(func.sum(g.c[f"_s_{self.key}"]), func.sum(g.c[f"_n_{self.key}"]))
        return None

    def distinct_over(self, from_clause, where, group_by=()) -> ColumnElement:
        """COUNT(DISTINCT ...) over the source rows of each group, as a scalar subquery
        correlated on ``group_by`` pairs (source expression, outer column)."""
        conditions = list(where) + [
            (inner == outer) | (inner.is_(None) & outer.is_(None)) for inner, outer in group_by]
        return select(self.over_rows()).select_from(from_clause).where(*conditions) \
            .scalar_subquery()


def window_measure(m: Measure, value, *, partition, period, first_period, order) -> ColumnElement:
    """A window measure over grouped rows.

    ``value``: the measure it is computed from; ``partition``: the other dimensions'
    columns; ``period``: the bucket's period index (consecutive periods differ by 1);
    ``first_period``: the first period index of the whole dataset; ``order``: how rows
    are ordered when there is no period (running total)."""
    if m.window == "share":
        return SafeDivide(value, func.sum(value).over())
    if m.window == "running_total":
        keys = [period] if period is not None else order
        return type_coerce(func.sum(value).over(partition_by=partition, order_by=keys,
                                                rows=(None, 0)), ReportNumber())
    previous = _previous(value, partition, period, first_period)
    if m.window == "previous":
        return previous
    if m.window == "change":
        return SafeDivide(value - previous, previous)
    # moving_avg: a calendar window; periods without rows count as zero.
    n = m.periods
    total = func.sum(func.coalesce(value, 0)).over(partition_by=partition, order_by=period,
                                                   range_=(-(n - 1), 0))
    complete = period - first_period >= n - 1
    return case((complete, SafeDivide(total, literal(n))), else_=null())


def _previous(value, partition, period, first_period):
    # The calendar's previous period: zero when it had no rows, blank before the data.
    lag_period = func.lag(period).over(partition_by=partition, order_by=period)
    lag_value = func.lag(value).over(partition_by=partition, order_by=period)
    return type_coerce(case((lag_period == period - 1, lag_value),
                            (period > first_period, 0), else_=null()), ReportNumber())
