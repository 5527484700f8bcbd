"""After commit: the outbox sender delivers e-mail to a local SMTP server and webhooks
to a local HTTP server (signed, retried with back-off, every attempt logged); a crash
between commit and send loses nothing; a schedule fires once across two schedulers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from runtime.auth.actors import SYSTEM
from runtime.auth.users import add_user, grant_role
from runtime.notify.outbox import _claim, send_due
from runtime.scheduler import close_stores, rule_job_id, start_scheduler, stop_scheduler
from runtime.services import clock
from runtime.services.records import create_record
from runtime.storage import platform
from tests.test_rule_runtime import _with_rules

SECRET = "hook-secret-1"


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks its server by connecting: no port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, f"smtp://127.0.0.1:{port}?from=loom@plant.example"
    finally:
        controller.stop()


class Receiver(BaseHTTPRequestHandler):
    """Answers 500 to the first ``fail`` requests, then 200 (or the robot's JSON)."""

    def do_POST(self):  # noqa: N802
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.received.append((self.path, dict(self.headers), body))
        failing = len(server.received) <= server.fail
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received, server.fail = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _buyers(store):
    with store.write() as conn:
        for name in ("buyer", "buyer2"):
            uid = add_user(conn, name, "password123", email=f"{name}@plant.example")
            grant_role(conn, uid, "receipts", "purchasing")


def _material(store) -> int:
    with store.read() as conn:
        ft = store.app(conn, "receipts").form("materials")
        return conn.execute(select(ft.table.c.id).order_by(ft.table.c.id)).scalars().first()


def _outbox(store):
    with store.read() as conn:
        return conn.execute(select(platform.outbox).order_by(platform.outbox.c.id)) \
            .mappings().all()


def test_monthly_schedule_fires_once_across_two_schedulers_and_emails(installed,
                                                                      database_url, smtp,
                                                                      monkeypatch):
    store = installed
    box, smtp_url = smtp
    _buyers(store)
    _with_rules(store, {"monthly": '''
rule "月度补货提醒"
every "0 8 1 * *"
then notify role "purchasing" by email, inapp
       title "月度补货提醒 <{COUNT_RECORDS('purchase_requests', 'status', 'open')} 条>"
       body "请处理待办采购申请"
'''})
    first, second = start_scheduler(database_url, paused=True), start_scheduler(database_url,
                                                                               paused=True)
    try:
        job_id = rule_job_id("receipts", "月度补货提醒")
        with store.read() as conn:
            stored = [job for job in conn.execute(select(_jobs_table(conn).c.id)).scalars()
                      if job.startswith("rule:")]
        assert stored == [job_id]  # one job in the shared store, not one per process
        job_a, job_b = first.get_job(job_id), second.get_job(job_id)
        assert str(job_a.trigger) == str(job_b.trigger)
        monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 12, 1, 8, 0, 1))
        assert job_a.func(*job_a.args) == "ran"
        monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 12, 1, 8, 0, 2))
        assert job_b.func(*job_b.args) == "taken"  # the other process's run of the same firing
        [entry] = _outbox(store)
        assert entry["channel"] == "email" and entry["status"] == "pending"
        assert box.messages == []  # nothing is sent inside the transaction
        assert send_due(store, smtp_url=smtp_url) == {"sent": 1, "retry": 0, "failed": 0}
        [(to, raw)] = box.messages
        assert sorted(to) == ["buyer2@plant.example", "buyer@plant.example"]
        mail = message_from_bytes(raw, policy=policy.default)
        assert mail["Subject"] == "月度补货提醒 <0 条>"
        html = mail.get_body(("html",)).get_content()
        assert "月度补货提醒 &lt;0 条&gt;" in html  # the sandboxed template escapes values
        assert "请处理待办采购申请" in mail.get_body(("plain",)).get_content()
        assert send_due(store, smtp_url=smtp_url)["sent"] == 0  # sent once only
        monkeypatch.setattr(clock, "now", lambda: dt.datetime(2027, 1, 1, 8, 0, 0))
        assert job_b.func(*job_b.args) == "ran"  # next month: a new firing
        with store.read() as conn:
            runs = conn.execute(select(platform.rule_runs.c.outcome)).scalars().all()
        assert runs == ["ran", "ran"]
    finally:
        stop_scheduler(first)
        stop_scheduler(second)
        close_stores()


def _jobs_table(conn):
    from sqlalchemy import MetaData, Table

    return Table("loom_jobs", MetaData(), autoload_with=conn)


