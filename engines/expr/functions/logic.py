"""Logical functions and the tests for blanks, types and errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engines.expr.errors import NA, ErrorValue, fail
from engines.expr.functions import builtin
from engines.expr.operators import compare, logical_values
from engines.expr.types import BOOLEAN, unite
from engines.expr.values import truth


def _logic(*args, **kwargs):
    return builtin("logic", *args, **kwargs)


def _if_type(types):
    return unite([types[1], types[2] if len(types) > 2 else BOOLEAN])


def _switch_results(types):
    results = types[2::2] if (len(types) - 1) % 2 == 0 else types[2:-1:2] + [types[-1]]
    return unite(results)


# IF, IFS and SWITCH evaluate only the branch they choose: the compiler emits them.
# These implementations give the same answer from already-computed arguments.

@_logic("IF(condition, [value_if_true], [value_if_false])", ("logical", "scalar", "scalar"),
        _if_type, "value_if_true when the condition is TRUE, else value_if_false "
        "(FALSE when left out)", 'IF(5 > 3, "yes", "no") → "yes"', lazy=True, min_args=2)
def if_(condition, when_true=True, when_false=False):
    return when_true if truth(condition) else when_false


@_logic("IFS(condition, value, ...)", ("logical", "scalar"),
        lambda types: unite(types[1::2]),
        "the value after the first TRUE condition; #N/A when none is TRUE",
        'IFS(5 > 9, "big", 5 > 3, "medium", TRUE, "small") → "medium"', repeat=2, lazy=True)
def ifs(*pairs):
    for condition, value in zip(pairs[::2], pairs[1::2], strict=False):
        if truth(condition):
            return value
    fail(NA, "IFS found no TRUE condition")


@_logic("SWITCH(expression, value, result, ..., [default])", ("scalar",), _switch_results,
        "the result paired with the first value equal to the expression; the default (or "
        '#N/A) when none is', 'SWITCH(2, 1, "one", 2, "two", "many") → "two"', lazy=True,
        min_args=3, max_args=None)
def switch(expression, *cases):
    default_given = len(cases) % 2 == 1
    pairs = cases[:-1] if default_given else cases
    for value, result in zip(pairs[::2], pairs[1::2], strict=False):
        if compare(expression, value) == 0:
            return result
    if default_given:
        return cases[-1]
    fail(NA, "SWITCH found no matching value and has no default")


@_logic("AND(logical, ...)", ("values",), BOOLEAN,
        "TRUE when every argument is TRUE (blanks are skipped)", "AND(TRUE, 1 < 2) → TRUE")
def and_(*values):
    return all(logical_values(values, "AND"))


@_logic("OR(logical, ...)", ("values",), BOOLEAN,
        "TRUE when at least one argument is TRUE (blanks are skipped)",
        "OR(FALSE, 1 > 2) → FALSE")
def or_(*values):
    return any(logical_values(values, "OR"))


@_logic("XOR(logical, ...)", ("values",), BOOLEAN,
        "TRUE when an odd number of the arguments are TRUE", "XOR(TRUE, TRUE) → FALSE")
def xor(*values):
    return sum(logical_values(values, "XOR")) % 2 == 1


@_logic("NOT(logical)", ("logical",), BOOLEAN, "TRUE for FALSE and FALSE for TRUE",
        "NOT(1 > 2) → TRUE")
def not_(value):
    return not truth(value)


@_logic("IFERROR(value, value_if_error)", ("scalar", "scalar"), unite,
        "the value, or value_if_error when the value is an error", 'IFERROR(1/0, 0) → 0',
        catches_errors=True)
def iferror(value, fallback):
    return fallback if isinstance(value, ErrorValue) else value


@_logic("IFNA(value, value_if_na)", ("scalar", "scalar"), unite,
        "the value, or value_if_na when the value is #N/A", 'IFNA(NA(), "none") → "none"',
        catches_errors=True)
def ifna(value, fallback):
    return fallback if isinstance(value, ErrorValue) and value.code == NA else value


@_logic("NA()", (), "any", "the #N/A error value (no value available)", "NA() → #N/A")
def na():
    fail(NA, "NA() was used")


@_logic("ISBLANK(value)", ("scalar",), BOOLEAN,
        "TRUE when the value is blank (an empty field); \"\" is text, not blank",
        'ISBLANK("") → FALSE', catches_errors=True)
def isblank(value):
    return value is None


@_logic("ISNUMBER(value)", ("scalar",), BOOLEAN,
        "TRUE for a number (TRUE/FALSE and dates are numbers too, as in LibreOffice)",
        'ISNUMBER("12") → FALSE', catches_errors=True)
def isnumber(value):
    return isinstance(value, (Decimal, bool, int, float, dt.date))


@_logic("ISTEXT(value)", ("scalar",), BOOLEAN, "TRUE for text", 'ISTEXT("12") → TRUE',
        catches_errors=True)
def istext(value):
    return isinstance(value, str)


@_logic("ISLOGICAL(value)", ("scalar",), BOOLEAN, "TRUE for TRUE or FALSE",
        "ISLOGICAL(1 = 1) → TRUE", catches_errors=True)
def islogical(value):
    return isinstance(value, bool)


@_logic("ISERROR(value)", ("scalar",), BOOLEAN, "TRUE for any error value",
        "ISERROR(1/0) → TRUE", catches_errors=True)
def iserror(value):
    return isinstance(value, ErrorValue)


@_logic("ISERR(value)", ("scalar",), BOOLEAN, "TRUE for any error value except #N/A",
        "ISERR(NA()) → FALSE", catches_errors=True)
def iserr(value):
    return isinstance(value, ErrorValue) and value.code != NA


@_logic("ISNA(value)", ("scalar",), BOOLEAN, "TRUE for #N/A", "ISNA(NA()) → TRUE",
        catches_errors=True)
def isna(value):
    return isinstance(value, ErrorValue) and value.code == NA
