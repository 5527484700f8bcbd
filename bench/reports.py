"""Reports: a 6-widget dashboard over 1,000,000 ledger movements, against hand-written
SQL on the same database, pandas (load + groupby) and DuckDB (in memory), same run.

Creates a ledger ``stock`` (``engines.ledgers`` tables: item, site, lot) and two
form-shaped tables (items: code, name, category; sites: name), inserts N movements
(default 1,000,000; 2,000 items with Pareto-like popularity, 5 sites, three years of
receipts and issues) with ``executemany``, then times each widget:

1. monthly totals by site (received, issued, value)        stacked bar
2. top 10 items by issued value                            horizontal bar
3. ageing buckets of receipts (0-30/31-90/91-180/181-365)  bar
4. ABC classes of items by issued value                    table
5. turnover trend (issued / running stock) by month        line
6. pivot item category x month, last 12 months, subtotals  pivot

For each: Loom's query (compiled once, median of --runs), the figure on top, the same
result through hand-written SQL on the same database, through pandas (groupby on
DataFrames loaded once; the load is timed apart) and DuckDB (tables copied in once).
Loom's and the hand-written answers are compared; the script exits 1 if they differ.
Targets: each widget within 1.5x of its hand-written SQL; the whole dashboard under
1 s on SQLite. Reported, never enforced.

    python bench/reports.py                        # 1,000,000 movements, SQLite in a temp dir
    python bench/reports.py --rows 200000
    python bench/reports.py --database-url postgresql+psycopg://... (an empty database)

Needs pandas and duckdb (``pip install pandas duckdb``) for the comparisons only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as host
import random
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal

from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, text

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engines.ledgers import create_ledger_tables  # noqa: E402
from engines.reports import (  # noqa: E402
    SourceField,
    SourceTable,
    compile_dataset,
    parse_report,
    render_widget,
)
from runtime.storage.database import open_database  # noqa: E402

ITEMS, SITES = 2_000, 5
START, TODAY = dt.date(2024, 1, 1), dt.date(2026, 11, 21)
SINCE = dt.date(2025, 12, 1)
CATEGORIES = ["原材料", "半成品", "成品", "包装", "备件", "辅料"]
TARGET_RATIO, TARGET_DASHBOARD_S = 1.5, 1.0

STOCK = {"key": "stock", "label": {"zh": "库存"},
         "dimensions": [{"key": "item", "kind": "ref", "target": "items"},
                        {"key": "site", "kind": "ref", "target": "sites"},
                        {"key": "lot", "kind": "text"}],
         "item": "item", "lot": "lot"}
LEDGER = {"ledger": "stock"}

REPORTS = [
    {"key": "monthly_by_site", "label": {"zh": "各厂月度出入库"},
     "dataset": {"source": LEDGER,
                 "dimensions": [{"key": "month", "field": "date", "bucket": "month"},
                                {"key": "site", "field": "site.name"}],
                 "measures": [{"key": "received", "agg": "sum", "field": "qty",
                               "where": "qty > 0"},
                              {"key": "issued", "agg": "sum", "expr": "-qty", "where": "qty < 0"},
                              {"key": "value", "agg": "sum", "field": "value"}]},
     "widget": {"type": "stacked_bar", "x": "month", "y": ["issued"], "series": "site"}},
    {"key": "top_items", "label": {"zh": "出库金额前十物料"},
     "dataset": {"source": LEDGER, "filters": ["qty < 0"],
                 "dimensions": [{"key": "code", "field": "item.code"},
                                {"key": "name", "field": "item.name"}],
                 "measures": [{"key": "value", "agg": "sum", "expr": "-value"}],
                 "sort": ["-value"], "limit": 10},
     "widget": {"type": "bar", "x": "name", "y": ["value"], "orientation": "h"}},
    {"key": "ageing", "label": {"zh": "入库库龄"},
     "dataset": {"source": LEDGER, "filters": ["qty > 0"],
                 "dimensions": [{"key": "age", "field": "date", "age": [30, 90, 180, 365]}],
                 "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                              {"key": "moves", "agg": "count"}]},
     "widget": {"type": "bar", "x": "age", "y": ["qty"]}},
    {"key": "abc", "label": {"zh": "ABC 分类"},
     "dataset": {"source": LEDGER, "filters": ["qty < 0"],
                 "dimensions": [{"key": "code", "field": "item.code"}],
                 "measures": [{"key": "value", "agg": "sum", "expr": "-value"}],
                 "abc": {"measure": "value", "thresholds": [0.8, 0.95]}},
     "widget": {"type": "table", "columns": ["code", "value", "cumulative_share", "class"]}},
    {"key": "turnover", "label": {"zh": "周转趋势"},
     "dataset": {"source": LEDGER,
                 "dimensions": [{"key": "month", "field": "date", "bucket": "month"}],
                 "measures": [{"key": "issued", "agg": "sum", "expr": "-qty", "where": "qty < 0"},
                              {"key": "net", "agg": "sum", "field": "qty"},
                              {"key": "stock", "window": "running_total", "of": "net"},
                              {"key": "turnover", "calc": "issued / stock", "decimals": 3}]},
     "widget": {"type": "line", "x": "month", "y": ["turnover"]}},
    {"key": "category_month", "label": {"zh": "类别 x 月份"},
     "parameters": {"since": {"type": "date"}},
     "dataset": {"source": LEDGER, "filters": [{"date__gte": {"param": "since"}}],
                 "dimensions": [{"key": "category", "field": "item.category"},
                                {"key": "month", "field": "date", "bucket": "month"}],
                 "measures": [{"key": "qty", "agg": "sum", "field": "qty"}],
                 "pivot": {"rows": ["category"], "columns": ["month"]}},
     "widget": {"type": "pivot"}},
]
PARAMS = {"category_month": {"since": SINCE}}


# ---- hand-written SQL -----------------------------------------------------------------

def hand_sql(dialect: str, m: str, items: str, sites: str) -> dict[str, str]:
    month = {"sqlite": "strftime('%Y-%m', {c})", "postgresql": "to_char({c}, 'YYYY-MM')",
             "duckdb": "strftime({c}, '%Y-%m')"}[dialect]
    days = {"sqlite": "CAST(julianday(:today) - julianday({c}) AS INTEGER)",
            "postgresql": "(CAST(:today AS DATE) - {c})",
            "duckdb": "date_diff('day', {c}, CAST(:today AS DATE))"}[dialect]
    mm = month.format(c="m.date")
    age = days.format(c="m.date")
    return {
        "monthly_by_site": f"""
            SELECT {mm} AS month, s.name AS site,
                   SUM(CASE WHEN m.qty > 0 THEN m.qty END) AS received,
                   SUM(CASE WHEN m.qty < 0 THEN -m.qty END) AS issued, SUM(m.value) AS value
            FROM {m} m LEFT JOIN {sites} s ON s.id = m.site
            GROUP BY 1, 2 ORDER BY 1, 2""",
        "top_items": f"""
            SELECT i.code, i.name, SUM(-m.value) AS value
            FROM {m} m LEFT JOIN {items} i ON i.id = m.item WHERE m.qty < 0
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10""",
        "ageing": f"""
            SELECT CASE WHEN {age} <= 30 THEN 0 WHEN {age} <= 90 THEN 1
                        WHEN {age} <= 180 THEN 2 WHEN {age} <= 365 THEN 3 ELSE 4 END AS age,
                   SUM(m.qty) AS qty, COUNT(*) AS moves
            FROM {m} m WHERE m.qty > 0 GROUP BY 1 ORDER BY 1""",
        "abc": f"""
            WITH g AS (SELECT i.code, SUM(-m.value) AS value
                       FROM {m} m LEFT JOIN {items} i ON i.id = m.item
                       WHERE m.qty < 0 GROUP BY 1)
            SELECT code, value,
                   SUM(value) OVER (ORDER BY value DESC, code ROWS UNBOUNDED PRECEDING)
                     / SUM(value) OVER () AS cumulative_share,
                   CASE WHEN SUM(value) OVER (ORDER BY value DESC, code
                                              ROWS UNBOUNDED PRECEDING)
                             <= 0.8 * SUM(value) OVER () THEN 'A'
                        WHEN SUM(value) OVER (ORDER BY value DESC, code
                                              ROWS UNBOUNDED PRECEDING)
                             <= 0.95 * SUM(value) OVER () THEN 'B' ELSE 'C' END AS class
            FROM g ORDER BY value DESC, code""",
        "turnover": f"""
            WITH g AS (SELECT {mm} AS month, SUM(CASE WHEN m.qty < 0 THEN -m.qty END) AS issued,
                              SUM(m.qty) AS net FROM {m} m GROUP BY 1)
            SELECT month, issued, net, SUM(net) OVER (ORDER BY month) AS stock,
                   issued * 1.0 / NULLIF(SUM(net) OVER (ORDER BY month), 0) AS turnover
            FROM g ORDER BY month""",
        "category_month": f"""
            WITH g AS (SELECT i.category, {mm} AS month, SUM(m.qty) AS qty
                       FROM {m} m LEFT JOIN {items} i ON i.id = m.item
                       WHERE m.date >= :since GROUP BY 1, 2)
            SELECT category, month, qty FROM g
            UNION ALL SELECT category, NULL, SUM(qty) FROM g GROUP BY category
            UNION ALL SELECT NULL, month, SUM(qty) FROM g GROUP BY month
            UNION ALL SELECT NULL, NULL, SUM(qty) FROM g""",
    }


# ---- data -----------------------------------------------------------------------------

class BenchSources:
    """The bench's ``Sources``: two form-shaped tables and the ledger; no row filter."""

    def __init__(self, items: Table, sites: Table, ledger):
        self.forms = {"items": items, "sites": sites}
        self.ledger = ledger

    def table_for(self, form):
        table = self.forms[form]
        fields = {"id": SourceField(table.c.id, "integer")}
        for column in table.c:
            if column.name not in ("id", "_created_by"):
                fields[column.name] = SourceField(column, "text", label=column.name)
        return SourceTable(form, table, fields, form=form)

    def subtable_for(self, form, subtable):
        raise KeyError(subtable)

    def ledger_table(self, ledger, part):
        table = getattr(self.ledger.tables, part)
        fields = {"id": SourceField(table.c.id, "integer"),
                  "item": SourceField(table.c.item, "relation", "items"),
                  "site": SourceField(table.c.site, "relation", "sites"),
                  "lot": SourceField(table.c.lot, "text"),
                  "qty": SourceField(table.c.qty, "number"),
                  "value": SourceField(table.c.value, "number"),
                  "date": SourceField(table.c.date, "date")}
        return SourceTable("ledger stock.movements", table, fields)

    def row_filter(self, source, table):
        return None


