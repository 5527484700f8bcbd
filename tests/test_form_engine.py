"""The form engine in the write path: formulas, defaults, visibility, validations,
unique fields, rollups, dependent formulas, evaluation of drafts, checks at save."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest

from runtime.auth.actors import SYSTEM
from runtime.services import clock
from runtime.services.templates import install_template
from tests.conftest import make_user

APP = Path(__file__).parent / "apps" / "plant"
BASE = "/api/v1/apps/plant/forms"


@pytest.fixture
def plant(store, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 21, 9, 30))
    install_template(store, SYSTEM, str(APP))
    return store


@pytest.fixture
def materials(plant, client, admin_headers):
    ids = {}
    for code, name, cost in [("M-1", "螺丝", "0.5"), ("M-2", "垫片", "0.2")]:
        response = client.post(f"{BASE}/materials/records", headers=admin_headers,
                               json={"code": code, "name": name, "spec": f"{code}-spec",
                                     "standard_cost": cost})
        assert response.status_code == 201, response.json
        ids[code] = response.json["id"]
    return ids


def _receipt(client, headers, lines, **extra):
    return client.post(f"{BASE}/receipts/records", headers=headers,
                       json={"lines": lines, **extra})


def test_formulas_defaults_and_fills_on_create(materials, client, admin_headers):
    response = _receipt(client, admin_headers, [
        {"material": materials["M-1"], "qty": 3, "price": "1.005"},
        {"material": materials["M-2"], "qty": "2.5", "price": 4}])
    assert response.status_code == 201, response.json
    record = response.json
    # money keeps 2 decimals: the price 1.005 is stored as 1.01 (half away from zero)
    assert [line["price"] for line in record["lines"]] == [1.01, 4]
    assert [line["amount"] for line in record["lines"]] == [3.03, 10]
    assert record["total"] == 13.03 and record["std_total"] == 2
    assert record["line_count"] == 2 and record["first_code"] == "螺丝"
    assert record["received_on"] == "2026-11-21" and record["status"] == "draft"
    assert record["receiver"] is not None  # USER(): the admin who wrote it
    assert record["lines"][0]["spec"] == "M-1-spec"
    # Stored formulas can be filtered and sorted in SQL.
    found = client.get(f"{BASE}/receipts/records?total__gt=13", headers=admin_headers).json
    assert found["total"] == 1


def test_updating_one_line_recomputes_its_formula_and_the_total(materials, client,
                                                                 admin_headers):
    record = _receipt(client, admin_headers, [
        {"material": materials["M-1"], "qty": 1, "price": 10},
        {"material": materials["M-2"], "qty": 1, "price": 5}]).json
    first, second = record["lines"]
    patched = client.patch(f"{BASE}/receipts/records/{record['id']}", headers=admin_headers,
                           json={"lines": [{"id": first["id"], "qty": 4}, {"id": second["id"]}]})
    assert patched.status_code == 200, patched.json
    assert [line["amount"] for line in patched.json["lines"]] == [40, 5]
    assert patched.json["total"] == 45
    # A change elsewhere in the record keeps the stored values right.
    again = client.patch(f"{BASE}/receipts/records/{record['id']}", headers=admin_headers,
                         json={"urgent": False})
    assert again.json["total"] == 45


def test_visibility_required_if_and_validation_paths(materials, client, admin_headers):
    hidden = _receipt(client, admin_headers, [{"material": materials["M-1"], "qty": 1}],
                      reason="不该保存")
    assert hidden.status_code == 201 and hidden.json["reason"] is None  # hidden: not stored
    needed = _receipt(client, admin_headers, [{"material": materials["M-1"], "qty": 500,
                                               "price": 1}], urgent=True)
    assert needed.status_code == 422
    assert needed.json["errors"] == [{"field": "reason", "message": "is required"}]
    too_many = _receipt(client, admin_headers, [{"material": materials["M-1"], "qty": 1},
                                                {"material": materials["M-2"], "qty": 1001}])
    assert too_many.json["errors"] == [{"field": "lines[1].qty", "message": "一次最多收 1000"}]
    empty = _receipt(client, admin_headers, [])
    assert empty.json["errors"] == [{"field": "lines", "message": "至少一行明细"}]


def test_unique_field(materials, client, admin_headers):
    response = client.post(f"{BASE}/materials/records", headers=admin_headers,
                           json={"code": "M-1", "name": "重复"})
    assert response.status_code == 422
    assert "already used by record" in response.json["errors"][0]["message"]
    same = client.patch(f"{BASE}/materials/records/{materials['M-1']}", headers=admin_headers,
                        json={"code": "M-1", "name": "螺丝钉"})
    assert same.status_code == 200  # a record does not clash with itself


def _material(client, headers, material_id):
    return client.get(f"{BASE}/materials/records/{material_id}", headers=headers).json


def test_rollups_follow_create_update_and_delete(materials, client, store, admin_headers):
    m1, m2 = materials["M-1"], materials["M-2"]
    a = _receipt(client, admin_headers, [{"material": m1, "qty": 5}, {"material": m1, "qty": 2}],
                 status="received").json
    _receipt(client, admin_headers, [{"material": m1, "qty": 100}])  # draft: not counted
    m = _material(client, admin_headers, m1)
    assert (m["received_qty"], m["receipt_count"]) == (7, 3)
    # Moving a line to another material moves its quantity.
    lines = a["lines"]
    client.patch(f"{BASE}/receipts/records/{a['id']}", headers=admin_headers, json={
        "lines": [{"id": lines[0]["id"], "material": m2}, {"id": lines[1]["id"]}]})
    assert _material(client, admin_headers, m1)["received_qty"] == 2
    assert _material(client, admin_headers, m2)["received_qty"] == 5
    # Un-receiving drops it; deleting the receipt drops the count.
    client.patch(f"{BASE}/receipts/records/{a['id']}", headers=admin_headers,
                 json={"status": "draft"})
    assert _material(client, admin_headers, m2)["received_qty"] == 0
    assert client.delete(f"{BASE}/receipts/records/{a['id']}",
                         headers=admin_headers).status_code == 204
    assert _material(client, admin_headers, m1)["receipt_count"] == 1
    # The rollup is exact against the source rows.
    assert _material(client, admin_headers, m2)["receipt_count"] == 0


def test_formulas_reading_another_record_follow_its_changes(materials, client, admin_headers):
    record = _receipt(client, admin_headers, [{"material": materials["M-1"], "qty": 10}]).json
    assert record["std_total"] == 5
    client.patch(f"{BASE}/materials/records/{materials['M-1']}", headers=admin_headers,
                 json={"standard_cost": "0.75"})
    again = client.get(f"{BASE}/receipts/records/{record['id']}", headers=admin_headers).json
    assert again["lines"][0]["std_amount"] == 7.5 and again["std_total"] == 7.5
    assert again["version"] == record["version"]  # derived values do not bump the version


def test_formula_computed_on_read(materials, client, admin_headers):
    one = client.get(f"{BASE}/materials/records/{materials['M-2']}", headers=admin_headers).json
    assert one["label"] == "M-2 垫片"
    listed = client.get(f"{BASE}/materials/records?sort=code", headers=admin_headers).json
    assert [r["label"] for r in listed["records"]] == ["M-1 螺丝", "M-2 垫片"]
    sent_back = client.patch(f"{BASE}/materials/records/{materials['M-2']}",
                             headers=admin_headers, json=one)
    assert sent_back.status_code == 200  # computed values sent back are ignored


def test_evaluate_a_draft_without_saving(materials, client, store, admin_headers):
    response = client.post(f"{BASE}/receipts/records/evaluate", headers=admin_headers, json={
        "urgent": True, "lines": [{"material": {"code": "M-2"}, "qty": 2000, "price": 1}]})
    assert response.status_code == 200, response.json
    result = response.json
    assert result["values"]["total"] == 2000 and result["values"]["lines"][0]["spec"] == "M-2-spec"
    assert result["required"] == ["reason"]
    assert {e["field"] for e in result["errors"]} == {"reason", "lines[0].qty"}
    quiet = client.post(f"{BASE}/receipts/records/evaluate", headers=admin_headers,
                        json={"urgent": False})
    assert quiet.json["hidden"] == ["reason"]
    listed = client.get(f"{BASE}/receipts/records", headers=admin_headers).json
    assert listed["total"] == 0  # nothing was written


def test_expressions_are_checked_when_saved(plant, client, admin_headers):
    form = client.get(f"{BASE}/receipts", headers=admin_headers).json["form"]
    broken = copy.deepcopy(form)
    lines = next(f for f in broken["fields"] if f["key"] == "lines")
    lines["fields"][4]["expr"] = "ROUND(qyt * price, 2)"
    broken["fields"].append({"key": "a", "type": "formula", "expr": "b + 1"})
    broken["fields"].append({"key": "b", "type": "formula", "expr": "a + 1"})
    broken["fields"][4]["visible_if"] = "urgent +"
    response = client.put(f"{BASE}/receipts", headers=admin_headers, json=broken)
    assert response.status_code == 422
    messages = {e["field"]: e["message"] for e in response.json["errors"]}
    assert "unknown field 'qyt' — did you mean 'qty'?" in messages["/fields/5/fields/4/expr"]
    assert "circle: a -> b -> a" in messages["/fields/10/expr"] \
        or "circle: b -> a -> b" in messages.get("/fields/11/expr", "")
    assert "line 1, column" in messages["/fields/4/visible_if"]


def test_rollup_definitions_are_checked(plant, client, admin_headers):
    form = client.get(f"{BASE}/materials", headers=admin_headers).json["form"]
    form["fields"][4]["via"] = "lines.qty"
    form["fields"][5]["source"] = "receipt"
    response = client.put(f"{BASE}/materials", headers=admin_headers, json=form)
    messages = {e["field"]: e["message"] for e in response.json["errors"]}
    assert "must be a relation of 'receipts'" in messages["/fields/4/via"]
    assert "did you mean 'receipts'" in messages["/fields/5/source"]


def test_count_records_in_a_validation(plant, client, store, admin_headers):
    form = client.get(f"{BASE}/materials", headers=admin_headers).json["form"]
    form["validate"] = [{"expr": 'COUNT_RECORDS("materials", "name", name) = 0',
                         "message": "名称已存在", "field": "name"}]
    assert client.put(f"{BASE}/materials", headers=admin_headers, json=form).status_code == 200
    assert client.post(f"{BASE}/materials/records", headers=admin_headers,
                       json={"code": "A", "name": "螺丝"}).status_code == 201
    duplicate = client.post(f"{BASE}/materials/records", headers=admin_headers,
                            json={"code": "B", "name": "螺丝"})
    assert duplicate.json["errors"] == [{"field": "name", "message": "名称已存在"}]


def test_default_user_is_the_actor(plant, client, store):
    token = make_user(store, "clerk", roles=[("plant", "clerk")])
    headers = {"Authorization": f"Bearer {token}"}
    client.post(f"{BASE}/materials/records", headers=headers, json={"code": "X"})
    material = client.get(f"{BASE}/materials/records", headers=headers).json["records"][0]
    record = _receipt(client, headers, [{"material": material["id"], "qty": 1}]).json
    assert record["receiver"] == record["created_by"]
