"""The OpenAPI 3 document, built from the live definitions the caller may see.

Without a token it describes the generic endpoints; with one it adds, for every form
of every app the caller has a role in, the paths of its records with the record's
own JSON Schema (``components.schemas.<app>.<form>``).
"""

from __future__ import annotations

from flask import jsonify

from engines.forms.definition import label_text
from runtime.api import Unauthorized, actor, api, store
from runtime.auth.permissions import can_see_app

_ERRORS = {"$ref": "#/components/schemas/Errors"}
_FIELD_SCHEMAS = {
    "text": {"type": "string"}, "textarea": {"type": "string"},
    "number": {"type": "number"}, "money": {"type": "number"}, "percent": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "checkbox": {"type": "boolean"},
    "user": {"type": "integer", "minimum": 1}, "department": {"type": "integer", "minimum": 1},
    "relation": {"type": "integer", "minimum": 1},
    "location": {"type": "object", "properties": {"lat": {"type": "number"},
                                                  "lng": {"type": "number"},
                                                  "address": {"type": "string"}}},
    "signature": {"type": "string", "pattern": "^data:image/"},
    "autonumber": {"type": "string", "readOnly": True},
    "barcode": {"type": "string", "description": "a scanned code; resolves to a record"},
    "rollup": {"type": "number", "readOnly": True},
    "attachment": {"type": "array", "items": {"oneOf": [
        {"type": "integer", "description": "an uploaded file's id"},
        {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                          "size": {"type": "integer"},
                                          "type": {"type": "string"}}}]}},
}


def field_schema(field) -> dict:
    if field.type in ("select", "multiselect"):
        item = {"type": "string", "enum": field.option_values()}
        schema = item if field.type == "select" else {"type": "array", "items": item}
    elif field.type == "subtable":
        schema = {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"id": {"type": "integer", "description": "keep to update a line"},
                           **{f.key: field_schema(f) for f in field.fields}},
            "required": [f.key for f in field.fields if f.required]}}
    elif field.type == "formula":
        result = field.get("result", "number")
        schema = {**(_FIELD_SCHEMAS.get(result) or {"type": "number"}), "readOnly": True}
    else:
        schema = dict(_FIELD_SCHEMAS[field.type])
    schema = {**schema, "nullable": not field.required} if field.type != "subtable" else schema
    title = label_text(field.label, "en")
    return {**schema, "title": title} if title else schema


def record_schema(form) -> dict:
    system = {"id": {"type": "integer", "readOnly": True},
              "version": {"type": "integer", "description": "send back to update safely"},
              "created_at": {"type": "string", "format": "date-time", "readOnly": True},
              "created_by": {"type": "integer", "nullable": True, "readOnly": True},
              "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
              "updated_by": {"type": "integer", "nullable": True, "readOnly": True}}
    return {"type": "object", "title": label_text(form.label, "en"),
            "additionalProperties": False,
            "properties": {**system, **{f.key: field_schema(f) for f in form.fields}},
            "required": [f.key for f in form.fields if f.required]}


def _op(summary, *, body=None, ok=200, response=None, params=(), auth=True, errors=(422,)):
    op = {"summary": summary, "responses": {str(ok): {"description": "OK"}}}
    if response is not None:
        op["responses"][str(ok)]["content"] = {"application/json": {"schema": response}}
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    for code in (401, 403, 404, *errors) if auth else errors:
        op["responses"][str(code)] = {"description": "error",
                                      "content": {"application/json": {"schema": _ERRORS}}}
    if params:
        op["parameters"] = list(params)
    if not auth:
        op["security"] = []
    return op


def _path_param(name, schema=None):
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query_param(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_LIST_PARAMS = (
    _query_param("sort", {"type": "string"}, "fields to sort by, '-' for descending"),
    _query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
    _query_param("offset", {"type": "integer", "minimum": 0}, "rows to skip"),
)


def report_paths() -> dict:
    app, report = _path_param("app"), _path_param("report")
    params = _query_param("<parameter>", {"type": "string"}, "any parameter of the report, "
                          "by its key (e.g. ?supplier=3&from=2026-01-01)")
    result = {"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "object"}},
        "rows": {"type": "array", "items": {"type": "array"}},
        "figure": {"type": "object", "description": "Plotly figure JSON"}}}
    return {
        "/apps/{app}/reports": {"get": _op("Reports and dashboards of an app",
                                           params=[app])},
        "/apps/{app}/reports/{report}": {"get": _op(
            "Run a report: its columns, rows and Plotly figure", params=[app, report, params],
            response=result)},
        "/apps/{app}/reports/{report}/drill": {"get": _op(
            "The records behind one chart element", params=[app, report, _query_param(
                "element", {"type": "string"}, 'JSON object of dimension values, e.g. '
                '{"month": "2026-11"}'), params])},
        "/apps/{app}/reports/{report}/export.csv": {"get": _op(
            "A report's data as CSV", params=[app, report, params])},
        "/apps/{app}/reports/{report}/export.xlsx": {"get": _op(
            "A report's data as an Excel workbook", params=[app, report, params])},
        "/apps/{app}/dashboards/{dashboard}": {"get": _op(
            "Every widget of a dashboard, with global filters as query arguments",
            params=[app, _path_param("dashboard"), _query_param(
                "<filter>", {"type": "string"}, "a global filter of the dashboard by its key")])},
    }


