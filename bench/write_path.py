"""Write path: records/s through Loom's record service against raw SQLAlchemy Core.

Creates N records (default 20,000) of a 10-field form with 3 subtable lines each
through ``runtime.services.records.create_record`` -- the one write path every API
call, web page and import goes through -- and inserts the very same rows with plain
SQLAlchemy Core into tables shaped like the ones Loom creates, in the same run and
the same database:

* raw Core, one transaction per record: the fair peer for a per-record write path
  (the service also commits each record on its own);
* raw Core, batched: every row in one transaction with executemany, the floor.

The service and the per-record peer alternate in rounds of N/10 records, so a
machine that gets busier mid-run (tests running beside it) slows both alike.
It prints seconds, records/s and the ratio of each method to the per-record peer,
checks that all three wrote identical rows, and exits non-zero if they did not.
The target is service time <= 4x the per-record peer on SQLite; the script reports
the ratio and never fails on it (numbers depend on the machine).

    python bench/write_path.py                   # 20,000 records, SQLite in a temp dir
    python bench/write_path.py --records 2000
    python bench/write_path.py --database-url postgresql+psycopg://... (an empty database)
    python bench/write_path.py --profile 30      # also profile the service, top 30 calls

Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import platform as host
import pstats
import random
import sys
import tempfile
import time

import sqlalchemy
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    insert,
)

from runtime.auth.actors import SYSTEM
from runtime.services.apps import create_app, put_form
from runtime.services.records import create_record
from runtime.storage.database import open_database
from runtime.storage.store import Store

APP = "bench"
LINES_PER_RECORD = 3
CUSTOMERS = 50
TARGET_RATIO = 4.0

CUSTOMERS_FORM = {
    "key": "customers", "label": "Customers", "title": ["code"],
    "fields": [
        {"key": "code", "type": "text", "label": "Code", "required": True, "indexed": True},
        {"key": "name", "type": "text", "label": "Name"},
    ],
}

# Ten fields of the common types (text, relation, date, select, money, number,
# checkbox, textarea) and a subtable of four.
ORDERS_FORM = {
    "key": "orders", "label": "Orders", "title": ["order_no"],
    "fields": [
        {"key": "order_no", "type": "text", "label": "Order no.", "required": True,
         "indexed": True, "max_length": 40},
        {"key": "customer", "type": "relation", "target": "customers", "label": "Customer"},
        {"key": "ordered_on", "type": "date", "label": "Ordered on", "required": True},
        {"key": "due_on", "type": "date", "label": "Due on"},
        {"key": "status", "type": "select", "label": "Status",
         "options": [{"value": "draft", "label": {"zh": "草稿", "en": "Draft"}},
                     {"value": "confirmed", "label": {"zh": "已确认", "en": "Confirmed"}},
                     {"value": "shipped", "label": {"zh": "已发货", "en": "Shipped"}}]},
        {"key": "channel", "type": "select", "label": "Channel",
         "options": ["web", "phone", "store"]},
        {"key": "amount", "type": "money", "label": "Amount", "min": 0},
        {"key": "weight", "type": "number", "label": "Weight (kg)", "precision": 3, "min": 0},
        {"key": "urgent", "type": "checkbox", "label": "Urgent"},
        {"key": "note", "type": "textarea", "label": "Note"},
        {"key": "lines", "type": "subtable", "label": "Lines", "fields": [
            {"key": "sku", "type": "text", "label": "SKU", "required": True},
            {"key": "qty", "type": "number", "label": "Quantity", "precision": 3, "min": 0,
             "required": True},
            {"key": "price", "type": "money", "label": "Unit price", "min": 0},
            {"key": "lot", "type": "text", "label": "Lot"},
        ]},
    ],
}
FIELDS = [f["key"] for f in ORDERS_FORM["fields"] if f["type"] != "subtable"]
LINE_FIELDS = [f["key"] for f in ORDERS_FORM["fields"][-1]["fields"]]


# ---- the data: one list, fed to every method -------------------------------------

def make_records(n: int) -> list[dict]:
    """Record bodies as the JSON API hands them to the service (dates as ISO text,
    numbers as JSON numbers). Values are already at their field's precision so the
    service stores exactly what the raw peer stores."""
    rng = random.Random(20260101)
    start = dt.date(2026, 1, 1)
    records = []
    for i in range(1, n + 1):
        ordered = start + dt.timedelta(days=rng.randrange(365))
        records.append({
            "order_no": f"SO-{i:07d}",
            "customer": rng.randint(1, CUSTOMERS),
            "ordered_on": ordered.isoformat(),
            "due_on": (ordered + dt.timedelta(days=rng.randrange(1, 30))).isoformat(),
            "status": rng.choice(["draft", "confirmed", "shipped"]),
            "channel": rng.choice(["web", "phone", "store"]),
            "amount": rng.randrange(100, 10_000_000) / 100,
            "weight": rng.randrange(1, 1_000_000) / 1000,
            "urgent": rng.random() < 0.1,
            "note": f"deliver to dock {rng.randint(1, 9)}, call ahead",
            "lines": [{"sku": f"SKU-{rng.randrange(10_000):05d}",
                       "qty": rng.randrange(1, 100_000) / 1000,
                       "price": rng.randrange(1, 100_000) / 100,
                       "lot": f"L{rng.randrange(1000):04d}"}
                      for _ in range(LINES_PER_RECORD)],
        })
    return records


def raw_rows(records: list[dict]) -> list[tuple[dict, list[dict]]]:
    """The same records as the column values the raw peer binds (dates as dates)."""
    rows = []
    for body in records:
        main = {k: body[k] for k in FIELDS}
        main["ordered_on"] = dt.date.fromisoformat(main["ordered_on"])
        main["due_on"] = dt.date.fromisoformat(main["due_on"])
        lines = [{"line_no": n, **line} for n, line in enumerate(body["lines"], start=1)]
        rows.append((main, lines))
    return rows


# ---- the raw peer: tables shaped like Loom's ------------------------------------

def decimal_type():
    # What runtime.storage.physical.DecimalNumber stores: REAL on SQLite, NUMERIC elsewhere.
    return Numeric(38, 9).with_variant(Float(), "sqlite")


def raw_tables(metadata: MetaData, prefix: str) -> tuple[Table, Table]:
    """Main and line tables as Loom lays out a form: id, the system columns, one
    column per field, a foreign key and index per relation and per ``indexed``
    field; lines keyed by (parent_id -> main.id ON DELETE CASCADE, line_no)."""
    main = Table(
        f"{prefix}_orders", metadata,
        Column("id", Integer, primary_key=True),
        Column("_version", Integer, nullable=False),
        Column("_created_at", DateTime, nullable=False),
        Column("_created_by", Integer),
        Column("_updated_at", DateTime, nullable=False),
        Column("_updated_by", Integer),
        Column("_dept", Integer),
        Column("order_no", Text, index=True),
        Column("customer", Integer, ForeignKey("raw_customers.id"), index=True),
        Column("ordered_on", Date),
        Column("due_on", Date),
        Column("status", Text),
        Column("channel", Text),
        Column("amount", decimal_type()),
        Column("weight", decimal_type()),
        Column("urgent", Boolean),
        Column("note", Text),
    )
    lines = Table(
        f"{prefix}_orders__lines", metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", Integer, ForeignKey(main.c.id, ondelete="CASCADE"),
               nullable=False, index=True),
        Column("line_no", Integer, nullable=False),
        Column("sku", Text),
        Column("qty", decimal_type()),
        Column("price", decimal_type()),
        Column("lot", Text),
    )
    return main, lines


def system_values(now: dt.datetime) -> dict:
    return {"_version": 1, "_created_at": now, "_created_by": None, "_updated_at": now,
            "_updated_by": None, "_dept": None}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# ---- the three methods -------------------------------------------------------------

def run_service(store: Store, records: list[dict]) -> float:
    started = time.perf_counter()
    for body in records:
        create_record(store, SYSTEM, APP, "orders", body)
    return time.perf_counter() - started


def run_raw_per_record(engine, main: Table, lines: Table, rows) -> float:
    insert_main, insert_lines = insert(main), insert(lines)
    started = time.perf_counter()
    for values, line_values in rows:
        with engine.begin() as conn:
            record_id = conn.execute(insert_main, {**system_values(utcnow()), **values}) \
                .inserted_primary_key[0]
            conn.execute(insert_lines, [{"parent_id": record_id, **line}
                                        for line in line_values])
    return time.perf_counter() - started


def run_raw_batched(engine, main: Table, lines: Table, rows) -> float:
    started = time.perf_counter()
    now = utcnow()
    main_rows, line_rows = [], []
    for record_id, (values, line_values) in enumerate(rows, start=1):
        main_rows.append({"id": record_id, **system_values(now), **values})
        line_rows.extend({"parent_id": record_id, **line} for line in line_values)
    with engine.begin() as conn:
        conn.execute(insert(main), main_rows)
        conn.execute(insert(lines), line_rows)
    return time.perf_counter() - started


# ---- setup, checks, report ----------------------------------------------------------

def set_up(url: str) -> tuple[Store, object, MetaData]:
    store = Store(url)
    with store.read() as conn:
        if APP in store.app_keys(conn):
            sys.exit(f"the database already has an app '{APP}'; give --database-url an "
                     "empty database (the default is a fresh SQLite file)")
    create_app(store, SYSTEM, APP, "Write-path benchmark")
    put_form(store, SYSTEM, APP, "customers", CUSTOMERS_FORM)
    put_form(store, SYSTEM, APP, "orders", ORDERS_FORM)
    customers = [{"code": f"C{i:03d}", "name": f"Customer {i}"}
                 for i in range(1, CUSTOMERS + 1)]
    for body in customers:
        create_record(store, SYSTEM, APP, "customers", body)

    # Same connection settings as the store (WAL, foreign keys on, synchronous=NORMAL,
    # BEGIN IMMEDIATE for writes), so the comparison is about the code, not the pragmas.
    engine = open_database(url).execution_options(loom_write=True)
    metadata = MetaData()
    raw_customers = Table("raw_customers", metadata,
                          Column("id", Integer, primary_key=True),
                          Column("code", Text, index=True), Column("name", Text))
    raw_tables(metadata, "raw")
    raw_tables(metadata, "rawbatch")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(raw_customers), [{"id": i, **body}
                                             for i, body in enumerate(customers, start=1)])
    return store, engine, metadata


def table_contents(conn, table: str, columns: list[str]) -> list[tuple]:
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    return conn.exec_driver_sql(f"SELECT {names} FROM {prep.quote(table)} ORDER BY id").all()


def check_same_rows(engine, n: int) -> list[str]:
    """Every method wrote the same N records and 3N lines, value for value."""
    problems = []
    main_cols = ["id", *FIELDS]
    line_cols = ["parent_id", "line_no", *LINE_FIELDS]
    with engine.connect() as conn:
        expected_main = table_contents(conn, f"f_{APP}_orders", main_cols)
        expected_lines = table_contents(conn, f"f_{APP}_orders__lines", line_cols)
        if len(expected_main) != n or len(expected_lines) != n * LINES_PER_RECORD:
            problems.append(f"service wrote {len(expected_main)} records and "
                            f"{len(expected_lines)} lines, expected {n} and "
                            f"{n * LINES_PER_RECORD}")
        for prefix in ("raw", "rawbatch"):
            if table_contents(conn, f"{prefix}_orders", main_cols) != expected_main:
                problems.append(f"{prefix}_orders differs from the service's records")
            if table_contents(conn, f"{prefix}_orders__lines", line_cols) != expected_lines:
                problems.append(f"{prefix}_orders__lines differs from the service's lines")
    return problems


def describe_database(engine) -> str:
    if engine.dialect.name == "sqlite":
        import sqlite3
        return f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL)"
    with engine.connect() as conn:  # the server version is known once connected
        version = ".".join(map(str, conn.dialect.server_version_info or ()))
    return f"{engine.dialect.name} {version}".strip()


def report(n: int, engine, timings: dict[str, float]) -> None:
    per_record = timings["raw Core, 1 transaction per record"]
    batched = timings["raw Core, batched (1 transaction)"]
    service = timings["Loom create_record"]
    print(f"Write path: {n:,} records of a 10-field form, {LINES_PER_RECORD} lines each")
    print(f"  {describe_database(engine)}; Python {host.python_version()}; "
          f"SQLAlchemy {sqlalchemy.__version__}; {os.cpu_count()} cores")
    print()
    print(f"  {'method':<38}{'seconds':>9}{'records/s':>12}{'vs per-record':>15}")
    for name, seconds in timings.items():
        print(f"  {name:<38}{seconds:>9.2f}{n / seconds:>12,.0f}"
              f"{seconds / per_record:>14.2f}x")
    print()
    ratio = service / per_record
    verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
    print(f"  service / raw per-record transaction: {ratio:.2f}x "
          f"({verdict} the {TARGET_RATIO:g}x target)")
    print(f"  service / raw batched insert:         {service / batched:.2f}x")


def profile_service(store: Store, records: list[dict], top: int) -> None:
    """Profile the service on fresh record numbers (same shapes, new order_no)."""
    bodies = [{**body, "order_no": "P" + body["order_no"]} for body in records]
    profiler = cProfile.Profile()
    profiler.enable()
    run_service(store, bodies)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    print(f"\nProfile of create_record over {len(bodies):,} records (cProfile; "
          "its overhead inflates the times):")
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000,
                        help="records to create with each method (default 20000)")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite "
                        "file in a temporary directory)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="rounds the per-record methods alternate in (default 10)")
    parser.add_argument("--profile", type=int, metavar="TOP", default=0,
                        help="after the timed run, profile the service on min(N, 5000) more "
                        "records and print the TOP functions")
    args = parser.parse_args(argv)
    if args.records < 1 or args.rounds < 1:
        parser.error("--records and --rounds must be at least 1")

    with tempfile.TemporaryDirectory(prefix="loom-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/write_path.db"
        store, engine, metadata = set_up(url)
        records = make_records(args.records)
        rows = raw_rows(records)
        tables = metadata.tables
        raw_main, raw_lines = tables["raw_orders"], tables["raw_orders__lines"]
        # The two per-record methods alternate in rounds (and swap which goes first),
        # so a machine that gets busier or quieter mid-run slows both alike.
        service = per_record = 0.0
        size = -(-args.records // args.rounds)
        for n, start in enumerate(range(0, args.records, size)):
            chunk = slice(start, start + size)
            if n % 2 == 0:
                per_record += run_raw_per_record(engine, raw_main, raw_lines, rows[chunk])
                service += run_service(store, records[chunk])
            else:
                service += run_service(store, records[chunk])
                per_record += run_raw_per_record(engine, raw_main, raw_lines, rows[chunk])
        batched = run_raw_batched(engine, tables["rawbatch_orders"],
                                  tables["rawbatch_orders__lines"], rows)
        timings = {
            "raw Core, 1 transaction per record": per_record,
            "raw Core, batched (1 transaction)": batched,
            "Loom create_record": service,
        }
        problems = check_same_rows(engine, args.records)
        report(args.records, engine, timings)
        if problems:
            print("\nThe methods did not write the same rows:", *problems, sep="\n  ")
        if args.profile:
            profile_service(store, records[:5000], args.profile)
        engine.dispose()
        store.dispose()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
