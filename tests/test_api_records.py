"""Records through the REST API: every endpoint and each error status."""

from __future__ import annotations

import json

from tests.conftest import make_user

BASE = "/api/v1/apps/receipts/forms"


def _supplier(client, headers, code="S-100", **extra):
    response = client.post(f"{BASE}/suppliers/records", headers=headers,
                           json={"code": code, "name": "测试供应商", **extra})
    assert response.status_code == 201, response.json
    return response.json


def test_create_get_patch_delete_round_trip(installed, client, admin_headers):
    created = _supplier(client, admin_headers, rating="A")
    assert created["version"] == 1 and created["rating"] == "A"
    location = client.post(f"{BASE}/suppliers/records", headers=admin_headers,
                           json={"code": "S-101", "name": "x"}).headers["Location"]
    assert location.endswith("/records/" + location.rsplit("/", 1)[1])

    got = client.get(f"{BASE}/suppliers/records/{created['id']}", headers=admin_headers)
    assert got.status_code == 200 and got.json == created

    patched = client.patch(f"{BASE}/suppliers/records/{created['id']}", headers=admin_headers,
                           json={"version": 1, "contact": "赵六"})
    assert patched.status_code == 200
    assert patched.json["contact"] == "赵六" and patched.json["version"] == 2
    assert patched.json["name"] == "测试供应商"  # untouched fields keep their values

    deleted = client.delete(f"{BASE}/suppliers/records/{created['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    gone = client.get(f"{BASE}/suppliers/records/{created['id']}", headers=admin_headers)
    assert gone.status_code == 404


def test_subtable_lines_keep_ids_and_order(installed, client, admin_headers):
    supplier = _supplier(client, admin_headers)
    material = client.get(f"{BASE}/materials/records?code=M-001",
                          headers=admin_headers).json["records"][0]
    created = client.post(f"{BASE}/receipts/records", headers=admin_headers, json={
        "note": "RK-T-1", "supplier": supplier["id"], "received_on": "2026-11-21",
        "lines": [{"material": material["id"], "qty": "2.5", "price": 3},
                  {"material": {"code": "M-002"}, "qty": 4}]})
    assert created.status_code == 201, created.json
    lines = created.json["lines"]
    assert [line["qty"] for line in lines] == [2.5, 4]
    # Reorder, change one line partially, drop none: ids are kept, order follows the list.
    patched = client.patch(f"{BASE}/receipts/records/{created.json['id']}", headers=admin_headers,
                           json={"lines": [{"id": lines[1]["id"], "qty": 5},
                                           {"id": lines[0]["id"]}]})
    assert patched.status_code == 200, patched.json
    assert [(line["id"], line["qty"]) for line in patched.json["lines"]] == [
        (lines[1]["id"], 5), (lines[0]["id"], 2.5)]
    assert patched.json["lines"][0]["material"] == lines[1]["material"]


def test_validation_errors_name_field_paths(installed, client, admin_headers):
    response = client.post(f"{BASE}/receipts/records", headers=admin_headers, json={
        "note": "RK-T-2", "supplier": 9999, "received_on": "21/11/2026", "qyt": 1,
        "status": "shipped",
        "lines": [{"material": {"code": "M-001"}, "qty": 1},
                  {"material": {"code": "NOPE"}, "qty": 1},
                  {"material": {"code": "M-001"}, "qty": -3, "prise": 1}]})
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json["errors"]}
    assert "not a date" in errors["received_on"]
    assert "unknown field 'qyt'" in errors["qyt"]
    assert "not one of the options" in errors["status"]
    assert errors["supplier"] == "there is no record of form 'suppliers' with id 9999"
    assert "no record of form 'materials' has code='NOPE'" in errors["lines[1].material"]
    assert "at least 0" in errors["lines[2].qty"]
    assert "did you mean 'price'" in errors["lines[2].prise"]
    # Nothing was written.
    listed = client.get(f"{BASE}/receipts/records?note=RK-T-2", headers=admin_headers)
    assert listed.json["total"] == 0


def test_required_fields_and_wrong_types(installed, client, admin_headers):
    response = client.post(f"{BASE}/materials/records", headers=admin_headers,
                           json={"spec": ["a"], "safety_stock": "lots", "active": "maybe"})
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json["errors"]}
    assert errors["code"] == "is required" and errors["name"] == "is required"
    assert "expected text" in errors["spec"]
    assert "not a number" in errors["safety_stock"]
    assert "true or false" in errors["active"]


def test_stale_version_gets_409_and_changes_nothing(installed, client, admin_headers):
    record = _supplier(client, admin_headers)
    first = client.patch(f"{BASE}/suppliers/records/{record['id']}", headers=admin_headers,
                         json={"version": 1, "contact": "A"})
    second = client.patch(f"{BASE}/suppliers/records/{record['id']}", headers=admin_headers,
                          json={"version": 1, "contact": "B"})
    assert first.status_code == 200 and second.status_code == 409
    assert "changed by someone else" in second.json["errors"][0]["message"]
    now = client.get(f"{BASE}/suppliers/records/{record['id']}", headers=admin_headers).json
    assert now["contact"] == "A" and now["version"] == 2
    # If-Match works as the version too.
    third = client.patch(f"{BASE}/suppliers/records/{record['id']}",
                         headers={**admin_headers, "If-Match": '"1"'}, json={"contact": "C"})
    assert third.status_code == 409


