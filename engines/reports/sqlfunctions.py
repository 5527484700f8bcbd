"""The functions of the expression language that run in the database in a report, each
compiled by one entry of ``SQL_FUNCTIONS`` (name -> compile(expression, call node))."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import case, false, func, literal

from engines.expr.nodes import Call
from engines.expr.types import BOOLEAN, DATE, DATETIME, NUMBER, TEXT
from engines.reports.dialects import DatePart, DaysBetween
from engines.reports.sqlvalues import REPORT_FUNCTIONS, ZERO, Sql, as_text, expr_type, sql_type


def _fn_if(c, node: Call) -> Sql:
    test = c.cond(node.args[0], False)
    # Only the branch taken can make the value an error.
    c.guards.append(test)
    yes = c.val(node.args[1])
    c.guards[-1] = c.cond(node.args[0], True)
    if len(node.args) > 2:
        no = c.val(node.args[2])
    elif yes.type in (BOOLEAN, "blank"):
        no = Sql(false(), BOOLEAN, False, False)  # as the language: FALSE when left out
    else:
        raise c.error_at(node, "IF without value_if_false gives FALSE, which a report "
                         "cannot mix with other values in one column: add the value for "
                         "the other rows, e.g. IF(kind = \"out\", qty, BLANK)")
    c.guards.pop()
    kind = yes.type if yes.type != "blank" else no.type
    return Sql(case((test, yes.expr), else_=no.expr), kind, True)


def _fn_param(c, node: Call) -> Sql:
    key = node.args[0].value
    try:
        param, kind, multiple = c.parameter(key)
    except KeyError:
        raise c.error_at(node, f"parameter '{key}' is not declared: add it under "
                       "\"parameters\"") from None
    return Sql(param, "list" if multiple else expr_type(kind), True)


def _unary(sql_of, kind=NUMBER):
    """A function whose arguments are read as its parameter kinds say: a blank number
    is 0, a blank date day 0 (1899-12-30), blank text "" — as the language does."""
    def compile_call(c, node: Call) -> Sql:
        spec = REPORT_FUNCTIONS[node.name]
        args = []
        for index, arg in enumerate(node.args):
            value = c.val(arg)
            wanted = spec.kind_of(index)
            if wanted == "number":
                args.append(c.number(value).expr)
            elif wanted in ("date", "text") and value.nullable and not value.is_literal:
                zero = ZERO[DATE] if wanted == "date" else ""
                args.append(func.coalesce(value.expr, literal(zero, sql_type(
                    DATE if wanted == "date" else TEXT))))
            elif value.is_literal and value.constant is None and wanted in ("date", "text"):
                zero = ZERO[DATE] if wanted == "date" else ""
                args.append(literal(zero, sql_type(DATE if wanted == "date" else TEXT)))
            else:
                args.append(value.expr)
        return Sql(sql_of(*args), kind, False)
    return compile_call


def _fn_sqrt(c, node: Call) -> Sql:
    value = c.number(c.val(node.args[0])).expr
    c.error_if(value < 0)
    return Sql(func.sqrt(value), NUMBER, False)


def _round(value, digits=None):
    return func.round(value, digits if digits is not None else 0)


def _logical():
    def compile_call(c, node: Call) -> Sql:
        return Sql(c.cond(node, False), BOOLEAN, False)
    return compile_call


def _fn_exact(c, node: Call) -> Sql:
    a, b = (as_text(c.val(arg)) for arg in node.args)
    return Sql(a == b, BOOLEAN, False)


SQL_FUNCTIONS: Mapping[str, Callable] = {
    "EXACT": _fn_exact,
    "IF": _fn_if,
    "AND": _logical(), "OR": _logical(), "NOT": _logical(),
    "ISBLANK": _logical(),
    "PARAM": _fn_param,
    "ABS": _unary(func.abs),
    "ROUND": _unary(_round),
    "INT": _unary(func.floor),
    "SQRT": _fn_sqrt,
    "YEAR": _unary(lambda d: DatePart(d, "year")),
    "MONTH": _unary(lambda d: DatePart(d, "month")),
    "DAY": _unary(lambda d: DatePart(d, "day")),
    "DAYS": _unary(DaysBetween),
    "TODAY": lambda c, node: Sql(c.clock("today"), DATE, False),
    "NOW": lambda c, node: Sql(c.clock("now"), DATETIME, False),
    "LOWER": _unary(func.lower, TEXT),
    "UPPER": _unary(func.upper, TEXT),
    "TRIM": _unary(func.trim, TEXT),
    "LEN": _unary(func.length),
    "LEFT": _unary(lambda t, n=1: func.substr(t, 1, n), TEXT),
}


