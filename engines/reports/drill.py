"""Drill-down: from a chart element (a bar, a slice, a pivot cell) to the records
behind it.

An element is the dimension values that identify it, as the result shows them
(``{"month": "2026-11", "category": "chip"}``; a subtotal leaves the rolled-up
dimensions out). ``drill_down`` turns each into a condition in the records API's
list-filter syntax — a month becomes ``received_on__gte`` / ``__lt``, an age bucket a
date range, a bin a number range, a blank value ``__empty`` — and adds them to the
dataset's own filters. The narrowed dataset selects exactly the source rows the
element aggregates (same joins, same row permissions); ``drill_query`` lists their ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import select

from engines.reports.builder import AS_OF, Builder
from engines.reports.definition import Report
from engines.reports.filters import parameter_values, sql_number
from engines.reports.sources import ReportError, Sources


@dataclass(frozen=True)
class Drill:
    """The records behind one element.

    ``report``: the dataset with the element's conditions added to its filters.
    ``conditions``: those conditions, ``{"path__op": value}`` on the dataset's source
    (dimension expressions become expression filters, in ``expressions``).
    ``params``: the parameter values the element was computed with."""

    report: Report
    conditions: tuple[dict, ...]
    expressions: tuple[str, ...]
    params: dict

    @property
    def filters(self) -> tuple:
        """Every filter that selects the records: the dataset's and the element's."""
        return self.report.dataset.filters

    def query_args(self) -> list[tuple[str, str]]:
        """``path__op=value`` pairs for ``GET .../forms/{form}/records`` when the dataset
        reads a form and every filter is in list-filter syntax (else ValueError: use
        ``drill_query``). Parameters are filled in."""
        ds = self.report.dataset
        if not isinstance(ds.source, str) or "." in ds.source:
            raise ValueError("the records API lists forms: for a subtable or ledger source "
                             "list the rows drill_query selects")
        args = []
        for flt in self.filters:
            if isinstance(flt, str):
                raise ValueError(f"the filter {flt!r} is an expression: use drill_query")
            for name, value in flt.items():
                if isinstance(value, dict):
                    if value["param"] not in self.params:
                        continue
                    value = self.params[value["param"]]
                args.append((name, _text(value)))
        return args


def drill_down(report: Report, element: dict, params: dict | None = None, *,
               today: dt.date | None = None) -> Drill:
    """The ``Drill`` of the element identified by ``element`` (dimension key -> value as
    shown). Unknown keys are an error; dimensions left out are not narrowed."""
    ds = report.dataset
    unknown = [k for k in element if ds.dimension(k) is None]
    if unknown:
        raise ReportError([("/", f"'{k}' is not a dimension of this dataset") for k in unknown])
    values = parameter_values(report, params, today)
    conditions, expressions = [], []
    for key, shown in element.items():
        d = ds.dimension(key)
        if d.expr:
            expressions.append(_expression_condition(d.expr, shown))
        elif shown is None:
            conditions.append({f"{d.field}__empty": True})
        elif d.bucket:
            start, end = bucket_range(d.bucket, str(shown))
            conditions.append({f"{d.field}__gte": start.isoformat(),
                               f"{d.field}__lt": end.isoformat()})
        elif d.age:
            as_of = values.get(AS_OF, today)
            if as_of is None:
                raise ReportError([("/", "an age bucket is counted from today: pass today=")])
            conditions.append(_age_condition(d, _bin_index(d, shown), as_of))
        elif d.bins:
            conditions.append(_bins_condition(d, _bin_index(d, shown)))
        else:
            conditions.append({f"{d.field}__eq": _text(shown)})
    narrowed = replace(ds, filters=(*ds.filters, *conditions, *expressions))
    return Drill(replace(report, dataset=narrowed), tuple(conditions), tuple(expressions),
                 dict(params or {}))


def drill_query(drill: Drill, sources: Sources, params: dict | None = None):
    """(SELECT id [, parent_id] FROM source WHERE ..., bind values): the rows behind the
    element, with the viewer's row permissions; ordered by id."""
    report = drill.report
    values = parameter_values(report, params if params is not None else drill.params, None)
    builder = Builder(report, sources, frozenset(values))
    builder.check()
    columns = [builder.scope.id_column.label("id")]
    if builder.scope.source.parent:
        columns.append(builder.scope.base.c[builder.scope.source.parent_id].label("parent_id"))
    statement = select(*columns).select_from(builder.scope.from_clause) \
        .where(*builder.where).order_by(builder.scope.id_column)
    binds = {f"p_{k}": [sql_number(x) for x in v] if isinstance(v, list) else sql_number(v)
             for k, v in values.items()}
    return statement, binds


