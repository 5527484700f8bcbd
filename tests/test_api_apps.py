"""Apps and form definitions through the API: create, change (migrate), import, export."""

from __future__ import annotations

import copy

from tests.conftest import make_user

FORM = {"key": "parts", "label": {"zh": "零件", "en": "Parts"}, "title": ["code"],
        "fields": [{"key": "code", "type": "text", "required": True},
                   {"key": "qty", "type": "text"}]}


def _new_app(client, headers):
    response = client.post("/api/v1/apps", headers=headers, json={"key": "shop", "name": "车间"})
    assert response.status_code == 201, response.json
    response = client.put("/api/v1/apps/shop/forms/parts", headers=headers, json=FORM)
    assert response.status_code == 200, response.json
    return response.json


def test_create_app_and_form_then_records(store, client, admin_headers):
    result = _new_app(client, admin_headers)
    assert result["version"] == 1
    assert {c["action"] for c in result["changes"]} == {"create_table", "add_column"}
    assert client.post("/api/v1/apps", headers=admin_headers,
                       json={"key": "shop", "name": "x"}).status_code == 409
    bad = client.post("/api/v1/apps", headers=admin_headers, json={"key": "Shop!", "name": "x"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "key"
    forms = client.get("/api/v1/apps/shop/forms", headers=admin_headers).json["forms"]
    assert forms[0]["key"] == "parts" and forms[0]["label_text"] == "零件"
    created = client.post("/api/v1/apps/shop/forms/parts/records", headers=admin_headers,
                          json={"code": "P1", "qty": "12.5"})
    assert created.status_code == 201


def test_type_change_converts_or_is_refused_naming_records(store, client, admin_headers):
    _new_app(client, admin_headers)
    url = "/api/v1/apps/shop/forms/parts/records"
    ids = [client.post(url, headers=admin_headers, json={"code": f"P{i}", "qty": q}).json["id"]
           for i, q in enumerate(["1", "2.5", "abc", "x"])]
    to_number = copy.deepcopy(FORM)
    to_number["fields"][1]["type"] = "number"
    refused = client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=to_number)
    assert refused.status_code == 422
    error = refused.json["errors"][0]
    assert error["field"] == "qty" and error["records"] == ids[2:]
    assert "2 stored value(s) do not convert" in error["message"]
    # Schema and data are exactly as before.
    form = client.get("/api/v1/apps/shop/forms/parts", headers=admin_headers).json
    assert form["version"] == 1 and form["form"]["fields"][1]["type"] == "text"
    assert client.get(f"{url}/{ids[2]}", headers=admin_headers).json["qty"] == "abc"
    # Fix the offending records; now the change converts every value in place.
    for record_id in ids[2:]:
        client.patch(f"{url}/{record_id}", headers=admin_headers, json={"qty": "7"})
    accepted = client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=to_number)
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["changes"][0]["action"] == "convert"
    listed = client.get(f"{url}?sort=qty", headers=admin_headers).json["records"]
    assert [r["qty"] for r in listed] == [1, 2.5, 7, 7]  # numeric order, numeric values


def test_remove_and_re_add_field_keeps_data(store, client, admin_headers):
    _new_app(client, admin_headers)
    url = "/api/v1/apps/shop/forms/parts/records"
    record = client.post(url, headers=admin_headers, json={"code": "P1", "qty": "5"}).json
    without = copy.deepcopy(FORM)
    without["fields"].pop()
    preview = client.put("/api/v1/apps/shop/forms/parts?dry_run=1", headers=admin_headers,
                         json=without)
    assert preview.json["dry_run"] is True
    assert preview.json["changes"][0]["action"] == "hide_column"
    assert "data is kept" in preview.json["changes"][0]["message"]
    assert "qty" in client.get(f"{url}/{record['id']}", headers=admin_headers).json  # dry run
    client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=without)
    hidden = client.get(f"{url}/{record['id']}", headers=admin_headers).json
    assert "qty" not in hidden
    unknown = client.post(url, headers=admin_headers, json={"code": "P2", "qty": "1"})
    assert unknown.status_code == 422
    relabelled = copy.deepcopy(FORM)
    relabelled["fields"][1]["label"] = "数量"
    back = client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=relabelled)
    assert back.json["changes"][0]["action"] == "show_column"
    assert client.get(f"{url}/{record['id']}", headers=admin_headers).json["qty"] == "5"
    history = client.get("/api/v1/apps/shop/forms/parts", headers=admin_headers).json["history"]
    assert [h["version"] for h in history] == [1, 2, 3]