def test_webhook_is_signed_retried_with_backoff_and_logged(installed, http_server, client,
                                                         admin_headers):
    store = installed
    http_server.fail = 2
    url = f"http://127.0.0.1:{http_server.server_address[1]}/erp"
    _with_rules(store, {"erp": f'''
rule "通知 ERP"
when purchase_requests created
then call webhook "{url}" payload {{no: request_no, qty: qty, material: material.code}}
'''}, app={"webhooks": {"secret": SECRET}})
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 12})
    assert http_server.received == []  # queued, not sent yet
    start = platform.utcnow()
    assert send_due(store, start)["retry"] == 1
    assert send_due(store, start + dt.timedelta(seconds=30))["retry"] == 0  # not due yet
    assert send_due(store, start + dt.timedelta(seconds=61))["retry"] == 1
    assert send_due(store, start + dt.timedelta(seconds=61 + 299))["sent"] == 0  # 5 minutes
    assert send_due(store, start + dt.timedelta(seconds=61 + 301))["sent"] == 1
    assert len(http_server.received) == 3
    path, headers, body = http_server.received[-1]
    assert path == "/erp"
    payload = json.loads(body)
    assert payload["qty"] == 12 and payload["material"] == "M-001"
    assert payload["no"].startswith("PR-")
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Loom-Signature"] == expected
    assert {h["X-Loom-Delivery"] for _, h, _ in http_server.received} == {
        headers["X-Loom-Delivery"]}  # one id for every attempt: receivers drop repeats
    log = client.get("/api/v1/apps/receipts/outbox", headers=admin_headers).json["outbox"]
    [entry] = log
    assert entry["status"] == "sent" and entry["attempts"] == 3
    assert [(d["ok"], d["status_code"]) for d in entry["deliveries"]] == [
        (False, 500), (False, 500), (True, 200)]


def test_a_webhook_that_keeps_failing_is_marked_failed(installed, http_server):
    store = installed
    http_server.fail = 100
    url = f"http://127.0.0.1:{http_server.server_address[1]}/down"
    _with_rules(store, {"erp": f'rule "r"\nwhen purchase_requests created\n'
                               f'then call webhook "{url}"'})
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 1})
    now = platform.utcnow()
    outcomes = []
    for _ in range(6):
        counts = send_due(store, now)
        outcomes.append(next(k for k, v in counts.items() if v))
        now += dt.timedelta(days=1)
    assert outcomes == ["retry"] * 5 + ["failed"]
    [entry] = _outbox(store)
    assert entry["status"] == "failed" and entry["attempts"] == 6
    assert "HTTP 500" in entry["last_error"]
    assert json.loads(http_server.received[0][2])["qty"] == 1  # no payload: the record


def test_a_crash_between_commit_and_send_still_delivers(installed, http_server,
                                                        database_url):
    store = installed
    url = f"http://127.0.0.1:{http_server.server_address[1]}/x"
    _with_rules(store, {"erp": f'rule "r"\nwhen purchase_requests created\n'
                               f'then call webhook "{url}" payload {{qty: qty}}'})
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 3})
    now = platform.utcnow()
    assert len(_claim(store, now)) == 1  # a sender took it ... and its process died
    store.dispose()
    from runtime.storage.store import Store

    restarted = Store(database_url)
    try:
        assert send_due(restarted, now + dt.timedelta(seconds=10))["sent"] == 0  # still claimed
        assert send_due(restarted, now + dt.timedelta(minutes=6))["sent"] == 1
        assert [json.loads(b) for _, _, b in http_server.received] == [{"qty": 3}]
    finally:
        restarted.dispose()


def test_dingtalk_and_wecom_robot_formats(installed, http_server):
    store = installed
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    _buyers(store)
    _with_rules(store, {"bots": '''
rule "机器人"
when purchase_requests created
then notify role "purchasing" by dingtalk, wecom, webhook title "新申请 {qty}" body "请处理"
'''}, app={"notify": {"dingtalk": {"url": f"{base}/robot/send?access_token=t",
                                   "secret": "SECabc"},
                      "wecom": {"url": f"{base}/cgi-bin/webhook/send?key=k"},
                      "webhook": {"url": f"{base}/generic", "secret": SECRET}}})
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 8})
    assert send_due(store)["sent"] == 3
    by_path = {urlsplit(p).path: (p, h, json.loads(b)) for p, h, b in http_server.received}
    path, _, ding = by_path["/robot/send"]
    assert ding == {"msgtype": "markdown",
                    "markdown": {"title": "新申请 8", "text": "#### 新申请 8\n\n请处理"}}
    query = parse_qs(urlsplit(path).query)
    assert query["access_token"] == ["t"]
    import base64

    string = f"{query['timestamp'][0]}\nSECabc".encode()
    sign = base64.b64encode(hmac.new(b"SECabc", string, hashlib.sha256).digest()).decode()
    assert query["sign"] == [sign]
    assert by_path["/cgi-bin/webhook/send"][2] == {
        "msgtype": "markdown", "markdown": {"content": "#### 新申请 8\n\n请处理"}}
    _, headers, generic = by_path["/generic"]
    assert generic["title"] == "新申请 8" and generic["recipients"] == ["buyer", "buyer2"]
    assert generic["rule"] == "机器人" and generic["form"] == "purchase_requests"
    raw = next(b for p, _, b in http_server.received if p == "/generic")
    assert headers["X-Loom-Signature"] == "sha256=" + hmac.new(
        SECRET.encode(), raw, hashlib.sha256).hexdigest()


