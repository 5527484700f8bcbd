"""Field-level permissions: a grant's ``hidden`` fields are nowhere a user can see them
(records, lists, filters, totals, exports, history, evaluate, prints, reports), and its
``readonly`` fields cannot be changed — through the API, the web form and imports."""

from __future__ import annotations

import io

import openpyxl
from playwright.sync_api import expect

from engines.schema.check import check_app
from runtime.auth.actors import SYSTEM
from runtime.services.apps import export_bundle, install_documents
from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import make_user

API = "/api/v1/apps/receipts"


def _grant(store, **fields):
    """Give the viewer role read on materials and update on them, with field rules."""
    bundle = export_bundle(store, SYSTEM, "receipts")
    documents = bundle["documents"]
    app = documents["app.json"]
    app["roles"].append({"key": "costing_clerk"})
    app["permissions"].append({"role": "costing_clerk", "forms": ["materials", "suppliers"],
                               "actions": ["read", "create", "update"], **fields})
    install_documents(store, SYSTEM, documents, replace=True)


def _clerk(store):
    return {"Authorization": f"Bearer {make_user(store, 'li', roles=[('receipts', 'costing_clerk')])}"}  # noqa: E501


def test_hidden_fields_are_nowhere_to_be_seen(installed, client, admin_headers):
    store = installed
    _grant(store, hidden=["standard_cost"])
    li = _clerk(store)
    listed = client.get(f"{API}/forms/materials/records?sort=code", headers=li).json
    assert listed["total"] == 6 and all("standard_cost" not in r for r in listed["records"])
    m001 = listed["records"][0]
    assert "standard_cost" not in client.get(f"{API}/forms/materials/records/{m001['id']}",
                                             headers=li).json
    assert "standard_cost" in client.get(f"{API}/forms/materials/records/{m001['id']}",
                                         headers=admin_headers).json
    # Filtering, sorting or totalling by it would reveal it.
    for query in ("standard_cost__gt=10", "sort=-standard_cost", "totals=standard_cost"):
        refused = client.get(f"{API}/forms/materials/records?{query}", headers=li)
        assert refused.status_code == 422, query
    export = client.get(f"{API}/forms/materials/export?format=xlsx", headers=li)
    header = next(openpyxl.load_workbook(io.BytesIO(export.data)).active.iter_rows(
        values_only=True))
    assert "标准成本" not in header and "物料编码" in header
    evaluated = client.post(f"{API}/forms/materials/records/evaluate", headers=li,
                            json={"code": "X", "standard_cost": 3})
    assert "standard_cost" not in evaluated.json["values"]
    client.patch(f"{API}/forms/materials/records/{m001['id']}", headers=admin_headers,
                 json={"standard_cost": 19})
    history = client.get(f"{API}/forms/materials/records/{m001['id']}/history", headers=li)
    assert all("standard_cost" not in str(e) for e in history.json["history"])
    printed = client.get(f"{API}/forms/suppliers/records/1/print", headers=li)
    assert printed.status_code == 200


def test_a_report_of_a_hidden_field_is_refused_for_that_user(installed, client, store,
                                                             admin_headers):
    _grant(store, hidden=["name"])  # suppliers.name: what amount_by_supplier groups by
    li = {"Authorization": f"Bearer {make_user(store, 'zhou', roles=[('receipts', 'costing_clerk')])}"}  # noqa: E501
    assert client.get(f"{API}/reports/amount_by_supplier", headers=admin_headers) \
        .status_code == 200
    refused = client.get(f"{API}/reports/amount_by_supplier", headers=li)
    assert refused.status_code in (403, 422)


def test_a_field_another_role_shows_is_shown(installed, client, store):
    _grant(store, hidden=["standard_cost"])
    both = {"Authorization": "Bearer " + make_user(
        store, "wu", roles=[("receipts", "costing_clerk"), ("receipts", "viewer")])}
    record = client.get(f"{API}/forms/materials/records?code=M-001", headers=both).json
    assert "standard_cost" in record["records"][0]  # the viewer role reads everything


def test_readonly_fields_cannot_be_changed(installed, client, store, admin_headers):
    _grant(store, readonly=["safety_stock"], hidden=["standard_cost"])
    li = _clerk(store)
    m001 = client.get(f"{API}/forms/materials/records?code=M-001", headers=li).json[
        "records"][0]
    refused = client.patch(f"{API}/forms/materials/records/{m001['id']}", headers=li,
                           json={"safety_stock": 1})
    assert refused.status_code == 422
    assert refused.json["errors"] == [{"field": "safety_stock", "message": "you may not "
                                       "change this field; it is read-only for your role"}]
    hidden = client.patch(f"{API}/forms/materials/records/{m001['id']}", headers=li,
                          json={"standard_cost": 1})
    assert hidden.status_code == 422
    same = client.patch(f"{API}/forms/materials/records/{m001['id']}", headers=li,
                        json={"safety_stock": m001["safety_stock"], "spec": "新规格"})
    assert same.status_code == 200, same.json  # sending back what it shows is fine
    created = client.post(f"{API}/forms/materials/records", headers=li,
                          json={"code": "M-900", "name": "新物料", "safety_stock": 5})
    assert created.status_code == 422 and created.json["errors"][0]["field"] == "safety_stock"
    ok = client.post(f"{API}/forms/materials/records", headers=li,
                     json={"code": "M-900", "name": "新物料"})
    assert ok.status_code == 201, ok.json


def test_misspelled_field_rules_are_errors(installed, store):
    bundle = export_bundle(store, SYSTEM, "receipts")
    documents = bundle["documents"]
    documents["app.json"]["permissions"][0]["hidden"] = ["pricee"]
    problems = check_app(documents)
    assert any("no field 'pricee'" in message and "price" in message
               for _, _, message in problems)


def test_the_form_page_leaves_hidden_fields_out_and_locks_readonly_ones(  # noqa: F811
        installed, live_server, browser, store, client, admin_headers):  # noqa: F811
    _grant(store, readonly=["safety_stock"], hidden=["standard_cost"])
    make_user(store, "li", roles=[("receipts", "costing_clerk")])
    m001 = client.get(f"{API}/forms/materials/records?code=M-001", headers=admin_headers) \
        .json["records"][0]
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "li")
    page.goto(f"{live_server.url}/apps/receipts/forms/materials/{m001['id']}/edit")
    expect(page.get_by_label("标准成本")).to_have_count(0)
    expect(page.get_by_label("安全库存")).to_be_disabled()
    page.get_by_label("规格型号").fill("STM32F407VGT6 改")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(f"**/materials/{m001['id']}")
    expect(page.locator("dl.values")).not_to_contain_text("标准成本")
    saved = client.get(f"{API}/forms/materials/records/{m001['id']}", headers=admin_headers).json
    assert saved["spec"] == "STM32F407VGT6 改" and saved["standard_cost"] == 18.5
