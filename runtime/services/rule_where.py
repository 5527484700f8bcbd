"""``update <form> where <condition>``: the condition as a SQL WHERE, so the database
picks the records instead of Python reading every record of the form.

The one expression language compiles to SQL with the same meaning as the evaluator
(engines/reports/sqlexpr, proven against it by the report engine's property tests).
Here it sees the updated form's own fields by their columns and ``trigger.<field>``
as the triggering record's values, bound as parameters. What it cannot compile — a
path through a relation, a function SQL does not have, a blank trigger value — leaves
the condition to Python over every record, as before: the result is the same either
way, the SQL only makes it fast. Records it selects are checked by the evaluator too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, DateTime, literal

from engines.expr import ExpressionError
from engines.reports.paths import PathError
from engines.reports.sqlexpr import SqlExpression
from engines.reports.sqlvalues import Name
from runtime.services import clock


def sql_condition(ft, source: str, trigger: dict | None):
    """The condition on ``ft``'s table, or None when it has to run in Python."""
    trigger = trigger or {}

    def resolve(path):
        if len(path) == 1 and path[0] in ft.columns:
            field = ft.form.field(path[0])
            return Name(ft.columns[path[0]], field.type if field else "text")
        if len(path) >= 2 and path[0] == "trigger":
            value = trigger
            for part in path[1:]:
                value = value.get(part) if isinstance(value, dict) else None
            return _bound(value)
        raise PathError("not a column of the updated form", index=0)

    def parameter(key):
        raise KeyError(key)

    def moment(name):
        return literal(clock.today(), Date()) if name == "today" \
            else literal(clock.now(), DateTime())

    try:
        return SqlExpression(source, resolve, parameter, moment).condition()
    except (ExpressionError, PathError, _Unbindable):
        return None


class _Unbindable(Exception):
    pass


def _bound(value) -> Name:
    if isinstance(value, dict):  # a relation as the API shows it
        value = value.get("id")
    if isinstance(value, bool):
        return Name(literal(value), "checkbox", nullable=False)
    if isinstance(value, int | Decimal | float):
        return Name(literal(value), "number", nullable=False)
    if isinstance(value, dt.datetime):
        return Name(literal(value, DateTime()), "datetime", nullable=False)
    if isinstance(value, dt.date):
        return Name(literal(value, Date()), "date", nullable=False)
    if isinstance(value, str):
        return Name(literal(value), "text", nullable=False)
    raise _Unbindable(value)  # blank or a list: the evaluator decides
