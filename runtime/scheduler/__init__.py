"""Background jobs: APScheduler with its jobs kept in the database (``loom_jobs``), so
they survive restarts, and a lease row per job so that when several server processes
run, one runs each job and the others skip it.

Jobs are plain functions here, named by reference in the job store; each receives the
database URL and opens (once per process) its own ``Store``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from runtime.storage.store import Store

log = logging.getLogger("loom.scheduler")
leases = Table(
    "loom_leases", MetaData(),
    Column("name", String(80), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("until", DateTime, nullable=False),
)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
_stores: dict[str, Store] = {}


def _store(url: str, files_dir: str | None = None) -> Store:
    if url not in _stores:
        _stores[url] = Store(url, files_dir=Path(files_dir) if files_dir else None)
    return _stores[url]


def close_stores() -> None:
    """Close the stores jobs opened (at shutdown, and between tests)."""
    while _stores:
        _stores.popitem()[1].dispose()


def take_lease(store: Store, name: str, seconds: int, now: dt.datetime | None = None,
               holder: str = HOLDER) -> bool:
    """True if this process may run job ``name`` now: no one else holds a live lease."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    until = now + dt.timedelta(seconds=seconds)
    with store.write() as conn:
        leases.create(conn, checkfirst=True)
        taken = conn.execute(update(leases).where(
            leases.c.name == name, (leases.c.until < now) | (leases.c.holder == holder)),
            {"holder": holder, "until": until}).rowcount
        if taken:
            return True
        if conn.execute(select(leases.c.name).where(leases.c.name == name)).first():
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(leases), {"name": name, "holder": holder, "until": until})
        except IntegrityError:
            return False
        return True


def flow_time_limits(database_url: str) -> int:
    """Every minute: apply approval time limits (remind, escalate, auto-decide)."""
    from runtime.services.approvals import expire_due

    store = _store(database_url)
    if not take_lease(store, "flow_time_limits", 50):
        return 0
    changed = expire_due(store)
    if changed:
        log.info("time limits applied to %d approval(s)", changed)
    return changed


def sheet_jobs(database_url: str, files_dir: str) -> int:
    """Every 30 seconds: run spreadsheet jobs that are queued or whose worker stopped
    (a server restarted mid-import continues from its last checkpoint)."""
    from runtime.services.sheet_jobs import run_jobs

    store = _store(database_url, files_dir)
    if store.files_dir is None:  # first opened by a job that needs no files
        store.files_dir = Path(files_dir)
    return run_jobs(store)


def deliver_outbox(database_url: str) -> dict:
    """Every 15 seconds: send what rules queued (entries are claimed one by one, so
    several processes may run this at once without sending anything twice)."""
    from runtime.notify.outbox import send_due

    counts = send_due(_store(database_url))
    if any(counts.values()):
        log.info("outbox: %s", counts)
    return counts


def wake_sender(scheduler, database_url: str):
    """A hook for ``Store.after_commit``: deliver what was just queued now, in the
    scheduler's worker thread (one pending run at a time: a burst of commits coalesces),
    rather than at the next 15-second tick."""

    def wake():
        scheduler.add_job(deliver_outbox, args=[database_url], id="deliver_outbox_now",
                          jobstore="local", replace_existing=True)

    return wake


def scheduled_rule(database_url: str, app: str, rule: str) -> str:
    """A scheduled rule's job: run it for the firing the clock is at, once across all
    processes (runtime.services.rule_runs.run_scheduled)."""
    from runtime.services import clock
    from runtime.services.rule_runs import run_scheduled

    outcome = run_scheduled(_store(database_url), app, rule, clock.now(), HOLDER)
    log.info("scheduled rule %s/%s: %s", app, rule, outcome)
    return outcome


def rule_job_id(app: str, rule: str) -> str:
    # Rule names are free text (Chinese, spaces): the job id takes a digest of it.
    return f"rule:{app}:{hashlib.sha256(rule.encode('utf-8')).hexdigest()[:16]}"


def rule_trigger(rule):
    """The APScheduler trigger of a scheduled rule: cron in the plant's time zone, or
    an interval on a fixed grid from 2000-01-01 (so every process agrees on firings)."""
    from engines.rules import Interval, cron_fields
    from runtime.services import clock
    from runtime.services.rule_runs import EPOCH

    zone = clock.plant_zone() or dt.datetime.now().astimezone().tzinfo
    if isinstance(rule.trigger, Interval):
        return IntervalTrigger(seconds=rule.trigger.seconds, start_date=EPOCH, timezone=zone)
    return CronTrigger(**cron_fields(rule.trigger.cron), timezone=zone)


def sync_rule_jobs(scheduler, database_url: str) -> int:
    """Make the job store hold one job per enabled scheduled rule of every app: add new
    ones, replace changed schedules, remove jobs of rules that are gone."""
    from runtime.services.errors import Invalid
    from runtime.services.rulebook import rulebook

    store = _store(database_url)
    wanted = {}
    with store.read() as conn:
        for app in store.app_keys(conn):
            schema = store.app(conn, app)
            try:
                scheduled = rulebook(conn, schema).scheduled
            except Invalid as error:  # one app's broken rules must not stop the others
                log.warning("rules of app %s not scheduled: %s", app, error)
                continue
            for rule in scheduled:
                wanted[rule_job_id(app, rule.name)] = (app, rule)
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith("rule:") and job.id not in wanted:
            job.remove()
    for job_id, (app, rule) in wanted.items():
        trigger = rule_trigger(rule)
        job = scheduler.get_job(job_id, jobstore="default")
        if job is None or str(job.trigger) != str(trigger):
            scheduler.add_job(scheduled_rule, trigger, args=[database_url, app, rule.name],
                              id=job_id, jobstore="default", replace_existing=True)
    return len(wanted)


def start_scheduler(database_url: str, files_dir: str | None = None, *,
                    paused: bool = False) -> BackgroundScheduler:
    """Start the process's scheduler; ``paused`` keeps the jobs in step without running
    any (tests run the jobs themselves, on a clock they control). ``files_dir`` is the
    data folder's files, where background spreadsheet jobs keep theirs."""
    engine = create_engine(database_url, pool_pre_ping=True)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="loom_jobs"),
                   "local": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC")
    scheduler.add_job(flow_time_limits, "interval", minutes=1, args=[database_url],
                      id="flow_time_limits", replace_existing=True)
    if files_dir:
        scheduler.add_job(sheet_jobs, "interval", seconds=30, args=[database_url, files_dir],
                          id="sheet_jobs", replace_existing=True)
    scheduler.add_job(deliver_outbox, "interval", seconds=15, args=[database_url],
                      id="deliver_outbox", replace_existing=True)
    sync_rule_jobs(scheduler, database_url)
    # Rules change while the server runs: each process re-reads them every minute. This
    # job refers to the live scheduler, so it is kept in memory, not in the database.
    scheduler.add_job(sync_rule_jobs, "interval", minutes=1, args=[scheduler, database_url],
                      id="sync_rule_jobs", jobstore="local", replace_existing=True)
    scheduler.start(paused=paused)
    scheduler.loom_engine = engine
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    scheduler.shutdown(wait=True)
    scheduler.loom_engine.dispose()
