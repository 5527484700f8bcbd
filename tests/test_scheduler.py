"""The scheduler: jobs kept in the database, one process per job run (leases)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect

from runtime.scheduler import (
    close_stores,
    flow_time_limits,
    start_scheduler,
    stop_scheduler,
    take_lease,
)


def test_one_holder_per_lease(store):
    now = dt.datetime(2026, 11, 21, 8, 0)
    assert take_lease(store, "job", 50, now, holder="a")
    assert not take_lease(store, "job", 50, now + dt.timedelta(seconds=10), holder="b")
    assert take_lease(store, "job", 50, now + dt.timedelta(seconds=20), holder="a")  # renew
    assert take_lease(store, "job", 50, now + dt.timedelta(seconds=80), holder="b")  # expired


def test_jobs_are_kept_in_the_database(store, database_url, tmp_path):
    scheduler = start_scheduler(database_url, str(tmp_path))
    try:
        assert scheduler.get_job("flow_time_limits") is not None
        assert "loom_jobs" in inspect(store.engine).get_table_names()
    finally:
        stop_scheduler(scheduler)
    again = start_scheduler(database_url, str(tmp_path))  # a restart keeps one of each
    try:
        assert sorted(job.id for job in again.get_jobs(jobstore="default")) == [
            "deliver_outbox", "flow_time_limits", "sheet_jobs"]
    finally:
        stop_scheduler(again)


def test_the_time_limit_job_runs_expiry(installed, database_url):
    try:
        assert flow_time_limits(database_url) == 0  # nothing due, and it held the lease
    finally:
        close_stores()