def drill_records(conn, drill: Drill, sources: Sources, *, today=None, now=None) -> list:
    """Ids of the rows behind the element (``(id, parent_id)`` pairs for lines)."""
    statement, binds = drill_query(drill, sources)
    for name, value in (("today", today), ("now", now), (AS_OF, today)):
        binds.setdefault(name, value)
    rows = conn.execute(statement, binds).all()
    return [tuple(r) if len(r) > 1 else r[0] for r in rows]


# ---- one dimension -> conditions ------------------------------------------------------

def bucket_range(unit: str, label: str) -> tuple[dt.date, dt.date]:
    """[start, end) of the period a bucket label names (``2026-11``, ``2026-Q4``...)."""
    try:
        if unit == "day":
            start = dt.date.fromisoformat(label)
            return start, start + dt.timedelta(days=1)
        if unit == "month":
            year, month = int(label[:4]), int(label[5:7])
            start = dt.date(year, month, 1)
            return start, dt.date(year + month // 12, month % 12 + 1, 1)
        if unit == "quarter":
            year, quarter = int(label[:4]), int(label.split("Q")[1])
            start = dt.date(year, 3 * quarter - 2, 1)
            end = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
            return start, end
        if unit == "year":
            return dt.date(int(label), 1, 1), dt.date(int(label) + 1, 1, 1)
        year, week = int(label[:4]), int(label.split("W")[1])
        start = dt.date.fromisocalendar(year, week, 1)
        return start, start + dt.timedelta(days=7)
    except (ValueError, IndexError):
        raise ReportError([("/", f"{label!r} is not a {unit} as this report shows it")]) \
            from None


def _bin_index(d, shown) -> int:
    from engines.reports.builder import age_labels, bin_labels

    labels = list(d.labels or (age_labels(d.age) if d.age else bin_labels(d.bins)))
    if shown in labels:
        return labels.index(shown)
    raise ReportError([("/", f"{shown!r} is not one of the bins of '{d.key}': "
                        f"{', '.join(map(str, labels))}")])


def _age_condition(d, index: int, as_of: dt.date) -> dict:
    # Age in days a <= age <= b  <=>  as_of - b <= day < as_of - a + 1.
    edges = [int(e) for e in d.age]
    condition = {}
    if index < len(edges):
        condition[f"{d.field}__gte"] = (as_of - dt.timedelta(days=edges[index])).isoformat()
    if index > 0:
        condition[f"{d.field}__lt"] = (as_of - dt.timedelta(days=edges[index - 1])).isoformat()
    return condition


def _bins_condition(d, index: int) -> dict:
    edges = list(d.bins)
    condition = {}
    if index > 0:
        condition[f"{d.field}__gt"] = _text(edges[index - 1])
    if index < len(edges):
        condition[f"{d.field}__lte"] = _text(edges[index])
    return condition


def _expression_condition(expr: str, shown) -> str:
    if shown is None:
        return f"ISBLANK({expr})"
    if isinstance(shown, bool):
        return f"({expr}) = {'TRUE' if shown else 'FALSE'}"
    if isinstance(shown, int | float | Decimal):
        return f"({expr}) = {_text(shown)}"
    if isinstance(shown, dt.date):
        return f"({expr}) = DATE({shown.year}, {shown.month}, {shown.day})"
    quoted = '"' + str(shown).replace('"', '""') + '"'
    return f"EXACT({expr}, {quoted})"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)
