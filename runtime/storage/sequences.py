"""Gap-free counters for autonumbers.

The counter row is incremented with an UPDATE inside the caller's write transaction:
PostgreSQL holds that row's lock until commit and SQLite holds its write lock, so
concurrent creates queue for the next number, and a rolled-back create returns it.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from runtime.storage.platform import sequences


def next_in_sequence(conn, app: str, form: str, field: str, period: str) -> int:
    key = {"app": app, "form": form, "field": field, "period": period}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(sequences).values(**key, value=0).on_conflict_do_nothing())
    return conn.execute(
        update(sequences).where(*(sequences.c[k] == v for k, v in key.items()))
        .values(value=sequences.c.value + 1).returning(sequences.c.value)).scalar_one()
