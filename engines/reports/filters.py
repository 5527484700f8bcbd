"""Dataset filters and parameters.

A filter is either an expression (``"qty > 0 AND material.category = 'chip'"``,
compiled by ``sqlexpr``) or a dict in the records API's list-filter syntax,
``{"path__op": value}``, with the same operators and the same meaning as
``GET .../records?path__op=value``: ``eq`` is exact, ``contains`` / ``startswith``
ignore case, ``in`` takes a list (or comma-separated text), ``empty`` tests for blank;
through a subtable (``lines.material.code``) the condition must hold for at least one
line. A value ``{"param": "site"}`` is filled in when the report runs; a filter whose
parameter has no value is left out.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Text, cast, exists, func, not_, or_, select

from engines.forms.definition import parse_field
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.reports.paths import PathError, Scope
from engines.reports.sources import ReportError

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "in", "empty")
TEXT_TYPES = ("text", "textarea", "select", "multiselect", "autonumber", "barcode",
              "signature", "location")
COMPARE = {"eq": "__eq__", "ne": "__ne__", "gt": "__gt__", "gte": "__ge__", "lt": "__lt__",
           "lte": "__le__"}


def split_name(name: str) -> tuple[str, str]:
    path, _, op = name.partition("__")
    return path, op or "eq"


def is_param(value) -> bool:
    return isinstance(value, dict) and "param" in value


def dict_condition(scope: Scope, name: str, value, param_bind) -> object:
    """The condition of one ``path__op: value`` entry on ``scope``'s rows.

    ``param_bind(key)`` returns the bindparam of a parameter. Raises
    ``PathError`` or ``ValueError`` with a message for the person who wrote it."""
    path, op = split_name(name)
    if op not in OPERATORS:
        raise ValueError(f"unknown operator '{op}'; use one of {', '.join(OPERATORS)}")
    parts = path.split(".")
    source = scope.source
    if parts[0] in source.subtables and parts[0] not in source.fields:
        if len(parts) == 1:
            raise PathError(f"name a field of subtable '{parts[0]}', e.g. {parts[0]}.<field>")
        sub = scope.sources.subtable_for(source.form or source.name, parts[0])
        inner = Scope(scope.sources, sub, parent_filter=False)
        rest = f"{'.'.join(parts[1:])}__{op}"
        condition = dict_condition(inner, rest, value, param_bind)
        link = inner.base.c[sub.parent_id] == scope.id_column
        return exists(select(1).select_from(inner.from_clause)
                      .where(link, condition, *inner.conditions))
    resolved = scope.resolve(parts)
    column, kind = resolved.column, resolved.field.type
    if is_param(value):
        param = param_bind(value["param"])
        if op == "in":
            return column.in_(param)
        if op in ("contains", "startswith"):
            raise ValueError(f"'{op}' takes its text in the definition, not from a parameter; "
                             "use eq or in with a parameter")
        if op == "empty":
            raise ValueError("'empty' takes true or false, not a parameter")
        return getattr(column, COMPARE[op])(param)
    return compare(column, kind, op, value)


def compare(column, kind: str, op: str, value):
    if op == "empty":
        wanted = str(value).strip().lower() not in ("0", "false", "no", "")
        blank = column.is_(None)
        if kind in ("text", "textarea"):
            blank = or_(column.is_(None), column == "")
        return blank if wanted else not_(blank)
    if op in ("contains", "startswith"):
        text = str(value)
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%" if op == "contains" else f"{escaped}%"
        return func.lower(cast(column, Text)).like(pattern.lower(), escape="\\")
    if op == "in":
        items = value if isinstance(value, list) else [
            part.strip() for part in str(value).split(",") if part.strip()]
        return column.in_([typed(kind, item) for item in items])
    return getattr(column, COMPARE[op])(typed(kind, value))


def typed(kind: str, value):
    """A filter or parameter value read with the field's own type."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("needs a value; to find records without one use <field>__empty")
    if kind in TEXT_TYPES:
        return value if isinstance(value, str) else str(value)
    if kind == "integer":
        kind = "relation"
    if kind in ("number", "money", "percent", "rollup") and isinstance(value, float):
        value = repr(value)
    try:
        return coerce_value(parse_field({"key": "value", "type": kind, "target": "x",
                                         "options": [value] if kind == "select" else []}),
                            value)
    except FieldError as error:
        raise ValueError(f"{value!r}: {error}") from None
    except KeyError:
        return value


def parameter_values(report, values: dict | None, today: dt.date | None) -> dict:
    """The typed values of the report's parameters: given, else default; absent ones are
    left out. ``ReportError`` names a required parameter without a value or a value
    that does not read as the parameter's type."""
    values = dict(values or {})
    problems, out = [], {}
    for key, p in report.parameters.items():
        value = values.get(key, p.default)
        if value == "today" and p.type in ("date", "datetime"):
            value = today
        if value is None or value == "" or value == []:
            if p.required:
                problems.append((f"/parameters/{key}", f"the report needs a value for "
                                 f"'{key}'"))
            continue
        try:
            if p.multiple:
                items = value if isinstance(value, list | tuple) else [
                    part.strip() for part in str(value).split(",") if part.strip()]
                out[key] = [typed(p.type, item) for item in items]
            else:
                out[key] = typed(p.type, value)
        except ValueError as error:
            problems.append((f"/parameters/{key}", str(error)))
    if problems:
        raise ReportError(problems)
    return out


def sql_number(value):
    """A Decimal bound where SQLite has no decimals: ints stay ints."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value
