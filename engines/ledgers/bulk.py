"""Statements over many keys at once: the few shapes a posting needs, built so that
the database answers them from its indexes and SQLAlchemy compiles each only once."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import and_, any_, bindparam, column, func, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

CHUNK = 5000


def keyed(conn, table, names, keys):
    """(FROM clause, condition) limiting ``table`` to the rows whose ``names`` columns
    take one of the value tuples ``keys``, as one statement with one parameter per
    column that the database answers with one index search per key: PostgreSQL joins
    ``unnest`` of arrays, SQLite ``json_each`` of a JSON list (it would scan the whole
    table for ``(a, b) IN (VALUES ...)``, and an OR of a thousand terms costs more to
    build than to run). One column: ``= ANY(array)`` / ``IN (json_each)``, one
    parameter however many keys."""
    cols = [table.c[n] for n in names]
    if len(cols) == 1:
        values = [k[0] for k in keys]
        if conn.dialect.name == "postgresql":
            return table, cols[0] == any_(bindparam(None, values, type_=ARRAY(cols[0].type)))
        listed = func.json_each(bindparam(None, json.dumps(values), type_=Text)) \
            .table_valued("value", name="wanted")
        return table, cols[0].in_(select(listed.c.value))
    if conn.dialect.name == "postgresql":
        wanted = func.unnest(*(bindparam(None, [k[i] for k in keys], type_=ARRAY(c.type))
                               for i, c in enumerate(cols))) \
            .table_valued(*(column(c.name, c.type) for c in cols), name="wanted") \
            .render_derived()
        return wanted.join(table, and_(*(c == wanted.c[c.name] for c in cols))), true()
    wanted = func.json_each(bindparam(None, json.dumps(list(keys)), type_=Text)) \
        .table_valued("value", name="wanted")
    return wanted.join(table, and_(*(c == func.json_extract(wanted.c.value, f"$[{i}]")
                                     for i, c in enumerate(cols)))), true()


def select_keys(conn, table, names, keys, *, where=(), order=None, lock=True) -> list:
    """Rows of ``table`` whose ``names`` columns take one of ``keys``, in ``order``
    (default: those columns), locked FOR UPDATE in that order unless ``lock`` is off."""
    out = []
    for start in range(0, len(keys), CHUNK):
        source, condition = keyed(conn, table, names, keys[start:start + CHUNK])
        query = select(table).select_from(source).where(condition, *where) \
            .order_by(*(order or [table.c[n] for n in names]))
        if lock:
            query = query.with_for_update(of=table)
        out += conn.execute(query).mappings().all()
    return out


def insert_missing(conn, table, rows) -> None:
    """INSERT rows, skipping any a concurrent transaction has just inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).on_conflict_do_nothing(), rows)


def update_by_id(conn, table, rows) -> None:
    """UPDATE rows (dicts with ``_id`` and the new values) with one executemany."""
    if not rows:
        return
    # bindparam names may not equal column names in an UPDATE's SET clause
    values = {k: bindparam(f"new_{k}") for k in rows[0] if k != "_id"}
    params = [{("_id" if k == "_id" else f"new_{k}"): v for k, v in r.items()} for r in rows]
    conn.execute(update(table).where(table.c.id == bindparam("_id")).values(values), params)


def advisory_lock(conn, table: str, namespace: str, keys) -> None:
    """PostgreSQL: hold a transaction-scoped lock on each key (in the order given), for
    what has no row to lock yet. Elsewhere nothing: SQLite's write lock covers it."""
    if conn.dialect.name != "postgresql":
        return
    for key in keys:
        digest = hashlib.sha1(repr((table, namespace, key)).encode()).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": int.from_bytes(digest[:8], "big", signed=True)})
