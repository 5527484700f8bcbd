"""Each kind of trigger and the record, flow and ledger actions, through the services;
and `loom check` pointing at a rule's line and column."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from runtime.auth.actors import SYSTEM
from runtime.cli import main
from runtime.services.approvals import act_on_task, submit_record
from runtime.services.records import (
    create_record,
    delete_record,
    get_record,
    update_record,
)
from runtime.storage import platform
from tests.conftest import EXAMPLE, make_user
from tests.test_rule_delivery import _material
from tests.test_rule_runtime import _with_rules


def _titles(store, user="buyer"):
    notes, users = platform.notifications, platform.users
    with store.read() as conn:
        return list(conn.execute(select(notes.c.title).join(users, users.c.id == notes.c.user_id)
                                 .where(users.c.username == user).order_by(notes.c.id))
                    .scalars())


def _runs(store):
    runs = platform.rule_runs
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(select(runs.c.rule, runs.c.outcome)
                                               .order_by(runs.c.id))]


def test_record_events_field_changes_and_else(installed):
    store = installed
    make_user(store, "buyer", roles=[("receipts", "purchasing")])
    _with_rules(store, {"events": '''
rule "新申请"
when purchase_requests created
if qty >= 100
then notify role "purchasing" title "大申请 {qty}"
else notify role "purchasing" title "小申请 {qty}"

rule "已下单"
when purchase_requests.status changed to "ORDERED"
then set note = "下单于 " & old.status

rule "改数量"
when purchase_requests updated
if qty > old.qty
then notify role "purchasing" title "数量增加 {old.qty} → {qty}"

rule "提交"
when purchase_requests submitted
then notify role "purchasing" title "已提交 {request_no}"

rule "删除"
when purchase_requests deleted
then notify role "purchasing" title "已删除 {qty}"
'''})
    m = _material(store)
    big = create_record(store, SYSTEM, "receipts", "purchase_requests", {"material": m, "qty": 150})
    small = create_record(store, SYSTEM, "receipts", "purchase_requests", {"material": m, "qty": 5})
    assert _titles(store) == ["大申请 150", "小申请 5"]
    changed = update_record(store, SYSTEM, "receipts", "purchase_requests", small["id"],
                            {"status": "ordered"})
    assert changed["note"] == "下单于 open"  # `changed to` compares text as = does
    update_record(store, SYSTEM, "receipts", "purchase_requests", small["id"], {"qty": 9})
    update_record(store, SYSTEM, "receipts", "purchase_requests", small["id"], {"qty": 9})
    update_record(store, SYSTEM, "receipts", "purchase_requests", small["id"], {"qty": 7})
    update_record(store, SYSTEM, "receipts", "purchase_requests", small["id"], {"qty": 8})
    # Edge-triggered: once when it became larger, quiet while the condition stayed
    # FALSE (7), again when it became larger (8).
    assert _titles(store)[2:] == ["数量增加 5 → 9", "数量增加 7 → 8"]
    submit_record(store, SYSTEM, "receipts", "purchase_requests", big["id"])
    assert _titles(store)[-1].startswith("已提交 PR-")
    delete_record(store, SYSTEM, "receipts", "purchase_requests", small["id"])
    assert _titles(store)[-1] == "已删除 8"
    assert [r for r in _runs(store) if r[0] == "已下单"] == [("已下单", "ran")]


def test_flow_events_and_start_flow(installed):
    store = installed
    make_user(store, "buyer", roles=[("receipts", "purchasing")])
    boss = make_user(store, "boss", roles=[("receipts", "supervisor")])
    _with_rules(store, {"flow": '''
rule "自动送审"
when receipts created
if note = "auto"
then start flow "receipt_approval"

rule "到主管"
when receipts flow node "supervisor" reached
then notify role "purchasing" title "待主管审批 {receipt_no}"

rule "批准"
when receipts flow approved
then notify role "purchasing" title "已批准 {receipt_no}"
'''})
    receipt = create_record(store, SYSTEM, "receipts", "receipts", {
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21", "note": "auto",
        "lines": [{"material": {"code": "M-001"}, "qty": 10, "price": 2}]})
    assert receipt["approval"] == "running"
    no = receipt["receipt_no"]
    assert _titles(store) == [f"待主管审批 {no}"]
    with store.read() as conn:
        from runtime.auth.actors import load_actor
        from runtime.auth.users import user_for_token

        supervisor = load_actor(conn, user_for_token(conn, boss))
    [task] = conn_tasks(store, supervisor.id)
    act_on_task(store, supervisor, task, "approve")
    assert _titles(store) == [f"待主管审批 {no}", f"已批准 {no}"]
    assert get_record(store, SYSTEM, "receipts", "receipts", receipt["id"])["approval"] == \
        "approved"


def conn_tasks(store, user_id):
    tasks = platform.tasks
    with store.read() as conn:
        return list(conn.execute(select(tasks.c.id).where(tasks.c.assignee == user_id,
                                                          tasks.c.status == "open")).scalars())


def test_post_and_reverse_fire_balance_rules(installed):
    store = installed
    make_user(store, "buyer", roles=[("receipts", "purchasing")])
    _with_rules(store, {"stock": '''
rule "到货入库"
when purchase_requests.status changed to "closed"
then post stock {item: material, qty: qty, value: qty * 2}

rule "撤销入库"
when purchase_requests deleted
then reverse stock

rule "库存变化"
when stock.balance changed
then notify role "purchasing" title "{item.code}: {old.qty} → {qty}"
'''})
    request = create_record(store, SYSTEM, "receipts", "purchase_requests",
                            {"material": _material(store), "qty": 40})
    update_record(store, SYSTEM, "receipts", "purchase_requests", request["id"],
                  {"status": "closed"})
    assert _titles(store) == ["M-001: 0 → 40"]
    delete_record(store, SYSTEM, "receipts", "purchase_requests", request["id"])
    assert _titles(store) == ["M-001: 0 → 40", "M-001: 40 → 0"]


def test_loom_check_points_at_the_rule(tmp_path):
    import shutil

    folder = tmp_path / "receipts"
    shutil.copytree(EXAMPLE, folder)
    (folder / "rules" / "bad.rule").write_text(
        'rule "x"\nwhen issues created\nthen create purchse_requests {qty: 1}\n',
        encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(folder)])
    assert result.exit_code != 0
    assert f"{folder / 'rules' / 'bad.rule'}:3:13: unknown form 'purchse_requests'" in \
        result.output
    (folder / "rules" / "bad.rule").write_text(
        'rule "x"\nevery "0 8 1 * *"\nthen report stale to role "purchasing"\n',
        encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(folder)])
    assert ":3:13: unknown report 'stale'" in result.output  # the app has reports, not this
    (folder / "rules" / "bad.rule").write_text(
        'rule "x"\nevery "0 8 1 * *"\nthen report amount_by_suplier to role "purchasing"\n',
        encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(folder)])
    assert "amount_by_supplier" in result.output  # a suggestion for the typo


def test_recipients_by_department_user_name_and_user_field(installed):
    from runtime.auth.users import add_department, add_user

    store = installed
    with store.write() as conn:
        plant = add_department(conn, "工厂")
        warehouse = add_department(conn, "仓库", parent_id=plant)
        keeper = add_user(conn, "keeper", "password123", department_id=warehouse)
        add_user(conn, "manager", "password123", department_id=plant)
        add_user(conn, "outsider", "password123")
    _with_rules(store, {"who": '''
rule "部门"
when receipts created
then notify department "仓库" title "仓库: {note}"
     notify department "工厂", user "outsider" title "工厂: {note}"
     notify user receiver title "收货人: {note}"
'''})
    create_record(store, SYSTEM, "receipts", "receipts", {
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21", "note": "n1",
        "receiver": keeper, "lines": [{"material": {"code": "M-001"}, "qty": 1, "price": 1}]})
    assert _titles(store, "keeper") == ["仓库: n1", "工厂: n1", "收货人: n1"]
    assert _titles(store, "manager") == ["工厂: n1"]  # a department includes those below
    assert _titles(store, "outsider") == ["工厂: n1"]


def test_rules_run_in_their_order_each_seeing_what_the_last_one_set(installed):
    store = installed
    _with_rules(store, {"a": '''
rule "后"
order 5
when purchase_requests created
then set note = note & "-late"
''', "b": '''
rule "先"
order -1
when purchase_requests created
then set note = note & "-early"

rule "中"
when purchase_requests created
then set note = note & "-middle"
'''})
    made = create_record(store, SYSTEM, "receipts", "purchase_requests",
                         {"material": _material(store), "qty": 1, "note": "x"})
    assert made["note"] == "x-early-middle-late"
