from __future__ import annotations

from flask import Response, jsonify, request, url_for

from runtime.api import actor, api, body, int_arg, store
from runtime.services import evaluate, query, records, spreadsheets
from runtime.services.errors import Invalid

_LIST_ARGS = {"sort", "limit", "offset", "lang", "q"}


@api.get("/apps/<app>/forms/<form>/records")
def list_records(app, form):
    filters = query.parse_filters((k, v) for k, v in request.args.items(multi=True)
                                  if k not in _LIST_ARGS)
    result = query.list_records(store(), actor(), app, form, filters=filters,
                                sort=request.args.get("sort"),
                                limit=int_arg("limit", query.DEFAULT_LIMIT),
                                offset=int_arg("offset", 0), search=request.args.get("q"))
    return jsonify(result)


@api.post("/apps/<app>/forms/<form>/records")
def create_record(app, form):
    record = records.create_record(store(), actor(), app, form, body())
    response = jsonify(record)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_record", app=app, form=form,
                                           record_id=record["id"])
    return response


@api.get("/apps/<app>/forms/<form>/records/<int:record_id>")
def get_record(app, form, record_id):
    return jsonify(records.get_record(store(), actor(), app, form, record_id))


@api.patch("/apps/<app>/forms/<form>/records/<int:record_id>")
def update_record(app, form, record_id):
    version = request.headers.get("If-Match")
    version = int(version.strip('"')) if version and version.strip('"').isdigit() else None
    return jsonify(records.update_record(store(), actor(), app, form, record_id, body(),
                                         version=version))


@api.delete("/apps/<app>/forms/<form>/records/<int:record_id>")
def delete_record(app, form, record_id):
    records.delete_record(store(), actor(), app, form, record_id)
    return "", 204


@api.get("/apps/<app>/forms/<form>/records/<int:record_id>/history")
def record_history(app, form, record_id):
    return jsonify({"history": records.history(store(), actor(), app, form, record_id)})


@api.post("/apps/<app>/forms/<form>/records/evaluate")
def evaluate_record(app, form):
    """A draft's computed values, fills and messages, without saving (for live pages)."""
    record_id = request.args.get("id")
    record_id = int(record_id) if record_id and record_id.isdigit() else None
    return jsonify(evaluate.evaluate_record(store(), actor(), app, form, body(),
                                            record_id=record_id))


@api.post("/apps/<app>/forms/<form>/import")
def import_records(app, form):
    """Rows of an .xlsx / .csv as records: all or nothing; ?dry_run=1 previews,
    ?key=<field> updates the records whose key matches (upsert)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid([{"field": "file", "message": "send the spreadsheet as multipart/form-data "
                        "in a part named 'file'"}])
    dry_run = request.args.get("dry_run", "").lower() in ("1", "true", "yes")
    report = spreadsheets.import_rows(store(), actor(), app, form, upload.read(),
                                      upload.filename, key=request.args.get("key") or None,
                                      dry_run=dry_run)
    return jsonify(report), 200 if report["committed"] or dry_run else 422


@api.get("/apps/<app>/forms/<form>/export")
def export_records(app, form):
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise Invalid([{"field": "format", "message": "format is xlsx or csv"}])
    filters = query.parse_filters((k, v) for k, v in request.args.items(multi=True)
                                  if k not in _LIST_ARGS | {"format"})
    data = spreadsheets.export_rows(store(), actor(), app, form, fmt=fmt, filters=filters,
                                    sort=request.args.get("sort"), search=request.args.get("q"),
                                    lang=request.args.get("lang", "zh"))
    mimetype = "text/csv" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{app}-{form}.{fmt}"'})