def test_form_definition_errors_are_422_with_pointers(store, client, admin_headers):
    client.post("/api/v1/apps", headers=admin_headers, json={"key": "shop", "name": "车间"})
    bad = copy.deepcopy(FORM)
    bad["fields"].append({"key": "code", "type": "numbr"})
    response = client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=bad)
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "/fields/2/type"
    bad = copy.deepcopy(FORM)
    bad["fields"].append({"key": "code", "type": "relation", "target": "partz"})
    bad["fields"].append({"key": "version", "type": "text"})
    response = client.put("/api/v1/apps/shop/forms/parts", headers=admin_headers, json=bad)
    messages = {e["field"]: e["message"] for e in response.json["errors"]}
    assert "duplicate field key 'code'" in messages["/fields/2/key"]
    assert "did you mean 'parts'" in messages["/fields/2/target"]
    assert "reserved" in messages["/fields/3/key"]
    wrong_key = client.put("/api/v1/apps/shop/forms/other", headers=admin_headers, json=FORM)
    assert wrong_key.status_code == 422


def test_export_import_round_trip(installed, client, admin_headers):
    bundle = client.get("/api/v1/apps/receipts", headers=admin_headers).json
    assert bundle["loom_bundle"] == 1 and "forms/materials.json" in bundle["documents"]
    materials = bundle["documents"]["forms/materials.json"]
    materials["fields"].append({"key": "barcode_text", "type": "text", "label": "条码"})
    response = client.put("/api/v1/apps/receipts", headers=admin_headers, json=bundle)
    assert response.status_code == 200, response.json
    assert any(c["field"] == "barcode_text" for c in response.json["changes"])
    records = client.get("/api/v1/apps/receipts/forms/materials/records",
                         headers=admin_headers).json
    assert records["total"] == 6 and records["records"][0]["barcode_text"] is None
    mismatch = client.put("/api/v1/apps/other", headers=admin_headers, json=bundle)
    assert mismatch.status_code == 422
    not_bundle = client.put("/api/v1/apps/receipts", headers=admin_headers, json={"a": 1})
    assert not_bundle.status_code == 422 and "not a Loom app bundle" in \
        not_bundle.json["errors"][0]["message"]


def test_install_template_endpoint(store, client, admin_headers):
    response = client.post("/api/v1/apps/install", headers=admin_headers,
                           json={"template": "receipts", "sample_data": True})
    assert response.status_code == 201, response.json
    assert response.json["records"] == 12
    again = client.post("/api/v1/apps/install", headers=admin_headers,
                        json={"template": "receipts"})
    assert again.status_code == 409
    missing = client.post("/api/v1/apps/install", headers=admin_headers,
                          json={"template": "nope"})
    assert missing.status_code == 404 and "available" in missing.json["errors"][0]["message"]


def test_only_admins_change_definitions(installed, client, store):
    token = make_user(store, "viewer1", roles=[("receipts", "viewer")])
    headers = {"Authorization": f"Bearer {token}"}
    bundle_get = client.get("/api/v1/apps/receipts", headers=headers)
    assert bundle_get.status_code == 200
    put = client.put("/api/v1/apps/receipts/forms/parts", headers=headers, json=FORM)
    assert put.status_code == 403
    assert client.post("/api/v1/apps", headers=headers,
                       json={"key": "x", "name": "x"}).status_code == 403


def test_openapi_document_describes_live_forms(installed, client, admin_headers):
    anonymous = client.get("/api/v1/openapi.json").json
    assert anonymous["openapi"].startswith("3.") and "/auth/token" in anonymous["paths"]
    assert not any("receipts" in p for p in anonymous["paths"])
    document = client.get("/api/v1/openapi.json", headers=admin_headers).json
    schema = document["components"]["schemas"]["receipts.materials"]
    assert schema["properties"]["safety_stock"]["type"] == "number"
    assert schema["properties"]["unit"]["enum"] == ["pcs", "kg", "m"]
    assert set(schema["required"]) == {"code", "name"}
    lines = document["components"]["schemas"]["receipts.receipts"]["properties"]["lines"]
    assert lines["items"]["properties"]["qty"]["type"] == "number"
    assert "/apps/receipts/forms/receipts/records/{id}" in document["paths"]


def test_openapi_covers_every_field_type():
    from engines.forms.definition import parse_form
    from engines.forms.fieldtypes import FIELD_TYPES
    from runtime.api.openapi import record_schema

    extra = {"select": {"options": ["a"]}, "multiselect": {"options": ["a"]},
             "relation": {"target": "x"}, "barcode": {"target": "x", "match": "code"},
             "autonumber": {"pattern": "N{seq}"}, "formula": {"expr": "1", "result": "text"},
             "rollup": {"source": "x", "via": "y", "aggregate": "count"}}
    fields = [{"key": f"f_{name}", "type": name, **extra.get(name, {})}
              for name in [*FIELD_TYPES, "formula"]]
    fields.append({"key": "lines", "type": "subtable", "fields": [{"key": "q", "type": "number"}]})
    schema = record_schema(parse_form({"key": "all", "label": "all", "fields": fields}))
    for field in fields:
        assert schema["properties"][field["key"]], field["type"]
    assert schema["properties"]["f_formula"]["type"] == "string"
    assert schema["properties"]["f_formula"]["readOnly"] is True
