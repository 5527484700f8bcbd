"""Demand forecasting over a periodic series the database aggregated.

SQL groups the measure by calendar period (one bucket dimension, e.g. month) and by
any other dimensions (one series per item, say); Python then fills periods without
rows with zero, from the first period in the data to the last, and forecasts
``horizon`` periods ahead:

* ``moving_average``: the mean of the last ``periods`` values. ``fitted`` at period t
  is the mean of the ``periods`` values before t (blank until there are that many).
* ``exponential`` (simple exponential smoothing): level_0 = y_0,
  level_t = alpha * y_t + (1 - alpha) * level_{t-1}; ``fitted`` at t is level_{t-1};
  every future period gets the last level.

Both give a flat forecast: they estimate the current rate of demand, not a trend.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from engines.reports.compiler import Plan, describe_columns
from engines.reports.dialects import PeriodIndex, exact
from engines.reports.result import Column, Result

EPOCH = dt.date(1970, 1, 1)


def forecast_plan(builder) -> Plan:
    ds = builder.ds
    period_dim = next(d for d in builder.dims if d.bucket)
    others = [d for d in builder.dims if d is not period_dim]
    g = builder.grouped(builder.dims).subquery("g")
    period = PeriodIndex(g.c[period_dim.key], period_dim.bucket)
    statement = select(*[g.c[d.key] for d in others], period, g.c[ds.forecast.measure]) \
        .order_by(*[g.c[d.key] for d in others], period)
    described = [c for c in describe_columns(builder)
                 if c.role == "dimension" or c.key == ds.forecast.measure]
    described += [Column("fitted", {"zh": "拟合", "en": "Fitted"}, "forecast", "number"),
                  Column("forecast", {"zh": "预测", "en": "Forecast"}, "forecast", "number")]

    def finish(rows) -> Result:
        return forecast_rows(ds.forecast, period_dim, others, rows, described)

    return Plan(statement, finish)


def forecast_rows(spec, period_dim, others, rows, described) -> Result:
    n_others = len(others)
    series: dict[tuple, dict[int, Decimal]] = {}
    for row in rows:
        key, index, value = tuple(row[:n_others]), row[n_others], row[n_others + 1]
        if index is None:
            continue  # rows without a date cannot be placed in time
        series.setdefault(key, {})[index] = Decimal(value or 0)
    if not series:
        return Result(described, [])
    first = min(min(s) for s in series.values())
    last = max(max(s) for s in series.values())
    unit = period_dim.dim.bucket
    order = [c.key for c in described]
    out = []
    for key in sorted(series, key=lambda k: tuple((v is None, str(v)) for v in k)):
        values = [series[key].get(i, Decimal(0)) for i in range(first, last + 1)]
        fitted, future = forecast_series(values, spec.method, spec.periods, spec.alpha,
                                         spec.horizon)
        for offset in range(len(values) + spec.horizon):
            past = offset < len(values)
            row = dict(zip([d.key for d in others], key, strict=True))
            row[period_dim.key] = period_label(unit, first + offset)
            row[spec.measure] = values[offset] if past else None
            row["fitted"] = exact(fitted[offset]) if past and fitted[offset] is not None \
                else None
            row["forecast"] = None if past else exact(future[offset - len(values)])
            out.append([row.get(k) for k in order])
    return Result(described, out)


def forecast_series(values: list[Decimal], method: str, periods: int = 3,
             alpha: Decimal = Decimal("0.3"), horizon: int = 3):
    """(fitted per past period, forecast per future period) for one series."""
    if method == "moving_average":
        fitted = [sum(values[t - periods:t]) / periods if t >= periods else None
                  for t in range(len(values))]
        window = values[-periods:]
        level = sum(window) / len(window) if window else Decimal(0)
        return fitted, [level] * horizon
    if method == "exponential":
        alpha = Decimal(alpha)
        fitted, level = [], None
        for value in values:
            fitted.append(level)
            level = value if level is None else alpha * value + (1 - alpha) * level
        return fitted, [level if level is not None else Decimal(0)] * horizon
    raise ValueError(f"unknown forecast method {method!r}; use moving_average or exponential")


def period_label(unit: str, index: int) -> str:
    """The bucket label (as the database writes it) of a period index."""
    if unit == "month":
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    if unit == "quarter":
        return f"{index // 4:04d}-Q{index % 4 + 1}"
    if unit == "year":
        return f"{index:04d}"
    if unit == "day":
        return (EPOCH + dt.timedelta(days=index)).isoformat()
    monday = EPOCH + dt.timedelta(days=index * 7 - 3)
    year, week, _ = monday.isocalendar()
    return f"{year:04d}-W{week:02d}"
