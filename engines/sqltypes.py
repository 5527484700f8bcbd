"""Column types and names shared by the engines and the runtime's storage."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from sqlalchemy import Float, Numeric
from sqlalchemy.types import TypeDecorator

MAX_NAME = 63


def short_name(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}_{digest}"


class DecimalNumber(TypeDecorator):
    """Exact decimals: NUMERIC on PostgreSQL; on SQLite a REAL read back as Decimal.

    SQLite has no decimal type. Values are stored as doubles (so SUM, ORDER BY and
    comparisons work in SQL) and read back rounded to 9 places, which restores the
    exact decimal for any quantity or amount up to 15 significant digits.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Float())
        return dialect.type_descriptor(Numeric(38, 9))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return float(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(repr(value)).quantize(Decimal("1e-9"))
        value = Decimal(value)
        normalized = value.normalize()
        # normalize() writes 100 as 1E+2; keep plain integers plain.
        return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() \
            else normalized
