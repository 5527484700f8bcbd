"""SQL that differs between SQLite and PostgreSQL, as SQLAlchemy constructs.

Each construct renders itself for the dialect it is compiled for (``@compiles``), so a
report statement is built once and runs on either database. Date buckets give the
same text on both (``2026-11``, ``2026-Q4``, ``2026-W45``), so results, drill-down and
tests never depend on the database behind them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

BUCKETS = ("day", "week", "month", "quarter", "year")
_EPOCH_JULIAN = 2440587.5  # julianday('1970-01-01')
_WEEK_SHIFT = 100_000  # keeps integer division flooring for dates before 1970
_PG_FORMATS = {"day": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY",
               "quarter": 'YYYY-"Q"Q', "week": 'IYYY-"W"IW'}
_EXACT = Decimal("1e-9")


class ReportNumber(TypeDecorator):
    """A number a report computes: NUMERIC on PostgreSQL, REAL on SQLite; read back as
    a ``Decimal`` rounded to 9 places (as form numbers are), so both databases give
    the same values."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Float())
        return dialect.type_descriptor(Numeric())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return float(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value, dialect):
        return exact(value)


def exact(value):
    """``value`` (a float, int or Decimal from the database) as a plain Decimal."""
    if value is None:
        return None
    if isinstance(value, float):
        value = Decimal(repr(value))
    value = Decimal(value)
    try:
        value = value.quantize(_EXACT)
    except InvalidOperation:  # more digits than a quantity ever has: leave it
        return value
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() \
        else normalized


class DateBucket(FunctionElement):
    """The label of the day / week / month / quarter / year a date falls in."""

    type = Text()
    inherit_cache = True
    # The unit changes the SQL: it must be part of the compiled-statement cache key.
    _traverse_internals = [*FunctionElement._traverse_internals,
                           ("unit", InternalTraversal.dp_string)]
    name = "date_bucket"

    def __init__(self, column, unit: str):
        self.unit = unit
        super().__init__(column)


class PeriodIndex(FunctionElement):
    """A whole number per bucket, read from the bucket's label (``2026-11``), that
    increases by one from one period to the next (month: year * 12 + month - 1), so
    "the previous period" is index - 1. Computed on grouped rows, not on every row."""

    type = Integer()
    inherit_cache = True
    # The unit changes the SQL: it must be part of the compiled-statement cache key.
    _traverse_internals = [*FunctionElement._traverse_internals,
                           ("unit", InternalTraversal.dp_string)]
    name = "period_index"

    def __init__(self, label, unit: str):
        self.unit = unit
        super().__init__(label)


class DaysBetween(FunctionElement):
    """Whole days from ``start`` to ``end`` (dates; a time of day is ignored), as DAYS()."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


class DateShift(FunctionElement):
    """``date`` plus a whole number of days."""

    type = Date()
    inherit_cache = True
    name = "date_shift"


class DatePart(FunctionElement):
    """YEAR / MONTH / DAY of a date as an integer."""

    type = Integer()
    inherit_cache = True
    # The part changes the SQL: it must be part of the compiled-statement cache key.
    _traverse_internals = [*FunctionElement._traverse_internals,
                           ("part", InternalTraversal.dp_string)]
    name = "date_part"

    def __init__(self, column, part: str):
        self.part = part
        super().__init__(column)


class SafeDivide(FunctionElement):
    """``a / b`` as a decimal division (never integer division); blank when b is 0."""

    type = ReportNumber()
    inherit_cache = True
    name = "safe_divide"


class TextOrder(FunctionElement):
    """A text column for ORDER BY: by code point on both databases, whatever the
    PostgreSQL database's collation, so sorted results agree."""

    type = Text()
    inherit_cache = True
    name = "text_order"


def _args(element):
    return list(element.clauses)


# ---- SQLite -------------------------------------------------------------------------

def _sqlite_epoch_days(column):
    return cast(func.julianday(func.date(column)) - _EPOCH_JULIAN, Integer)


def _sqlite_int(fmt, column):
    return cast(func.strftime(fmt, column), Integer)


def _sqlite_thursday(column):
    # ISO weeks belong to the year of their Thursday.
    weekday = (_sqlite_int("%w", column) + 6) % 7  # Monday 0 ... Sunday 6
    return func.date(column, func.printf("%d days", 3 - weekday))


@compiles(DateBucket, "sqlite")
def _bucket_sqlite(element, compiler, **kw):
    (column,) = _args(element)
    unit = element.unit
    # SQLAlchemy keeps dates on SQLite as ISO text (2026-11-02, 2026-11-02 08:30:00):
    # cutting the text is several times cheaper than strftime on every row.
    if unit in ("day", "month", "year"):
        expr = func.substr(column, 1, {"day": 10, "month": 7, "year": 4}[unit])
    elif unit == "quarter":
        quarter = (cast(func.substr(column, 6, 2), Integer) + 2) // 3
        expr = func.substr(column, 1, 4).concat("-Q").concat(cast(quarter, Text))
    else:
        thursday = _sqlite_thursday(column)
        week = (_sqlite_int("%j", thursday) - 1) // 7 + 1
        expr = func.strftime("%Y", thursday).concat("-W").concat(func.printf("%02d", week))
    return compiler.process(expr, **kw)


