"""Forms post to ledgers: a receipt posts stock only when its approval completes; an
issue takes stock on submit and may never take more than there is."""

from __future__ import annotations

from tests.conftest import make_user
from tests.test_approvals import BASE, _receipt, _todo, people  # noqa: F401

ISSUES = "/api/v1/apps/receipts/forms/issues/records"


def _stock(client, headers, material_id):
    rows = client.get(f"/api/v1/apps/receipts/ledgers/stock/balances?item={material_id}",
                      headers=headers).json["balances"]
    return rows[0]["qty"] if rows else 0


def _m001(client, headers):
    return client.get("/api/v1/apps/receipts/forms/materials/records?code=M-001",
                      headers=headers).json["records"][0]["id"]


def test_stock_is_posted_only_on_final_approval(client, people, admin_headers):  # noqa: F811
    m001 = _m001(client, admin_headers)
    record = _receipt(client, people["clerk"], 60)  # 1000 pcs, 60,000: two levels
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    assert _stock(client, admin_headers, m001) == 0
    [task] = _todo(client, people["boss"])
    client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"])
    assert _stock(client, admin_headers, m001) == 0  # the finance director has not approved
    [finance] = _todo(client, people["cfo"])
    client.post(f"/api/v1/tasks/{finance['id']}/approve", headers=people["cfo"])
    rows = client.get(f"/api/v1/apps/receipts/ledgers/stock/balances?item={m001}",
                      headers=admin_headers).json["balances"]
    assert rows[0]["qty"] == 1000
    assert rows[0]["item_title"].startswith("M-001")


def test_issues_take_stock_and_never_more_than_there_is(client, people, store,  # noqa: F811
                                                          admin_headers):
    m001 = _m001(client, admin_headers)
    record = _receipt(client, people["clerk"], 10)
    client.post(f"{BASE}/{record['id']}/submit", headers=people["clerk"])
    [task] = _todo(client, people["boss"])
    client.post(f"/api/v1/tasks/{task['id']}/approve", headers=people["boss"])
    assert _stock(client, admin_headers, m001) == 1000
    clerk = people["clerk"]
    too_many = client.post(ISSUES, headers=clerk, json={
        "lines": [{"scan": "M-001", "qty": 1200}]})
    assert too_many.status_code == 422
    assert too_many.json["errors"] == [{"field": "lines[0].qty",
                                        "message": "领料数量不能大于库存数量"}]
    first = client.post(ISSUES, headers=clerk, json={"lines": [{"scan": "M-001", "qty": 700}]})
    second = client.post(ISSUES, headers=clerk, json={"lines": [{"scan": "M-001", "qty": 600}]})
    assert first.status_code == second.status_code == 201  # each fits what is on hand now
    assert client.post(f"{ISSUES}/{first.json['id']}/submit", headers=clerk).status_code == 200
    assert _stock(client, admin_headers, m001) == 300
    # The second no longer fits: the ledger refuses it in the app's own words.
    refused = client.post(f"{ISSUES}/{second.json['id']}/submit", headers=clerk)
    assert refused.status_code == 422, refused.json
    assert "库存不足" in refused.json["errors"][0]["message"]
    assert "M-001" in refused.json["errors"][0]["message"]
    assert _stock(client, admin_headers, m001) == 300  # nothing half-posted
    unknown = client.get("/api/v1/apps/receipts/ledgers/stock/balances?colour=red",
                         headers=admin_headers)
    assert unknown.status_code == 422
    assert client.get("/api/v1/apps/receipts/ledgers/nope/balances",
                      headers=admin_headers).status_code == 404
    make_user(store, "viewer", roles=[("receipts", "viewer")])
