"""Spreadsheet imports and exports in the background, for files too large for a request
(100,000 rows take a minute or two to check and as long to write).

An import runs in two passes over the rows, ``CHUNK`` rows per transaction:

1. **check**: every row goes through the write path and is rolled back — the preview;
   problems are collected (row, column, message). Any problem ends the job here with
   nothing written, like the all-or-nothing import.
2. **write**: each chunk is written and the job's checkpoint moves in the same
   transaction, so after a crash or restart the job continues with the next chunk —
   nothing is written twice. A row that fails now (the data changed since the check)
   stops the job and names the row; the rows before it are kept. Importing with an
   upsert key, the same file can simply be imported again.

An export writes the listed records to a file in the data folder and is downloaded
from the job when done. Jobs are claimed with a lease renewed after every chunk: a
job whose process died is taken over by the next ``run_jobs`` (the scheduler calls it
every 30 seconds; starting a job also starts a worker thread at once).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from pathlib import Path

from sqlalchemy import insert, or_, select, update

from runtime.auth.actors import Actor, load_actor
from runtime.auth.permissions import require
from runtime.services import spreadsheets
from runtime.services.apps import open_form
from runtime.services.errors import Forbidden, Invalid, NotFound
from runtime.services.query import list_records
from runtime.storage import platform

log = logging.getLogger("loom.sheet_jobs")
jobs = platform.sheet_jobs
CHUNK = spreadsheets.CHUNK
LEASE = dt.timedelta(seconds=120)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
SUFFIXES = (".xlsx", ".csv")


class _Rollback(Exception):
    pass


class _TakenOver(Exception):
    """Another worker holds the job now (this one was too slow to renew its lease)."""


def _folder(store) -> Path:
    if store.files_dir is None:
        raise Invalid([{"field": "file", "message": "this server has no folder for files; "
                        "start it with a data folder (LOOM_DATA)"}])
    folder = Path(store.files_dir) / "sheet-jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(store, job) -> Path:
    suffix = Path(job["file_name"]).suffix.lower() if job["kind"] == "import" \
        else "." + job["params"]["format"]
    return _folder(store) / f"{job['id']}{suffix}"


# ---- starting and reading jobs ------------------------------------------------------

def start_import(store, actor: Actor, app: str, form: str, data: bytes, filename: str, *,
                 key: str | None = None, dry_run: bool = False) -> dict:
    if Path(filename).suffix.lower() not in SUFFIXES:
        raise Invalid([{"field": "file", "message": "send an .xlsx or .csv file"}])
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        require(actor, schema, form, "create")
        if key:
            require(actor, schema, form, "update")
        spreadsheets.plan_import(ft, [], key)  # an unknown key is refused now, not later
    params = {"key": key, "dry_run": dry_run}
    job = _create(store, actor, "import", app, form, params, filename, "check",
                  content=data)
    start_worker(store)
    return job


def start_export(store, actor: Actor, app: str, form: str, *, fmt: str, filters=(),
                 sort=None, search=None, lang: str = "zh") -> dict:
    if fmt not in ("xlsx", "csv"):
        raise Invalid([{"field": "format", "message": "format is xlsx or csv"}])
    # Check filters and permission now, so a mistake is answered, not queued.
    found = list_records(store, actor, app, form, filters=filters, sort=sort, search=search,
                         limit=1)
    params = {"format": fmt, "filters": [[f.path, f.op, f.value] for f in filters],
              "sort": sort, "search": search, "lang": lang}
    job = _create(store, actor, "export", app, form, params, f"{app}-{form}.{fmt}", "export",
                  total=found["total"])
    start_worker(store)
    return job


def _create(store, actor, kind, app, form, params, file_name, phase, *, content=None,
            total=None) -> dict:
    with store.write() as conn:
        job_id = conn.execute(insert(jobs).values(
            kind=kind, app=app, form=form, user_id=actor.id, status="queued", phase=phase,
            params=params, file_name=file_name[:200], total=total, done=0,
            created_at=platform.utcnow())).inserted_primary_key[0]
        job = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
        if content is not None:
            _path(store, job).write_bytes(content)  # before commit: no job without its file
        return _json(job)


def job_status(store, actor: Actor, job_id: int) -> dict:
    return _json(_visible(store, actor, job_id))


def export_file(store, actor: Actor, job_id: int) -> tuple[Path, str]:
    job = _visible(store, actor, job_id)
    if job["kind"] != "export" or job["status"] != "done":
        raise Invalid([{"field": None, "message": f"job {job_id} has no file to download "
                        f"(it is a {job['kind']}, {job['status']})"}])
    return _path(store, job), job["file_name"]


def _visible(store, actor: Actor, job_id: int):
    with store.read() as conn:
        job = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if job is None or (job["user_id"] != actor.id and not actor.is_admin):
        raise NotFound(f"no job {job_id}")
    return job


def _json(job) -> dict:
    out = {k: job[k] for k in ("id", "kind", "app", "form", "status", "phase", "file_name",
                               "total", "done", "report")}
    out["created_at"] = job["created_at"].isoformat()
    if job["finished_at"]:
        out["finished_at"] = job["finished_at"].isoformat()
    out["dry_run"] = bool(job["params"].get("dry_run"))
    return out


# ---- running them -------------------------------------------------------------------

def start_worker(store) -> threading.Thread:
    """Work through queued jobs in a thread of this process (returns at once)."""
    worker = threading.Thread(target=run_jobs, args=(store,), daemon=True,
                              name="loom-sheet-jobs")
    worker.start()
    return worker


def run_jobs(store, holder: str = HOLDER, now=None) -> int:
    """Run every job that is queued or whose worker stopped renewing its lease;
    returns how many were run to an end."""
    finished = 0
    while (job := _claim(store, holder, now)) is not None:
        try:
            _run(store, job, holder)
        except _TakenOver:
            continue
        except Exception as error:  # noqa: BLE001 - a job must end, whatever went wrong
            log.exception("sheet job %s failed", job["id"])
            _finish(store, job["id"], "failed", {"errors": [
                {"row": None, "column": None, "field": None,
                 "message": f"the job stopped on an unexpected error: {error}"}]})
        finished += 1
    return finished


def _claim(store, holder: str, now=None):
    now = now or platform.utcnow()
    with store.write() as conn:
        candidate = conn.execute(select(jobs.c.id).where(or_(
            jobs.c.status == "queued",
            (jobs.c.status == "running") & (jobs.c.lease_until < now)))
            .order_by(jobs.c.id).limit(1)).scalar()
        if candidate is None:
            return None
        taken = conn.execute(update(jobs).where(jobs.c.id == candidate, or_(
            jobs.c.status == "queued", jobs.c.lease_until < now)).values(
            status="running", holder=holder, lease_until=now + LEASE)).rowcount
        if not taken:
            return None
        return conn.execute(select(jobs).where(jobs.c.id == candidate)).mappings().one()


def _progress(conn, job_id: int, holder: str, **values) -> None:
    """Move the checkpoint and renew the lease, only while this worker holds the job."""
    moved = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.holder == holder)
                         .values(lease_until=platform.utcnow() + LEASE, **values)).rowcount
    if not moved:
        raise _TakenOver(job_id)


def _finish(store, job_id: int, status: str, report: dict, **values) -> None:
    with store.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(
            status=status, report=report, finished_at=platform.utcnow(), holder=None,
            lease_until=None, **values))


def _run(store, job, holder: str) -> None:
    with store.read() as conn:
        actor = load_actor(conn, job["user_id"])
    if actor is None:
        raise Forbidden(f"the user who started job {job['id']} no longer exists")
    if job["kind"] == "export":
        _run_export(store, job, actor, holder)
    else:
        _run_import(store, job, actor, holder)


def _run_export(store, job, actor: Actor, holder: str) -> None:
    from runtime.services.query import Filter

    p = job["params"]
    data = spreadsheets.export_rows(store, actor, job["app"], job["form"], fmt=p["format"],
                                    filters=[Filter(*f) for f in p["filters"]],
                                    sort=p["sort"], search=p["search"], lang=p["lang"])
    _path(store, job).write_bytes(data)
    _finish(store, job["id"], "done", {"bytes": len(data)}, done=job["total"] or 0)


def _run_import(store, job, actor: Actor, holder: str) -> None:
    p = job["params"]
    headers, rows = spreadsheets.read_sheet(_path(store, job).read_bytes(), job["file_name"])
    report = dict(job["report"] or {"created": 0, "updated": 0, "errors": []})
    report["rows"] = len(rows)
    numbered = list(enumerate(rows, start=2))  # row 1 is the header
    phase, start = job["phase"], job["done"]
    if phase == "check":
        for begin in range(start, len(numbered), CHUNK):
            try:
                with store.write() as conn:
                    schema, ft = open_form(store, conn, actor, job["app"], job["form"])
                    plan = spreadsheets.plan_import(ft, headers, p["key"])
                    report.update(plan.columns_report())
                    spreadsheets.import_chunk(conn, actor, schema, ft, plan,
                                              numbered[begin:begin + CHUNK], report)
                    raise _Rollback  # checking only
            except _Rollback:
                pass
            with store.write() as conn:
                _progress(conn, job["id"], holder, done=min(begin + CHUNK, len(rows)),
                          total=len(rows), report=report)
        if report["errors"]:
            report["created"] = report["updated"] = 0
            _finish(store, job["id"], "failed", report)
            return
        if p["dry_run"]:
            _finish(store, job["id"], "done", report)
            return
        report.update(created=0, updated=0, written=0)
        phase, start = "write", 0
        with store.write() as conn:
            _progress(conn, job["id"], holder, phase="write", done=0, report=report)
    for begin in range(start, len(numbered), CHUNK):
        with store.write() as conn:
            schema, ft = open_form(store, conn, actor, job["app"], job["form"])
            plan = spreadsheets.plan_import(ft, headers, p["key"])
            counts = {"created": 0, "updated": 0, "errors": []}
            try:
                with conn.begin_nested():
                    spreadsheets.import_chunk(conn, actor, schema, ft, plan,
                                              numbered[begin:begin + CHUNK], counts)
                    if counts["errors"]:
                        raise _Rollback  # keep none of this chunk, keep the checkpoint
            except _Rollback:
                pass
            if counts["errors"]:
                report["errors"] = counts["errors"]
                report["written"] = begin
                _progress(conn, job["id"], holder, report=report)
                failed = True
            else:
                report["created"] += counts["created"]
                report["updated"] += counts["updated"]
                report["written"] = min(begin + CHUNK, len(rows))
                _progress(conn, job["id"], holder, done=report["written"], report=report)
                failed = False
        if failed:
            _finish(store, job["id"], "failed", report)
            return
    report["committed"] = True
    _finish(store, job["id"], "done", report)