def load(engine, rows: int, seed: int = 7):
    metadata = MetaData()
    items = Table("f_bench_items", metadata, Column("id", Integer, primary_key=True),
                  Column("_created_by", Integer), Column("code", Text), Column("name", Text),
                  Column("category", Text))
    sites = Table("f_bench_sites", metadata, Column("id", Integer, primary_key=True),
                  Column("_created_by", Integer), Column("name", Text))
    rng = random.Random(seed)
    with engine.begin() as conn:
        metadata.create_all(conn)
        ledger = create_ledger_tables(conn, "bench", STOCK)
        conn.execute(insert(items), [
            {"id": i, "_created_by": 1, "code": f"M-{i:05d}", "name": f"物料{i:05d}",
             "category": CATEGORIES[i % len(CATEGORIES)]} for i in range(1, ITEMS + 1)])
        conn.execute(insert(sites), [{"id": s, "_created_by": 1, "name": f"{s}号厂"}
                                     for s in range(1, SITES + 1)])
    weights = [1 / (rank ** 0.9) for rank in range(1, ITEMS + 1)]
    cost = {i: Decimal(rng.randint(5, 5000)) / 100 for i in range(1, ITEMS + 1)}
    span = (TODAY - START).days
    started = time.perf_counter()
    batch = 20_000
    movements = ledger.tables.movements
    next_id = 0
    for offset in range(0, rows, batch):
        n = min(batch, rows - offset)
        chosen = rng.choices(range(1, ITEMS + 1), weights=weights, k=n)
        chunk = []
        for item in chosen:
            next_id += 1
            receipt = rng.random() < 0.4
            qty = Decimal(rng.randint(1, 100) if receipt else -rng.randint(1, 50))
            chunk.append({
                "id": next_id, "item": item, "site": rng.randint(1, SITES), "lot": "",
                "qty": qty, "value": qty * cost[item],
                "date": START + dt.timedelta(days=rng.randint(0, span)),
                "source_form": "receipts" if receipt else "issues",
                "source_record": next_id})
        with engine.begin() as conn:
            conn.execute(insert(movements), chunk)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return items, sites, ledger, time.perf_counter() - started


