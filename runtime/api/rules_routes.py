"""Rules, inbound webhooks, the delivery log and the in-app inbox."""

from __future__ import annotations

from flask import jsonify, request

from runtime.api import actor, api, body, int_arg, store
from runtime.notify import inbox
from runtime.services import rule_runs
from runtime.services.errors import Invalid


@api.get("/apps/<app>/rules")
def list_rules(app):
    return jsonify({"rules": rule_runs.list_rules(store(), actor(), app)})


@api.post("/apps/<app>/rules/check")
def check_rules(app):
    data = body()
    if not isinstance(data, dict):
        raise Invalid([{"field": None, "message": 'send {"source": "<rule text>"}'}])
    return jsonify(rule_runs.check(store(), actor(), app, data.get("source"),
                                   data.get("filename") or "rules.rule"))


@api.post("/apps/<app>/rules/dry-run")
def dry_run(app):
    return jsonify(rule_runs.dry_run(store(), actor(), app, body()))


@api.get("/apps/<app>/rules/runs")
def rule_log(app):
    return jsonify({"runs": rule_runs.run_log(store(), actor(), app,
                                               rule=request.args.get("rule"),
                                               limit=int_arg("limit", 100))})


@api.get("/apps/<app>/outbox")
def outbox(app):
    return jsonify({"outbox": rule_runs.deliveries(store(), actor(), app,
                                                   limit=int_arg("limit", 100))})


@api.post("/apps/<app>/hooks/<name>")
def inbound_webhook(app, name):
    # No bearer token: the caller is another system holding the hook's shared secret.
    result = rule_runs.receive_webhook(store(), app, name, request.get_data(cache=True),
                                       request.headers.get("X-Loom-Secret"),
                                       request.headers.get("X-Loom-Signature"))
    return jsonify(result)


@api.get("/notifications")
def notifications():
    unread = request.args.get("unread", "").lower() in ("1", "true", "yes")
    return jsonify(inbox.list_notifications(store(), actor(), unread=unread,
                                            limit=int_arg("limit", 50),
                                            offset=int_arg("offset", 0)))


@api.get("/notifications/unread-count")
def unread_count():
    return jsonify({"unread": inbox.count_unread(store(), actor())})


@api.post("/notifications/<int:note_id>/read")
def mark_read(note_id):
    return jsonify(inbox.mark_read(store(), actor(), note_id))


@api.post("/notifications/read-all")
def mark_all_read():
    return jsonify(inbox.mark_read(store(), actor()))
