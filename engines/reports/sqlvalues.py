"""The values an expression compiles to in SQL, and the rules they follow: a blank is
the zero of its type (0, "", day 0) where the language says so, text compares without
regard to case, booleans meet numbers as 0 / 1. Shared by ``sqlexpr`` (operators) and
``sqlfunctions`` (functions)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, Integer, Text, bindparam, cast, func, literal

from engines.expr import operators
from engines.expr.functions import FUNCTIONS, register_function
from engines.expr.types import BOOLEAN, DATE, DATETIME, NUMBER, TEXT
from engines.reports.dialects import ReportNumber, TextOrder

# The expression language's functions plus PARAM("key"): a value the dashboard fills in.
REPORT_FUNCTIONS = dict(FUNCTIONS)
register_function("PARAM", lambda name: None, signature="PARAM(name)", params=("text",),
                  volatile=True, registry=REPORT_FUNCTIONS,
                  summary="the value of a report parameter (a dashboard filter)")

ZERO = {NUMBER: Decimal(0), BOOLEAN: False, TEXT: "", DATE: dt.date(1899, 12, 30),
        DATETIME: dt.datetime(1899, 12, 30)}
FLIP = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "gt": "le", "le": "gt"}
SQL_OPS = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__",
           "ge": "__ge__"}
LOOM_OPS = {"eq": operators.eq, "ne": operators.ne, "lt": operators.lt, "le": operators.le,
            "gt": operators.gt, "ge": operators.ge}
# Field types as the expression checker knows them (ids are numbers in a report).
CHECK_TYPES = {"integer": "number", "user": "number", "department": "number",
               "autonumber": "text", "formula": "any"}



@dataclass(frozen=True)
class Sql:
    expr: object
    type: str
    nullable: bool = True
    constant: object = ...  # the Python value of a literal, else ...

    @property
    def is_literal(self) -> bool:
        return self.constant is not ...


@dataclass(frozen=True)
class Name:
    """What a name in an expression stands for: a column and its Loom field type."""

    column: object
    type: str
    nullable: bool = True


def expr_type(kind: str) -> str:
    return {"number": NUMBER, "money": NUMBER, "percent": NUMBER, "rollup": NUMBER,
            "integer": NUMBER, "relation": NUMBER, "user": NUMBER, "department": NUMBER,
            "date": DATE, "datetime": DATETIME, "checkbox": BOOLEAN, "boolean": BOOLEAN
            }.get(kind, TEXT if kind not in ("any", "blank", "list") else kind)


def common_type(*values: Sql) -> str:
    known = [v.type for v in values if v.type not in ("any", "blank", "list")]
    if TEXT in known:
        return TEXT
    if DATETIME in known:
        return DATETIME
    if DATE in known:
        return DATE
    if NUMBER in known:
        return NUMBER
    return known[0] if known else "any"


def for_compare(value: Sql, kind: str) -> Sql:
    """Booleans meet numbers as 0/1; blank literals become the type's zero."""
    if value.is_literal and value.constant is None and kind in ZERO:
        return Sql(zero_literal(kind), kind, False, ZERO[kind])
    if value.type == BOOLEAN and kind == NUMBER:
        if value.is_literal:
            return Sql(literal(int(value.constant), Integer()), NUMBER, False,
                       Decimal(int(value.constant)))
        return Sql(cast(value.expr, Integer), NUMBER, value.nullable)
    if kind == TEXT and value.is_literal and isinstance(value.constant, str):
        lowered = value.constant.lower()
        return Sql(literal(lowered, Text()), TEXT, False, lowered)
    if kind == TEXT and not value.is_literal and value.type == TEXT:
        return Sql(func.lower(value.expr), TEXT, value.nullable)
    return value


def zeroed(value: Sql, zero, kind: str):
    if not value.nullable or value.is_literal:
        return value.expr
    return func.coalesce(value.expr, zero_literal(kind))


def zero_literal(kind: str):
    zero = ZERO[kind]
    return literal(int(zero) if kind == NUMBER else zero, sql_type(kind))


def sql_type(kind: str):
    return {NUMBER: Integer(), BOOLEAN: Boolean(), TEXT: Text(), DATE: Date(),
            DATETIME: DateTime()}[kind]


def apply_op(op: str, left, right, kind: str):
    if kind == TEXT and op not in ("eq", "ne"):
        left, right = TextOrder(left), TextOrder(right)
    return getattr(left, SQL_OPS[op])(right)


def as_text(value: Sql):
    if value.is_literal:
        return literal("" if value.constant is None else str(value.constant), Text())
    expr = value.expr if value.type == TEXT else cast(value.expr, Text)
    return func.coalesce(expr, "")


def bindable(value):
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return literal(value, ReportNumber())
    return value


def bind_clock(name: str):
    return bindparam(name, type_=Date() if name == "today" else DateTime())
