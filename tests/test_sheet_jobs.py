"""Spreadsheet imports and exports as background jobs: checked before anything is
written, written in chunks with a checkpoint, continued after a crash without writing
twice, exports downloaded when ready, jobs private to who started them."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from runtime.services import sheet_jobs
from runtime.services.query import Filter
from runtime.storage import platform
from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import make_user

BASE = "/api/v1/apps/receipts/forms/materials"


def _csv(rows) -> bytes:
    lines = ["物料编码,物料名称,安全库存"] + [",".join(map(str, r)) for r in rows]
    return "\n".join(lines).encode()


def _parts(n, start=0, stock=lambda i: i % 500):
    return [(f"P-{i:05d}", f"零件{i}", stock(i)) for i in range(start, start + n)]


def _wait(client, headers, job_id, limit=120):
    """Poll the job until it ends (a wait for the worker thread, not a timing check)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json
        if job["status"] in ("done", "failed"):
            for worker in threading.enumerate():  # let it finish looking for more work
                if worker.name == "loom-sheet-jobs":
                    worker.join(10)
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end: {job}")


def _count(store, prefix="P-"):
    with store.read() as conn:
        ft = store.app(conn, "receipts").form("materials")
        return conn.execute(select(func.count()).select_from(ft.table)
                            .where(ft.columns["code"].like(f"{prefix}%"))).scalar()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(sheet_jobs, "CHUNK", 200)


def _start(client, headers, data, name="parts.csv", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(f"{BASE}/imports?{query}", headers=headers,
                           data={"file": (io.BytesIO(data), name)})
    assert response.status_code == 202, response.json
    return response.json


def test_a_background_import_checks_then_writes_and_upserts(installed, client, admin_headers,
                                                            store, small_chunks):
    data = _csv(_parts(1100))
    preview = _wait(client, admin_headers, _start(client, admin_headers, data,
                                                  dry_run=1)["id"])
    assert (preview["status"], preview["report"]["created"]) == ("done", 1100)
    assert _count(store) == 0  # a preview keeps nothing
    job = _wait(client, admin_headers, _start(client, admin_headers, data, key="code")["id"])
    assert job["status"] == "done", job
    assert (job["done"], job["total"], job["report"]["created"]) == (1100, 1100, 1100)
    assert _count(store) == 1100
    again = _wait(client, admin_headers, _start(client, admin_headers, data, key="code")["id"])
    assert (again["report"]["created"], again["report"]["updated"]) == (0, 1100)
    assert _count(store) == 1100  # the same file twice makes no duplicates


def test_problems_anywhere_in_the_file_stop_it_before_anything_is_written(
        installed, client, admin_headers, store, small_chunks):
    rows = _parts(900)
    rows[1] = ("P-00001", "", 5)           # sheet row 3: no name
    rows[850] = ("P-00850", "零件", "很多")  # sheet row 852: not a number
    job = _wait(client, admin_headers, _start(client, admin_headers, _csv(rows))["id"])
    assert job["status"] == "failed" and job["phase"] == "check"
    assert [(e["row"], e["column"]) for e in job["report"]["errors"]] == [
        (3, "物料名称"), (852, "安全库存")]
    assert _count(store) == 0


def test_an_import_interrupted_mid_write_continues_from_its_checkpoint(
        installed, store, monkeypatch, small_chunks):
    """The process dies after two written chunks; another worker takes the job over
    when the lease runs out and writes the rest, nothing twice."""
    monkeypatch.setattr(sheet_jobs, "start_worker", lambda store: None)
    job = sheet_jobs.start_import(store, _admin(store), "receipts", "materials",
                                  _csv(_parts(1000)), "parts.csv")

    class Crash(BaseException):
        pass

    real_progress, written = sheet_jobs._progress, []

    def dying_progress(conn, job_id, holder, **values):
        real_progress(conn, job_id, holder, **values)
        if values.get("phase") is None and "written" in (values.get("report") or {}):
            written.append(values["done"])
            if len(written) == 2:
                raise Crash
    monkeypatch.setattr(sheet_jobs, "_progress", dying_progress)
    with pytest.raises(Crash):
        sheet_jobs.run_jobs(store, holder="first")
    assert _count(store) == 200  # the second chunk died with its transaction
    monkeypatch.setattr(sheet_jobs, "_progress", real_progress)
    assert sheet_jobs.run_jobs(store, holder="second") == 0  # the lease is still held
    later = platform.utcnow() + dt.timedelta(minutes=5)
    assert sheet_jobs.run_jobs(store, holder="second", now=later) == 1
    with store.read() as conn:
        row = conn.execute(select(platform.sheet_jobs).where(
            platform.sheet_jobs.c.id == job["id"])).mappings().one()
    assert (row["status"], row["report"]["created"], row["done"]) == ("done", 1000, 1000)
    assert _count(store) == 1000


def _admin(store):
    make_user(store, "root", admin=True)
    with store.read() as conn:
        from runtime.auth.actors import load_actor
        from runtime.auth.users import find_user
        return load_actor(conn, find_user(conn, "root")["id"])


def test_a_background_export_is_downloaded_when_ready(installed, client, admin_headers):
    response = client.post(f"{BASE}/exports?category=passive&sort=code&format=xlsx",
                           headers=admin_headers)
    assert response.status_code == 202, response.json
    job = _wait(client, admin_headers, response.json["id"])
    assert (job["status"], job["total"]) == ("done", 2)
    download = client.get(f"/api/v1/jobs/{job['id']}/file", headers=admin_headers)
    assert download.status_code == 200
    data = download.data
    download.close()  # send_file streams the file: let go of it
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["M-002", "M-003"]
    bad = client.post(f"{BASE}/exports?safety_stock__gte=x", headers=admin_headers)
    assert bad.status_code == 422


def test_jobs_are_private_and_need_permission(installed, client, admin_headers, store):
    viewer = {"Authorization": f"Bearer {make_user(store, 'v', roles=[('receipts', 'viewer')])}"}
    refused = client.post(f"{BASE}/imports", headers=viewer,
                          data={"file": (io.BytesIO(_csv(_parts(1))), "p.csv")})
    assert refused.status_code == 403
    job = _start(client, admin_headers, _csv(_parts(3)))
    _wait(client, admin_headers, job["id"])
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=viewer).status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}/file", headers=admin_headers).status_code == 422
    wrong = client.post(f"{BASE}/imports", headers=admin_headers,
                        data={"file": (io.BytesIO(b"x"), "p.txt")})
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "file"


