"""The operators and the comparisons of the expression language, as LibreOffice Calc
does them, and reading linked records and subtable lines. The compiled code calls
these only off its fast path (see ``engines.expr.codegen``): for blanks, text, dates,
inexact numbers and error values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from engines.expr.errors import DIV0, NUM, REF, VALUE, ErrorValue, Failure, fail
from engines.expr.values import (
    ONE,
    WIDE,
    ZERO,
    Inexact,
    approx_equal,
    from_serial,
    number,
    serial,
    text,
    truth,
)

# ---- comparison ---------------------------------------------------------------------

def compare(a, b) -> int:
    """-1, 0 or 1. Numbers (and booleans, dates) sort before text; text compares
    without regard to case; blank is 0 next to a number and "" next to text."""
    if a is None:
        if b is None:
            return 0
        a = "" if b.__class__ is str else ZERO
    elif b is None:
        b = "" if a.__class__ is str else ZERO
    if a.__class__ is str:
        if b.__class__ is str:
            a, b = a.lower(), b.lower()
            return (a > b) - (a < b)
        number(b)  # raises for error values and lists
        return 1
    if b.__class__ is str:
        number(a)
        return -1
    x, y = number(a), number(b)
    if x == y:
        return 0
    if (x.__class__ is Inexact or y.__class__ is Inexact) and approx_equal(x, y):
        return 0
    return -1 if x < y else 1


def eq(a, b) -> bool:
    return compare(a, b) == 0


def ne(a, b) -> bool:
    return compare(a, b) != 0


def lt(a, b) -> bool:
    return compare(a, b) < 0


def le(a, b) -> bool:
    return compare(a, b) <= 0


def gt(a, b) -> bool:
    return compare(a, b) > 0


def ge(a, b) -> bool:
    return compare(a, b) >= 0


def is_in(value, options) -> bool:
    return any(compare(value, option) == 0 for option in options)


# ---- arithmetic ---------------------------------------------------------------------

def _is_date(value) -> bool:
    return isinstance(value, dt.date)


def _sum(x: Decimal, y: Decimal) -> Decimal:
    result = x + y
    if x.__class__ is Inexact or y.__class__ is Inexact:
        # LibreOffice's approxAdd: a difference lost in rounding noise is zero.
        if result and approx_equal(x, -y):
            return ZERO
        return Inexact(result)
    return result


def _shift_date(day: dt.date, days: Decimal):
    if days.__class__ is not Inexact and days == days.to_integral_value() \
            and not isinstance(day, dt.datetime):
        try:
            return day + dt.timedelta(days=int(days))
        except OverflowError:
            fail(NUM, "the date is outside the years 1 to 9999")
    return from_serial(_sum(serial(day), days))


def add(a, b):
    if _is_date(a) and not _is_date(b):
        return _shift_date(a, number(b))
    if _is_date(b) and not _is_date(a):
        return _shift_date(b, number(a))
    return _sum(number(a), number(b))


def sub(a, b):
    if _is_date(a) and not _is_date(b):
        return _shift_date(a, -number(b))
    return _sum(number(a), -number(b))


def mul(a, b):
    x, y = number(a), number(b)
    result = x * y
    return Inexact(result) if x.__class__ is Inexact or y.__class__ is Inexact else result


def div(a, b):
    x, y = number(a), number(b)
    if not y:
        fail(DIV0, "division by zero")
    result = x / y
    if x.__class__ is Inexact or y.__class__ is Inexact or WIDE.multiply(result, y) != x:
        return Inexact(result)
    return result


def power(a, b):
    x, y = number(a), number(b)
    whole = y == y.to_integral_value()
    if not x:
        if y < 0:
            fail(NUM, "zero cannot be raised to a negative power")
        return ONE if not y else ZERO
    if whole and y >= 0 and y.__class__ is not Inexact:
        if abs(y) > 100_000:
            fail(NUM, "the power is too large")
        result = x ** int(y)
        return Inexact(result) if x.__class__ is Inexact else result
    if x < 0 and not whole:
        # An odd root of a negative number is negative, as LibreOffice allows.
        root = 1 / y
        if abs(root - root.to_integral_value()) < Decimal("1e-12") \
                and int(root.to_integral_value()) % 2:
            return Inexact(-((-x) ** y))
        fail(NUM, "a negative number has no such root")
    return Inexact(x ** y)


def neg(a):
    x = number(a)
    return Inexact(-x) if x.__class__ is Inexact else -x


def percent(a):
    x = number(a)
    result = x.scaleb(-2)
    return Inexact(result) if x.__class__ is Inexact else result


def concat(a, b) -> str:
    return text(a) + text(b)


def logical_values(values, name: str) -> list[bool]:
    """The TRUE/FALSE values among AND/OR/XOR arguments: subtable columns skip text
    and blanks, as ranges do; a blank argument is skipped; text is #VALUE!."""
    found = []
    for value in values:
        if isinstance(value, list):
            found += [truth(item) for item in value
                      if item is not None and item.__class__ is not str]
        elif value is not None:
            found.append(truth(value))
    if not found:
        fail(VALUE, f"{name} found no TRUE or FALSE value")
    return found


def and_(a, b) -> bool:
    return all(logical_values((a, b), "AND"))


def or_(a, b) -> bool:
    return any(logical_values((a, b), "OR"))


def not_(a) -> bool:
    return not truth(a)


# ---- records and subtables ----------------------------------------------------------

def member(value, key: str):
    """Field ``key`` of a linked record (a mapping); blank stays blank."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list):
        return column(value, key)
    if isinstance(value, ErrorValue):
        raise Failure(value)
    fail(REF, f"the linked record is not loaded, so its field '{key}' cannot be read")


def column(rows, key: str) -> list:
    """Field ``key`` of every line of a subtable (or of every record in a list)."""
    if rows is None:
        return []
    if isinstance(rows, ErrorValue):
        raise Failure(rows)
    if not isinstance(rows, list):
        return member(rows, key)
    values = []
    for row in rows:
        value = member(row, key)
        if isinstance(value, list):
            values += value
        else:
            values.append(value)
    return values

