"""Import: a 100,000-row spreadsheet through a background job, against raw inserts.

Writes an .xlsx of N material rows (default 100,000), then:

* runs it as a background import job (``runtime.services.sheet_jobs``: check pass,
  then write pass, 500 rows per transaction, each row through the full write path:
  coercion, validation, formulas, audit) and times each pass;
* as the peer, in the same run, reads the same sheet with openpyxl and inserts the
  same rows with plain SQLAlchemy Core ``executemany`` into a table of the same shape
  (no validation, no audit).

Prints rows/s of both and the ratio. It checks that every row arrived and exits 1 if
not. SQLite in a temporary folder by default; ``--database-url`` for PostgreSQL (an
empty database).

    python bench/imports.py
    python bench/imports.py --rows 20000
"""

from __future__ import annotations

import argparse
import os
import platform as host
import shutil
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
import sqlalchemy
from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, func, insert, select

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from runtime.auth.actors import SYSTEM  # noqa: E402
from runtime.services import sheet_jobs, spreadsheets  # noqa: E402
from runtime.services.templates import install_template  # noqa: E402
from runtime.storage import platform  # noqa: E402
from runtime.storage.store import Store  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "receipts"
HEADERS = ["物料编码", "物料名称", "规格型号", "单位", "类别", "安全库存", "标准成本"]
CATEGORIES = ["chip", "passive", "mechanical", "packaging"]


def make_sheet(path: Path, rows: int) -> None:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("物料")
    sheet.append(HEADERS)
    for i in range(rows):
        sheet.append([f"B-{i:06d}", f"零件 {i}", f"规格 {i % 97}", "pcs",
                      CATEGORIES[i % 4], i % 500, round(0.01 * (i % 1000), 2)])
    book.save(path)


def run_job(store, actor, path: Path) -> tuple[float, float, dict]:
    """(check seconds, write seconds, final job row): phases timed from the job's rows."""
    job = sheet_jobs.start_import(store, actor, "receipts", "materials",
                                  path.read_bytes(), path.name, key=None)
    started = time.perf_counter()
    check_done = None
    jobs = platform.sheet_jobs
    while True:
        with store.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job["id"])).mappings().one()
        if check_done is None and row["phase"] == "write":
            check_done = time.perf_counter()
        if row["status"] in ("done", "failed"):
            end = time.perf_counter()
            check_done = check_done or end
            return check_done - started, end - check_done, dict(row)
        time.sleep(0.05)


def raw_insert(url: str, path: Path) -> float:
    engine = sqlalchemy.create_engine(url)
    metadata = MetaData()
    table = Table("peer_materials", metadata, Column("id", Integer, primary_key=True),
                  *(Column(k, String(200)) for k in ("code", "name", "spec", "unit",
                                                     "category")),
                  Column("safety_stock", Numeric(38, 9)), Column("standard_cost",
                                                                 Numeric(38, 9)))
    metadata.create_all(engine)
    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True)
    rows = book.active.iter_rows(min_row=2, values_only=True)
    keys = ["code", "name", "spec", "unit", "category", "safety_stock", "standard_cost"]
    batch = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(dict(zip(keys, row, strict=True)))
            if len(batch) == spreadsheets.CHUNK:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
    book.close()
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="loom-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'loom.db'}"
    try:
        store = Store(url, files_dir=folder / "files")
        install_template(store, SYSTEM, str(EXAMPLE))
        from runtime.auth.actors import load_actor
        from runtime.auth.users import add_user

        with store.write() as conn:
            user_id = add_user(conn, "bench", "password123", is_admin=True)
        with store.read() as conn:
            actor = load_actor(conn, user_id)
        sheet = folder / "materials.xlsx"
        t = time.perf_counter()
        make_sheet(sheet, args.rows)
        print(f"Loom import bench: {args.rows:,} rows, {store.engine.dialect.name}; "
              f"Python {host.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
              f"{os.cpu_count()} CPUs (sheet written in {time.perf_counter() - t:.1f} s, "
              f"{sheet.stat().st_size / 1e6:.1f} MB)")
        peer = raw_insert(url, sheet)
        check, write, job = run_job(store, actor, sheet)
        with store.read() as conn:
            ft = store.app(conn, "receipts").form("materials")
            arrived = conn.execute(select(func.count()).select_from(ft.table).where(
                ft.columns["code"].like("B-%"))).scalar()
        total = check + write
        print()
        print("| Method | Seconds | Rows/s | vs raw |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| raw: openpyxl read + Core executemany (peer) | {peer:.1f} | "
              f"{args.rows / peer:,.0f} | 1.00x |")
        print(f"| Loom job, check pass | {check:.1f} | {args.rows / check:,.0f} | "
              f"{check / peer:.2f}x |")
        print(f"| Loom job, write pass | {write:.1f} | {args.rows / write:,.0f} | "
              f"{write / peer:.2f}x |")
        print(f"| Loom job, both | {total:.1f} | {args.rows / total:,.0f} | "
              f"**{total / peer:.2f}x** |")
        print(f"\njob {job['status']}, created {job['report'].get('created')}, rows in the "
              f"table: {arrived:,}")
        store.dispose()
        return 0 if job["status"] == "done" and arrived == args.rows else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
