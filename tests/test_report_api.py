"""Reports and dashboards in the runtime: definitions in the app bundle, the endpoints,
permissions, drill-down to records and export — on the example receipts app."""

from __future__ import annotations

import copy
import csv
import io
import json

import openpyxl
import pytest

from engines.schema.bundle import read_app_folder
from engines.schema.check import check_app
from runtime.storage import definitions
from tests.conftest import EXAMPLE, make_user
from tests.test_approvals import BASE, _todo, people  # noqa: F401

API = "/api/v1/apps/receipts"


@pytest.fixture
def admin(installed, admin_headers):
    return admin_headers


def _supplier_id(client, headers, code):
    return client.get(f"{API}/forms/suppliers/records?code={code}",
                      headers=headers).json["records"][0]["id"]


def _records(out):
    keys = [c["key"] for c in out["columns"]]
    return [dict(zip(keys, row, strict=True)) for row in out["rows"]]


def test_report_answers_columns_rows_and_figure(client, admin):
    out = client.get(f"{API}/reports/receipts_by_month", headers=admin).json
    assert [c["key"] for c in out["columns"]] == ["month", "supplier", "amount", "qty"]
    assert [(r["month"], r["supplier"], r["amount"]) for r in _records(out)] == [
        ("2026-11", "深圳华强电子", 9300), ("2026-11", "苏州精密五金", 4340)]
    assert out["totals"][2] == 13640
    bars = out["figure"]["data"]
    assert [t["name"] for t in bars] == ["深圳华强电子", "苏州精密五金"]
    # Each bar carries the element it stands for, for drill-down.
    assert bars[1]["customdata"] == [{"month": "2026-11", "supplier": "苏州精密五金"}]
    english = client.get(f"{API}/reports/receipts_by_month?lang=en", headers=admin).json
    assert english["columns"][0]["label"] == "Month"


def test_parameters_and_bad_input(client, admin):
    s002 = _supplier_id(client, admin, "S-002")
    one = client.get(f"{API}/reports/received_amount?supplier={s002}", headers=admin).json
    assert _records(one) == [{"amount": 4340, "receipts": 1}]
    later = client.get(f"{API}/reports/received_amount?from=2026-11-05", headers=admin).json
    assert _records(later) == [{"amount": 4340, "receipts": 1}]
    for query, field in (("supplier=abc", "supplier"), ("from=2026-13-01", "from"),
                         ("nope=1", "nope")):
        response = client.get(f"{API}/reports/received_amount?{query}", headers=admin)
        assert response.status_code == 422, query
        assert response.json["errors"][0]["field"] == field
        assert response.json["errors"][0]["message"]
    missing = client.get(f"{API}/reports/nothing_here", headers=admin)
    assert missing.status_code == 404
    assert "GET /api/v1/apps/receipts/reports" in missing.json["errors"][0]["message"]
    listed = client.get(f"{API}/reports", headers=admin).json
    assert {r["key"] for r in listed["reports"]} == {
        "receipts_by_month", "amount_by_supplier", "received_amount", "stock_by_material"}
    assert [d["key"] for d in listed["dashboards"]] == ["receiving"]


def test_a_report_shows_only_the_rows_the_viewer_may_read(client, admin, store):
    clerk = {"Authorization": f"Bearer {make_user(store, 'clerk', roles=[('receipts', 'clerk')])}"}
    # The clerk reads their own receipts only: the samples are the system's.
    assert _records(client.get(f"{API}/reports/received_amount", headers=clerk).json) == [
        {"amount": None, "receipts": 0}]
    made = client.post(f"{API}/forms/receipts/records", headers=clerk, json={
        "supplier": {"code": "S-003"}, "received_on": "2026-11-20", "status": "received",
        "lines": [{"material": {"code": "M-006"}, "qty": 10, "price": 2}]})
    assert made.status_code == 201, made.json
    mine = client.get(f"{API}/reports/receipts_by_month", headers=clerk).json
    assert [(r["supplier"], r["amount"]) for r in _records(mine)] == [("东莞包装材料", 20)]
    everyone = client.get(f"{API}/reports/received_amount", headers=admin).json
    assert _records(everyone) == [{"amount": 13660, "receipts": 3}]
    # Drill-down keeps to the same rows.
    element = json.dumps({"month": "2026-11", "supplier": "深圳华强电子"})
    assert client.get(f"{API}/reports/receipts_by_month/drill", query_string={
        "element": element}, headers=clerk).json["records"] == []


