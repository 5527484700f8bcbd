"""Concurrent writers: optimistic versions make exactly one of two equal updates win."""

from __future__ import annotations

import threading

from runtime.auth.actors import SYSTEM
from runtime.services.errors import Conflict
from runtime.services.records import create_record, get_record, update_record

BASE = "/api/v1/apps/receipts/forms/suppliers/records"


def test_two_clients_same_version_exactly_one_wins(installed, app, admin_headers):
    record = create_record(installed, SYSTEM, "receipts", "suppliers",
                           {"code": "S-C", "name": "并发"})
    for round_no in range(10):
        current = get_record(installed, SYSTEM, "receipts", "suppliers", record["id"])
        barrier = threading.Barrier(2)
        results = {}

        def write(name, barrier=barrier, current=current, results=results):
            client = app.test_client()
            barrier.wait()
            response = client.patch(f"{BASE}/{record['id']}", headers=admin_headers,
                                    json={"version": current["version"], "contact": name})
            results[name] = response.status_code

        threads = [threading.Thread(target=write, args=(f"c{round_no}-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == [200, 409], results
        winner = next(name for name, status in results.items() if status == 200)
        after = get_record(installed, SYSTEM, "receipts", "suppliers", record["id"])
        assert after["contact"] == winner and after["version"] == current["version"] + 1


def test_many_threads_racing_on_one_version(installed):
    record = create_record(installed, SYSTEM, "receipts", "suppliers",
                           {"code": "S-R", "name": "竞争"})
    barrier = threading.Barrier(8)
    outcomes = []

    def write(i):
        barrier.wait()
        try:
            update_record(installed, SYSTEM, "receipts", "suppliers", record["id"],
                          {"phone": str(i)}, version=1)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1 and outcomes.count("conflict") == 7
    history_versions = get_record(installed, SYSTEM, "receipts", "suppliers", record["id"])
    assert history_versions["version"] == 2
