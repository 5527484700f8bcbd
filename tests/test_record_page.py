"""The record page: related records (found through relation fields, also on lines,
within the reader's rows), and an approver's transfer, added signer and comment."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import make_user
from tests.test_approvals import BASE, _receipt, _todo, people  # noqa: F401

MATERIALS = "/api/v1/apps/receipts/forms/materials/records"


def _m001(client, headers):
    return client.get(f"{MATERIALS}?code=M-001", headers=headers).json["records"][0]["id"]


def test_related_records_come_through_lines_and_respect_rows(client, people,  # noqa: F811
                                                              admin_headers):
    m001 = _m001(client, admin_headers)
    mine = [_receipt(client, people["clerk"], 10)["id"] for _ in range(12)]
    related = client.get(f"{MATERIALS}/{m001}/related", headers=admin_headers).json["related"]
    receipts = next(r for r in related if r["form"] == "receipts")
    assert receipts["field"] == "lines.material" and receipts["count"] == 12 + \
        client.get(f"{BASE}?lines.material={m001}&limit=1",
                   headers=admin_headers).json["total"] - 12
    assert [r["id"] for r in receipts["records"]] == sorted(mine, reverse=True)[:10]
    # Another clerk reads only their own receipts: none of these.
    other = {"Authorization": f"Bearer {make_user(client.application.extensions['loom'], 'x', roles=[('receipts', 'clerk')])}"}  # noqa: E501
    seen = client.get(f"{MATERIALS}/{m001}/related", headers=other).json["related"]
    assert all(r["form"] != "receipts" for r in seen)


def test_an_approver_comments_then_transfers_from_the_record_page(  # noqa: F811
        client, people, live_server, browser):  # noqa: F811
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/apps/receipts/forms/receipts/{record['id']}")
    page.get_by_label("意见").fill("价格偏高, 请财务复核")
    page.get_by_role("button", name="评论").click()
    expect(page.locator(".timeline")).to_contain_text("价格偏高")
    page.get_by_text("转交 / 加签").click()
    page.get_by_label("人员").select_option(label="cfo")
    page.get_by_role("button", name="转交", exact=True).click()
    expect(page.locator(".timeline")).to_contain_text("转交")
    expect(page.get_by_role("button", name="同意")).to_have_count(0)  # no longer mine
    assert _todo(client, people["boss"]) == []
    [task] = _todo(client, people["cfo"])
    assert task["record_id"] == record["id"]
    make_user(client.application.extensions["loom"], "root", admin=True)
    admin = browser.new_context(locale="zh-CN").new_page()
    login(admin, live_server, "root")
    admin.goto(f"{live_server.url}/apps/receipts/forms/materials/{_m001(client, people['cfo'])}")
    related = admin.locator("section.related")
    expect(related).to_contain_text("收货单")
    related.get_by_role("link", name=re.compile("^RK-")).first.click()
    expect(admin).to_have_url(re.compile(rf"/receipts/{record['id']}$"))


def test_the_bell_counts_unread_notifications_and_opens_their_record(  # noqa: F811
        client, people, store, live_server, browser):  # noqa: F811
    from sqlalchemy import insert, select

    from runtime.auth.users import find_user
    from runtime.storage import platform

    record = _receipt(client, people["clerk"], 10)
    with store.write() as conn:
        boss = find_user(conn, "boss")["id"]
        conn.execute(insert(platform.notifications), [
            {"user_id": boss, "app": "receipts", "rule": "低库存预警", "title": "低库存: M-001",
             "body": "当前 20, 安全库存 200", "form": "receipts", "record_id": record["id"]},
            {"user_id": boss, "app": "receipts", "rule": None, "title": "月报已生成",
             "body": None, "form": None, "record_id": None}])
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "boss")
    bell = page.get_by_role("link", name="通知")
    expect(bell.locator(".badge")).to_have_text("2")
    bell.click()
    expect(page.locator(".notes li.unread")).to_have_count(2)
    page.get_by_role("button", name="低库存: M-001").click()
    expect(page).to_have_url(re.compile(rf"/receipts/{record['id']}$"))
    expect(page.get_by_role("link", name="通知").locator(".badge")).to_have_text("1")
    page.get_by_role("link", name="通知").click()
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.locator(".notes li.unread")).to_have_count(0)
    expect(page.get_by_role("link", name="通知").locator(".badge")).to_have_count(0)
    with store.read() as conn:
        unread = conn.execute(select(platform.notifications.c.id).where(
            platform.notifications.c.read_at.is_(None))).all()
    assert unread == []


def test_acting_from_the_inbox_row_with_a_form_filter(  # noqa: F811
        client, people, live_server, browser):  # noqa: F811
    first = _receipt(client, people["clerk"], 10)
    second = _receipt(client, people["clerk"], 12)
    for record in (first, second):
        client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/tasks")
    page.get_by_label("表单").select_option(label="收货单")
    page.get_by_role("button", name="查询").click()
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(2)
    number = page.locator("td:nth-child(2)", has_text=re.compile(rf"^{first['id']}$"))
    rows.filter(has=number).get_by_role("button", name="同意").click()
    expect(rows).to_have_count(1)
    status = client.get(f"{BASE}/{first['id']}", headers=people["clerk"]).json["approval"]
    assert status == "approved"
    none = client.get("/api/v1/tasks?app=receipts&form=issues", headers=people["boss"]).json
    assert none["tasks"] == []


def test_page_posts_without_the_token_are_refused(client, people, store):  # noqa: F811
    from tests.test_web import _login

    _login(client, "boss")
    for path in ("/notifications/read-all", "/notifications/1/open", "/logout"):
        response = client.post(path, data={})
        assert response.status_code == 400, path
        assert "reload the page" in response.get_data(as_text=True)