def _label_parts(label):
    year = cast(func.substr(label, 1, 4), Integer)
    return year, cast(func.substr(label, 6, 2), Integer), cast(func.substr(label, 7, 1), Integer)


def _from_label(unit, label, epoch_days, iso_monday_days):
    year, month, quarter = _label_parts(label)
    return {
        "day": lambda: epoch_days(label),
        "week": lambda: (iso_monday_days(label) + 3 + 7 * _WEEK_SHIFT) // 7 - _WEEK_SHIFT,
        "month": lambda: year * 12 + month - 1,
        "quarter": lambda: year * 4 + quarter - 1,
        "year": lambda: cast(label, Integer),
    }[unit]()


def _sqlite_week_monday(label):
    # Monday of ISO week 1 is the Monday on or before 4 January.
    jan4 = func.date(func.substr(label, 1, 4).concat("-01-04"))
    weekday = (_sqlite_int("%w", jan4) + 6) % 7
    week = cast(func.substr(label, 7, 2), Integer)
    return _sqlite_epoch_days(jan4) - weekday + (week - 1) * 7


@compiles(PeriodIndex, "sqlite")
def _index_sqlite(element, compiler, **kw):
    (label,) = _args(element)
    expr = _from_label(element.unit, label, _sqlite_epoch_days, _sqlite_week_monday)
    return compiler.process(expr, **kw)


@compiles(DaysBetween, "sqlite")
def _days_sqlite(element, compiler, **kw):
    end, start = _args(element)
    expr = cast(func.julianday(func.date(end)) - func.julianday(func.date(start)), Integer)
    return compiler.process(expr, **kw)


@compiles(DateShift, "sqlite")
def _shift_sqlite(element, compiler, **kw):
    day, days = _args(element)
    expr = func.date(day, func.printf("%d days", cast(days, Integer)))
    return compiler.process(expr, **kw)


@compiles(DatePart, "sqlite")
def _part_sqlite(element, compiler, **kw):
    (column,) = _args(element)
    fmt = {"year": "%Y", "month": "%m", "day": "%d"}[element.part]
    return compiler.process(_sqlite_int(fmt, column), **kw)


@compiles(SafeDivide, "sqlite")
def _divide_sqlite(element, compiler, **kw):
    a, b = _args(element)
    return compiler.process(cast(a, Float) / func.nullif(b, 0), **kw)


@compiles(TextOrder, "sqlite")
def _order_sqlite(element, compiler, **kw):
    (column,) = _args(element)
    return compiler.process(column, **kw)


# ---- PostgreSQL ---------------------------------------------------------------------

def _pg_epoch_days(column):
    return type_coerce(cast(column, Date) - literal_column("DATE '1970-01-01'"), Integer)


def _pg_part(part, column):
    return cast(func.extract(part, column), Integer)


@compiles(DateBucket, "postgresql")
def _bucket_pg(element, compiler, **kw):
    (column,) = _args(element)
    return compiler.process(func.to_char(column, _PG_FORMATS[element.unit]), **kw)


def _pg_week_monday(label):
    return _pg_epoch_days(func.to_date(label.concat("-1"), 'IYYY-"W"IW-ID'))


@compiles(PeriodIndex, "postgresql")
def _index_pg(element, compiler, **kw):
    (label,) = _args(element)
    expr = _from_label(element.unit, label, _pg_epoch_days, _pg_week_monday)
    return compiler.process(cast(expr, Integer), **kw)


@compiles(DaysBetween, "postgresql")
def _days_pg(element, compiler, **kw):
    end, start = _args(element)
    return compiler.process(cast(end, Date) - cast(start, Date), **kw)


@compiles(DateShift, "postgresql")
def _shift_pg(element, compiler, **kw):
    day, days = _args(element)
    return compiler.process(cast(day, Date) + cast(days, Integer), **kw)


@compiles(DatePart, "postgresql")
def _part_pg(element, compiler, **kw):
    (column,) = _args(element)
    return compiler.process(_pg_part(element.part, column), **kw)


@compiles(SafeDivide, "postgresql")
def _divide_pg(element, compiler, **kw):
    a, b = _args(element)
    return compiler.process(cast(a, Numeric) / func.nullif(b, 0), **kw)


@compiles(TextOrder, "postgresql")
def _order_pg(element, compiler, **kw):
    (column,) = _args(element)
    return compiler.process(column.collate("C"), **kw)


def age_case(day, bounds):
    """The age bin of a date: 0 when ``day`` >= bounds[0] (the newest), i when
    bounds[i-1] > day >= bounds[i], len(bounds) when older; blank stays blank. The
    bounds are dates (as_of minus each edge in days), bound when the report runs, so
    the test is a plain comparison the database can answer from an index."""
    whens = [(day.is_(None), None)] + [(day >= bound, index) for index, bound in enumerate(bounds)]
    return case(*whens, else_=len(bounds))


def bins_case(value, edges):
    """The index of the bin ``value`` falls in: 0 for value <= edges[0], i for
    edges[i-1] < value <= edges[i], len(edges) above the last; blank stays blank."""
    whens = [(value <= literal(Decimal(str(edge)), ReportNumber()), index)
             for index, edge in enumerate(edges)]
    return case(*whens, else_=case((value.is_(None), None), else_=len(edges)))