def build_document(visible_apps) -> dict:
    any_object = {"type": "object"}
    paths = {
        "/auth/token": {"post": _op("Log in and get an API token", auth=False, ok=201,
                                    errors=(401, 422),
                                    body={"type": "object", "required": ["username", "password"],
                                          "properties": {"username": {"type": "string"},
                                                         "password": {"type": "string"}}})},
        "/apps": {"get": _op("Apps you have a role in"),
                  "post": _op("Create an empty app", ok=201, body={
                      "type": "object", "required": ["key", "name"],
                      "properties": {"key": {"type": "string"}, "name": {}}})},
        "/apps/install": {"post": _op("Install a template", ok=201, body={
            "type": "object", "required": ["template"],
            "properties": {"template": {"type": "string"}, "sample_data": {"type": "boolean"}}})},
        "/apps/{app}": {"get": _op("Export the app bundle", params=[_path_param("app")]),
                        "put": _op("Import a bundle over the app", body=any_object,
                                   params=[_path_param("app")])},
        "/apps/{app}/forms": {"get": _op("Forms of an app", params=[_path_param("app")])},
        "/apps/{app}/forms/{form}": {
            "get": _op("A form definition with its versions",
                       params=[_path_param("app"), _path_param("form")]),
            "put": _op("Create or change a form (migrates its table)", body=any_object,
                       params=[_path_param("app"), _path_param("form"), _query_param(
                           "dry_run", {"type": "boolean"}, "report the migration only")])},
        **report_paths(),
        "/apps/{app}/rules": {"get": _op("The app's rules in firing order",
                                         params=[_path_param("app")])},
        "/apps/{app}/rules/check": {"post": _op(
            "Check rule text: errors and warnings with line and column",
            params=[_path_param("app")], body={
                "type": "object", "required": ["source"],
                "properties": {"source": {"type": "string"}, "filename": {"type": "string"}}})},
        "/apps/{app}/rules/dry-run": {"post": _op(
            "What a rule would do for a record, balance row or payload (nothing is kept)",
            params=[_path_param("app")], body={
                "type": "object", "properties": {
                    "rule": {"type": "string"}, "source": {"type": "string"},
                    "record": {"type": "integer"}, "balance": any_object,
                    "payload": any_object}})},
        "/apps/{app}/rules/runs": {"get": _op("The rule run log, newest first", params=[
            _path_param("app"), _query_param("rule", {"type": "string"}, "one rule only"),
            _query_param("limit", {"type": "integer"}, "at most this many")])},
        "/apps/{app}/outbox": {"get": _op("Queued messages and webhook calls with their "
                                          "delivery attempts", params=[_path_param("app")])},
        "/apps/{app}/hooks/{name}": {"post": _op(
            "Inbound webhook: runs the rules of `when webhook \"name\"` (X-Loom-Secret or "
            "X-Loom-Signature: sha256=<HMAC of the body>)", auth=False, body=any_object,
            errors=(403, 404, 422), params=[_path_param("app"), _path_param("name")])},
        "/notifications": {"get": _op("Your in-app notifications, newest first", params=[
            _query_param("unread", {"type": "boolean"}, "only unread ones"), *_LIST_PARAMS[1:]])},
        "/notifications/unread-count": {"get": _op("How many notifications you have not read")},
        "/notifications/{id}/read": {"post": _op("Mark a notification read", params=[
            _path_param("id", {"type": "integer"})])},
        "/notifications/read-all": {"post": _op("Mark all your notifications read")},
    }
    schemas = {"Errors": {"type": "object", "required": ["errors"], "properties": {
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string", "nullable": True}, "message": {"type": "string"}}}}}}}
    for schema in visible_apps:
        for key in schema.form_order():
            form = schema.forms[key].form
            name = f"{schema.key}.{key}"
            schemas[name] = record_schema(form)
            ref = {"$ref": f"#/components/schemas/{name}"}
            base = f"/apps/{schema.key}/forms/{key}/records"
            one = [_path_param("id", {"type": "integer"})]
            label = label_text(form.label, "en")
            paths[base] = {
                "get": _op(f"List {label}", params=_LIST_PARAMS, response={
                    "type": "object", "properties": {"records": {"type": "array", "items": ref},
                                                     "total": {"type": "integer"}}}),
                "post": _op(f"Create a record of {label}", ok=201, body=ref, response=ref),
            }
            paths[base + "/{id}"] = {
                "get": _op(f"One record of {label}", params=one, response=ref),
                "patch": _op(f"Change a record of {label}", params=one, body=ref, response=ref,
                             errors=(409, 422)),
                "delete": _op(f"Delete a record of {label}", params=one, ok=204,
                              errors=(409,)),
            }
            paths[base + "/{id}/history"] = {"get": _op(f"History of a record of {label}",
                                                        params=one)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Loom API", "version": "1",
                 "description": "Records of every form, live from the app definitions."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


@api.get("/openapi.json")
def openapi_document():
    try:
        who = actor()
    except Unauthorized:
        who = None
    visible = []
    if who is not None:
        with store().read() as conn:
            for key in store().app_keys(conn):
                schema = store().app(conn, key)
                if can_see_app(who, schema):
                    visible.append(schema)
    return jsonify(build_document(visible))
