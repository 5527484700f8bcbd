"""Ledger: posting movements/s against raw inserts, balance and trace query times.

Generates N movements (default 1,000,000) over 10,000 items, 20 sites and 50,000 lots
-- receipts, issues, and work orders that consume two lots of one level and make a
lot of the next (4 levels: components, sub-assemblies, assemblies, finished goods) --
and posts them through ``engines.ledgers.post_movements`` in batches (one call and
one transaction per batch of --batch movements, default 1,000; moving average at
item level, non-negative per item/site/lot). After each batch, the very same
movement rows (read back, not timed) are inserted with plain SQLAlchemy Core
``executemany`` into a table shaped like the movements table (same columns, types
and indexes), one transaction per batch: the peer. The two alternate, so a machine
that gets busier mid-run slows both alike.

Then it times, on the loaded ledger:

* ``balance(item=X)`` for 200 random items (median, p95);
* ``trace`` backward from a finished-goods lot and forward from a component lot that
  reach through all 4 levels (median of 20 runs each);

and computes each trace again with pandas from the movements and links loaded into
DataFrames in the same run, checks both give the same movements, and prints both
times. Exits 1 if an answer differs. Targets: posting within 5x of the raw inserts,
balance < 5 ms, trace < 50 ms; the script reports and never fails on them.

    python bench/ledger.py                       # 1,000,000 movements, SQLite in a temp dir
    python bench/ledger.py --movements 100000
    python bench/ledger.py --database-url postgresql+psycopg://... (an empty database)

Needs pandas (``pip install pandas``), for the comparison only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform as host
import random
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal

import sqlalchemy
from sqlalchemy import MetaData, Table, insert, select

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engines.ledgers import balance, create_ledger_tables, post_movements, trace  # noqa: E402
from runtime.storage.database import open_database  # noqa: E402

ITEMS, SITES, LOTS, LEVELS = 10_000, 20, 50_000, 4
TARGET_POSTING, TARGET_BALANCE_MS, TARGET_TRACE_MS = 5.0, 5.0, 50.0

DEFINITION = {
    "key": "stock",
    "dimensions": [{"key": "item", "kind": "ref"}, {"key": "site", "kind": "ref"},
                   {"key": "lot", "kind": "text"}],
    "item": "item", "lot": "lot",
    "constraint": ["item", "site", "lot"],
    "valuation": {"method": "moving_average", "level": ["item"]},
    "measures": {"qty": {"precision": 3}, "value": {"precision": 2}},
}


def lot_item(lot: int) -> int:
    return lot % ITEMS + 1


def item_level(item: int) -> int:
    return (item - 1) % LEVELS  # lot j is of item j % 10,000 + 1, so of level j % 4


class Floor:
    """A plausible shop floor that never takes what is not there. Every lot is made
    once -- a component lot (level 0) by a receipt, a lot of level 1 to 3 by a work
    order from two lots of the level below at the same site -- and then goes out in
    small issues (finished goods: shipments). Per 36 events: one receipt, one work
    order (three movements), 34 issues, which makes about 50,000 lots in 1,000,000
    movements."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.stock = {}      # (item, site, lot) -> qty
        self.stocked = []    # keys with stock
        self.by_place = {}   # (level, site) -> keys with stock
        self.where = {}      # key -> (index in stocked, index in its by_place list)
        self.made_from = {}  # lot -> the lots it was made from
        self.orders = 0
        self.waiting = {level: list(range(LOTS - LEVELS + level, -1, -LEVELS))
                        for level in range(LEVELS)}  # lots not made yet, next one last

    def _add(self, key, qty):
        before = self.stock.get(key, 0)
        self.stock[key] = before + qty
        place = self.by_place.setdefault((item_level(key[0]), key[1]), [])
        if before == 0 and qty > 0:
            self.where[key] = (len(self.stocked), len(place))
            self.stocked.append(key)
            place.append(key)
        elif self.stock[key] == 0:
            i, j = self.where.pop(key)
            for bucket, index, slot in ((self.stocked, i, 0), (place, j, 1)):
                last = bucket.pop()
                if last != key:
                    bucket[index] = last
                    position = list(self.where[last])
                    position[slot] = index
                    self.where[last] = tuple(position)

    def move(self, key, qty, date, **extra):
        self._add(key, qty)
        return {"item": key[0], "site": key[1], "lot": f"L{key[2]:05d}", "qty": qty,
                "date": date, **extra}

    def price(self):
        return Decimal(self.rng.randint(100, 10_000)) / 100

    def next(self, date) -> list[dict]:
        rng = self.rng
        roll = rng.randrange(36)
        if (roll == 0 or not self.stocked) and self.waiting[0]:
            lot = self.waiting[0].pop()
            return [self.move((lot_item(lot), lot % SITES + 1, lot), rng.randint(500, 2000),
                              date, unit_value=self.price())]
        if roll == 1:
            made = self.work_order(date)
            if made:
                return made
        key = rng.choice(self.stocked)
        return [self.move(key, -min(self.stock[key], rng.randint(1, 10)), date)]

    def work_order(self, date):
        rng = self.rng
        level = rng.randint(1, LEVELS - 1)
        below = [k for k in (rng.choice(self.stocked) for _ in range(20))
                 if item_level(k[0]) == level - 1]
        if not self.waiting[level] or not below:
            return None
        first = below[0]
        place = [k for k in self.by_place[(level - 1, first[1])] if k != first]
        inputs = [first] + ([rng.choice(place)] if place else [])
        lot = self.waiting[level].pop()
        self.orders += 1
        group = f"WO{self.orders}"
        moves = [self.move(k, -min(self.stock[k], rng.randint(10, 50)), date,
                           trace_group=group) for k in inputs]
        moves.append(self.move((lot_item(lot), first[1], lot), rng.randint(100, 400), date,
                               trace_group=group, unit_value=self.price()))
        self.made_from[lot] = {k[2] for k in inputs}
        return moves


