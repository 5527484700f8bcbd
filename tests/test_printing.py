"""Printing records: the app's templates and the standard layout, in Jinja2's sandbox,
with barcodes and QR codes, within the reader's permissions; templates checked by
`loom check` and kept in bundles."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engines.printing import PrintError, parse_print, render_print
from engines.schema.bundle import check_sources, read_app_folder
from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import EXAMPLE, make_user
from tests.test_approvals import BASE, _receipt, people  # noqa: F401

HEADER = '{# loom: {"form": "receipts"} #}\n'


def test_the_receipt_slip_prints_values_lines_and_codes(client, people):  # noqa: F811
    record = _receipt(client, people["clerk"], 18)
    page = client.get(f"{BASE}/{record['id']}/print", headers=people["clerk"])
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "入库单 / Goods receipt" in html
    assert record["receipt_no"] in html
    assert "S-001 深圳华强电子" in html          # the supplier by its title, not its id
    assert "18,000.00" in html                   # money as money: 1,000 x 18
    assert html.count("<svg") == 1               # the receipt number's barcode; no lot here
    assert "<script" not in html


def test_the_standard_layout_when_a_form_has_no_template(client, people, admin_headers):  # noqa: F811
    supplier = client.get("/api/v1/apps/receipts/forms/suppliers/records?code=S-001",
                          headers=admin_headers).json["records"][0]
    html = client.get(f"/api/v1/apps/receipts/forms/suppliers/records/{supplier['id']}/print",
                      headers=admin_headers).get_data(as_text=True)
    assert "深圳华强电子" in html and html.count("<svg") == 1  # S-001 as a barcode
    assert client.get("/api/v1/apps/receipts/forms/receipts/prints",
                      headers=admin_headers).json == {"prints": [
                          {"key": "receipt_slip", "label": "入库单", "paper": "A4"}]}
    missing = client.get(f"{BASE}/1/print?template=nope", headers=admin_headers)
    assert missing.status_code == 404 and "receipt_slip" in missing.json["errors"][0]["message"]


def test_printing_needs_read_permission_on_the_record(client, people, store):  # noqa: F811
    record = _receipt(client, people["clerk"], 10)
    other = {"Authorization": f"Bearer {make_user(store, 'zhao', roles=[('receipts', 'clerk')])}"}
    assert client.get(f"{BASE}/{record['id']}/print", headers=other).status_code == 404


@pytest.mark.parametrize("escape", [
    "{{ record.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ raw.items.__globals__ }}",
    "{{ barcode.__globals__['io'] }}",
])
def test_the_sandbox_stops_templates_reaching_python(escape):
    """Each attempt is refused with a clear message, or reaches nothing at all."""
    template = parse_print("evil", HEADER + escape)
    try:
        html = render_print(template, {"record": {"n": 1}, "raw": {"n": 1}})
    except PrintError as refused:
        assert "the sandbox does not allow" in refused.message
    else:
        assert html.strip() == ""  # an attribute a builtin does not have: nothing shown


def test_html_in_values_is_escaped():
    template = parse_print("slip", HEADER + "<p>{{ record.note }}</p>")
    html = render_print(template, {"record": {"note": "<script>alert(1)</script>"}})
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_check_reports_template_problems_with_their_line(tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    for path in EXAMPLE.rglob("*"):
        target = folder / path.relative_to(EXAMPLE)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    (folder / "prints" / "broken.html.j2").write_text(HEADER + "\n{% for x in y %}\n",
                                                    encoding="utf-8")
    (folder / "prints" / "orphan.html.j2").write_text(
        '{# loom: {"form": "recipts"} #}\nhi', encoding="utf-8")
    (folder / "prints" / "bare.html.j2").write_text("<p>no header</p>", encoding="utf-8")
    problems = {p.file.rsplit("/", 1)[-1]: p.message for p in
                check_sources(read_app_folder(folder), folder)}
    assert problems["broken.html.j2"].startswith("line 3: template syntax")
    assert "did you mean 'receipts'" in problems["orphan.html.j2"]
    assert "first line must say what the template prints" in problems["bare.html.j2"]


def test_print_templates_travel_in_bundles(installed, client, admin_headers):
    bundle = client.get("/api/v1/apps/receipts", headers=admin_headers).json
    source = bundle["documents"]["prints/receipt_slip.html.j2"]
    assert source.startswith("{# loom:")
    bundle["documents"]["prints/receipt_slip.html.j2"] = source.replace("入库单 / Goods",
                                                                         "收货单 / Goods")
    assert client.put("/api/v1/apps/receipts", headers=admin_headers,
                      json=bundle).status_code == 200
    html = client.get(f"{BASE}/1/print", headers=admin_headers).get_data(as_text=True)
    assert "收货单 / Goods" in html


def test_printing_from_the_record_page(client, people, live_server, browser):  # noqa: F811
    record = _receipt(client, people["clerk"], 10)
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "clerk")
    page.goto(f"{live_server.url}/apps/receipts/forms/receipts/{record['id']}")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="打印").click()
    sheet = opened.value
    expect(sheet.locator("main.sheet h1")).to_have_text("入库单 / Goods receipt")
    expect(sheet.locator("main.sheet svg")).to_have_count(1)
    expect(sheet.get_by_role("button", name="打印")).to_be_visible()
    assert re.search(r"/receipts/\d+/print$", sheet.url)


def _decode(png: bytes) -> list[str]:
    """What a scanner reads from a screenshot of a printed code (zxing-cpp)."""
    import io

    import numpy
    import zxingcpp
    from PIL import Image

    image = numpy.array(Image.open(io.BytesIO(png)).convert("L"))
    return [found.text for found in zxingcpp.read_barcodes(image)]


def test_a_batch_of_labels_from_the_list_scans_back(installed, live_server, browser,  # noqa: F811
                                                     store):
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    page = browser.new_context(locale="zh-CN", device_scale_factor=2).new_page()
    login(page, live_server, "viewer")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials?category=passive&sort=code")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="打印").click()
    sheets = opened.value.locator("main.sheet")
    expect(sheets).to_have_count(2)
    assert sheets.first.get_attribute("data-paper") == "label"
    first = sheets.first
    expect(first).to_contain_text("M-002")
    qr, code128 = first.locator("svg").all()
    assert _decode(qr.screenshot()) == ["M-002"]       # the QR code says what it should
    assert _decode(code128.screenshot()) == ["M-002"]  # and so does the barcode
    expect(sheets.last).to_contain_text("M-003")


def test_paper_sizes_are_checked():
    with pytest.raises(PrintError) as refused:
        parse_print("x", '{# loom: {"form": "receipts", "paper": "B5"} #}\n')
    assert "A4, A5, label" in refused.value.message
    assert parse_print("x", '{# loom: {"form": "receipts", "paper": "A5"} #}\n').paper == "A5"
