"""Rules: what 100 rules on one form cost a write, and condition evaluations/s against
the ``rule-engine`` package, in the same run.

Three apps with the same form (``orders``: qty, amount, status, note): ``bare`` has no
rules; ``ruled`` has 100 ``when orders created`` rules whose conditions read the record
(``amount > 2000 + i * 5 and status = "open" and qty < 60``: about 3 of the 100 hold
for a write), and the rules whose condition holds notify a role (an inbox row for the
one user holding it) and log their run; ``quiet`` has the same 100 rules with
conditions that never hold (what evaluating 100 rules costs by itself). N records
(default 20,000) are created through the one write path in each app, the apps taking
turns in rounds of N/10 so a machine that gets busier mid-run slows all alike. Then
one condition is evaluated over 200,000 records by Loom's compiled expression and by
``rule_engine.Rule.matches``.

    pip install rule-engine
    python bench/rules.py                      # 20,000 writes per app, SQLite in a temp dir
    python bench/rules.py --records 2000
    python bench/rules.py --database-url postgresql+psycopg://... (an empty database)

Target: 100 rules cost <= 2x the bare write. The script reports; it never fails on the
numbers (they depend on the machine). Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform as host
import random
import sys
import tempfile
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from runtime.auth.actors import SYSTEM  # noqa: E402
from runtime.auth.users import add_user, grant_role  # noqa: E402
from runtime.services.apps import install_documents  # noqa: E402
from runtime.services.records import create_record  # noqa: E402
from runtime.storage.store import Store  # noqa: E402

RULES = 100
FORM = {"key": "orders", "label": "Orders", "fields": [
    {"key": "qty", "type": "number", "label": "Qty"},
    {"key": "amount", "type": "number", "label": "Amount", "precision": 2},
    {"key": "status", "type": "select", "label": "Status", "options": ["open", "closed"]},
    {"key": "note", "type": "text", "label": "Note"}]}
CONDITION = 'amount > 1500 and status = "open" and qty < 60'
RULE_ENGINE_CONDITION = 'amount > 1500 and status == "open" and qty < 60'


def documents(key: str, base: int | None) -> dict:
    """An app with the form, and with 100 rules when ``base`` is given: rule i holds
    for amounts over ``base + 5 i``."""
    docs = {"app.json": {"key": key, "name": key, "roles": [{"key": "sales"}]},
            "forms/orders.json": FORM}
    if base is not None:
        docs["rules/orders.rule"] = "\n".join(
            f'rule "r{i}"\nwhen orders created\n'
            f'if amount > {base + i * 5} and status = "open" and qty < 60\n'
            f'then notify role "sales" title "大订单 {{amount}}"\n'
            for i in range(RULES))
    return docs


APPS = {"bare": None, "ruled": 2000, "quiet": 10**9}


def records(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [{"qty": rng.randint(1, 100), "amount": round(rng.uniform(0, 2500), 2),
             "status": rng.choice(["open", "closed"]), "note": f"n{i}"} for i in range(n)]


def bench_writes(store: Store, n: int) -> dict[str, float]:
    data = records(n)
    spent = dict.fromkeys(APPS, 0.0)
    rounds = 10
    size = max(1, n // rounds)
    for start in range(0, n, size):
        chunk = data[start:start + size]
        turn = start // size % len(APPS)
        order = list(APPS)[turn:] + list(APPS)[:turn]
        for app in order:
            began = time.perf_counter()
            for record in chunk:
                create_record(store, SYSTEM, app, "orders", record)
            spent[app] += time.perf_counter() - began
    return spent


def bench_conditions(count: int) -> tuple[float, float]:
    import rule_engine

    from engines.expr import compile_expression

    rng = random.Random(3)
    rows = [{"qty": Decimal(rng.randint(1, 100)), "amount": Decimal(rng.randint(0, 2500)),
             "status": rng.choice(["open", "closed"])} for _ in range(count)]
    plain = [{k: (float(v) if isinstance(v, Decimal) else v) for k, v in r.items()}
             for r in rows]
    compiled = compile_expression(CONDITION, {"qty": "number", "amount": "number",
                                              "status": "text"}, expect="boolean")
    began = time.perf_counter()
    ours = sum(1 for r in rows if compiled.evaluate(r) is True)
    loom = time.perf_counter() - began
    rule = rule_engine.Rule(RULE_ENGINE_CONDITION)
    began = time.perf_counter()
    theirs = sum(1 for r in plain if rule.matches(r))
    peer = time.perf_counter() - began
    if ours != theirs:
        sys.exit(f"the two engines disagree: {ours} vs {theirs} matches")
    return count / loom, count / peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--conditions", type=int, default=200_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        store = Store(url)
        try:
            for key, base in APPS.items():
                install_documents(store, SYSTEM, documents(key, base))
            with store.write() as conn:
                user = add_user(conn, "sales1", "password123")
                for key in APPS:
                    grant_role(conn, user, key, "sales")
            spent = bench_writes(store, args.records)
            with store.read() as conn:
                from sqlalchemy import func, select

                from runtime.storage import platform

                fired = conn.execute(select(func.count()).select_from(
                    platform.rule_runs)).scalar()
        finally:
            store.dispose()
    n = args.records
    print(f"{host.python_implementation()} {host.python_version()}, "
          f"{url.split(':')[0]}, {n} writes per app, {RULES} rules")
    print(f"  without rules: {spent['bare']:.1f} s, {n / spent['bare']:,.0f} writes/s")
    print(f"  with {RULES} rules, none holding: {spent['quiet']:.1f} s, "
          f"{n / spent['quiet']:,.0f} writes/s ({n * RULES:,} conditions): "
          f"{spent['quiet'] / spent['bare']:.2f}x the bare write (target <= 2x)")
    print(f"  with {RULES} rules, ~3 holding per write: {spent['ruled']:.1f} s, "
          f"{n / spent['ruled']:,.0f} writes/s ({fired:,} rule runs, each an inbox row and "
          f"a log row): {spent['ruled'] / spent['bare']:.2f}x the bare write")
    loom, peer = bench_conditions(args.conditions)
    print(f"conditions ({CONDITION}), {args.conditions:,} records:")
    print(f"  Loom compiled expression: {loom:,.0f} evaluations/s")
    print(f"  rule-engine Rule.matches: {peer:,.0f} evaluations/s")
    print(f"  ratio: {loom / peer:.1f}x")


if __name__ == "__main__":
    main()
