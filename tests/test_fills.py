"""Scan to fill: barcodes resolve relations, relations fill fields, typed values win."""

from __future__ import annotations

import copy

import pytest

from runtime.auth.actors import SYSTEM
from runtime.services.apps import put_form

BASE = "/api/v1/apps/receipts/forms/receipts/records"


@pytest.fixture
def scanning(installed):
    """The example receipt form scans codes into lines; here it matches specs too."""
    with installed.read() as conn:
        form = copy.deepcopy(installed.app(conn, "receipts").form("receipts").form.raw)
    lines = next(f for f in form["fields"] if f["key"] == "lines")
    scan = next(f for f in lines["fields"] if f["key"] == "scan")
    scan["match"] = ["code", "spec"]
    put_form(installed, SYSTEM, "receipts", "receipts", form)
    return installed


def _post(client, headers, lines):
    return client.post(BASE, headers=headers, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21", "lines": lines})


def test_scanning_a_code_fills_the_line(scanning, client, admin_headers):
    response = _post(client, admin_headers, [{"scan": "M-004", "qty": 2},
                                             {"scan": "STM32F407VGT6", "qty": 1, "price": 17}])
    assert response.status_code == 201, response.json
    first, second = response.json["lines"]
    assert (first["name"], first["spec"], first["price"]) == (
        "铝合金外壳", "120x80x25mm 阳极氧化", 12)
    assert first["material"] is not None and first["scan"] == "M-004"
    assert second["name"] == "主控芯片" and second["price"] == 17  # typed price kept


def test_unknown_code_is_a_clear_error(scanning, client, admin_headers):
    response = _post(client, admin_headers, [{"scan": "NOPE-1", "qty": 2}])
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": "lines[0].scan", "message":
        "no record of 'materials' has the code 'NOPE-1'; check the label or pick the record "
        "by hand"}]


def test_picking_a_relation_fills_and_changing_it_refills(scanning, client, admin_headers):
    created = _post(client, admin_headers, [{"material": {"code": "M-002"}, "qty": 5}]).json
    assert created["lines"][0]["name"] == "贴片电阻"
    line = created["lines"][0]
    changed = client.patch(f"{BASE}/{created['id']}", headers=admin_headers, json={
        "lines": [{"id": line["id"], "material": {"code": "M-003"}}]})
    assert changed.json["lines"][0]["spec"] == "0805 10uF 25V"
    untouched = client.patch(f"{BASE}/{created['id']}", headers=admin_headers, json={
        "lines": [{"id": line["id"], "qty": 6}]})
    assert untouched.json["lines"][0]["spec"] == "0805 10uF 25V"  # no pick, no refill


def test_fill_definitions_are_checked(installed, client, admin_headers):
    form = client.get("/api/v1/apps/receipts/forms/receipts", headers=admin_headers).json["form"]
    lines = next(f for f in form["fields"] if f["key"] == "lines")
    material = next(f for f in lines["fields"] if f["key"] == "material")
    material["fill"] = {"nme": "name", "lot": "colour"}
    scan = next(f for f in lines["fields"] if f["key"] == "scan")
    scan.update({"match": "cod", "relation": "lot"})
    response = client.put("/api/v1/apps/receipts/forms/receipts", headers=admin_headers,
                          json=form)
    assert response.status_code == 422
    messages = " | ".join(e["message"] for e in response.json["errors"])
    assert "fill copies into 'nme'" in messages
    assert "has no field 'colour'" in messages
    assert "no field 'cod' to match codes against — did you mean 'code'?" in messages
    assert "'lot' must be a relation field here pointing to 'materials'" in messages
