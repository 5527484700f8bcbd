"""Expressions: evaluations/s of Loom's compiled expressions against rule-engine and a
hand-written Python lambda, in the same run, over the same records.

Two expressions, each compiled once and evaluated over N records (default 200,000):

* a condition:  ``qty < safety_stock AND category = "chip"``
* a formula:    ``ROUND(qty * price * (1 - discount), 2)``

The peers compute the same thing:

* rule-engine (``pip install rule-engine``), a Python rule language that parses once
  and walks its tree per evaluation: ``qty < safety_stock and category == "chip"``
  and, lacking ROUND, ``(qty * price * (1 - discount) * 100 + 0.5).floor / 100``
  (the same for these positive amounts);
* a lambda written by hand with the same Decimal arithmetic — the floor: what Python
  itself costs, with none of a spreadsheet's care for blanks, text or errors.

Targets: Loom at least 10x rule-engine, and within 5x of the lambda. Each is timed
``--repeat`` times (rule-engine once: it is slow) and the best time kept. The script
checks that all three agree on every record and exits non-zero if they do not; it
never fails on speed (numbers depend on the machine).

    python bench/expressions.py
    python bench/expressions.py --records 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.expr import compile_expression  # noqa: E402

FIELDS = {"qty": "number", "safety_stock": "number", "category": "select", "price": "money",
          "discount": "percent"}
CENT = Decimal("0.01")
CASES = [
    ("condition",
     'qty < safety_stock AND category = "chip"',
     'qty < safety_stock and category == "chip"',
     lambda r: r["qty"] < r["safety_stock"] and r["category"] == "chip"),
    ("formula",
     "ROUND(qty * price * (1 - discount), 2)",
     "(qty * price * (1 - discount) * 100 + 0.5).floor / 100",
     lambda r: (r["qty"] * r["price"] * (1 - r["discount"])).quantize(CENT, ROUND_HALF_UP)),
]


def make_records(count: int) -> list[dict]:
    rng = random.Random(2026)
    return [{"qty": Decimal(rng.randint(0, 500)), "safety_stock": Decimal(rng.randint(0, 500)),
             "category": rng.choice(["chip", "board", "cable", "case"]),
             "price": Decimal(rng.randint(1, 99_999)).scaleb(-2),
             "discount": Decimal(rng.randint(0, 30)).scaleb(-2)} for _ in range(count)]


def best_time(function, records, repeat: int) -> tuple[float, list]:
    best, results = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        results = [function(record) for record in records]
        best = min(best, time.perf_counter() - started)
    return best, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    try:
        import rule_engine
    except ImportError:
        print("rule-engine is not installed: pip install rule-engine  (it is the peer this "
              "benchmark compares with; Loom does not depend on it)")
        return 2
    records = make_records(options.records)
    print(f"{options.records:,} records; Python {platform.python_version()}, "
          f"{platform.machine()}, rule-engine {rule_engine.__version__}")
    print(f"{'':10} {'Loom':>14} {'rule-engine':>14} {'lambda':>14} "
          f"{'Loom/rule-engine':>17} {'Loom/lambda':>12}")
    context = rule_engine.Context(default_value=None)
    agreed = True
    for name, loom_source, rule_source, by_hand in CASES:
        compiled = compile_expression(loom_source, FIELDS)
        rule = rule_engine.Rule(rule_source, context=context)
        loom_time, loom_results = best_time(compiled.evaluate, records, options.repeat)
        rule_time, rule_results = best_time(rule.evaluate, records, 1)
        hand_time, hand_results = best_time(by_hand, records, options.repeat)
        if not loom_results == rule_results == hand_results:
            agreed = False
            print(f"{name}: the three disagree")
        rate = [options.records / seconds for seconds in (loom_time, rule_time, hand_time)]
        print(f"{name:10} {rate[0]:>10,.0f}/s {rate[1]:>12,.0f}/s {rate[2]:>12,.0f}/s "
              f"{rule_time / loom_time:>15.1f}x {loom_time / hand_time:>11.2f}x")
    print("targets: Loom/rule-engine >= 10x faster; Loom/lambda <= 5x slower")
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
