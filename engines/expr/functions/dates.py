"""Dates. A date is a ``datetime.date`` (a date and time a ``datetime``); next to
numbers it is its day number counted from 1899-12-30, so ``due - TODAY()`` is a
number of days and ``received + 30`` a date. TODAY() and NOW() read the clock the
caller passes as ``env["now"]`` (the system clock when there is none)."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_FLOOR, Decimal

from engines.expr.errors import NUM, VALUE, fail
from engines.expr.functions import builtin
from engines.expr.types import DATE, DATETIME, NUMBER
from engines.expr.values import ONE, from_serial, integer, number, parse_number, serial, text


def _dates(*args, **kwargs):
    return builtin("dates", *args, **kwargs)


def to_date(value) -> dt.date:
    """A date argument: dates as they are, numbers as day numbers, ISO text parsed."""
    if isinstance(value, dt.date):
        return value
    if value.__class__ is str:
        parsed = parse_number(value)
        if parsed is None:
            fail(VALUE, f"'{value}' is not a date; write dates as DATE(2026, 11, 21)")
        value = parsed
    return from_serial(number(value))


def to_day(value) -> dt.date:
    """A date argument without its time of day."""
    day = to_date(value)
    return day.date() if isinstance(day, dt.datetime) else day


def _build(year: int, month: int, day: int) -> dt.date:
    # Months and days past the end roll over, as in a spreadsheet: DATE(2026, 13, 1)
    # is 2027-01-01 and day 0 is the last day of the month before.
    years, month_index = divmod(year * 12 + month - 1, 12)
    try:
        return dt.date(years, month_index + 1, 1) + dt.timedelta(days=day - 1)
    except (ValueError, OverflowError):
        fail(NUM, "the date is outside the years 1 to 9999")


def _clock(env) -> dt.datetime:
    now = (env or {}).get("now")
    if now is None:
        return dt.datetime.now()
    return now if isinstance(now, dt.datetime) else dt.datetime.combine(now, dt.time())


@_dates("TODAY()", (), DATE, "today's date", "TODAY() → DATE(2026, 11, 21)", needs_env=True)
def today(env):
    return _clock(env).date()


@_dates("NOW()", (), DATETIME, "the current date and time", 'NOW() - TODAY() → 0.5',
        needs_env=True)
def now(env):
    return _clock(env)


@_dates("DATE(year, month, day)", ("number", "number", "number"), DATE,
        "the date; months and days past the end roll over into the next month or year",
        "DATE(2026, 13, 1) → DATE(2027, 1, 1)")
def date(year, month, day):
    year = integer(year)
    if 0 <= year < 100:  # two-digit years, as LibreOffice reads them: 1930 to 2029
        year += 2000 if year < 30 else 1900
    return _build(year, integer(month), integer(day))


@_dates("YEAR(date)", ("date",), NUMBER, "the year of a date", "YEAR(DATE(2026, 11, 21)) → 2026")
def year(value):
    return Decimal(to_date(value).year)


@_dates("MONTH(date)", ("date",), NUMBER, "the month of a date, 1 to 12",
        "MONTH(DATE(2026, 11, 21)) → 11")
def month(value):
    return Decimal(to_date(value).month)


@_dates("DAY(date)", ("date",), NUMBER, "the day of the month, 1 to 31",
        "DAY(DATE(2026, 11, 21)) → 21")
def day(value):
    return Decimal(to_date(value).day)


def _week_start(kind: int, name: str) -> int:
    """The weekday (Monday 0) a week starts on for WEEKDAY / WEEKNUM type ``kind``."""
    starts = {1: 6, 2: 0, 11: 0, 12: 1, 13: 2, 14: 3, 15: 4, 16: 5, 17: 6}
    if kind not in starts:
        fail(VALUE, f"{name} does not know type {kind}")
    return starts[kind]


@_dates("WEEKDAY(date, [type])", ("date", "number"), NUMBER,
        "the day of the week: type 1 (default) counts Sunday 1 to Saturday 7, type 2 "
        "Monday 1 to Sunday 7, type 3 Monday 0 to Sunday 6, types 11-17 start on Monday "
        "to Sunday", "WEEKDAY(DATE(2026, 11, 21)) → 7")
def weekday(value, kind=ONE):
    kind = integer(kind)
    day = to_day(value)
    if kind == 3:
        return Decimal(day.weekday())
    return Decimal((day.weekday() - _week_start(kind, "WEEKDAY")) % 7 + 1)


@_dates("WEEKNUM(date, [type])", ("date", "number"), NUMBER,
        "the week of the year; week 1 holds January 1 and weeks start on Sunday (type 1, "
        "default), Monday (2 or 11) ... Sunday (17); type 21 is the ISO 8601 week",
        "WEEKNUM(DATE(2026, 11, 21)) → 47")
def weeknum(value, kind=ONE):
    kind = integer(kind)
    day = to_day(value)
    if kind == 21:
        return Decimal(day.isocalendar()[1])
    start = _week_start(kind, "WEEKNUM")
    first = dt.date(day.year, 1, 1)
    offset = (first.weekday() - start) % 7
    return Decimal(((day - first).days + offset) // 7 + 1)


def _whole_days(value) -> Decimal:
    return serial(to_date(value)).to_integral_value(rounding=ROUND_FLOOR)


@_dates("DAYS(end_date, start_date)", ("date", "date"), NUMBER,
        "the number of days from start_date to end_date",
        "DAYS(DATE(2026, 3, 1), DATE(2026, 1, 1)) → 59")
def days(end, start):
    return _whole_days(end) - _whole_days(start)


def _shift(year: int, month: int, day: int) -> dt.date:
    # A day past the month's end rolls into the next month (LibreOffice's Normalize).
    return _build(year, month, 1) + dt.timedelta(days=day - 1)


@_dates("DATEDIF(start_date, end_date, unit)", ("date", "date", "text"), NUMBER,
        'whole "y" years, "m" months or "d" days between two dates; "ym" months and '
        '"md" days left over after whole years / months, "yd" days after whole years',
        'DATEDIF(DATE(2020, 1, 15), DATE(2026, 11, 21), "y") → 6')
def datedif(start, end, unit):
    first, last = to_day(start), to_day(end)
    unit = text(unit).lower()
    if first > last:
        fail(VALUE, "DATEDIF needs the start date on or before the end date")
    months = (last.year - first.year) * 12 + last.month - first.month
    if last.day < first.day:
        months -= 1
    if unit == "d":
        return Decimal((last - first).days)
    if unit == "m":
        return Decimal(months)
    if unit == "y":
        return Decimal(months // 12)
    if unit == "ym":
        return Decimal(months % 12)
    if unit == "yd":
        later = (last.month, last.day) >= (first.month, first.day)
        anchor = _shift(last.year if later else last.year - 1, first.month, first.day)
        return Decimal((last - anchor).days)
    if unit == "md":
        if first.day <= last.day:
            return Decimal(last.day - first.day)
        anchor = _shift(last.year, last.month - 1, first.day)
        return Decimal((last - anchor).days)
    fail(VALUE, f'DATEDIF does not know the unit "{unit}"; use "y", "m", "d", "ym", "md" or "yd"')


def _months_later(value, months) -> dt.date:
    day = to_day(value)
    years, month_index = divmod(day.year * 12 + day.month - 1 + integer(months), 12)
    if not 1 <= years <= 9999:
        fail(NUM, "the date is outside the years 1 to 9999")
    last = calendar.monthrange(years, month_index + 1)[1]
    return dt.date(years, month_index + 1, min(day.day, last))


@_dates("EDATE(start_date, months)", ("date", "number"), DATE,
        "the same day months later (or earlier, for a negative number); the last day of "
        "the month when that day does not exist", "EDATE(DATE(2026, 1, 31), 1) → DATE(2026, 2, 28)")
def edate(start, months):
    return _months_later(start, months)


@_dates("EOMONTH(start_date, months)", ("date", "number"), DATE,
        "the last day of the month months later (0: of the same month)",
        "EOMONTH(DATE(2026, 2, 10), 0) → DATE(2026, 2, 28)")
def eomonth(start, months):
    moved = _months_later(start, months)
    return moved.replace(day=calendar.monthrange(moved.year, moved.month)[1])


def _weekdays_between(first: dt.date, last: dt.date) -> int:
    weeks, rest = divmod((last - first).days + 1, 7)
    return weeks * 5 + sum(1 for i in range(rest) if (first.weekday() + i) % 7 < 5)


@_dates("NETWORKDAYS(start_date, end_date, [holidays])", ("date", "date", "values"), NUMBER,
        "the number of working days (Monday to Friday) from start to end, both counted, "
        "less the holidays (a date or a subtable column of dates)",
        "NETWORKDAYS(DATE(2026, 11, 2), DATE(2026, 11, 13)) → 10")
def networkdays(start, end, holidays=None):
    first, last = to_day(start), to_day(end)
    sign = 1
    if first > last:
        first, last, sign = last, first, -1
    listed = holidays if isinstance(holidays, list) else [holidays]
    off = {to_day(day) for day in listed if day is not None}
    off = {day for day in off if first <= day <= last and day.weekday() < 5}
    return Decimal(sign * (_weekdays_between(first, last) - len(off)))
