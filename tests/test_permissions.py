"""Role permissions: per app, per form and action, and per row — inside the SQL."""

from __future__ import annotations

from sqlalchemy import event

from runtime.auth.users import add_department
from tests.conftest import make_user

BASE = "/api/v1/apps/receipts/forms"


def _headers(token):
    return {"Authorization": f"Bearer {token}"}


def _receipt(client, headers, number):
    response = client.post(f"{BASE}/receipts/records", headers=headers, json={
        "note": number, "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
        "lines": [{"material": {"code": "M-001"}, "qty": 1}]})
    assert response.status_code == 201, response.json
    return response.json


def test_form_and_action_permissions(installed, client, store):
    clerk = _headers(make_user(store, "clerk", roles=[("receipts", "clerk")]))
    outsider = _headers(make_user(store, "outsider"))
    assert client.get(f"{BASE}/materials/records", headers=clerk).status_code == 200
    created = client.post(f"{BASE}/materials/records", headers=clerk,
                          json={"code": "M-9", "name": "x"})
    assert created.status_code == 403 and "may not create" in created.json["errors"][0]["message"]
    mine = _receipt(client, clerk, "RK-C-1")
    assert client.delete(f"{BASE}/receipts/records/{mine['id']}", headers=clerk).status_code == 403
    response = client.get(f"{BASE}/materials/records", headers=outsider)
    assert response.status_code == 403 and "no role" in response.json["errors"][0]["message"]
    assert client.get("/api/v1/apps", headers=outsider).json["apps"] == []


def test_own_rows_only_in_list_count_get_and_update(installed, client, store):
    alice = _headers(make_user(store, "alice", roles=[("receipts", "clerk")]))
    bob = _headers(make_user(store, "bob", roles=[("receipts", "clerk")]))
    a = _receipt(client, alice, "RK-A-1")
    _receipt(client, alice, "RK-A-2")
    b = _receipt(client, bob, "RK-B-1")
    listed = client.get(f"{BASE}/receipts/records", headers=alice).json
    assert listed["total"] == 2 and {r["note"] for r in listed["records"]} == {
        "RK-A-1", "RK-A-2"}
    assert client.get(f"{BASE}/receipts/records/{b['id']}", headers=alice).status_code == 404
    denied = client.patch(f"{BASE}/receipts/records/{b['id']}", headers=alice, json={"note": "x"})
    assert denied.status_code == 404
    assert client.patch(f"{BASE}/receipts/records/{a['id']}", headers=alice,
                        json={"note": "ok"}).status_code == 200
    assert client.get(f"{BASE}/receipts/records/{b['id']}/history",
                      headers=alice).status_code == 404


def test_department_rows_include_sub_departments(installed, client, store):
    with store.write() as conn:
        plant = add_department(conn, "工厂")
        warehouse = add_department(conn, "仓库", parent_id=plant)
        office = add_department(conn, "办公室")
    boss = _headers(make_user(store, "boss", roles=[("receipts", "supervisor")],
                              department_id=plant))
    clerk = _headers(make_user(store, "wclerk", roles=[("receipts", "clerk")],
                               department_id=warehouse))
    other = _headers(make_user(store, "oclerk", roles=[("receipts", "clerk")],
                               department_id=office))
    _receipt(client, clerk, "RK-W-1")
    _receipt(client, other, "RK-O-1")
    seen = client.get(f"{BASE}/receipts/records?sort=note", headers=boss).json
    assert [r["note"] for r in seen["records"]] == ["RK-W-1"]


def test_row_permission_is_part_of_the_sql(installed, client, store):
    alice = _headers(make_user(store, "alice", roles=[("receipts", "clerk")]))
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        client.get(f"{BASE}/receipts/records", headers=alice)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    scoped = [s for s in statements if "f_receipts_receipts" in s and "_created_by" in s
              and "WHERE" in s]
    assert any("count(" in s.lower() for s in scoped), "count is filtered in SQL"
    assert any("LIMIT" in s for s in scoped), "the page is filtered in SQL"
