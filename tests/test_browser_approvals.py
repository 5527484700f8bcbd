"""Submitting a receipt in the browser and approving it from the inbox."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import browser, live_server, login, screenshot  # noqa: F401
from tests.conftest import make_user


def test_submit_then_approve_from_the_inbox(installed, live_server, browser, store):  # noqa: F811
    make_user(store, "clerk", roles=[("receipts", "clerk")])
    make_user(store, "boss", roles=[("receipts", "supervisor")])
    clerk = browser.new_context(locale="zh-CN").new_page()
    login(clerk, live_server, "clerk")
    clerk.goto(f"{live_server.url}/apps/receipts/forms/receipts/new")
    clerk.get_by_label("供应商").fill("华强")
    clerk.wait_for_timeout(400)
    clerk.get_by_label("供应商").fill("S-001 深圳华强电子")
    clerk.get_by_label("收货日期").fill("2026-11-21")
    line = clerk.locator("tr.line").first
    line.locator("[data-field=scan]").fill("M-001")
    line.locator("[data-field=scan]").press("Enter")
    expect(line.locator("[data-field=name]")).to_have_value("主控芯片")
    line.locator("[data-field=qty]").fill("10")
    clerk.get_by_role("button", name="保存").click()
    clerk.wait_for_url(re.compile(r"/receipts/\d+$"))
    clerk.get_by_role("button", name="提交").click()
    expect(clerk.locator(".status")).to_have_text("审批中")

    boss = browser.new_context(locale="zh-CN").new_page()
    login(boss, live_server, "boss")
    expect(boss.locator("header .badge")).to_have_text("1")
    boss.get_by_role("link", name=re.compile("待办")).click()
    boss.get_by_role("link", name="打开").first.click()
    boss.get_by_label("意见").fill("同意入库")
    screenshot(boss, "approval-record")
    boss.get_by_role("button", name="同意").click()
    expect(boss.locator(".status")).to_have_text("已通过")

    clerk.reload()
    expect(clerk.locator(".status")).to_have_text("已通过")
    expect(clerk.locator(".timeline li").last).to_contain_text("同意入库")
    expect(clerk.locator(".timeline li").last).to_contain_text("boss")
    screenshot(clerk, "approved-record")
