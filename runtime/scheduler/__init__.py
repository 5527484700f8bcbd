"""Background jobs: APScheduler with its jobs kept in the database (``loom_jobs``), so
they survive restarts, and a lease row per job so that when several server processes
run, one runs each job and the others skip it.

Jobs are plain functions here, named by reference in the job store; each receives the
database URL and opens (once per process) its own ``Store``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
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


def start_scheduler(database_url: str, files_dir: str) -> BackgroundScheduler:
    engine = create_engine(database_url, pool_pre_ping=True)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="loom_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC")
    scheduler.add_job(flow_time_limits, "interval", minutes=1, args=[database_url],
                      id="flow_time_limits", replace_existing=True)
    scheduler.add_job(sheet_jobs, "interval", seconds=30, args=[database_url, files_dir],
                      id="sheet_jobs", replace_existing=True)
    scheduler.start()
    scheduler.loom_engine = engine
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    scheduler.shutdown(wait=True)
    scheduler.loom_engine.dispose()
