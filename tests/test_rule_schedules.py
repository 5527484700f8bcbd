"""Scheduled rules: interval firings on a shared grid, one run per firing, the job
store following the app's rules."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from runtime.scheduler import (
    close_stores,
    rule_job_id,
    start_scheduler,
    stop_scheduler,
    sync_rule_jobs,
)
from runtime.services.rule_runs import run_scheduled
from runtime.storage import platform
from tests.test_rule_runtime import _with_rules

EVERY_15 = '''
rule "积压提醒"
every 15 minutes
if COUNT_RECORDS("purchase_requests", "status", "open") = 0
then notify role "purchasing" title "没有待处理的采购申请"
'''


def test_interval_firings_are_shared_by_processes(installed):
    store = installed
    _with_rules(store, {"every": EVERY_15})
    at = dt.datetime(2026, 11, 23, 8, 15, 1)
    assert run_scheduled(store, "receipts", "积压提醒", at, "host-a:1") == "ran"
    # The other process woke two seconds later for the same firing: it skips it.
    assert run_scheduled(store, "receipts", "积压提醒", at + dt.timedelta(seconds=2),
                         "host-b:2") == "taken"
    assert run_scheduled(store, "receipts", "积压提醒", at + dt.timedelta(minutes=15),
                         "host-b:2") == "ran"
    with store.read() as conn:
        firings = conn.execute(select(platform.rule_firings.c.slot, platform.rule_firings
                                      .c.holder).order_by(platform.rule_firings.c.slot)).all()
    assert [(s.strftime("%H:%M"), h) for s, h in firings] == [("08:15", "host-a:1"),
                                                              ("08:30", "host-b:2")]
    assert run_scheduled(store, "receipts", "gone", at, "host-a:1") == "gone"


def test_the_job_store_follows_the_rules(installed, database_url):
    store = installed
    _with_rules(store, {"every": EVERY_15})
    scheduler = start_scheduler(database_url, paused=True)
    try:
        job = scheduler.get_job(rule_job_id("receipts", "积压提醒"))
        assert job is not None and job.trigger.interval == dt.timedelta(minutes=15)
        _with_rules(store, {"every": EVERY_15.replace("every 15 minutes", 'every "0 8 * * *"')})
        sync_rule_jobs(scheduler, database_url)
        job = scheduler.get_job(rule_job_id("receipts", "积压提醒"))
        assert "hour='8'" in str(job.trigger)
        _with_rules(store, {})
        sync_rule_jobs(scheduler, database_url)
        assert scheduler.get_job(rule_job_id("receipts", "积压提醒")) is None
    finally:
        stop_scheduler(scheduler)
        close_stores()


def test_two_processes_racing_for_one_firing_run_it_once(installed, database_url):
    import threading

    from runtime.storage.store import Store

    _with_rules(installed, {"every": EVERY_15})
    stores = [Store(database_url), Store(database_url)]  # two server processes
    at = dt.datetime(2026, 11, 23, 9, 0, 0)
    outcomes, start = [], threading.Barrier(2)

    def process(store, holder):
        start.wait()
        outcomes.append(run_scheduled(store, "receipts", "积压提醒", at, holder))

    threads = [threading.Thread(target=process, args=(s, f"host:{i}"))
               for i, s in enumerate(stores)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in stores:
            s.dispose()
    assert sorted(outcomes) == ["ran", "taken"]
    with installed.read() as conn:
        notes = conn.execute(select(platform.rule_runs.c.outcome)).scalars().all()
    assert notes == ["ran"]
