"""The form page's round trip: how long `POST .../records/evaluate` takes on the demo data.

As a user types, the form page sends the draft to the evaluate endpoint (debounced)
and shows formulas, fills, scans and messages from its answer; the target is under
150 ms. This runs the example app with its sample data in a temporary folder and
times, through the whole Flask stack (authentication, permissions, JSON):

* evaluate of a receipt draft with N lines (default 1, 10 and 50), every line a
  scanned code to resolve, a quantity and a price, formulas for amounts and the total;
* the peer, in the same run: `GET` of one record through the same stack — the
  cheapest request the API answers — so the ratio says what evaluating costs beyond
  being a request at all.

    python bench/evaluate.py
"""

from __future__ import annotations

import os
import platform as host
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from runtime.app import create_app  # noqa: E402
from runtime.auth.actors import SYSTEM  # noqa: E402
from runtime.auth.users import add_user, create_token  # noqa: E402
from runtime.services.templates import install_template  # noqa: E402
from runtime.storage.store import Store  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "receipts"
CODES = ["M-001", "M-002", "M-003", "M-004", "M-005", "M-006"]
ROUNDS = 60
TARGET_MS = 150


def timed(call, rounds=ROUNDS) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="loom-bench-"))
    store = Store(f"sqlite:///{folder / 'loom.db'}", files_dir=folder / "files")
    install_template(store, SYSTEM, str(EXAMPLE), sample_data=True)
    with store.write() as conn:
        token = create_token(conn, add_user(conn, "bench", "password123", is_admin=True))
    app = create_app({"TESTING": True, "LOOM_DATA": str(folder), "LOOM_STORE": store,
                      "SECRET_KEY": "bench"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    base = "/api/v1/apps/receipts/forms"
    print(f"Loom evaluate bench: example app with sample data, SQLite; Python "
          f"{host.python_version()}, {os.cpu_count()} CPUs, {ROUNDS} rounds each")
    peer = timed(lambda: client.get(f"{base}/materials/records/1", headers=headers))
    print()
    print("| Request | median ms | p95 ms | vs peer (median) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| GET one record (peer) | {peer[0]:.1f} | {peer[1]:.1f} | 1.00x |")
    worst = 0.0
    for lines in (1, 10, 50):
        draft = {"supplier": {"code": "S-001"}, "received_on": "2026-11-21",
                 "lines": [{"scan": CODES[i % len(CODES)], "qty": i + 1, "price": 2.5}
                           for i in range(lines)]}
        median, p95 = timed(lambda d=draft: client.post(f"{base}/receipts/records/evaluate",
                                                        headers=headers, json=d))
        worst = max(worst, p95)
        print(f"| evaluate, {lines} line(s) | {median:.1f} | {p95:.1f} | "
              f"{median / peer[0]:.2f}x |")
    print(f"\nslowest p95 {worst:.1f} ms (target < {TARGET_MS} ms)")
    store.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
