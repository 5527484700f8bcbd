from __future__ import annotations

from flask import Response, jsonify, request, send_file, url_for

from runtime.api import actor, api, body, int_arg, store
from runtime.services import (
    approvals,
    cancelling,
    evaluate,
    printing,
    query,
    records,
    related,
    sheet_jobs,
    spreadsheets,
    views,
)
from runtime.services.errors import Invalid

_LIST_ARGS = {"sort", "limit", "offset", "lang", "q", "totals"}


@api.get("/apps/<app>/forms/<form>/records")
def list_records(app, form):
    filters = query.parse_filters((k, v) for k, v in request.args.items(multi=True)
                                  if k not in _LIST_ARGS)
    result = query.list_records(store(), actor(), app, form, filters=filters,
                                sort=request.args.get("sort"),
                                limit=int_arg("limit", query.DEFAULT_LIMIT),
                                offset=int_arg("offset", 0), search=request.args.get("q"),
                                totals=[k for k in request.args.get("totals", "").split(",")
                                        if k.strip()])
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
    return jsonify(records.history(store(), actor(), app, form, record_id))


def _optional_body() -> dict:
    if not request.get_data(cache=True).strip():
        return {}
    data = body()
    if not isinstance(data, dict):
        raise Invalid([{"field": None, "message": "expected a JSON object"}])
    return data


@api.post("/apps/<app>/forms/<form>/records/<int:record_id>/submit")
def submit_record(app, form, record_id):
    data = _optional_body()
    return jsonify(approvals.submit_record(store(), actor(), app, form, record_id,
                                           comment=data.get("comment")))


@api.post("/apps/<app>/forms/<form>/records/<int:record_id>/withdraw")
def withdraw_record(app, form, record_id):
    data = _optional_body()
    return jsonify(approvals.withdraw_record(store(), actor(), app, form, record_id,
                                             comment=data.get("comment")))


@api.get("/apps/<app>/forms/<form>/records/<int:record_id>/related")
def related_records(app, form, record_id):
    return jsonify({"related": related.related_records(store(), actor(), app, form,
                                                       record_id)})


@api.get("/apps/<app>/forms/<form>/records/<int:record_id>/print")
def print_record(app, form, record_id):
    """The record printed as HTML (a form's print template, or the standard layout)."""
    html = printing.print_record(store(), actor(), app, form, record_id,
                                 template=request.args.get("template") or None,
                                 lang=request.args.get("lang", "zh"))
    return Response(html, mimetype="text/html")


@api.get("/apps/<app>/forms/<form>/prints")
def list_prints(app, form):
    return jsonify({"prints": printing.list_prints(store(), actor(), app, form,
                                                   request.args.get("lang", "zh"))})


@api.post("/apps/<app>/forms/<form>/records/<int:record_id>/cancel")
def cancel_record(app, form, record_id):
    data = _optional_body()
    return jsonify(cancelling.cancel_record(store(), actor(), app, form, record_id,
                                            comment=data.get("comment")))


@api.get("/apps/<app>/forms/<form>/views")
def list_views(app, form):
    return jsonify(views.list_views(store(), actor(), app, form))


@api.post("/apps/<app>/forms/<form>/views")
def save_view(app, form):
    response = jsonify(views.save_view(store(), actor(), app, form, body()))
    response.status_code = 201
    return response


@api.delete("/apps/<app>/forms/<form>/views/<int:view_id>")
def delete_view(app, form, view_id):
    views.delete_view(store(), actor(), app, form, view_id)
    return "", 204


@api.get("/tasks")
def list_tasks():
    return jsonify(approvals.list_tasks(store(), actor(), request.args.get("box", "todo"),
                                        limit=min(int_arg("limit", 50), 500),
                                        offset=int_arg("offset", 0),
                                        app=request.args.get("app") or None,
                                        form=request.args.get("form") or None))


_TASK_OPTIONS = {"comment": str, "to_node": str, "to": int, "users": list, "position": str}


@api.post("/tasks/<int:task_id>/<action>")
def act_on_task(task_id, action):
    if action not in ("approve", "reject", "return", "transfer", "add_signer", "comment",
                      "urge"):
        raise Invalid([{"field": "action", "message": f"unknown action '{action}'; use approve, "
                        "reject, return, transfer, add_signer, comment or urge"}])
    data = _optional_body()
    options = {}
    for name, kind in _TASK_OPTIONS.items():
        if name in data:
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise Invalid([{"field": name, "message": f"{name} must be a {kind.__name__}"}])
            options[name] = data[name]
    return jsonify(approvals.act_on_task(store(), actor(), task_id, action, **options))


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
    upload = _upload()
    dry_run = _flag("dry_run")
    report = spreadsheets.import_rows(store(), actor(), app, form, upload.read(),
                                      upload.filename, key=request.args.get("key") or None,
                                      dry_run=dry_run)
    return jsonify(report), 200 if report["committed"] or dry_run else 422


def _upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid([{"field": "file", "message": "send the spreadsheet as multipart/form-data "
                        "in a part named 'file'"}])
    return upload


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@api.post("/apps/<app>/forms/<form>/imports")
def start_import(app, form):
    """The same import as a background job: ?dry_run=1 checks only, ?key= upserts."""
    upload = _upload()
    job = sheet_jobs.start_import(store(), actor(), app, form, upload.read(), upload.filename,
                                  key=request.args.get("key") or None,
                                  dry_run=_flag("dry_run"))
    return jsonify(job), 202


@api.post("/apps/<app>/forms/<form>/exports")
def start_export(app, form):
    filters = query.parse_filters((k, v) for k, v in request.args.items(multi=True)
                                  if k not in _LIST_ARGS | {"format"})
    job = sheet_jobs.start_export(store(), actor(), app, form,
                                  fmt=request.args.get("format", "xlsx"), filters=filters,
                                  sort=request.args.get("sort"), search=request.args.get("q"),
                                  lang=request.args.get("lang", "zh"))
    return jsonify(job), 202


@api.get("/jobs/<int:job_id>")
def job_status(job_id):
    return jsonify(sheet_jobs.job_status(store(), actor(), job_id))


@api.get("/jobs/<int:job_id>/file")
def job_file(job_id):
    path, name = sheet_jobs.export_file(store(), actor(), job_id)
    return send_file(path, as_attachment=True, download_name=name)


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