# ---- timing ---------------------------------------------------------------------------

def median_ms(fn, runs: int) -> tuple[float, object]:
    result = fn()  # warm: caches, plans
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def numbers_of(rows) -> list[float]:
    out = []
    for row in rows:
        for value in row:
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                out.append(float(value))
    return sorted(out)


def same_numbers(a, b) -> bool:
    x, y = numbers_of(a), numbers_of(b)
    return len(x) == len(y) and all(abs(p - q) <= 1e-6 * max(1.0, abs(q))
                                    for p, q in zip(x, y, strict=True))


def comparable(key: str, result) -> list[list]:
    """Loom's numbers that the hand-written query also computes."""
    if key == "ageing":  # the hand-written query groups by the bin number
        return [[i, *row[1:]] for i, row in enumerate(result.rows)]
    if key == "abc":
        return [[r["value"], r["cumulative_share"]] for r in result.records()]
    rows = result.rows + ([result.totals] if result.totals else [])
    return rows


def pandas_widgets(pd, frame):
    issues = frame[frame.qty < 0]
    receipts = frame[frame.qty > 0]

    def monthly():
        f = frame.assign(received=frame.qty.where(frame.qty > 0),
                         issued=(-frame.qty).where(frame.qty < 0))
        return f.groupby(["month", "site_name"]).agg(
            received=("received", "sum"), issued=("issued", "sum"), value=("value", "sum"))

    def top():
        return issues.assign(v=-issues.value).groupby(["code", "name"]).v.sum().nlargest(10)

    def ageing():
        age = (pd.Timestamp(TODAY) - receipts.date).dt.days
        bucket = pd.cut(age, [-10 ** 9, 30, 90, 180, 365, 10 ** 9], labels=False)
        return receipts.groupby(bucket).agg(qty=("qty", "sum"), moves=("qty", "size"))

    def abc():
        v = issues.assign(v=-issues.value).groupby("code").v.sum().sort_values(ascending=False)
        cumulative = v.cumsum() / v.sum()
        return pd.cut(cumulative, [-1, 0.8, 0.95, 2], labels=["A", "B", "C"])

    def turnover():
        g = frame.assign(issued=(-frame.qty).where(frame.qty < 0)).groupby("month").agg(
            issued=("issued", "sum"), net=("qty", "sum"))
        g["stock"] = g.net.cumsum()
        g["turnover"] = g.issued / g.stock
        return g

    def pivot():
        recent = frame[frame.date >= pd.Timestamp(SINCE)]
        return recent.pivot_table(index="category", columns="month", values="qty",
                                  aggfunc="sum", margins=True)

    return {"monthly_by_site": monthly, "top_items": top, "ageing": ageing, "abc": abc,
            "turnover": turnover, "category_month": pivot}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = None
    url = args.database_url
    if not url:
        folder = tempfile.mkdtemp(prefix="loom-bench-reports-")
        url = f"sqlite:///{folder}/bench.db"
    engine = open_database(url)
    dialect = engine.dialect.name
    try:
        return run(engine, dialect, args)
    finally:
        engine.dispose()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def run(engine, dialect: str, args) -> int:
    import pandas as pd

    print(f"# Loom reports bench: {args.rows:,} movements on {dialect} "
          f"({host.python_implementation()} {host.python_version()}, {host.machine()})")
    items, sites, ledger, seconds = load(engine, args.rows)
    print(f"loaded {args.rows:,} movements with executemany in {seconds:.1f} s")
    sources = BenchSources(items, sites, ledger)
    movements = ledger.tables.movements.name
    queries = hand_sql(dialect, movements, items.name, sites.name)
    reports = [parse_report(doc) for doc in REPORTS]
    compiled = {r.key: compile_dataset(r, sources) for r in reports}
    rows, failed = [], False
    with engine.connect() as conn:
        for report in reports:
            params = PARAMS.get(report.key)
            loom_ms, result = median_ms(lambda r=report, p=params: compiled[r.key].run(
                conn, p, today=TODAY), args.runs)
            figure_ms, _ = median_ms(lambda r=report, res=result: render_widget(r, res),
                                     args.runs)
            binds = {"today": TODAY, "since": SINCE}
            hand_ms, hand = median_ms(lambda k=report.key, b=binds: conn.execute(
                text(queries[k]), b).all(), args.runs)
            ok = same_numbers(comparable(report.key, result),
                              [[v for v in r if not isinstance(v, str)] for r in hand])
            failed |= not ok
            rows.append([report.key, loom_ms, figure_ms, hand_ms, ok])

    started = time.perf_counter()
    frame = pd.read_sql_table(ledger.tables.movements.name, engine,
                              columns=["item", "site", "qty", "value", "date"])
    frame = frame.merge(pd.read_sql_table(items.name, engine), left_on="item", right_on="id",
                        how="left").merge(
        pd.read_sql_table(sites.name, engine).rename(columns={"name": "site_name"}),
        left_on="site", right_on="id", how="left")
    frame["date"] = pd.to_datetime(frame["date"])
    frame["month"] = frame["date"].dt.strftime("%Y-%m")
    frame["qty"] = frame["qty"].astype(float)
    frame["value"] = frame["value"].astype(float)
    pandas_load = time.perf_counter() - started
    pandas_ms = {k: median_ms(fn, args.runs)[0] for k, fn in pandas_widgets(pd, frame).items()}

    duck_ms, duck_load = duckdb_times(frame, args.runs)

    print()
    header = ("widget", "loom query ms", "+figure ms", "hand SQL ms", "ratio", "pandas ms",
              "duckdb ms", "same")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    total_query = total_figure = total_hand = 0.0
    for key, loom_ms, figure_ms, hand_ms, ok in rows:
        total_query += loom_ms
        total_figure += figure_ms
        total_hand += hand_ms
        duck = f"{duck_ms[key]:.1f}" if key in duck_ms else "-"
        print(f"| {key} | {loom_ms:.1f} | {figure_ms:.1f} | {hand_ms:.1f} | "
              f"{loom_ms / hand_ms:.2f}x | {pandas_ms[key]:.1f} | {duck} | "
              f"{'yes' if ok else 'NO'} |")
    print(f"| **dashboard** | {total_query:.0f} | {total_figure:.0f} | {total_hand:.0f} | "
          f"{total_query / total_hand:.2f}x | {sum(pandas_ms.values()):.0f} | "
          f"{sum(duck_ms.values()):.0f} | |")
    print()
    print(f"pandas: loading the movements (read_sql + joins) took {pandas_load:.1f} s, "
          "then the groupbys above")
    if duck_load is not None:
        print(f"duckdb: copying the DataFrame into an in-memory database took {duck_load:.2f} s")
    worst = max(loom / hand for _k, loom, _f, hand, _ok in rows)
    print(f"target: each widget within {TARGET_RATIO}x of hand SQL (worst {worst:.2f}x); "
          f"dashboard under {TARGET_DASHBOARD_S} s on SQLite "
          f"({(total_query + total_figure) / 1000:.2f} s with figures)")
    if failed:
        print("ERROR: a widget's numbers differ from its hand-written SQL")
    return 1 if failed else 0


