"""Numbers: rounding, arithmetic functions and aggregates over values and subtable
columns. Rounding is half away from zero, as in LibreOffice (ROUND(-2.5, 0) is -3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP, Decimal

from engines.expr.errors import DIV0, VALUE, ErrorValue, Failure, fail
from engines.expr.functions import builtin
from engines.expr.operators import power
from engines.expr.types import DATE, NUMBER, ListOf
from engines.expr.values import (
    ONE,
    WIDE,
    ZERO,
    Inexact,
    exact,
    from_serial,
    integer,
    number,
    parse_number,
)


def _math(*args, **kwargs):
    return builtin("math", *args, **kwargs)


# Rounding an exact number to 0..15 places is the common case: one quantize (the
# compiler inlines it for ROUND(x, 2) and the like; see codegen.inline_rounding).
STEPS = {places: Decimal(1).scaleb(-places) for places in range(16)}
ROUNDERS = {mode: WIDE.copy() for mode in (ROUND_HALF_UP, ROUND_UP, ROUND_DOWN)}
for _mode, _context in ROUNDERS.items():
    _context.rounding = _mode


def _round(value, digits, mode) -> Decimal:
    if value.__class__ is Decimal and digits.__class__ is Decimal:
        step = STEPS.get(digits)
        if step is not None:
            result = ROUNDERS[mode].quantize(value, step)
            return result if result else result.copy_abs()
    x = exact(number(value))
    places = max(min(integer(digits), 400), -400)
    result = ROUNDERS[mode].quantize(x, Decimal(1).scaleb(-places))
    if places < 0:
        result = result.quantize(ONE, context=WIDE)
    return result if result else abs(result)


@_math("ROUND(number, [digits])", ("number", "number"), NUMBER,
       "the number rounded to digits decimal places, halves away from zero "
       "(negative digits round to tens, hundreds ...)", "ROUND(2.345, 2) → 2.35")
def round_(value, digits=ZERO):
    if value.__class__ is Decimal and digits.__class__ is Decimal and digits in STEPS:
        result = ROUNDERS[ROUND_HALF_UP].quantize(value, STEPS[digits])
        return result if result else result.copy_abs()  # 0.00, not -0.00
    return _round(value, digits, ROUND_HALF_UP)


@_math("ROUNDUP(number, [digits])", ("number", "number"), NUMBER,
       "the number rounded away from zero", "ROUNDUP(2.301, 1) → 2.4")
def roundup(value, digits=ZERO):
    return _round(value, digits, ROUND_UP)


@_math("ROUNDDOWN(number, [digits])", ("number", "number"), NUMBER,
       "the number rounded toward zero", "ROUNDDOWN(-2.39, 1) → -2.3")
def rounddown(value, digits=ZERO):
    return _round(value, digits, ROUND_DOWN)


@_math("TRUNC(number, [digits])", ("number", "number"), NUMBER,
       "the number with its decimals cut off after digits places", "TRUNC(8.79) → 8")
def trunc(value, digits=ZERO):
    return _round(value, digits, ROUND_DOWN)


@_math("INT(number)", ("number",), NUMBER, "the number rounded down to a whole number",
       "INT(-1.5) → -2")
def int_(value):
    result = exact(number(value)).to_integral_value(rounding=ROUND_FLOOR)
    return result.quantize(ONE, context=WIDE)


@_math("MOD(number, divisor)", ("number", "number"), NUMBER,
       "the remainder after division; it has the sign of the divisor", "MOD(-7, 3) → 2")
def mod(value, divisor):
    x, y = exact(number(value)), exact(number(divisor))
    if not y:
        fail(DIV0, "MOD by zero")
    result = WIDE.remainder(x, y)
    if result and (result < 0) != (y < 0):
        result += y
    return result


@_math("ABS(number)", ("number",), NUMBER, "the number without its sign", "ABS(-3) → 3")
def abs_(value):
    x = number(value)
    return Inexact(abs(x)) if x.__class__ is Inexact else abs(x)


@_math("POWER(number, power)", ("number", "number"), NUMBER,
       "number raised to power (the same as number ^ power)", "POWER(2, 10) → 1024")
def power_(value, exponent):
    return power(value, exponent)


@_math("SQRT(number)", ("number",), NUMBER, "the square root; #VALUE! for a negative number",
       "SQRT(16) → 4")
def sqrt(value):
    x = number(value)
    if x < 0:
        fail(VALUE, "a negative number has no square root")
    result = x.sqrt()
    return result if WIDE.multiply(result, result) == x and x.__class__ is not Inexact \
        else Inexact(result)


# ---- aggregates ---------------------------------------------------------------------

def numbers_of(values, name: str) -> tuple[list[Decimal], bool]:
    """The numbers among the arguments of SUM, AVERAGE, MIN, MAX, and whether all
    were dates. As with ranges in a spreadsheet, a subtable column skips text and
    blanks; a blank argument is skipped; a text argument is #VALUE!."""
    found, dates = [], True
    for value in values:
        items = value if isinstance(value, list) else (value,)
        listed = isinstance(value, list)
        for item in items:
            if item is None or (listed and item.__class__ is str):
                continue
            if item.__class__ is str:
                fail(VALUE, f"{name} cannot use the text '{item}' as a number")
            if isinstance(item, Mapping):
                fail(VALUE, f"{name} cannot use a linked record as a number")
            dates = dates and isinstance(item, dt.date)
            found.append(number(item))
    return found, dates and bool(found)