def test_without_a_mail_server_email_waits_in_the_outbox(installed, monkeypatch):
    store = installed
    monkeypatch.delenv("LOOM_SMTP_URL", raising=False)
    _buyers(store)
    _with_rules(store, {"mail": 'rule "r"\nwhen purchase_requests created\n'
                                'then notify role "purchasing" by email title "x"'})
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 1})
    assert send_due(store)["retry"] == 1
    [entry] = _outbox(store)
    assert "LOOM_SMTP_URL" in entry["last_error"] and entry["status"] == "pending"


def test_a_commit_that_queued_wakes_the_sender_and_nothing_else_does(installed, http_server,
                                                                     database_url):
    from runtime.scheduler import wake_sender
    from runtime.services.errors import Invalid

    store = installed
    url = f"http://127.0.0.1:{http_server.server_address[1]}/x"
    _with_rules(store, {"erp": f'rule "r"\nwhen purchase_requests created\n'
                               f'then call webhook "{url}"\n     set qty = qty - 20'})
    woken = []
    store.after_commit.append(lambda: woken.append("wake"))
    create_record(store, SYSTEM, "receipts", "purchase_requests",
                  {"material": _material(store), "qty": 25})
    assert woken == ["wake"]
    create_record(store, SYSTEM, "receipts", "suppliers", {"code": "S-9", "name": "x"})
    assert woken == ["wake"]  # nothing was queued
    with pytest.raises(Invalid):  # queued the call, then set qty below its minimum 0
        create_record(store, SYSTEM, "receipts", "purchase_requests",
                      {"material": _material(store), "qty": 5})
    assert woken == ["wake"]  # rolled back: no wake, and nothing left to send
    assert len(_outbox(store)) == 1
    scheduler = start_scheduler(database_url, paused=True)
    try:
        wake_sender(scheduler, database_url)()
        job = scheduler.get_job("deliver_outbox_now")
        assert job.func.__name__ == "deliver_outbox" and job.args == (database_url,)
    finally:
        stop_scheduler(scheduler)
        close_stores()


def test_the_monthly_report_is_mailed_as_each_recipient_may_read_it(
        installed, database_url, smtp, client, admin_headers, monkeypatch):
    """On the 1st of the month (a clock the test controls), `report ... by email`: a
    table in the message and an .xlsx with every row, run with the recipient's own
    permissions — a buyer who cannot read receipts gets nothing."""
    import io

    import openpyxl

    store = installed
    box, smtp_url = smtp
    _buyers(store)
    with store.write() as conn:
        uid = add_user(conn, "cfo", "password123", email="cfo@plant.example")
        grant_role(conn, uid, "receipts", "finance_director")
    receipt = client.post("/api/v1/apps/receipts/forms/receipts/records", headers=admin_headers,
                          json={"supplier": {"code": "S-001"}, "received_on": "2026-11-20",
                                "status": "received", "lines": [
                                    {"material": {"code": "M-001"}, "qty": 10, "price": 3}]})
    assert receipt.status_code == 201, receipt.json
    _with_rules(store, {"report": '''
rule "供应商金额月报"
every "0 8 1 * *"
then report amount_by_supplier to role "finance_director", role "purchasing" by email
'''})
    scheduler = start_scheduler(database_url, paused=True)
    try:
        job = scheduler.get_job(rule_job_id("receipts", "供应商金额月报"))
        monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 12, 1, 8, 0, 1))
        assert job.func(*job.args) == "ran"
    finally:
        stop_scheduler(scheduler)
        close_stores()
    assert [e["target"] for e in _outbox(store)] == ["cfo@plant.example"]  # no buyer
    assert send_due(store, smtp_url=smtp_url)["sent"] == 1
    [(to, raw)] = box.messages
    assert to == ["cfo@plant.example"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "各供应商收货金额"
    html = mail.get_body(("html",)).get_content()
    assert "深圳华强电子" in html
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "amount_by_supplier.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_content())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("供应商", "金额")
    api = client.get("/api/v1/apps/receipts/reports/amount_by_supplier",
                     headers=admin_headers).json  # the cfo reads every receipt too
    assert [list(r) for r in rows[1:] if r[0] != "合计"] == [list(r) for r in api["rows"]]
    assert any(r[0] == "深圳华强电子" and r[1] >= 30 for r in rows[1:])  # the new receipt
