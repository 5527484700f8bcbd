"""Approval flows through the API: the mission's receipt flow end to end, inboxes,
read-only records, concurrent approvers, time limits, and flows edited while running."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from runtime.services import approvals, clock
from tests.conftest import make_user

BASE = "/api/v1/apps/receipts/forms/receipts/records"


@pytest.fixture
def people(installed, store):
    def headers(name, *roles):
        token = make_user(store, name, roles=[("receipts", r) for r in roles])
        return {"Authorization": f"Bearer {token}"}

    return {"clerk": headers("clerk", "clerk"), "boss": headers("boss", "supervisor"),
            "boss2": headers("boss2", "supervisor"), "cfo": headers("cfo", "finance_director")}


def _receipt(client, headers, price):
    response = client.post(BASE, headers=headers, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
        "lines": [{"material": {"code": "M-001"}, "qty": 1000, "price": price}]})
    assert response.status_code == 201, response.json
    return response.json


def _todo(client, headers):
    return client.get("/api/v1/tasks", headers=headers).json["tasks"]


def _approval(client, headers, record_id):
    return client.get(f"{BASE}/{record_id}", headers=headers).json["approval"]


def test_small_receipt_needs_the_supervisor_only(client, people):
    record = _receipt(client, people["clerk"], 20)  # 20,000
    submitted = client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["approval"] == "running"
    assert _approval(client, people["clerk"], record["id"]) == "running"
    [task] = _todo(client, people["boss"])
    assert task["record_id"] == record["id"] and task["node_id"] == "supervisor"
    assert len(_todo(client, people["boss2"])) == 1  # or-sign: both supervisors are asked
    done = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"],
                       json={"comment": "数量核对无误"})
    assert done.status_code == 200 and done.json["approval"] == "approved"
    assert _approval(client, people["clerk"], record["id"]) == "approved"
    assert _todo(client, people["boss2"]) == []  # the other supervisor's task closed
    assert _todo(client, people["cfo"]) == []
    history = client.get(f"{BASE}/{record['id']}/history", headers=people["clerk"]).json
    assert [s["action"] for s in history["approvals"]][-1] == "approve"
    assert history["approvals"][-1]["comment"] == "数量核对无误"
    assert history["approvals"][-1]["actor_name"] == "boss"
    assert [h["action"] for h in history["history"]] == ["create", "submit", "approve"]
    started = client.get("/api/v1/tasks?box=started", headers=people["clerk"]).json["tasks"]
    assert started[0]["record_id"] == record["id"] and started[0]["status"] == "approved"
    done_box = client.get("/api/v1/tasks?box=done", headers=people["boss"]).json["tasks"]
    assert done_box[0]["outcome"] == "approve"


def test_large_receipt_goes_on_to_the_finance_director(client, people):
    record = _receipt(client, people["clerk"], 60)  # 60,000 > 50,000
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    [task] = _todo(client, people["boss"])
    after_boss = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"])
    assert after_boss.json["approval"] == "running"
    [finance] = _todo(client, people["cfo"])
    assert finance["node_id"] == "finance"
    final = client.post(f"/api/v1/tasks/{finance['id']}/approve", headers=people["cfo"])
    assert final.json["approval"] == "approved"


def test_returned_to_the_submitter_who_edits_and_resubmits(client, people):
    record = _receipt(client, people["clerk"], 60)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    # While in approval the record is read-only for the submitter...
    locked = client.patch(f"{BASE}/{record['id']}", headers=people["clerk"], json={"note": "x"})
    assert locked.status_code == 409 and "read-only" in locked.json["errors"][0]["message"]
    [task] = _todo(client, people["boss"])
    # ...while the supervisor may edit what the node allows (the note), nothing else.
    assert client.patch(f"{BASE}/{record['id']}", headers=people["boss"],
                        json={"note": "单价偏高"}).status_code == 200
    assert client.patch(f"{BASE}/{record['id']}", headers=people["boss"],
                        json={"received_on": "2026-11-20"}).status_code == 403
    returned = client.post(f"/api/v1/tasks/{task['id']}/return", headers=people["boss"],
                           json={"comment": "价格请按合同修改"})
    assert returned.json["approval"] == "returned"
    current = client.get(f"{BASE}/{record['id']}", headers=people["clerk"]).json
    line = current["lines"][0]
    edited = client.patch(f"{BASE}/{record['id']}", headers=people["clerk"], json={
        "lines": [{"id": line["id"], "price": 40}]})
    assert edited.status_code == 200 and edited.json["total"] == 40000
    again = client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    assert again.json["approval"] == "running"
    [task] = _todo(client, people["boss"])
    assert client.post(f"/api/v1/tasks/{task['id']}/approve",
                       headers=people["boss"]).json["approval"] == "approved"  # now small
    assert client.patch(f"{BASE}/{record['id']}", headers=people["clerk"],
                        json={"note": "y"}).status_code == 409  # approved is final
    assert client.delete(f"{BASE}/{record['id']}", headers=people["clerk"]).status_code in (403,
                                                                                             409)


def test_rejection_ends_and_withdraw_rules(client, people):
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    withdrawn = client.post(f"{BASE}/{record['id']}/withdraw", headers=people["clerk"])
    assert withdrawn.status_code == 200 and withdrawn.json["approval"] == "withdrawn"
    assert _todo(client, people["boss"]) == []
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    [task] = _todo(client, people["boss"])
    rejected = client.post(f"/api/v1/tasks/{task['id']}/reject", headers=people["boss"],
                           json={"comment": "供应商不对"})
    assert rejected.json["approval"] == "rejected"
    late = client.post(f"{BASE}/{record['id']}/withdraw", headers=people["clerk"])
    assert late.status_code in (409, 422)


def test_only_the_assignee_acts_and_bad_actions_are_clear(client, people):
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    [task] = _todo(client, people["boss"])
    stranger = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["cfo"])
    assert stranger.status_code == 403
    assert client.post(f"/api/v1/tasks/{task['id']}/dance", headers=people["boss"]) \
        .status_code == 422
    assert client.post("/api/v1/tasks/99999/approve", headers=people["boss"]).status_code == 404
    twice = client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    assert twice.status_code == 409


def test_two_approvers_at_once_exactly_one_wins(client, people, app):
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    tasks = {name: _todo(client, people[name])[0]["id"] for name in ("boss", "boss2")}
    barrier, results = threading.Barrier(2), {}

    def approve(name):
        local = app.test_client()
        barrier.wait()
        response = local.post(f"/api/v1/tasks/{tasks[name]}/approve", headers=people[name])
        results[name] = (response.status_code, response.json)

    threads = [threading.Thread(target=approve, args=(n,)) for n in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in results.values())
    assert statuses == [200, 409], results
    loser = next(body for status, body in results.values() if status == 409)
    assert any(word in loser["errors"][0]["message"] for word in ("closed", "just handled"))
    assert _approval(client, people["clerk"], record["id"]) == "approved"


def test_time_limit_escalates_with_a_controllable_clock(client, people, store, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 21, 9, 0))
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    assert approvals.expire_due(store, dt.datetime(2026, 11, 21, 16, 0)) == 0  # not yet due
    assert approvals.expire_due(store, dt.datetime(2026, 11, 21, 17, 1)) == 1
    [escalated] = _todo(client, people["cfo"])
    assert escalated["node_id"] == "supervisor"
    assert _todo(client, people["boss"]) == []
    assert client.post(f"/api/v1/tasks/{escalated['id']}/approve",
                       headers=people["cfo"]).json["approval"] == "approved"


def test_flow_edited_while_instances_run(client, people, admin_headers):
    old = _receipt(client, people["clerk"], 60)
    client.post(f"{BASE}/{old['id']}/submit", headers=people["clerk"])
    flow = client.get("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers).json
    simpler = {**flow["flow"], "nodes": flow["flow"]["nodes"][:2]}  # no finance step any more
    saved = client.put("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers,
                       json=simpler)
    assert saved.status_code == 200 and saved.json["version"] == flow["version"] + 1
    new = _receipt(client, people["clerk"], 60)
    client.post(f"{BASE}/{new['id']}/submit", headers=people["clerk"])
    for task in _todo(client, people["boss"]):
        client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"])
    assert _approval(client, people["clerk"], new["id"]) == "approved"  # the new version
    assert _approval(client, people["clerk"], old["id"]) == "running"  # the old one goes on
    assert _todo(client, people["cfo"])[0]["record_id"] == old["id"]


def test_flow_definitions_are_checked(installed, client, admin_headers):
    flow = client.get("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers).json
    broken = flow["flow"]
    broken["nodes"][2]["branches"][0]["condition"] = "totl > 50000"
    broken["nodes"][1]["approvers"] = [{"role": "boss"}]
    response = client.put("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers,
                          json=broken)
    assert response.status_code == 422
    messages = " | ".join(e["message"] for e in response.json["errors"])
    assert "totl" in messages and "'boss'" in messages


def test_an_approver_without_a_read_grant_sees_only_the_steps_fields(installed, client, store,
                                                                      admin_headers):
    flow = client.get("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers).json
    definition = flow["flow"]
    outsider = make_user(store, "auditor")  # no role in the app at all
    from runtime.auth.users import find_user

    with store.read() as conn:
        auditor_id = find_user(conn, "auditor")["id"]
    definition["nodes"][1]["approvers"] = [{"user": auditor_id}]
    definition["nodes"][1]["fields"] = {"visible": ["supplier", "total", "lines"]}
    assert client.put("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers,
                      json=definition).status_code == 200
    clerk = {"Authorization": f"Bearer {make_user(store, 'clerk', roles=[('receipts', 'clerk')])}"}
    record = _receipt(client, clerk, 10)
    submitted = client.post(f"{BASE}/{record['id']}/submit", headers=clerk)
    assert submitted.status_code == 200, submitted.json
    auditor = {"Authorization": f"Bearer {outsider}"}
    seen = client.get(f"{BASE}/{record['id']}", headers=auditor)
    assert seen.status_code == 200, seen.json
    assert "total" in seen.json and "supplier" in seen.json
    assert "received_on" not in seen.json and "note" not in seen.json
    [task] = _todo(client, auditor)
    assert client.post(f"/api/v1/tasks/{task['id']}/approve", headers=auditor).json[
        "approval"] == "approved"
    assert client.get(f"{BASE}/{record['id']}", headers=auditor).status_code in (403, 404)


def test_approver_by_a_department_field_is_its_head(installed, client, store, admin_headers):
    from runtime.auth.users import add_department, find_user

    boss_token = make_user(store, "qa_head", roles=[("receipts", "viewer")])
    with store.write() as conn:
        qa = add_department(conn, "质检部", head_user_id=find_user(conn, "qa_head")["id"])
    form = client.get("/api/v1/apps/receipts/forms/receipts", headers=admin_headers).json["form"]
    form["fields"].append({"key": "inspected_by", "type": "department", "label": "检验部门"})
    assert client.put("/api/v1/apps/receipts/forms/receipts", headers=admin_headers,
                      json=form).status_code == 200
    flow = client.get("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers).json
    definition = flow["flow"]
    definition["nodes"][1]["approvers"] = [{"field": "inspected_by"}]
    saved = client.put("/api/v1/apps/receipts/flows/receipt_approval", headers=admin_headers,
                       json=definition)
    assert saved.status_code == 200, saved.json
    clerk = {"Authorization": f"Bearer {make_user(store, 'clerk', roles=[('receipts', 'clerk')])}"}
    record = client.post(BASE, headers=clerk, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21", "inspected_by": qa,
        "lines": [{"material": {"code": "M-001"}, "qty": 1, "price": 1}]}).json
    client.post(f"{BASE}/{record['id']}/submit", headers=clerk)
    [task] = _todo(client, {"Authorization": f"Bearer {boss_token}"})
    assert task["record_id"] == record["id"]
