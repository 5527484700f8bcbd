"""Opening the database: SQLite (embedded default) or PostgreSQL.

SQLite is opened in WAL mode with foreign keys on. pysqlite's own transaction
handling is switched off so that SQLAlchemy's ``begin()`` really starts a
transaction (DDL included, so a refused migration rolls back whole), and write
transactions start with ``BEGIN IMMEDIATE``: taking the write lock up front means
two writers queue instead of failing with "database is locked" when both try to
upgrade a read lock.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def open_database(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_connect(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see module doc)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection):
    mode = "IMMEDIATE" if connection.get_execution_options().get("loom_write") else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "sqlite"