def test_forms_the_viewer_may_not_read_are_not_in_their_reports(client, admin, store):
    bundle = client.get(API, headers=admin).json
    assert "reports/stock_by_material.json" in bundle["documents"]
    assert "dashboards/receiving.json" in bundle["documents"]
    changed = copy.deepcopy(bundle)
    app = changed["documents"]["app.json"]
    app["roles"].append({"key": "buyer", "name": "Buyer"})
    app["permissions"].append({"role": "buyer", "forms": ["receipts"], "actions": ["read"]})
    assert client.put(API, headers=admin, json=changed).status_code == 200
    buyer = {"Authorization": f"Bearer {make_user(store, 'buyer', roles=[('receipts', 'buyer')])}"}
    # Receipts are readable; the supplier's name lives in a form the buyer may not read.
    assert _records(client.get(f"{API}/reports/received_amount", headers=buyer).json) == [
        {"amount": 13640, "receipts": 2}]
    refused = client.get(f"{API}/reports/amount_by_supplier", headers=buyer)
    assert refused.status_code == 422
    assert "supplier" in refused.json["errors"][0]["message"]
    board = client.get(f"{API}/dashboards/receiving", headers=buyer)
    assert board.status_code == 200
    widgets = {w["report"]: w for w in board.json["widgets"]}
    assert "errors" in widgets["amount_by_supplier"]
    assert widgets["received_amount"]["rows"] == [[13640, 2]]


def test_bundle_round_trip_and_versions(client, admin, store):
    bundle = client.get(API, headers=admin).json
    changed = copy.deepcopy(bundle)
    report = changed["documents"]["reports/amount_by_supplier.json"]
    report["dataset"]["limit"] = 1
    assert client.put(API, headers=admin, json=changed).status_code == 200
    again = client.get(API, headers=admin).json
    assert again["documents"]["reports/amount_by_supplier.json"] == report
    with store.read() as conn:
        versions = definitions.history(conn, "receipts", "report", "amount_by_supplier")
    assert [v["version"] for v in versions] == [1, 2]
    top = client.get(f"{API}/reports/amount_by_supplier", headers=admin).json
    assert _records(top) == [{"supplier": "深圳华强电子", "amount": 9300}]
    broken = copy.deepcopy(bundle)
    broken["documents"]["reports/amount_by_supplier.json"]["dataset"]["dimensions"][0][
        "field"] = "parent.supplier.nmae"
    del broken["documents"]["reports/received_amount.json"]
    refused = client.put(API, headers=admin, json=broken)
    assert refused.status_code == 422
    messages = {e["field"]: e["message"] for e in refused.json["errors"]}
    assert "did you mean 'name'" in messages[
        "reports/amount_by_supplier.json#/dataset/dimensions/0/field"]
    assert "there is no report 'received_amount'" in messages[
        "dashboards/receiving.json#/widgets/0/report"]


def test_check_finds_report_problems_in_an_app_folder():
    documents = {rel: s.value for rel, s in read_app_folder(EXAMPLE).items()}
    assert check_app(documents) == []
    documents["reports/stock_by_material.json"]["dataset"]["measures"][0]["field"] = "qtty"
    documents["dashboards/receiving.json"]["widgets"][1]["params"] = {"site": 1}
    position = len(documents["app.json"]["menu"])
    documents["app.json"]["menu"].append({"dashboard": "stocks"})
    problems = {(path, pointer): message for path, pointer, message in check_app(documents)}
    assert "qty" in problems[("reports/stock_by_material.json", "/dataset/measures/0/field")]
    assert problems[("dashboards/receiving.json", "/widgets/1/params/site")] == \
        "report 'amount_by_supplier' has no parameter 'site'"
    assert "unknown dashboard 'stocks'" in problems[("app.json", f"/menu/{position}/dashboard")]


