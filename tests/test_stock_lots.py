"""Forms post lot- and serial-tracked stock: tracking read from the item's record,
issues that name no lot take the oldest, work orders reserve, issues for a work order
consume its reservation, transfers carry lot and cost, cancelling reverses exactly,
a withdrawn or returned approval takes back what submitting posted, closed periods."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from runtime.auth.actors import SYSTEM
from runtime.services.templates import install_template
from tests.browser import browser, live_server, login  # noqa: F401
from tests.conftest import make_user

APP = Path(__file__).parent / "apps" / "lots"
API = "/api/v1/apps/lots"


@pytest.fixture
def lots(store, client):
    install_template(store, SYSTEM, str(APP))
    people = {name: {"Authorization": f"Bearer {make_user(store, name, roles=roles)}"}
              for name, roles in (("clerk", [("lots", "clerk")]),
                                  ("boss", [("lots", "supervisor")]))}
    people["admin"] = {"Authorization": f"Bearer {make_user(store, 'root', admin=True)}"}
    for code, tracking, costing in (("LOT-1", "lot", None), ("SER-1", "serial", None),
                                    ("BULK", "none", None), ("AVG", "lot", "average")):
        _create(client, people["admin"], "items", {"code": code, "tracking": tracking,
                                                   "costing": costing})
    for code in ("A", "B"):
        _create(client, people["admin"], "sites", {"code": code})
    return people


def _create(client, headers, form, body, status=201):
    response = client.post(f"{API}/forms/{form}/records", headers=headers, json=body)
    assert response.status_code == status, response.json
    return response.json


def _submit(client, headers, form, record_id, status=200):
    response = client.post(f"{API}/forms/{form}/records/{record_id}/submit", headers=headers)
    assert response.status_code == status, response.json
    return response.json


def _post(client, headers, form, body):
    record = _create(client, headers, form, body)
    _submit(client, headers, form, record["id"])
    return record


def _receive(client, headers, on, lines):
    return _post(client, headers, "receipts", {"received_on": on, "lines": lines})


def _line(item, site="A", **more):
    return {"item": {"code": item}, "site": {"code": site}, **more}


def _stock(client, headers, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    rows = client.get(f"{API}/ledgers/stock/balances?{query}", headers=headers).json["balances"]
    return {(r["site_title"], r["lot"] or r["serial"]): r["qty"] for r in rows if r["qty"]}


def _id(client, headers, form, code):
    return client.get(f"{API}/forms/{form}/records?code={code}",
                      headers=headers).json["records"][0]["id"]


def test_tracked_items_must_name_their_lot_or_serial_coming_in(client, lots):
    clerk = lots["clerk"]
    record = _create(client, clerk, "receipts", {"lines": [
        _line("BULK", qty=5, unit_cost=1), _line("LOT-1", qty=5, unit_cost=1)]})
    refused = _submit(client, clerk, "receipts", record["id"], status=422)
    assert refused["errors"] == [{"field": "lines[1].lot",
                                  "message": "物料 LOT-1 按批次管理, 入库必须填写批号"}]
    record = _create(client, clerk, "receipts", {"lines": [_line("SER-1", qty=1, unit_cost=1)]})
    refused = _submit(client, clerk, "receipts", record["id"], status=422)
    assert refused["errors"][0]["field"] == "lines[0].serial"
    # Nothing of the refused receipts was posted.
    assert _stock(client, clerk) == {}


def test_an_issue_naming_no_lot_takes_the_oldest_lots_at_their_fifo_cost(client, lots):
    clerk = lots["clerk"]
    # The newer lot is received first in time of entry but dated later.
    _receive(client, clerk, "2026-03-05", [_line("LOT-1", lot="L2", qty=10, unit_cost=3)])
    _receive(client, clerk, "2026-03-01", [_line("LOT-1", lot="L1", qty=10, unit_cost=2)])
    item = _id(client, clerk, "items", "LOT-1")
    issue = _create(client, clerk, "issues", {"issued_on": "2026-03-10",
                                              "lines": [_line("LOT-1", qty=15)]})
    assert issue["lines"][0]["unit_cost"] == 2.5  # AVG_COST: 50 / 20
    _submit(client, clerk, "issues", issue["id"])
    assert _stock(client, clerk, item=item) == {("A", "L2"): 5}
    rows = client.get(f"{API}/ledgers/stock/balances?item={item}&as_of=2026-03-09",
                      headers=clerk).json["balances"]
    assert sorted((r["lot"], r["qty"], r["value"]) for r in rows) == [
        ("L1", 10, 20), ("L2", 10, 30)]
    rows = client.get(f"{API}/ledgers/stock/balances?item={item}&as_of=2026-03-10",
                      headers=clerk).json["balances"]
    assert [(r["lot"], r["qty"], r["value"]) for r in rows] == [("L2", 5, 15)]  # 50 - 35


def test_an_item_valued_by_moving_average_in_a_fifo_ledger(client, lots):
    clerk = lots["clerk"]
    for item in ("LOT-1", "AVG"):
        _receive(client, clerk, "2026-03-01", [_line(item, lot="L1", qty=10, unit_cost=1)])
        _receive(client, clerk, "2026-03-02", [_line(item, lot="L2", qty=10, unit_cost=2)])
        _post(client, clerk, "issues", {"lines": [_line(item, qty=15)]})
    draft = _create(client, clerk, "issues", {"lines": [_line("LOT-1", qty=1),
                                                         _line("AVG", qty=1)]})
    # FIFO: 5 @ 2 left of LOT-1; moving average: 5 @ 1.5 left of AVG.
    assert [line["unit_cost"] for line in draft["lines"]] == [2, 1.5]


def test_serials_are_taken_one_unit_each(client, lots):
    clerk = lots["clerk"]
    _receive(client, clerk, "2026-03-01", [_line("SER-1", serial="S1", qty=1, unit_cost=7),
                                           _line("SER-1", serial="S2", qty=1, unit_cost=7),
                                           _line("SER-1", serial="S3", qty=1, unit_cost=7)])
    _post(client, clerk, "issues", {"lines": [_line("SER-1", qty=2)]})
    assert _stock(client, clerk) == {("A", "S3"): 1}


def test_a_work_order_reserves_and_its_issue_consumes_the_reservation(client, lots):
    clerk = lots["clerk"]
    _receive(client, clerk, "2026-03-01", [_line("LOT-1", lot="L1", qty=10, unit_cost=2),
                                           _line("LOT-1", lot="L2", qty=10, unit_cost=2)])
    order = _post(client, clerk, "work_orders", {"wo_no": "WO-1",
                                                 "lines": [_line("LOT-1", qty=8)]})
    # 20 on hand, 8 held for WO-1: another document may take 12 at most.
    other = _create(client, clerk, "issues", {"lines": [_line("LOT-1", qty=13)]})
    refused = _submit(client, clerk, "issues", other["id"], status=422)
    assert "库存不足" in refused["errors"][0]["message"]
    assert "已被其他单据预留" in refused["errors"][0]["message"]
    for_order = _create(client, clerk, "issues", {"work_order": {"wo_no": "WO-1"},
                                                   "lines": [_line("LOT-1", qty=8)]})
    _submit(client, clerk, "issues", for_order["id"])
    # The issue took the lot the order held (the oldest); the reservation is used up,
    # so what is left can all go to another document.
    assert _stock(client, clerk) == {("A", "L1"): 2, ("A", "L2"): 10}
    fits = _post(client, clerk, "issues", {"lines": [_line("LOT-1", qty=12)]})
    assert fits["id"] and _stock(client, clerk) == {}
    assert order["id"]


def test_cancelling_a_work_order_releases_what_it_held(client, lots):
    clerk, boss = lots["clerk"], lots["boss"]
    _receive(client, clerk, "2026-03-01", [_line("BULK", qty=10, unit_cost=1)])
    order = _post(client, clerk, "work_orders", {"wo_no": "WO-2", "lines": [_line("BULK", qty=10)]})
    blocked = _create(client, clerk, "issues", {"lines": [_line("BULK", qty=1)]})
    _submit(client, clerk, "issues", blocked["id"], status=422)
    response = client.post(f"{API}/forms/work_orders/records/{order['id']}/cancel", headers=boss)
    assert response.status_code == 200, response.json
    _submit(client, clerk, "issues", blocked["id"])
    assert _stock(client, clerk) == {("A", ""): 9}


def test_a_transfer_moves_the_oldest_lot_at_its_cost(client, lots):
    clerk = lots["clerk"]
    _receive(client, clerk, "2026-03-01", [_line("LOT-1", lot="L1", qty=4, unit_cost=2)])
    _receive(client, clerk, "2026-03-02", [_line("LOT-1", lot="L2", qty=4, unit_cost=5)])
    transfer = _create(client, clerk, "transfers", {"lines": [
        {"item": {"code": "LOT-1"}, "from_site": {"code": "A"}, "to_site": {"code": "B"},
         "qty": 6}]})
    _submit(client, clerk, "transfers", transfer["id"])
    [task] = client.get("/api/v1/tasks", headers=lots["boss"]).json["tasks"]
    approved = client.post(f"/api/v1/tasks/{task['id']}/approve", headers=lots["boss"])
    assert approved.status_code == 200, approved.json
    assert _stock(client, clerk) == {("A", "L2"): 2, ("B", "L1"): 4, ("B", "L2"): 2}
    item = _id(client, clerk, "items", "LOT-1")
    rows = client.get(f"{API}/ledgers/stock/balances?item={item}", headers=clerk).json
    assert sum(r["qty"] for r in rows["balances"]) == 8  # value stays with the item: FIFO
    issue = _post(client, clerk, "issues", {"lines": [_line("LOT-1", site="B", qty=4)]})
    assert issue["id"] and _stock(client, clerk) == {("A", "L2"): 2, ("B", "L2"): 2}


def test_returning_or_withdrawing_an_approval_takes_back_what_submitting_posted(client, lots):
    clerk, boss = lots["clerk"], lots["boss"]
    _receive(client, clerk, "2026-03-01", [_line("BULK", qty=10, unit_cost=1)])
    transfer = _create(client, clerk, "transfers", {"lines": [
        {"item": {"code": "BULK"}, "from_site": {"code": "A"}, "to_site": {"code": "B"},
         "qty": 6}]})
    _submit(client, clerk, "transfers", transfer["id"])
    assert _stock(client, clerk) == {("A", ""): 4, ("B", ""): 6}
    [task] = client.get("/api/v1/tasks", headers=boss).json["tasks"]
    returned = client.post(f"/api/v1/tasks/{task['id']}/return", headers=boss,
                           json={"comment": "数量不对"})
    assert returned.status_code == 200, returned.json
    assert _stock(client, clerk) == {("A", ""): 10}
    _submit(client, clerk, "transfers", transfer["id"])  # posts once more, not twice
    assert _stock(client, clerk) == {("A", ""): 4, ("B", ""): 6}
    withdrawn = client.post(f"{API}/forms/transfers/records/{transfer['id']}/withdraw",
                            headers=clerk)
    assert withdrawn.status_code == 200, withdrawn.json
    assert _stock(client, clerk) == {("A", ""): 10}


def test_cancelling_reverses_exactly_and_only_with_permission(client, lots):
    clerk, boss = lots["clerk"], lots["boss"]
    receipt = _receive(client, clerk, "2026-03-01",
                       [_line("LOT-1", lot="L1", qty=10, unit_cost=2)])
    issue = _post(client, clerk, "issues", {"lines": [_line("LOT-1", qty=4)]})
    url = f"{API}/forms/issues/records/{issue['id']}/cancel"
    forbidden = client.post(url, headers=clerk)
    assert forbidden.status_code == 403
    # The receipt's stock was partly issued: reversing it would go below zero.
    refused = client.post(f"{API}/forms/receipts/records/{receipt['id']}/cancel", headers=boss)
    assert refused.status_code == 422
    assert refused.json["errors"][0]["message"].startswith(
        "冲销失败: 物料 LOT-1 在 仓库 A 批次 L1 库存不足")
    cancelled = client.post(url, headers=boss, json={"comment": "领错了"})
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json == {"approval": "cancelled", "reversed_movements": 1}
    assert _stock(client, clerk) == {("A", "L1"): 10}
    draft = _create(client, clerk, "issues", {"lines": [_line("LOT-1", qty=1)]})
    assert draft["lines"][0]["unit_cost"] == 2  # value back to 20 for 10
    again = client.post(url, headers=boss)
    assert again.status_code == 409
    deleted = client.delete(f"{API}/forms/issues/records/{issue['id']}", headers=lots["admin"])
    assert deleted.status_code == 409
    assert "cancelled" in deleted.json["errors"][0]["message"]
    history = client.get(f"{API}/forms/issues/records/{issue['id']}/history",
                         headers=clerk).json
    assert [e["after"]["comment"] for e in history["history"] if e["action"] == "cancel"] == [
        "领错了"]
    # Now nothing uses the receipt's stock: it can be cancelled too.
    ok = client.post(f"{API}/forms/receipts/records/{receipt['id']}/cancel", headers=boss)
    assert ok.status_code == 200 and _stock(client, clerk) == {}


def test_a_closed_period_refuses_postings_dated_in_it(client, lots):
    clerk, admin = lots["clerk"], lots["admin"]
    url = f"{API}/ledgers/stock/closing"
    assert client.get(url, headers=clerk).json == {"closed_until": None}
    assert client.post(url, headers=clerk, json={"end_date": "2026-02-28"}).status_code == 403
    bad = client.post(url, headers=admin, json={"end_date": "28.02.2026"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "end_date"
    closed = client.post(url, headers=admin, json={"end_date": "2026-02-28"})
    assert closed.status_code == 200 and closed.json == {"closed_until": "2026-02-28"}
    earlier = client.post(url, headers=admin, json={"end_date": "2026-01-31"})
    assert earlier.status_code == 422
    record = _create(client, clerk, "receipts", {"received_on": "2026-02-27",
                                                 "lines": [_line("BULK", qty=1, unit_cost=1)]})
    refused = _submit(client, clerk, "receipts", record["id"], status=422)
    assert "已结账" in refused["errors"][0]["message"]
    _receive(client, clerk, "2026-03-01", [_line("BULK", qty=1, unit_cost=1)])
    assert _stock(client, clerk) == {("A", ""): 1}


def test_cancelling_from_the_record_page(client, lots, live_server, browser):  # noqa: F811
    clerk = lots["clerk"]
    receipt = _receive(client, clerk, "2026-03-01", [_line("BULK", qty=3, unit_cost=1)])
    page = browser.new_context(locale="zh-CN").new_page()
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/apps/lots/forms/receipts/{receipt['id']}")
    expect(page.locator(".status")).to_have_text("已提交")
    page.get_by_label("意见").fill("供应商送错货")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="作废").click()
    expect(page.locator(".status")).to_have_text("已作废")
    expect(page.locator("section", has_text="历史记录")).to_contain_text("作废: “供应商送错货”")
    expect(page.get_by_role("button", name="作废")).to_have_count(0)
    assert _stock(client, clerk) == {}
