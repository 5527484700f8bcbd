"""The list page and API: totals summed in SQL over every match, the filter bar, sorting
by column, and export of exactly what is listed."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
from playwright.sync_api import expect

from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import make_user
from tests.test_web import _login

MATERIALS = "/api/v1/apps/receipts/forms/materials/records"


def test_totals_cover_every_match_not_only_the_page(installed, client, admin_headers):
    passive = client.get(f"{MATERIALS}?category=passive&totals=safety_stock,standard_cost"
                         "&limit=1", headers=admin_headers).json
    assert passive["total"] == 2 and len(passive["records"]) == 1
    assert passive["totals"] == {"safety_stock": 8000, "standard_cost": 0.06}
    everything = client.get(f"{MATERIALS}?totals=safety_stock", headers=admin_headers).json
    assert everything["totals"] == {"safety_stock": 10600}
    wrong = client.get(f"{MATERIALS}?totals=name", headers=admin_headers)
    assert wrong.status_code == 422
    assert wrong.json["errors"][0]["field"] == "totals"
    assert "safety_stock" in wrong.json["errors"][0]["message"]


def test_a_clerk_totals_only_the_rows_they_may_read(installed, client, store):
    """Row permissions apply to the sums as to the rows: a clerk reads their own receipts."""
    token = make_user(store, "clerk", roles=[("receipts", "clerk")])
    clerk = {"Authorization": f"Bearer {token}"}
    mine = client.post("/api/v1/apps/receipts/forms/receipts/records", headers=clerk, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-20",
        "lines": [{"material": {"code": "M-001"}, "qty": 3, "price": 2}]})
    assert mine.status_code == 201, mine.json
    listed = client.get("/api/v1/apps/receipts/forms/receipts/records?totals=total",
                        headers=clerk).json
    assert listed["total"] == 1 and listed["totals"] == {"total": 6}


def test_filtering_sorting_and_exporting_from_the_list_page(  # noqa: F811
        installed, live_server, browser, store):  # noqa: F811
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    page = browser.new_context(locale="zh-CN", accept_downloads=True).new_page()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials")
    expect(page.locator("tbody tr")).to_have_count(6)
    expect(page.locator("tr.totals")).to_contain_text("10600")
    page.get_by_text("筛选").click()
    page.get_by_label("类别").select_option("passive")
    page.locator("input[name=safety_stock__gte]").fill("4000")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("M-002")
    expect(page.locator("tr.totals")).to_contain_text("5000")
    # The filters stay in the page's address, so the export lists the same records.
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 XLSX").click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    codes = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert codes == ["M-002"]
    page.get_by_role("link", name="重置").click()
    expect(page.locator("tbody tr")).to_have_count(6)
    page.get_by_role("link", name=re.compile("安全库存")).click()
    expect(page.locator("tbody tr").first).to_contain_text("M-004")  # 100, the smallest
    page.get_by_role("link", name=re.compile("安全库存")).click()
    expect(page.locator("tbody tr").first).to_contain_text("M-002")  # 5000, the largest


def test_a_bad_filter_is_explained_on_the_page(installed, client, store):
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    _login(client, "viewer")
    page = client.get("/apps/receipts/forms/materials?safety_stock__gte=lots")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "safety_stock" in text and "lots" in text and 'role="alert"' in text


def test_saved_views_are_checked_kept_per_user_and_shared(installed, client, store):
    def headers(name, role):
        return {"Authorization": f"Bearer {make_user(store, name, roles=[('receipts', role)])}"}

    wang, li = headers("wang", "viewer"), headers("li", "viewer")
    url = "/api/v1/apps/receipts/forms/materials/views"
    bad = client.post(url, headers=wang, json={"name": "大库存", "query": "safety_stock__gte=x"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "query.safety_stock"
    assert client.post(url, headers=wang, json={"query": "x=1"}).json["errors"][0][
        "field"] == "name"
    mine = client.post(url, headers=wang, json={"name": "大库存",
                                                "query": "?safety_stock__gte=3000&sort=-code"})
    assert mine.status_code == 201, mine.json
    shared = client.post(url, headers=wang, json={"name": "芯片", "query": "category=chip",
                                                  "shared": True})
    assert [v["name"] for v in client.get(url, headers=wang).json["views"]] == ["大库存", "芯片"]
    # Another user sees only the shared one, and cannot delete it.
    [seen] = client.get(url, headers=li).json["views"]
    assert seen == {"id": shared.json["id"], "name": "芯片", "query": "category=chip",
                    "shared": True, "mine": False}
    assert client.delete(f"{url}/{seen['id']}", headers=li).status_code == 403
    assert client.delete(f"{url}/{mine.json['id']}", headers=li).status_code == 404
    # The saved query lists what it says.
    listed = client.get(f"/api/v1/apps/receipts/forms/materials/records?"
                        f"{mine.json['query']}", headers=wang).json
    assert [r["code"] for r in listed["records"]] == ["M-003", "M-002"]
    # Saving under the same name replaces the view.
    client.post(url, headers=wang, json={"name": "大库存", "query": "safety_stock__gte=5000"})
    assert [v["query"] for v in client.get(url, headers=wang).json["views"]] == [
        "safety_stock__gte=5000", "category=chip"]
    assert client.delete(f"{url}/{shared.json['id']}", headers=wang).status_code == 204


def test_saving_and_opening_a_view_in_the_browser(installed, live_server, browser,  # noqa: F811
                                                  store):
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials")
    page.get_by_text("筛选").click()
    page.get_by_label("类别").select_option("mechanical")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("视图名称").fill("结构件")
    page.get_by_role("button", name="保存为视图").click()
    expect(page.get_by_role("link", name="结构件")).to_be_visible()
    page.get_by_role("link", name="全部记录").click()
    expect(page.locator("tbody tr")).to_have_count(6)
    page.get_by_role("link", name="结构件").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_role("button", name="删除 结构件").click()
    expect(page.get_by_role("link", name="结构件")).to_have_count(0)


def test_a_stale_save_shows_their_changes_and_reapplies_mine(  # noqa: F811
        installed, live_server, browser, store, client, admin_headers):  # noqa: F811
    make_user(store, "wang", admin=True)
    make_user(store, "li", admin=True)
    m001 = client.get(f"{MATERIALS}?code=M-001", headers=admin_headers).json["records"][0]
    edit = f"{live_server.url}/apps/receipts/forms/materials/{m001['id']}/edit"
    mine = browser.new_context(locale="zh-CN").new_page()
    login(mine, live_server, "wang")
    mine.goto(edit)
    theirs = browser.new_context(locale="zh-CN").new_page()
    login(theirs, live_server, "li")
    theirs.goto(edit)
    theirs.get_by_label("安全库存").fill("250")
    theirs.get_by_role("button", name="保存").click()
    theirs.wait_for_url(re.compile(r"/materials/\d+$"))

    mine.get_by_label("规格").fill("STM32F407VGT6 LQFP100")
    mine.get_by_role("button", name="保存").click()
    conflict = mine.locator(".conflict")
    expect(conflict).to_contain_text("版本 1 → 2")
    expect(conflict.locator("tr[data-field=safety_stock]")).to_contain_text("250")
    expect(conflict.locator("tr[data-field=safety_stock]")).to_contain_text("(未改)")
    expect(mine.get_by_label("规格")).to_have_value("STM32F407VGT6 LQFP100")  # nothing lost
    mine.get_by_role("button", name="在最新版本上应用我的修改").click()
    expect(mine.get_by_label("安全库存")).to_have_value("250")
    expect(mine.get_by_label("规格")).to_have_value("STM32F407VGT6 LQFP100")
    mine.get_by_role("button", name="保存").click()
    mine.wait_for_url(re.compile(r"/materials/\d+$"))
    saved = client.get(f"{MATERIALS}/{m001['id']}", headers=admin_headers).json
    assert (saved["safety_stock"], saved["spec"], saved["version"]) == (
        250, "STM32F407VGT6 LQFP100", 3)
