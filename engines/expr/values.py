"""What values mean at run time: conversions, comparison and the operators, as in
LibreOffice Calc.

Values are plain Python: ``Decimal`` numbers, ``str`` text, ``bool``, ``date`` and
``datetime``, ``None`` for blank, dicts for linked records and lists for subtable
columns. Blank counts as 0 in arithmetic and "" in text; booleans are the numbers 1
and 0; dates are day numbers counted from 1899-12-30 when they meet a number.

The operators are in ``engines.expr.operators``.

Division, square roots and fractional powers cannot be exact in decimal. Their
results are ``Inexact`` (a marker subclass of ``Decimal``), and everything computed
from them is too. Inexact numbers compare equal when they agree to about 15
significant digits and are rounded to 15 significant digits before INT, ROUND and
the like and when a formula gives its final result — which is what LibreOffice does
with its binary floats, so ``1/3*3 = 1`` is TRUE in both. Exact numbers stay exact.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import MAX_EMAX, MIN_EMIN, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal

from engines.expr.errors import NUM, VALUE, ErrorValue, Failure, fail


class Inexact(Decimal):
    """A number rounded by an inexact operation (see the module docstring)."""

    __slots__ = ()


ZERO = Decimal(0)
ONE = Decimal(1)
EPOCH = dt.date(1899, 12, 30)
EPOCH_TIME = dt.datetime(1899, 12, 30)
SECONDS_PER_DAY = Decimal(86400)
# LibreOffice's rtl::math::approxEqual: equal when they differ by less than 2**-48 of each.
APPROX = Decimal(2) ** -48
# Rounding and quantizing never fail for lack of digits.
WIDE = Context(prec=100_000, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
# A number shown as text has at most this many significant digits, as in LibreOffice.
SHOWN_DIGITS = 15
LARGEST_EXACT_INTEGER = 2**53


def snap(value: Decimal) -> Decimal:
    """``value`` rounded to 15 significant digits, as a plain ``Decimal``."""
    if not value:
        return ZERO
    value = Decimal(value)
    step = Decimal(1).scaleb(value.adjusted() - (SHOWN_DIGITS - 1))
    rounded = value.quantize(step, context=WIDE).normalize(WIDE)
    if rounded.as_tuple().exponent > 0:
        rounded = rounded.quantize(ONE, context=WIDE)
    return rounded


def finish(value):
    """The value a formula gives to its caller: inexact numbers rounded (see above)."""
    return snap(value) if value.__class__ is Inexact else value


def exact(value: Decimal) -> Decimal:
    """An inexact number rounded as LibreOffice's approxFloor and ROUND see it."""
    return snap(value) if value.__class__ is Inexact else value


def approx_equal(a: Decimal, b: Decimal) -> bool:
    if a == b:
        return True
    if not a or not b:
        return False
    difference = abs(a - b)
    return difference < abs(a) * APPROX and difference < abs(b) * APPROX


# ---- dates as day numbers -----------------------------------------------------------

def serial(value: dt.date) -> Decimal:
    """The day number of a date (1899-12-30 is 0), with a fraction for the time of day."""
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - EPOCH_TIME
        seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 10**6
        days = seconds / SECONDS_PER_DAY
        return days if days * SECONDS_PER_DAY == seconds else Inexact(days)
    return Decimal((value - EPOCH).days)


def from_serial(days: Decimal) -> dt.date:
    """The date (or date and time, when there is a fraction) of a day number."""
    try:
        whole = int(days.to_integral_value(rounding=ROUND_FLOOR))
        if whole == days:
            return EPOCH + dt.timedelta(days=whole)
        seconds = (days - whole) * SECONDS_PER_DAY
        micro = int((seconds * 10**6).to_integral_value(rounding=ROUND_HALF_UP))
        return EPOCH_TIME + dt.timedelta(days=whole, microseconds=micro)
    except OverflowError:
        fail(NUM, "the date is outside the years 1 to 9999")


# ---- conversions --------------------------------------------------------------------