def _total(found: list[Decimal]) -> Decimal:
    total = sum(found, ZERO)
    return Inexact(total) if any(x.__class__ is Inexact for x in found) else total


def _date_type(types):
    items = [t.item if isinstance(t, ListOf) else t for t in types]
    return DATE if items and all(t == DATE for t in items) else NUMBER


@_math("SUM(value, ...)", ("values",), NUMBER,
       "the total of the numbers; SUM(lines.amount) adds a subtable column",
       "SUM(1, 2, 3) → 6")
def sum_(*values):
    return _total(numbers_of(values, "SUM")[0])


@_math("AVERAGE(value, ...)", ("values",), NUMBER,
       "the mean of the numbers (blanks and text in a column are skipped); "
       "#DIV/0! when there are none", "AVERAGE(1, 2, 3, 4) → 2.5")
def average(*values):
    found, _ = numbers_of(values, "AVERAGE")
    if not found:
        fail(DIV0, "AVERAGE of no numbers")
    total = _total(found)
    result = total / len(found)
    exact_result = WIDE.multiply(result, len(found)) == total and total.__class__ is not Inexact
    return result if exact_result else Inexact(result)


@_math("MIN(value, ...)", ("values",), _date_type,
       "the smallest number (or earliest date); 0 when there are none", "MIN(4, -1, 7) → -1")
def min_(*values):
    found, dates = numbers_of(values, "MIN")
    if not found:
        return ZERO
    smallest = min(found)
    return from_serial(smallest) if dates else smallest


@_math("MAX(value, ...)", ("values",), _date_type,
       "the largest number (or latest date); 0 when there are none", "MAX(4, -1, 7) → 7")
def max_(*values):
    found, dates = numbers_of(values, "MAX")
    if not found:
        return ZERO
    largest = max(found)
    return from_serial(largest) if dates else largest


@_math("COUNT(value, ...)", ("rows",), NUMBER,
       "how many numbers there are; COUNT(lines) is the number of lines of a subtable",
       'COUNT(1, "a", 2) → 2')
def count(*values):
    total = 0
    for value in values:
        if isinstance(value, list):
            total += sum(1 for item in value
                         if isinstance(item, (Decimal, int, float, dt.date, Mapping)))
        elif isinstance(value, ErrorValue):
            raise Failure(value)
        elif value.__class__ is str:
            total += parse_number(value) is not None
        elif value is not None:
            total += isinstance(value, (Decimal, int, float, dt.date))
    return Decimal(total)


@_math("COUNTA(value, ...)", ("rows",), NUMBER,
       "how many values are not blank (\"\" counts); COUNTA(lines.note) counts filled lines",
       'COUNTA(1, "a", "") → 3')
def counta(*values):
    total = 0
    for value in values:
        if isinstance(value, list):
            total += sum(1 for item in value if item is not None)
        else:
            total += value is not None
    return Decimal(total)
