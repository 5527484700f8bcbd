"""Importing a spreadsheet in the browser: the preview names the bad row and column,
nothing is written until the file is fixed, then every row arrives."""

from __future__ import annotations

import io

import openpyxl
from playwright.sync_api import expect

from tests.browser import browser, live_server, login, screenshot  # noqa: F401
from tests.conftest import make_user


def _xlsx(path, rows):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_import_preview_fix_and_import(installed, live_server, browser, store, tmp_path,  # noqa: F811
                                       client, admin_headers):
    make_user(store, "boss", roles=[("receipts", "supervisor")])
    header = ["物料编码", "物料名称", "单位", "安全库存"]
    bad = tmp_path / "bad.xlsx"
    _xlsx(bad, [header, ["P-1", "一", "个", 1], ["P-2", "二", "个", 2], ["P-3", "三", "个", "三"],
                ["P-4", "四", "个", 4]])
    good = tmp_path / "good.xlsx"
    _xlsx(good, [header, ["P-1", "一", "个", 1], ["P-2", "二", "个", 2], ["P-3", "三", "个", 3],
                 ["P-4", "四", "个", 4]])
    page = browser.new_page(locale="zh-CN")
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials")
    page.get_by_role("link", name="导入").click()

    page.get_by_label("文件").set_input_files(str(bad))
    page.get_by_role("button", name="预览").click()
    row = page.locator("table.errors tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("4")
    expect(row.first).to_contain_text("安全库存")
    expect(row.first).to_contain_text("'三' is not a number")
    expect(page.get_by_role("button", name="导入")).to_be_disabled()
    screenshot(page, "import-preview")
    count = lambda: client.get("/api/v1/apps/receipts/forms/materials/records?code__startswith=P-",  # noqa: E731
                               headers=admin_headers).json["total"]
    assert count() == 0

    page.get_by_label("文件").set_input_files(str(good))
    page.get_by_role("button", name="预览").click()
    expect(page.locator(".summary")).to_contain_text("全部通过检查")
    page.get_by_role("button", name="导入").click()
    expect(page.locator(".summary")).to_contain_text("导入完成")
    assert count() == 4

    download = page.expect_download
    page.goto(f"{live_server.url}/apps/receipts/forms/materials")
    with download() as info:
        page.get_by_role("link", name="导出 XLSX").click()
    with open(info.value.path(), "rb") as file:
        sheet = openpyxl.load_workbook(io.BytesIO(file.read())).active
    codes = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert {"P-1", "P-2", "P-3", "P-4"} <= set(codes)