def test_drill_down_lists_the_records_behind_a_bar(client, admin):
    element = json.dumps({"month": "2026-11", "supplier": "苏州精密五金"})
    out = client.get(f"{API}/reports/receipts_by_month/drill",
                     query_string={"element": element}, headers=admin).json
    assert out["form"] == "receipts" and out["count"] == 2  # two lines of one receipt
    [record] = out["records"]
    assert len(record["lines"]) == 2
    assert record["url"] == f"/apps/receipts/forms/receipts/{record['id']}"
    page = client.get(f"{API}/forms/receipts/records/{record['id']}", headers=admin).json
    assert page["received_on"] == "2026-11-09"
    slice_ = client.get(f"{API}/reports/amount_by_supplier/drill", query_string={
        "element": json.dumps({"supplier": "深圳华强电子"})}, headers=admin).json
    assert slice_["count"] == 2 and len(slice_["records"]) == 1
    for bad in ("[1]", "{", json.dumps({"site": 1}), json.dumps({"month": "May"}),
                json.dumps({"supplier": [1]})):
        response = client.get(f"{API}/reports/receipts_by_month/drill",
                              query_string={"element": bad}, headers=admin)
        assert response.status_code == 422, bad
        assert response.json["errors"][0]["field"] == "element"


def test_stock_from_the_ledger_and_its_movements(client, people):  # noqa: F811
    clerk, boss = people["clerk"], people["boss"]
    made = client.post(BASE, headers=clerk, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
        "lines": [{"material": {"code": "M-001"}, "qty": 40, "price": 1}]}).json
    client.post(f"{BASE}/{made['id']}/submit", headers=clerk)
    [task] = _todo(client, boss)
    assert client.post(f"/api/v1/tasks/{task['id']}/approve", headers=boss).status_code == 200
    cfo = people["cfo"]  # reads every material; the supervisor only their department's
    out = client.get(f"{API}/reports/stock_by_material", headers=cfo).json
    assert _records(out) == [{"material": "主控芯片", "category": "chip", "qty": 40}]
    hidden = client.get(f"{API}/reports/stock_by_material", headers=boss).json
    assert _records(hidden) == [{"material": None, "category": None, "qty": 40}]
    drill = client.get(f"{API}/reports/stock_by_material/drill", query_string={
        "element": json.dumps({"material": "主控芯片"})}, headers=cfo).json
    assert drill["form"] is None and drill["count"] == 1
    assert drill["records"][0]["qty"] in (40, "40", "40.000")


def test_exports_hold_the_same_numbers(client, admin):
    shown = _records(client.get(f"{API}/reports/receipts_by_month", headers=admin).json)
    response = client.get(f"{API}/reports/receipts_by_month/export.xlsx", headers=admin)
    assert response.status_code == 200
    assert 'filename="receipts_by_month.xlsx"' in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert [(r[1], r[2]) for r in rows[1:3]] == [(s["supplier"], s["amount"]) for s in shown]
    text = client.get(f"{API}/reports/receipts_by_month/export.csv?lang=en",
                      headers=admin).data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["Month", "Supplier", "Amount"]
    assert [float(r[2]) for r in table[1:3]] == [9300, 4340]
    assert client.get(f"{API}/reports/receipts_by_month/export.pdf",
                      headers=admin).status_code == 404


def test_dashboard_passes_global_filters_to_every_widget(client, admin):
    s001 = _supplier_id(client, admin, "S-001")
    board = client.get(f"{API}/dashboards/receiving?supplier={s001}", headers=admin)
    assert board.status_code == 200
    out = board.json
    assert [f["key"] for f in out["filters"]] == ["supplier", "from"]
    widgets = {w["report"]: w for w in out["widgets"]}
    assert widgets["received_amount"]["rows"] == [[9300, 1]]
    assert widgets["received_amount"]["params"] == {"supplier": str(s001)}
    assert widgets["amount_by_supplier"]["rows"] == [["深圳华强电子", 9300]]
    assert widgets["stock_by_material"]["rows"] == []  # nothing approved yet
    assert (widgets["receipts_by_month"]["w"], widgets["receipts_by_month"]["h"]) == (6, 4)
    assert client.get(f"{API}/dashboards/receiving?site=1", headers=admin).status_code == 422
    assert client.get(f"{API}/dashboards/nope", headers=admin).status_code == 404
    assert client.get(f"{API}/dashboards/receiving?from=soon",
                      headers=admin).json["widgets"][0]["errors"][0]["field"] == "from"
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/apps/{app}/reports/{report}/drill" in paths
    assert "/apps/{app}/dashboards/{dashboard}" in paths