def test_a_large_list_is_exported_in_the_background_from_the_page(  # noqa: F811
        installed, live_server, browser, store, monkeypatch):  # noqa: F811
    from runtime.web import pages_lists

    monkeypatch.setattr(pages_lists, "DIRECT_EXPORT", 1)  # the demo lists are small
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    page = browser.new_context(locale="zh-CN", accept_downloads=True).new_page()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials?category=mechanical")
    page.get_by_role("button", name="后台导出 XLSX").click()
    expect(page.get_by_role("status")).to_contain_text("导出文件已生成")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载").click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    assert sorted(r[0] for r in sheet.iter_rows(min_row=2, values_only=True)) == [
        "M-004", "M-005"]


def test_the_export_job_lists_what_the_filters_say(installed, store, monkeypatch):
    """The job runs the list's own query: filters, search and sort as given."""
    monkeypatch.setattr(sheet_jobs, "start_worker", lambda store: None)
    admin = _admin(store)
    job = sheet_jobs.start_export(store, admin, "receipts", "materials", fmt="csv",
                                  filters=[Filter("safety_stock", "gte", "3000")],
                                  sort="-safety_stock")
    assert sheet_jobs.run_jobs(store) == 1
    path, name = sheet_jobs.export_file(store, admin, job["id"])
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert name == "receipts-materials.csv"
    assert [line.split(",")[0] for line in lines[1:]] == ["M-002", "M-003"]