def duckdb_times(frame, runs: int):
    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed (pip install duckdb): skipped")
        return {}, None
    started = time.perf_counter()
    con = duckdb.connect()
    movements = frame[["item", "site", "qty", "value", "date"]].copy()
    movements["date"] = movements["date"].dt.date
    con.register("movements_df", movements)
    con.execute("CREATE TABLE m AS SELECT * FROM movements_df")
    items = frame[["item", "code", "name", "category"]].drop_duplicates("item")
    con.register("items_df", items.rename(columns={"item": "id"}))
    con.execute("CREATE TABLE i AS SELECT * FROM items_df")
    sites = frame[["site", "site_name"]].drop_duplicates("site")
    con.register("sites_df", sites.rename(columns={"site": "id", "site_name": "name"}))
    con.execute("CREATE TABLE s AS SELECT * FROM sites_df")
    load = time.perf_counter() - started
    out = {}
    for key, sql in hand_sql("duckdb", "m", "i", "s").items():
        sql = sql.replace(":today", f"DATE '{TODAY}'").replace(":since", f"DATE '{SINCE}'")
        out[key] = median_ms(lambda q=sql: con.execute(q).fetchall(), runs)[0]
    con.close()
    return out, load


if __name__ == "__main__":
    sys.exit(main())
