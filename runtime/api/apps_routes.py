from __future__ import annotations

from flask import jsonify, request

from engines.forms.definition import label_text
from runtime.api import actor, api, body, store
from runtime.services import apps, ledger_views, templates
from runtime.services.errors import Invalid


@api.get("/apps")
def list_apps():
    return jsonify({"apps": apps.list_apps(store(), actor())})


@api.post("/apps")
def create_app():
    data = body()
    if not isinstance(data, dict):
        raise Invalid([{"field": None, "message": 'send {"key": ..., "name": ...}'}])
    result = apps.create_app(store(), actor(), data.get("key"), data.get("name"))
    return jsonify(result), 201


@api.post("/apps/install")
def install_app():
    data = body()
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        raise Invalid([{"field": "template", "message": "name the template to install, e.g. "
                        '{"template": "receipts", "sample_data": true}'}])
    sample = data.get("sample_data", False)
    if not isinstance(sample, bool):
        raise Invalid([{"field": "sample_data", "message": "must be true or false"}])
    result = templates.install_template(store(), actor(), data["template"], sample_data=sample)
    return jsonify(result), 201


@api.get("/apps/<app>")
def export_app(app):
    return jsonify(apps.export_bundle(store(), actor(), app))


@api.put("/apps/<app>")
def import_app(app):
    documents = apps.bundle_documents(body())
    app_doc = documents.get("app.json")
    if isinstance(app_doc, dict) and app_doc.get("key") != app:
        raise Invalid([{"field": "app.json#/key", "message": f"the bundle is app "
                        f"'{app_doc.get('key')}', not '{app}'"}])
    return jsonify(apps.install_documents(store(), actor(), documents, replace=True,
                                          comment="imported"))


@api.get("/apps/<app>/forms")
def list_forms(app):
    lang = request.args.get("lang", "zh")
    with store().read() as conn:
        schema = apps.app_schema(store(), conn, actor(), app)
        forms = [{"key": key, "label": schema.forms[key].form.label,
                  "label_text": label_text(schema.forms[key].form.label, lang),
                  "fields": len(schema.forms[key].form.fields)}
                 for key in schema.form_order()]
    return jsonify({"forms": forms})


@api.get("/apps/<app>/forms/<form>")
def get_form(app, form):
    return jsonify(apps.get_form(store(), actor(), app, form))


@api.put("/apps/<app>/forms/<form>")
def put_form(app, form):
    dry_run = request.args.get("dry_run", "").lower() in ("1", "true", "yes")
    result = apps.put_form(store(), actor(), app, form, body(), dry_run=dry_run)
    return jsonify(result)


@api.get("/apps/<app>/flows/<flow>")
def get_flow(app, flow):
    return jsonify(apps.get_flow(store(), actor(), app, flow))


@api.put("/apps/<app>/flows/<flow>")
def put_flow(app, flow):
    return jsonify(apps.put_flow(store(), actor(), app, flow, body()))


@api.get("/apps/<app>/ledgers/<ledger>/balances")
def ledger_balances(app, ledger):
    filters = {k: v for k, v in request.args.items() if k != "lang"}
    return jsonify(ledger_views.balances(store(), actor(), app, ledger, filters))


@api.get("/apps/<app>/ledgers/<ledger>/trace")
def ledger_trace(app, ledger):
    return jsonify(ledger_views.trace_json(store(), actor(), app, ledger,
                                           lot=request.args.get("lot"),
                                           serial=request.args.get("serial"),
                                           direction=request.args.get("direction", "backward")))


@api.get("/apps/<app>/ledgers/<ledger>/closing")
def ledger_closing(app, ledger):
    return jsonify(ledger_views.closing(store(), actor(), app, ledger))


@api.post("/apps/<app>/ledgers/<ledger>/closing")
def close_ledger_period(app, ledger):
    return jsonify(ledger_views.close(store(), actor(), app, ledger, body()))
