"""A warehouse clerk fills the receipt form in real Chromium: scan, fill, compute, fix an
error, save, and see the record with its history."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser import browser, live_server, login, screenshot  # noqa: F401
from tests.conftest import make_user


def test_receipt_form_scan_fill_compute_validate_save(installed, live_server, browser, store):  # noqa: F811
    make_user(store, "clerk", roles=[("receipts", "clerk")])
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    login(page, live_server, "clerk")
    page.goto(f"{live_server.url}/apps/receipts/forms/receipts")
    page.get_by_role("link", name="＋ 新建").click()
    expect(page.get_by_role("heading", name=re.compile("收货单"))).to_be_visible()

    supplier = page.get_by_label("供应商")
    supplier.fill("深圳")
    page.wait_for_timeout(400)  # the search answers with the matching suppliers
    supplier.fill("S-001 深圳华强电子")
    page.get_by_label("收货日期").fill("2026-11-21")

    line = page.locator("[data-subtable=lines] tr.line").first
    scan = line.locator("[data-field=scan]")
    scan.fill("M-004")
    scan.press("Enter")  # what a keyboard-wedge scanner sends
    expect(line.locator("[data-field=name]")).to_have_value("铝合金外壳")
    expect(line.locator("[data-field=spec]")).to_have_value("120x80x25mm 阳极氧化")
    expect(line.locator("[data-field=material]")).to_have_value(re.compile("M-004"))

    qty = line.locator("[data-field=qty]")
    qty.fill("3")
    expect(line.locator("output[data-field=amount]")).to_have_text("36")
    expect(page.locator("output[data-field=total]")).to_have_text("36")
    qty.fill("-1")
    expect(line.locator(".msg").filter(has_text="at least 0")).to_be_visible()
    screenshot(page, "receipt-form-error")

    qty.fill("2")
    expect(line.locator("output[data-field=amount]")).to_have_text("24")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/apps/receipts/forms/receipts/\d+$"))
    expect(page.locator("dd[data-field=receipt_no]")).to_have_text("RK-20261121-0001")
    expect(page.locator("dd[data-field=total]")).to_have_text("24.00")
    expect(page.locator("[data-subtable=lines] tbody tr")).to_have_count(1)
    expect(page.locator(".history li").first).to_contain_text("clerk")
    screenshot(page, "receipt-record")


def test_form_works_at_phone_width(installed, live_server, browser, store):  # noqa: F811
    make_user(store, "clerk", roles=[("receipts", "clerk")])
    page = browser.new_page(viewport={"width": 360, "height": 740}, locale="zh-CN")
    login(page, live_server, "clerk")
    page.goto(f"{live_server.url}/apps/receipts/forms/receipts/new")
    scan = page.locator("[data-subtable=lines] tr.line [data-field=scan]").first
    scan.fill("M-001")
    scan.press("Enter")
    expect(page.locator("tr.line [data-field=name]").first).to_have_value("主控芯片")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360 + 1, f"the page scrolls sideways at phone width ({width}px)"
    screenshot(page, "receipt-form-phone")


FAKE_CAMERA = """
window.BarcodeDetector = class {
  async detect(source) { return source.srcObject ? [{rawValue: "M-001", format: "code_128"}] : []; }
};
navigator.mediaDevices.getUserMedia = async () => {
  const canvas = document.createElement("canvas");
  canvas.getContext("2d").fillRect(0, 0, 10, 10);
  return canvas.captureStream();
};
"""


def test_a_phone_camera_scan_fills_the_line(installed, live_server, browser, store):  # noqa: F811
    """Where the browser reads barcodes (BarcodeDetector), the camera button scans into
    the field and the line fills as from a scanner. Headless Chromium on Linux has no
    BarcodeDetector: the page is given a stand-in that reads one code from the camera
    stream, so what is tested is Loom's side of it."""
    make_user(store, "clerk", roles=[("receipts", "clerk")])
    plain = browser.new_context(locale="zh-CN").new_page()
    login(plain, live_server, "clerk")
    plain.goto(f"{live_server.url}/apps/receipts/forms/receipts/new")
    expect(plain.locator("button.camera")).to_have_count(0)  # no API, no button
    context = browser.new_context(locale="zh-CN")
    context.add_init_script(FAKE_CAMERA)
    page = context.new_page()
    login(page, live_server, "clerk")
    page.goto(f"{live_server.url}/apps/receipts/forms/receipts/new")
    line = page.locator("tr.line").first
    line.get_by_role("button", name="用摄像头扫码").click()
    expect(line.locator("[data-field=scan]")).to_have_value("M-001")
    expect(line.locator("[data-field=name]")).to_have_value("主控芯片")
    expect(page.locator("dialog.camera-scan")).to_have_count(0)