def batches(floor: Floor, total: int, size: int):
    day, made, batch = dt.date(2024, 1, 1), 0, []
    per_day = max(total // 365, 1)
    while made < total:
        moves = floor.next(day + dt.timedelta(days=made // per_day))
        batch += moves
        made += len(moves)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def peer_table(ledger, metadata: MetaData) -> Table:
    source = ledger.tables.movements
    table = Table("peer_movements", metadata,
                  *(c._copy() for c in source.columns))
    for index in source.indexes:
        sqlalchemy.Index(f"peer_{index.name}", *(table.c[c.name] for c in index.columns),
                         **index.dialect_kwargs)
    return table


def deep_lots(floor: Floor):
    """A finished-goods lot made through all 4 levels (of the first 200, the one with
    the most lots behind it), and a component lot that went into it."""
    @functools.cache
    def depth(lot):  # levels only go up, so there are no cycles
        return 1 + max((depth(p) for p in floor.made_from.get(lot, ())), default=0)

    @functools.cache
    def ancestry(lot):
        return frozenset({lot}).union(*(ancestry(p) for p in floor.made_from.get(lot, ())))

    finished = sorted(lot for lot in floor.made_from if item_level(lot_item(lot)) == LEVELS - 1)
    deep = [lot for lot in finished if depth(lot) == LEVELS] or finished
    top = max(deep[:200], key=lambda lot: (len(ancestry(lot)), -lot))
    component = top
    while floor.made_from.get(component):
        component = min(floor.made_from[component])
    return top, component, depth(top)


def pandas_trace(movements, links, lot: str, direction: str) -> set[int]:
    """The same walk as the engine's recursive query, level by level with DataFrames:
    from the movements that brought a lot in (backward) or took it out (forward),
    across links to the movements on their other side, then to the movements that
    brought in (took out) *those* lots."""
    live = movements[movements.reversal_of.isna() & movements.corrects.isna()]
    inward = live[live.qty > 0] if direction == "backward" else live[live.qty < 0]
    near, far = ("output_id", "input_id") if direction == "backward" \
        else ("input_id", "output_id")
    identity = live.set_index("id")[["item", "lot"]]
    frontier = set(inward[inward.lot == lot].id)
    seen = set(frontier)
    while frontier:
        vias = links[links[near].isin(frontier)][far].unique()
        seen.update(vias)
        lots = identity.loc[vias].drop_duplicates()
        frontier = set(inward.merge(lots, on=["item", "lot"]).id) - seen
        seen.update(frontier)
    return seen


def timed(fn, runs):
    """(last result, median ms, p95 ms, median CPU ms of this process). SQLite runs in
    the process, so on a machine shared with other work the CPU time is the steadier
    figure; with PostgreSQL it leaves out the server's share."""
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    p95 = sorted(times)[max(int(len(times) * 0.95) - 1, 0)]
    return result, statistics.median(times), p95, statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="loom-ledger-bench-")
    url = args.database_url or f"sqlite:///{os.path.join(folder, 'bench.db')}"
    engine = open_database(url)
    writer = engine.execution_options(loom_write=True)
    metadata = MetaData()
    with writer.begin() as conn:
        ledger = create_ledger_tables(conn, "bench", DEFINITION)
        peer = peer_table(ledger, metadata)
        metadata.create_all(conn)

    print(f"Loom ledger bench: {args.movements:,} movements, batches of {args.batch:,}, "
          f"{engine.dialect.name} ({engine.dialect.server_version_info or ''})")
    print(f"Python {host.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
          f"{os.cpu_count()} CPUs")
    m = ledger.tables.movements
    post_s = raw_s = 0.0
    posted = 0
    floor = Floor(args.seed)
    record = 0
    for batch in batches(floor, args.movements, args.batch):
        record += 1
        start = time.perf_counter()
        with writer.begin() as conn:
            ids = post_movements(conn, ledger, batch, source=("bench", record))
        post_s += time.perf_counter() - start
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(m).where(
                m.c.id.between(ids[0], ids[-1])).order_by(m.c.id)).mappings()]
        start = time.perf_counter()
        with writer.begin() as conn:
            conn.execute(insert(peer), rows)
        raw_s += time.perf_counter() - start
        posted += len(batch)
        if record % 100 == 0:
            print(f"  {posted:>10,} movements  ledger {posted / post_s:>9,.0f}/s  "
                  f"raw {posted / raw_s:>9,.0f}/s", flush=True)
    ratio = post_s / raw_s
    if engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum would gather them (it may be off on a test
        # server): without them PostgreSQL plans the trace's steps as table scans.
        with writer.begin() as conn:
            for table in (*ledger.tables.all(), peer):
                conn.exec_driver_sql(f"ANALYZE {table.name}")
    print()
    print("| Method | Seconds | Movements/s | vs raw |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| raw Core executemany (peer) | {raw_s:.2f} | {posted / raw_s:,.0f} | 1.00x |")
    print(f"| Loom post_movements | {post_s:.2f} | {posted / post_s:,.0f} | **{ratio:.2f}x** "
          f"(target <= {TARGET_POSTING:.0f}x) |")

    rng = random.Random(args.seed)
    failures = 0
    with engine.connect() as conn:
        items = [rng.randint(1, ITEMS) for _ in range(200)]
        cursor = iter(items)
        _, med, p95, cpu = timed(lambda: balance(conn, ledger, item=next(cursor)),
                                 len(items))
        print(f"\nbalance(item=X), 200 items: median {med:.2f} ms, p95 {p95:.2f} ms, "
              f"CPU {cpu:.2f} ms (target < {TARGET_BALANCE_MS:.0f} ms)")
        top, component, depth = deep_lots(floor)
        import pandas as pd
        start = time.perf_counter()
        frame = pd.read_sql(select(m.c.id, m.c.item, m.c.lot, m.c.qty, m.c.reversal_of,
                                   m.c.corrects), conn)
        frame["qty"] = frame.qty.astype(float)
        links = pd.read_sql(select(ledger.tables.links.c.input_id,
                                   ledger.tables.links.c.output_id), conn)
        load_ms = (time.perf_counter() - start) * 1000
        print(f"pandas: loading {len(frame):,} movements and {len(links):,} links "
              f"took {load_ms:,.0f} ms")
        for direction, lot in (("backward", top), ("forward", component)):
            code = f"L{lot:05d}"
            result, med, p95, cpu = timed(
                lambda d=direction, c=code: trace(conn, ledger, lot=c, direction=d), 20)
            expected, pmed, _, _ = timed(lambda d=direction, c=code: pandas_trace(
                frame, links, c, d), 5)
            same = set(result.nodes) == expected
            failures += not same
            levels = len({item_level(n.dims["item"]) for n in result.nodes.values()})
            print(f"trace {direction} from lot {code}: {len(result.nodes):,} movements over "
                  f"{levels} levels, median {med:.1f} ms, p95 {p95:.1f} ms, CPU {cpu:.1f} ms "
                  f"(target < {TARGET_TRACE_MS:.0f} ms); pandas {pmed:.1f} ms after loading; "
                  f"same answer: {'yes' if same else 'NO'}")
    engine.dispose()
    if not args.database_url:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
