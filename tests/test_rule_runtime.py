"""Rules running in the write path, end to end through the API: the low-stock rule of
examples/receipts, rollback of a failing action, chains and the run log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from runtime.auth.actors import SYSTEM
from runtime.services.apps import export_bundle, install_documents
from runtime.storage import platform
from tests.conftest import EXAMPLE, make_user

RECEIPTS = "/api/v1/apps/receipts/forms/receipts/records"
ISSUES = "/api/v1/apps/receipts/forms/issues/records"
REQUESTS = "/api/v1/apps/receipts/forms/purchase_requests/records"


@pytest.fixture
def people(installed, store):
    def headers(name, *roles):
        token = make_user(store, name, roles=[("receipts", r) for r in roles])
        return {"Authorization": f"Bearer {token}"}

    return {"clerk": headers("clerk", "clerk"), "boss": headers("boss", "supervisor"),
            "buyer": headers("buyer", "purchasing"), "buyer2": headers("buyer2", "purchasing"),
            "admin": headers("root", "supervisor") | {}}


def _receive(client, people, qty):
    """Receive ``qty`` of M-001 (12 each: under the finance limit) and approve it."""
    made = client.post(RECEIPTS, headers=people["clerk"], json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
        "lines": [{"material": {"code": "M-001"}, "qty": qty, "price": 12}]})
    assert made.status_code == 201, made.json
    client.post(f"{RECEIPTS}/{made.json['id']}/submit", headers=people["clerk"])
    [task] = client.get("/api/v1/tasks", headers=people["boss"]).json["tasks"]
    done = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"])
    assert done.status_code == 200, done.json


def _issue(client, people, qty):
    made = client.post(ISSUES, headers=people["clerk"], json={
        "lines": [{"scan": "M-001", "qty": qty}]})
    assert made.status_code == 201, made.json
    return client.post(f"{ISSUES}/{made.json['id']}/submit", headers=people["clerk"])


def _requests(client, headers):
    return client.get(REQUESTS, headers=headers).json["records"]


def _inbox(client, headers):
    return client.get("/api/v1/notifications", headers=headers).json


def test_low_stock_creates_one_request_and_one_notification_per_fall(client, people,
                                                                    admin_headers):
    # M-001's safety stock is 200.
    _receive(client, people, 500)
    assert _requests(client, admin_headers) == []  # 500 is not low
    assert _issue(client, people, 400).status_code == 200  # 100 left: below 200
    [request] = _requests(client, admin_headers)
    assert request["qty"] == 300  # safety stock * 2 - what is left
    assert request["status"] == "open" and request["note"] == "低库存自动生成"
    inbox = _inbox(client, people["buyer"])
    assert inbox["unread"] == 1
    [note] = inbox["notifications"]
    assert note["title"] == "低库存: 主控芯片"
    assert note["body"] == "当前 100, 安全库存 200"
    assert _inbox(client, people["buyer2"])["unread"] == 1  # every holder of the role
    assert _inbox(client, people["clerk"])["unread"] == 0

    # Still below: no second request, no second message.
    assert _issue(client, people, 30).status_code == 200
    assert len(_requests(client, admin_headers)) == 1
    assert _inbox(client, people["buyer"])["unread"] == 1

    # Back above the safety stock, then below again: warned again, once.
    _receive(client, people, 500)  # 570
    assert len(_requests(client, admin_headers)) == 1
    assert _issue(client, people, 450).status_code == 200  # 120
    requests = _requests(client, admin_headers)
    assert sorted(r["qty"] for r in requests) == [280, 300]
    assert _inbox(client, people["buyer"])["unread"] == 2

    runs = client.get("/api/v1/apps/receipts/rules/runs", headers=admin_headers).json["runs"]
    assert [r["outcome"] for r in runs] == ["ran", "ran"]
    assert runs[0]["rule"] == "低库存预警" and runs[0]["trigger"] == "stock.balance changed"
    assert runs[0]["subject"].startswith("stock/item=")
    assert all(isinstance(r["duration_ms"], int) for r in runs)


def test_inbox_marks_read(client, people, admin_headers):
    _receive(client, people, 300)
    _issue(client, people, 250)
    buyer = people["buyer"]
    [note] = _inbox(client, buyer)["notifications"]
    assert client.get("/api/v1/notifications/unread-count", headers=buyer).json == {"unread": 1}
    marked = client.post(f"/api/v1/notifications/{note['id']}/read", headers=buyer)
    assert marked.json == {"marked": 1, "unread": 0}
    assert _inbox(client, buyer)["notifications"][0]["read_at"] is not None
    assert client.get("/api/v1/notifications?unread=1", headers=buyer).json[
        "notifications"] == []
    # Someone else's notification is not theirs to mark.
    other = client.post(f"/api/v1/notifications/{note['id']}/read", headers=people["buyer2"])
    assert other.status_code == 404
    assert client.get("/api/v1/notifications").status_code == 401
    for path in ("rules", "rules/runs", "outbox"):  # for the app's administrators
        assert client.get(f"/api/v1/apps/receipts/{path}", headers=buyer).status_code == 403
        assert client.get(f"/api/v1/apps/receipts/{path}",
                          headers=admin_headers).status_code == 200


def _with_rules(store, rules: dict[str, str], app: dict | None = None):
    """Re-import the receipts app with these rule files (and app.json changes)."""
    bundle = export_bundle(store, SYSTEM, "receipts")
    documents = {k: v for k, v in bundle["documents"].items() if not k.startswith("rules/")}
    documents.update({f"rules/{name}.rule": text for name, text in rules.items()})
    if app:
        documents["app.json"] = {**documents["app.json"], **app}
    install_documents(store, SYSTEM, documents, replace=True)


def _count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_a_failing_action_rolls_back_the_write_and_names_the_rule(client, people, store,
                                                                admin_headers):
    _with_rules(store, {"strict": '''
rule "大单提醒"
when materials updated
then call webhook "http://127.0.0.1:9/hook" payload {code: code}
     notify role "purchasing" by inapp, email title "物料 {code} 已修改"
     create purchase_requests {material: id, qty: -5}
'''})
    m001 = client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=admin_headers).json["records"][0]
    changed = client.patch(f"/api/v1/apps/receipts/forms/materials/records/{m001['id']}",
                           headers=admin_headers, json={"spec": "changed"})
    assert changed.status_code == 422
    [error] = changed.json["errors"]
    assert error["field"] == "rule:大单提醒"
    assert error["message"].startswith('rule "大单提醒", line 6 (create): qty')
    again = client.get(f"/api/v1/apps/receipts/forms/materials/records/{m001['id']}",
                       headers=admin_headers).json
    assert again["spec"] == m001["spec"] and again["version"] == m001["version"]
    assert _count(store, platform.outbox) == 0  # the queued webhook and e-mail went too
    assert _count(store, platform.notifications) == 0
    assert _requests(client, admin_headers) == []
    [run] = client.get("/api/v1/apps/receipts/rules/runs", headers=admin_headers).json["runs"]
    assert run["outcome"] == "failed" and "line 6" in run["detail"]


def test_set_on_the_record_and_a_loop_stopped_at_the_depth_limit(client, people, store,
                                                               admin_headers):
    _with_rules(store, {"loop": '''
rule "编号加前缀"
order 1
when purchase_requests created
if note = "x"
then set note = "auto-" & note

rule "互相触发 A"
when purchase_requests.qty changed
if qty > 1000
then update materials where code = "M-001" set {spec: "A" & trigger.qty}

rule "互相触发 B"
when materials.spec changed
then update purchase_requests where status = "open" set {qty: qty + 1}
'''})
    m001 = client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=admin_headers).json["records"][0]["id"]
    made = client.post(REQUESTS, headers=admin_headers,
                       json={"material": m001, "qty": 5, "note": "x"})
    assert made.status_code == 201, made.json
    assert made.json["note"] == "auto-x"  # set ran in the same write, shown in the answer
    # qty > 1000 starts A -> B -> A ...: re-entry for the same record is skipped, so
    # the chain ends; the log says so.
    looped = client.post(REQUESTS, headers=admin_headers,
                         json={"material": m001, "qty": 2000})
    assert looped.status_code == 201, looped.json
    runs = client.get("/api/v1/apps/receipts/rules/runs", headers=admin_headers).json["runs"]
    assert "skipped" in [r["outcome"] for r in runs]


def test_a_chain_deeper_than_the_limit_fails_naming_the_rules(client, people, store,
                                                            admin_headers):
    # Each run changes a different record, so no re-entry ends it: the depth limit does.
    _with_rules(store, {"chain": '''
rule "再建一条"
when purchase_requests created
if qty < 100
then create purchase_requests {material: material, qty: qty + 1}
'''})
    m001 = client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=admin_headers).json["records"][0]["id"]
    failed = client.post(REQUESTS, headers=admin_headers, json={"material": m001, "qty": 1})
    assert failed.status_code == 422
    message = failed.json["errors"][0]["message"]
    assert "more than 8 deep" in message
    assert message.count('"再建一条"') >= 9
    assert _requests(client, admin_headers) == []


def test_rules_round_trip_through_the_bundle_and_are_checked_on_import(client, installed,
                                                                     admin_headers):
    bundle = client.get("/api/v1/apps/receipts", headers=admin_headers)
    assert bundle.json["documents"]["rules/stock.rule"].startswith("# Stock rules")
    documents = bundle.json["documents"]
    documents["rules/stock.rule"] += '\nrule "x"\nwhen purchse_requests created\nthen set qty = 1\n'
    refused = client.put("/api/v1/apps/receipts", headers=admin_headers,
                         json={"loom_bundle": 1, "documents": documents})
    assert refused.status_code == 422
    [error] = refused.json["errors"]
    assert error["field"] == "rules/stock.rule"
    assert error["message"].startswith("line 12, column 6: unknown form 'purchse_requests'")
    assert "did you mean 'purchase_requests'" in error["message"]


def test_check_endpoint_gives_line_and_column(client, installed, admin_headers):
    url = "/api/v1/apps/receipts/rules/check"
    ok = client.post(url, headers=admin_headers, json={
        "source": 'rule "a"\nwhen issues submitted\nthen notify role "purchasing" title "x"'})
    assert ok.json == {"errors": [], "warnings": []}
    bad = client.post(url, headers=admin_headers, json={
        "source": 'rule "a"\nwhen issues submitted\nif qtty > 1\nthen notify role "buyers" '
                  'title "x"'})
    assert bad.status_code == 200
    found = [(e["line"], e["column"], e["message"]) for e in bad.json["errors"]]
    assert found[0][:2] == (3, 4) and "qtty" in found[0][2]
    assert found[1][:2] == (4, 18) and "unknown role 'buyers'" in found[1][2]
    syntax = client.post(url, headers=admin_headers, json={"source": 'rule "a"\nwhn x'})
    [error] = syntax.json["errors"]
    assert (error["line"], error["column"]) == (2, 1) and "when" in error["message"]
    assert client.post(url, headers=admin_headers, json={"source": 3}).status_code == 422
    assert client.post(url, headers=admin_headers, data="{").status_code == 422


def test_dry_run_shows_what_would_happen_and_keeps_nothing(client, people, store,
                                                         admin_headers):
    _receive(client, people, 500)
    m001 = client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=admin_headers).json["records"][0]["id"]
    before = {t.name: _count(store, t) for t in (platform.outbox, platform.notifications,
                                                  platform.rule_runs, platform.rule_flags)}
    url = "/api/v1/apps/receipts/rules/dry-run"
    quiet = client.post(url, headers=admin_headers,
                        json={"rule": "低库存预警", "balance": {"item": m001}})
    assert quiet.status_code == 200, quiet.json
    assert quiet.json["condition"] is False and quiet.json["runs"] is False
    source = '''rule "试算"
when materials updated
if safety_stock > 100
then set spec = "checked"
     create purchase_requests {material: id, qty: safety_stock}
     notify role "purchasing" by inapp, email title "{name} 需要补货"
     call webhook "http://127.0.0.1:9/x" payload {code: code}'''
    shown = client.post(url, headers=admin_headers, json={"source": source, "record": m001})
    assert shown.status_code == 200, shown.json
    assert shown.json["condition"] is True and shown.json["runs"] is True
    actions = shown.json["actions"]
    assert [a["action"] for a in actions] == ["set", "create", "notify", "call webhook"]
    assert actions[1]["values"] == {"material": m001, "qty": 200}
    assert actions[2]["title"] == "主控芯片 需要补货"
    assert actions[2]["channels"]["inapp"] == ["buyer", "buyer2"]
    assert actions[3]["payload"] == {"code": "M-001"}
    after = {t.name: _count(store, t) for t in (platform.outbox, platform.notifications,
                                                 platform.rule_runs, platform.rule_flags)}
    assert after == before
    assert _requests(client, admin_headers) == []
    m = client.get(f"/api/v1/apps/receipts/forms/materials/records/{m001}",
                   headers=admin_headers).json
    assert m["spec"] == "STM32F407VGT6"
    missing = client.post(url, headers=admin_headers, json={"source": source})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "record"
    broken = client.post(url, headers=admin_headers, json={"source": 'rule "a"\nwhen x y'})
    assert broken.status_code == 422 and broken.json["errors"][0]["line"] == 2
    assert client.post(url, headers=people["clerk"], json={"rule": "低库存预警"}).status_code \
        == 403


def test_inbound_webhook_runs_its_rules_with_the_shared_secret(client, store, installed,
                                                             admin_headers):
    _with_rules(store, {"erp": '''
rule "ERP 下单"
when webhook "erp_order"
if payload.qty > 0
then create purchase_requests {material: payload.material, qty: payload.qty,
                               note: payload.order_no}
'''}, app={"webhooks": {"inbound": {"erp_order": {"secret": "s3cret-value"}}}})
    m001 = client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=admin_headers).json["records"][0]["id"]
    url = "/api/v1/apps/receipts/hooks/erp_order"
    payload = {"order_no": "PO-1", "qty": 40, "material": m001}
    assert client.post(url, json=payload).status_code == 403
    assert client.post(url, json=payload, headers={"X-Loom-Secret": "wrong"}).status_code == 403
    ran = client.post(url, json=payload, headers={"X-Loom-Secret": "s3cret-value"})
    assert ran.status_code == 200, ran.json
    assert ran.json["rules"][0]["outcome"] == "ran"
    import hashlib
    import hmac

    raw = json.dumps({"order_no": "PO-2", "qty": 7, "material": m001}).encode()
    signature = "sha256=" + hmac.new(b"s3cret-value", raw, hashlib.sha256).hexdigest()
    signed = client.post(url, data=raw, headers={"X-Loom-Signature": signature,
                                                 "Content-Type": "application/json"})
    assert signed.status_code == 200
    notes = sorted(r["note"] for r in _requests(client, admin_headers))
    assert notes == ["PO-1", "PO-2"]
    bad = client.post(url, json={"order_no": "PO-3", "qty": 5, "material": 99999},
                      headers={"X-Loom-Secret": "s3cret-value"})
    assert bad.status_code == 422 and "ERP 下单" in bad.json["errors"][0]["message"]
    assert client.post("/api/v1/apps/receipts/hooks/nope", json={}).status_code == 404
    assert client.post(url, data="{", headers={"X-Loom-Secret": "s3cret-value"}) \
        .status_code == 422


def test_a_form_change_that_breaks_a_rule_is_refused(client, installed, admin_headers):
    url = "/api/v1/apps/receipts/forms/materials"
    form = client.get(url, headers=admin_headers).json["form"]
    form["fields"] = [f for f in form["fields"] if f["key"] != "safety_stock"]
    refused = client.put(url, headers=admin_headers, json=form)
    assert refused.status_code == 422
    messages = [(e["field"], e["message"]) for e in refused.json["errors"]]
    assert messages[0][0] == "rules/stock.rule"
    assert messages[0][1].startswith("line 5, column 15: 'item' has no field 'safety_stock'")
    assert [m[1].split(":")[0] for m in messages] == [
        "line 5, column 15", "line 7, column 40", "line 8, column 58"]
    kept = client.get(url, headers=admin_headers).json["form"]
    assert any(f["key"] == "safety_stock" for f in kept["fields"])


def test_bad_input_to_rule_endpoints_is_a_clear_422(client, store, installed, admin_headers):
    stock = (EXAMPLE / "rules" / "stock.rule").read_text(encoding="utf-8")
    _with_rules(store, {"stock": stock,
                        "erp": 'rule "ERP"\nwhen webhook "erp"\nif payload.qty > 0\n'
                               'then notify role "purchasing" title "{payload.qty}"'},
                app={"webhooks": {"inbound": {"erp": {"secret": "s3cret-value"}}}})
    hook = "/api/v1/apps/receipts/hooks/erp"
    secret = {"X-Loom-Secret": "s3cret-value"}
    for body in ("[1, 2]", "3", '"text"'):
        answer = client.post(hook, data=body, headers=secret)
        assert answer.status_code == 422, body
        assert "JSON object" in answer.json["errors"][0]["message"]
    assert client.post(hook, json={"qty": "many"}, headers=secret).status_code == 200
    url = "/api/v1/apps/receipts/rules/dry-run"
    for data, field in (({"rule": "低库存预警", "balance": {"item": "x"}}, "balance.item"),
                        ({"rule": "低库存预警", "balance": {"nope": 1}}, "balance"),
                        ({"rule": "低库存预警", "balance": []}, "balance"),
                        ({"rule": "ERP", "payload": [1]}, "payload"),
                        ({"source": 'rule "a"\nwhen materials updated\nthen set spec = "x"',
                          "record": "1"}, "record")):
        answer = client.post(url, headers=admin_headers, json=data)
        assert answer.status_code == 422, (data, answer.json)
        assert answer.json["errors"][0]["field"] == field
    assert client.post(url, headers=admin_headers, json={"rule": "nope"}).status_code == 404
    assert client.post(url, headers=admin_headers, json=[1]).status_code == 422
    assert client.get("/api/v1/apps/receipts/rules/runs?limit=x",
                      headers=admin_headers).status_code == 422
