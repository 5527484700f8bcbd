"""ABC classification, with window functions over the grouped rows.

Groups are ranked by the measure (largest first, ties by the dimensions); each gets
its share of the total and the cumulative share up to and including itself. With
thresholds [0.8, 0.95] a group whose cumulative share is at most 80 % is A, at most
95 % B, the rest C — the classic Pareto split. Thresholds may be parameters.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, func, literal, type_coerce

from engines.reports.dialects import ReportNumber, SafeDivide, TextOrder
from engines.reports.result import Column


def abc_columns(builder, columns: dict, g) -> list[tuple[Column, object]]:
    abc = builder.ds.abc
    value = func.coalesce(columns[abc.measure], 0)
    ties = [TextOrder(columns[d.key]) if d.type == "text" and d.labels is None
            else columns[d.key] for d in builder.dims]
    order = [value.desc(), *[t.asc().nulls_last() for t in ties]]
    cumulative = type_coerce(func.sum(value).over(order_by=order, rows=(None, 0)),
                             ReportNumber())
    total = type_coerce(func.sum(value).over(), ReportNumber())
    limits = [_threshold(builder, t) for t in abc.thresholds]
    klass = case(*[(cumulative <= limit * total, name)
                   for limit, name in zip(limits, abc.classes, strict=False)],
                 else_=abc.classes[-1])
    return [
        (Column("share", {"zh": "占比", "en": "Share"}, "abc", "number", percent=True),
         SafeDivide(value, total)),
        (Column("cumulative_share", {"zh": "累计占比", "en": "Cumulative share"}, "abc",
                "number", percent=True), SafeDivide(cumulative, total)),
        (Column("class", {"zh": "ABC 分类", "en": "Class"}, "abc", "text"), klass),
        (Column("rank", {"zh": "排名", "en": "Rank"}, "abc", "integer"),
         func.row_number().over(order_by=order)),
    ]


def _threshold(builder, value):
    if isinstance(value, dict):
        return builder.param_bind(value["param"])
    return literal(Decimal(value), ReportNumber())