def test_delete_of_a_referenced_record_is_refused_with_names(installed, client, admin_headers):
    material = client.get(f"{BASE}/materials/records?code=M-001",
                          headers=admin_headers).json["records"][0]
    response = client.delete(f"{BASE}/materials/records/{material['id']}", headers=admin_headers)
    assert response.status_code == 409
    assert "is used by 'receipts'" in response.json["errors"][0]["message"]


def test_history_lists_every_change(installed, client, admin_headers):
    record = _supplier(client, admin_headers)
    client.patch(f"{BASE}/suppliers/records/{record['id']}", headers=admin_headers,
                 json={"phone": "123"})
    history = client.get(f"{BASE}/suppliers/records/{record['id']}/history",
                         headers=admin_headers).json["history"]
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[1]["changed"] == ["phone"]
    assert history[1]["before"]["phone"] is None and history[1]["after"]["phone"] == "123"
    assert history[0]["username"] == "admin"


def test_list_filters_sort_and_paging(installed, client, admin_headers):
    def query(qs):
        response = client.get(f"{BASE}/materials/records?{qs}", headers=admin_headers)
        assert response.status_code == 200, response.json
        return [r["code"] for r in response.json["records"]], response.json["total"]

    assert query("category=passive&sort=code") == (["M-002", "M-003"], 2)
    assert query("safety_stock__gte=2000&sort=-safety_stock")[0] == ["M-002", "M-003", "M-005"]
    assert query("name__contains=贴片")[1] == 2
    assert query("spec__contains=%25") == (["M-002"], 1)  # % is a literal, not a wildcard
    assert query("spec__contains=_")[1] == 0
    assert query("category__in=chip,packaging&sort=code")[0] == ["M-001", "M-006"]
    assert query("default_supplier.code=S-002&sort=code")[0] == ["M-004", "M-005"]
    assert query("default_supplier.name__startswith=深圳")[1] == 3
    assert query("spec__empty=true")[1] == 0
    assert query("sort=code&limit=2&offset=2") == (["M-003", "M-004"], 6)
    # Subtable and subtable -> relation paths.
    response = client.get(f"{BASE}/receipts/records?lines.material.code=M-006",
                          headers=admin_headers)
    assert [r["receipt_no"] for r in response.json["records"]] == ["RK-20261118-0001"]
    response = client.get(f"{BASE}/receipts/records?lines.qty__gt=5000", headers=admin_headers)
    assert response.json["total"] == 2


def test_list_rejects_bad_filters_clearly(installed, client, admin_headers):
    response = client.get(f"{BASE}/materials/records?colour=red&safety_stock__gt=abc"
                          "&code__like=x&sort=nme&limit=0", headers=admin_headers)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json["errors"]}
    assert fields == {"colour", "safety_stock", "code", "sort", "limit"}
    assert any("did you mean 'name'" in e["message"] for e in response.json["errors"])


def test_auth_errors(installed, client):
    assert client.get("/api/v1/apps").status_code == 401
    bad = client.get("/api/v1/apps", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "invalid" in bad.json["errors"][0]["message"]
    token = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
    assert token.status_code == 401


def test_token_login(installed, client, store):
    make_user(store, "clerk1", roles=[("receipts", "clerk")])
    response = client.post("/api/v1/auth/token",
                           json={"username": "clerk1", "password": "password123"})
    assert response.status_code == 201
    headers = {"Authorization": f"Bearer {response.json['token']}"}
    apps = client.get("/api/v1/apps", headers=headers)
    assert [a["key"] for a in apps.json["apps"]] == ["receipts"]


def test_bad_input_never_500(installed, client, admin_headers):
    url = f"{BASE}/suppliers/records"
    cases = [
        (b"{not json", "malformed JSON at line 1 column 2"),
        (b"", "needs a JSON body"),
        (b"[1, 2]", "expected a record"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({"code": {"nested": True}, "name": "x"}).encode(), "expected text"),
    ]
    for raw, expected in cases:
        response = client.post(url, headers={**admin_headers,
                                             "Content-Type": "application/json"}, data=raw)
        assert response.status_code == 422, raw
        assert expected in response.json["errors"][0]["message"]


def test_unknown_app_form_record_and_route_are_404(installed, client, admin_headers):
    for url in ("/api/v1/apps/nope/forms/x/records", f"{BASE}/nope/records",
                f"{BASE}/suppliers/records/99999", "/api/v1/nothing-here"):
        response = client.get(url, headers=admin_headers)
        assert response.status_code == 404, url
        assert response.json["errors"][0]["message"]


def test_huge_payload_gets_413(installed, app, client, admin_headers):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    huge = json.dumps({"code": "S", "name": "x" * (2 * 1024 * 1024)})
    response = client.post(f"{BASE}/suppliers/records", data=huge,
                           headers={**admin_headers, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "too large" in response.json["errors"][0]["message"]


def test_wrong_method_is_405_json(installed, client, admin_headers):
    response = client.put(f"{BASE}/suppliers/records", headers=admin_headers, json={})
    assert response.status_code == 405 and response.json["errors"]