_NUMBER_TEXT = re.compile(
    r"^(?P<sign>[+-])?\$?(?P<digits>(\d{1,3}(,\d{3})+|\d*)(\.\d*)?([eE][+-]?\d+)?)(?P<pct>%)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_number(text: str) -> Decimal | None:
    """The number a piece of text stands for, as LibreOffice reads it, or None.

    Accepts ``1,234.5``, ``-12``, ``1e3``, ``12%``, ``$12``, ``(12)`` and ``12-`` for
    negatives, and ISO dates ``2026-03-04`` (as their day number)."""
    text = text.strip()
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text, negative = text[1:-1].strip(), True
    elif text.endswith("-") and len(text) > 1:
        text, negative = text[:-1].strip(), True
    match = _NUMBER_TEXT.match(text)
    if match and any(c.isdigit() for c in match["digits"].split("e")[0].split("E")[0]):
        number = Decimal(match["digits"].replace(",", ""))
        if match["pct"]:
            number = number.scaleb(-2)
        if match["sign"] == "-":
            number = -number
        return -number if negative else number
    if negative:
        return None
    date = _ISO_DATE.match(text)
    if date:
        try:
            y, m, d, hh, mm, ss = (int(part) if part else 0 for part in date.groups())
            return serial(dt.datetime(y, m, d, hh, mm, ss) if date[4] else dt.date(y, m, d))
        except ValueError:
            return None
    return None


def number(value) -> Decimal:
    """``value`` as a number for arithmetic; raises #VALUE! for text that is not one."""
    cls = value.__class__
    if cls is Decimal or cls is Inexact:
        return value
    if value is None:
        return ZERO
    if cls is bool:
        return ONE if value else ZERO
    if cls is int:
        return Decimal(value)
    if cls is str:
        parsed = parse_number(value)
        if parsed is None:
            fail(VALUE, f"'{value}' is text, not a number")
        return parsed
    if isinstance(value, dt.date):
        return serial(value)
    if cls is float:
        if value != value or value in (float("inf"), float("-inf")):
            fail(NUM, "the number is not finite")
        return Decimal(repr(value))
    if isinstance(value, ErrorValue):
        raise Failure(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            fail(NUM, "the number is not finite")
        return value
    fail(VALUE, f"{describe(value)} is not a number")


def integer(value) -> int:
    """A number argument truncated toward zero, as spreadsheets read counts and digits."""
    return int(exact(number(value)))


def text(value) -> str:
    """``value`` as text: blank is "", TRUE is "1" (as in LibreOffice), dates are ISO."""
    cls = value.__class__
    if cls is str:
        return value
    if value is None:
        return ""
    if cls is Decimal or cls is Inexact:
        return format_number(value)
    if cls is bool:
        return "1" if value else "0"
    if cls is dt.date:
        return value.isoformat()
    if cls is dt.datetime:
        return value.strftime("%Y-%m-%d %H:%M" if not value.second and not value.microsecond
                              else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, ErrorValue):
        raise Failure(value)
    if cls is int or cls is float or isinstance(value, Decimal):
        return format_number(number(value))
    fail(VALUE, f"{describe(value)} cannot be shown as text")


def format_number(value: Decimal) -> str:
    """A number as LibreOffice's General format shows it: at most 15 significant
    digits, whole numbers below 2**53 in full, scientific notation for the very large
    and very small."""
    if not value:
        return "0"
    if value == value.to_integral_value() and abs(value) < LARGEST_EXACT_INTEGER:
        return str(int(value))
    shown = snap(value)
    exponent = shown.adjusted()
    if exponent >= 16 or exponent < -15:
        mantissa = shown.scaleb(-exponent)
        digits = _plain(mantissa)
        return f"{digits}E{'+' if exponent >= 0 else '-'}{abs(exponent):03d}"
    return _plain(shown)


def _plain(value: Decimal) -> str:
    digits = format(value, "f")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return "0" if digits in ("-0", "") else digits


def truth(value) -> bool:
    """``value`` as TRUE/FALSE: numbers are TRUE unless 0, blank is FALSE, text is #VALUE!."""
    cls = value.__class__
    if cls is bool:
        return value
    if value is None:
        return False
    if cls is str:
        fail(VALUE, f"'{value}' is text, not TRUE or FALSE")
    return bool(number(value))


def describe(value) -> str:
    if isinstance(value, Mapping):
        return "a linked record"
    if isinstance(value, list):
        return "a list of values"
    return repr(value)
