"""The physical side of forms: table and column names, SQL types, DDL.

A form ``receipts`` of app ``demo`` is the table ``f_demo_receipts``; its subtable
``lines`` is ``f_demo_receipts__lines`` (id, parent_id, line_no, fields). Every
identifier is built from keys the schema already restricted to ``[a-z][a-z0-9_]*``
and is quoted by the dialect; names longer than PostgreSQL's 63 bytes are shortened
with a hash so they stay unique.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from engines.sqltypes import DecimalNumber, short_name
from runtime.storage import platform


def table_name(app: str, form: str, subtable: str = "") -> str:
    return short_name(f"f_{app}_{form}" + (f"__{subtable}" if subtable else ""))


def sql_type(storage: str):
    kind = storage.split(":")[0]
    if storage.startswith("ref:"):
        return Integer()
    return {
        "text": Text(),
        "decimal": DecimalNumber(),
        "date": Date(),
        "datetime": DateTime(),
        "bool": Boolean(),
        "json": JSON(),
    }[kind]


def referenced_table(app: str, storage: str) -> str | None:
    if storage == "ref:user":
        return platform.users.name
    if storage == "ref:department":
        return platform.departments.name
    if storage.startswith("ref:form:"):
        return table_name(app, storage.split(":", 2)[2])
    return None


def system_columns(subtable: bool) -> list[Column]:
    if subtable:
        return [
            Column("id", Integer, primary_key=True),
            Column("parent_id", Integer, nullable=False, index=True),
            Column("line_no", Integer, nullable=False),
        ]
    return [
        Column("id", Integer, primary_key=True),
        Column("_version", Integer, nullable=False),
        Column("_created_at", DateTime, nullable=False),
        Column("_created_by", Integer, nullable=True),
        Column("_updated_at", DateTime, nullable=False),
        Column("_updated_by", Integer, nullable=True),
        # The creator's department, so "department" row permissions are one indexed test.
        Column("_dept", Integer, nullable=True),
        # Where the record is in its approval: draft, submitted, running, approved,
        # rejected, returned, withdrawn.
        Column("_approval", String(20), nullable=False, server_default="draft"),
    ]


def build_metadata(connection, app: str) -> tuple[MetaData, dict, dict]:
    """SQLAlchemy tables of every form of ``app`` as its layout rows describe them.

    Returns (metadata, tables by (form, subtable), columns by (form, subtable, field))
    where only active columns are listed in the second mapping's fields but every
    column, hidden ones included, is on the Table (backups copy them too).
    """
    metadata = MetaData()
    table_rows = connection.execute(
        select(platform.physical_tables).where(platform.physical_tables.c.app == app)
        .order_by(platform.physical_tables.c.id)).mappings().all()
    column_rows = connection.execute(
        select(platform.physical_columns).where(platform.physical_columns.c.app == app)
        .order_by(platform.physical_columns.c.id)).mappings().all()
    tables, active_columns = {}, {}
    for row in table_rows:
        scope = (row["form"], row["subtable"])
        columns = system_columns(bool(row["subtable"]))
        for col in column_rows:
            if (col["form"], col["subtable"]) == scope:
                columns.append(Column(col["column_name"], sql_type(col["storage"])))
        tables[scope] = Table(row["table_name"], metadata, *columns)
    for col in column_rows:
        if col["active"]:
            table = tables[(col["form"], col["subtable"])]
            active_columns[(col["form"], col["subtable"], col["field"])] = (
                table.c[col["column_name"]], col["storage"])
    return metadata, tables, active_columns


# ---- DDL ----------------------------------------------------------------------------

def create_table(connection, name: str, *, parent: str | None = None) -> None:
    table = Table(name, MetaData(), *system_columns(parent is not None))
    if parent is not None:
        table.c.parent_id.append_foreign_key(ForeignKey(f"{parent}.id", ondelete="CASCADE"))
        Table(parent, table.metadata, Column("id", Integer, primary_key=True))
    connection.execute(CreateTable(table))
    if parent is not None:
        create_index(connection, name, "parent_id")


def add_column(connection, table: str, column: str, storage: str, app: str) -> None:
    prep = connection.dialect.identifier_preparer
    type_sql = sql_type(storage).compile(dialect=connection.dialect)
    ddl = f"ALTER TABLE {prep.quote(table)} ADD COLUMN {prep.quote(column)} {type_sql}"
    target = referenced_table(app, storage)
    if target is not None:
        ddl += f" REFERENCES {prep.quote(target)} (id)"
    connection.exec_driver_sql(ddl)
    if target is not None:
        create_index(connection, table, column)


def create_index(connection, table: str, column: str) -> None:
    name = short_name(f"ix_{table}_{column}")
    stub = Table(table, MetaData(), Column(column))
    connection.execute(CreateIndex(Index(name, stub.c[column]), if_not_exists=True))


@functools.lru_cache(maxsize=4096)
def existing_ids_query(table: str):
    """SELECT the given ids that exist in ``table``: built once per table name, so the
    write path's reference checks reuse one compiled statement."""
    stub = Table(table, MetaData(), Column("id", Integer, primary_key=True))
    return select(stub.c.id).where(stub.c.id.in_(bindparam("ids", expanding=True)))
