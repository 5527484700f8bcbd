"""A metric card's comparison: the measures in the calendar period holding ``as_of``
(default today) and in the period before it, in one query::

    SELECT SUM(CASE WHEN day >= :cur_start AND day < :cur_end THEN qty END),
           SUM(CASE WHEN day >= :prev_start AND day < :cur_start THEN qty END), ...
    FROM source WHERE ... AND day >= :prev_start AND day < :cur_end

Calculated measures are computed for both periods from their own aggregates.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, and_, bindparam, select

from engines.reports.builder import AS_OF, Builder
from engines.reports.compiler import Layer, Plan, describe_columns
from engines.reports.drill import bucket_range
from engines.reports.forecast import period_label
from engines.reports.measures import Aggregate
from engines.reports.paths import PathError
from engines.reports.result import Result
from engines.reports.sqlexpr import Name

BOUNDS = ("_cur_start", "_cur_end", "_prev_start")


def metric_plan(builder: Builder, compare: dict) -> Plan:
    try:
        day = builder.scope.resolve(compare["field"]).column
    except PathError as error:
        builder.problems.append(("/widget/compare/field", str(error)))
        builder.check()
    cur_start, cur_end, prev_start = (bindparam(name, type_=Date()) for name in BOUNDS)
    periods = {"": and_(day >= cur_start, day < cur_end),
               "__previous": and_(day >= prev_start, day < cur_start)}
    columns, names = [], {suffix: {} for suffix in periods}
    for a in builder.aggregates:
        for suffix, inside in periods.items():
            where = inside if a.where is None else and_(a.where, inside)
            expr = Aggregate(a.measure, a.value, where, a.value_type).over_rows()
            columns.append(expr.label(a.key + suffix))
    inner = select(*columns).select_from(builder.scope.from_clause).where(
        *builder.where, day >= prev_start, day < cur_end).subquery("m")
    out = []
    for suffix in periods:
        names = {a.key: Name(inner.c[a.key + suffix], a.result_type)
                 for a in builder.aggregates}
        layer = Layer(builder, inner, names)
        for m in builder.ds.measures:
            expr = names[m.key].column if m.agg else layer.measure(m.key).column
            out.append(expr.label(m.key + suffix))
    described = describe_columns(builder)
    count = len(builder.ds.measures)

    def finish(rows) -> Result:
        row = list(rows[0]) if rows else [None] * (2 * count)
        result = Result(described, [row[:count]])
        result.extra["previous"] = row[count:]
        return result

    def more_binds(values: dict, today) -> tuple[dict, dict]:
        bounds = compare_binds(compare, values, today)
        labels = bounds.pop("_labels")
        return bounds, {"periods": list(labels)}

    return Plan(select(*out), finish, more_binds=more_binds)


def period_bounds(unit: str, as_of: dt.date) -> dict:
    """The bind values: this period [cur_start, cur_end) and the one before."""
    label = _label_of(unit, as_of)
    start, end = bucket_range(unit, label)
    previous_start, _ = bucket_range(unit, _label_of(unit, start - dt.timedelta(days=1)))
    return {"_cur_start": start, "_cur_end": end, "_prev_start": previous_start,
            "_labels": (label, _label_of(unit, previous_start))}


def _label_of(unit: str, day: dt.date) -> str:
    if unit == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    index = {"day": (day - dt.date(1970, 1, 1)).days, "month": day.year * 12 + day.month - 1,
             "quarter": day.year * 4 + (day.month - 1) // 3, "year": day.year}[unit]
    return period_label(unit, index)


def compare_binds(compare: dict, values: dict, today) -> dict:
    as_of = values.get(AS_OF, today)
    if as_of is None:
        from engines.reports.sources import ReportError
        raise ReportError([("/widget/compare", "a comparison with the previous period counts "
                            "from today: pass today=")])
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    return period_bounds(compare["period"], as_of)
