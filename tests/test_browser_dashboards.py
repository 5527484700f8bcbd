"""The receiving dashboard in the browser: charts drawn by plotly.js, a global filter,
a click on a bar listing the records behind it, export links."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
from playwright.sync_api import expect

from tests.browser import browser, live_server, login, screenshot  # noqa: F401
from tests.conftest import make_user


def test_dashboard_charts_filter_and_drill_down(installed, live_server, browser, store):  # noqa: F811
    make_user(store, "boss", admin=True)
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, live_server, "boss")
    page.get_by_role("link", name=re.compile("收货看板")).click()
    expect(page.get_by_role("heading", name="收货看板")).to_be_visible()
    by_month = page.locator(".widget[data-report=receipts_by_month]")
    expect(by_month.locator(".chart[data-rendered=true]")).to_be_visible()
    # plotly.js drew one bar per supplier of the month, with the suppliers in the legend.
    expect(by_month.locator("g.point path")).to_have_count(2)
    # (a stacked bar's legend lists the top segment first)
    expect(by_month.locator(".legendtext")).to_have_text(["苏州精密五金", "深圳华强电子"])
    metric = page.locator(".widget[data-report=received_amount]")
    expect(metric.locator(".chart[data-rendered=true]")).to_be_visible()
    expect(metric.locator("text.number")).to_contain_text("13")
    screenshot(page, "dashboard")

    # Click where the bar is drawn, as a user does (plotly's drag layer lies on top).
    bar = by_month.locator("g.point path").nth(1).bounding_box()  # 苏州精密五金, 2026-11
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    drill = page.locator("#drill")
    expect(drill).to_be_visible()
    expect(drill.locator("[data-title]")).to_contain_text("苏州精密五金")
    expect(drill.locator(".drill-count")).to_have_text("2 条记录")  # two lines of one receipt
    link = drill.locator(".drill-records a")
    expect(link).to_have_count(1)
    xlsx = by_month.locator("[data-export=xlsx]")
    expect(xlsx).to_have_attribute("href", re.compile(r"/reports/receipts_by_month/export\.xlsx\?"))
    # The export holds the numbers the chart shows: the same rows as the report itself.
    with page.expect_download() as download:
        xlsx.click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    exported = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)
                if row[0] != "合计"]
    shown = page.request.get(f"{live_server.url}/api/v1/apps/receipts/reports/"
                             "receipts_by_month").json()
    assert exported == shown["rows"]

    # A global filter reaches every widget that takes it.
    page.get_by_label("供应商").select_option(label="S-001 深圳华强电子")
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(r"supplier=\d+"))
    expect(by_month.locator("g.point path")).to_have_count(1)
    expect(page.locator(".widget[data-report=amount_by_supplier] .slice")).to_have_count(1)

    link_target = page.locator("#drill .drill-records a").get_attribute("href")
    page.goto(f"{live_server.url}{link_target}")
    expect(page.locator("dl.values")).to_contain_text("2026-11-09")
    assert errors == []
