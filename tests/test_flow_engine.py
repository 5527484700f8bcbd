"""The approval flow engine (engines/flows) as a pure library: the mission's receipt
approval, every approver mode, every action, fallbacks and definition versions.

Other flow tests import the helpers defined here: ``compiled``, ``resolve``,
``act_as`` (which also checks that the input state is never changed).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from engines.flows import (
    ACTIONS,
    EVENTS,
    FlowError,
    act,
    compile_flow,
    resubmit,
    return_targets,
    start,
    state_from_dict,
    state_to_dict,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 3, 2, 9, 0)  # a Monday morning

RECEIPT_FLOW = {
    "key": "receipt_approval",
    "form": "receipts",
    "label": {"zh": "入库单审批", "en": "Receipt approval"},
    "version": 1,
    "nodes": [
        {"id": "start", "type": "start", "label": "提交人",
         "fields": {"editable": ["supplier", "amount", "note", "lines.qty", "lines.price"]}},
        {"id": "supervisor", "type": "approver", "label": "主管审批",
         "approvers": [{"role": "supervisor"}], "mode": "any",
         "time_limit": {"hours": 8, "working_hours": True, "on_expiry": "escalate",
                        "escalate_to": {"role": "warehouse_manager"}},
         "fields": {"visible": ["supplier", "amount", "lines", "note"], "editable": ["note"]}},
        {"id": "amount_check", "type": "condition", "label": "金额",
         "branches": [
             {"label": "金额 > 50000", "condition": "amount > 50000",
              "nodes": [{"id": "finance", "type": "approver", "label": "财务总监审批",
                         "approvers": [{"role": "finance_director"}], "fallback": "refuse",
                         "time_limit": {"hours": 24, "on_expiry": "remind"}}]}],
         "default": {"label": "其他", "nodes": []}},
        {"id": "notify_keeper", "type": "cc", "label": "抄送仓管员",
         "recipients": [{"field": "keeper"}]},
    ],
}
RECEIPT_FIELDS = {
    "supplier": "text", "amount": "money", "note": "textarea", "keeper": "user",
    "lines": {"type": "subtable", "fields": {"qty": "number", "price": "money"}},
}

NAMES = {7: "王磊", 8: "赵敏", 10: "李娜", 11: "周杰", 12: "吴芳", 20: "张伟", 30: "陈静",
         40: "刘洋", 41: "杨帆", 42: "黄磊", 43: "孙丽", 44: "马超", 99: "管理员"}
ROLES = {"supervisor": [10], "finance_director": [20], "warehouse_manager": [30],
         "auditors": [40, 41, 42, 43, 44], "nobody": []}
DEPARTMENT_HEADS = {1: 10, 2: 20}  # levels above the submitter -> head


def resolve(spec, context):
    if "role" in spec:
        return list(ROLES.get(spec["role"], []))
    if "department_head" in spec:
        head = DEPARTMENT_HEADS.get(spec["department_head"])
        return [head] if head else []
    if spec.get("admin"):
        return [99]
    raise AssertionError(f"the engine should resolve {spec} itself")


def compiled(*nodes, key="test_flow", version=1, fields=None, **options):
    """A flow of ``nodes`` after a start node."""
    definition = {"key": key, "form": "receipts", "version": version,
                  "nodes": [{"id": "start", "type": "start"}, *nodes]}
    return compile_flow(definition, RECEIPT_FIELDS if fields is None else fields, **options)


def approver(node_id, *users, **options):
    return {"id": node_id, "type": "approver", "approvers": [{"user": u} for u in users],
            **options}


def submit(flow, amount=1000, submitter=7, **record):
    return start(flow, {"amount": Decimal(amount), **record}, submitter, resolve, NOW)


def open_by_user(state) -> dict:
    return {t.assignee: t.id for t in state.open_tasks}


def act_as(flow, state, user, action="approve", *, task_id=None, now=NOW, **options):
    """``user`` takes ``action`` on their open task; the input state must not change."""
    before = copy.deepcopy(state_to_dict(state))
    if task_id is None and action not in ("withdraw", "urge", "comment"):
        task_id = open_by_user(state)[user]
    new, events = act(flow, state, task_id, action, user, now, name_of=NAMES.get, **options)
    assert state_to_dict(state) == before, "act changed its input state"
    assert state_from_dict(json.loads(json.dumps(state_to_dict(new)))) == new
    return new, events


def names(events) -> list[str]:
    return [e.name for e in events]


@pytest.fixture(scope="module")
def receipt():
    return compile_flow(RECEIPT_FLOW, RECEIPT_FIELDS)


# ---- the mission example ---------------------------------------------------------------

def test_small_receipt_needs_the_supervisor_only(receipt):
    state, events = start(receipt, {"amount": Decimal("50000"), "keeper": 8},
                          {"id": 7, "name": "王磊"}, resolve, NOW, snapshot_version=1)
    assert names(events) == ["submitted", "node_reached", "task_created"]
    assert events[0].data == {"submitter": 7, "round": 1, "snapshot_version": 1}
    assert [(t.node_id, t.assignee, t.kind) for t in state.open_tasks] == [
        ("supervisor", 10, "approver")]
    # 8 working hours from Monday 09:00 (lunch 12-13) is Monday 18:00
    assert state.open_tasks[0].due_at == "2026-03-02T18:00:00"
    assert state.route == {"amount_check": -1}
    assert state.plan == {"supervisor": (10,), "notify_keeper": (8,)}

    state, events = act_as(receipt, state, 10, comment="同意")
    assert state.status == "approved" and state.open_tasks == ()
    assert names(events) == ["task_closed", "node_passed", "node_reached", "node_reached",
                             "task_created", "cc", "approved", "completed"]
    assert events[-2].data == {"by": 10}
    cc = state.tasks[-1]
    assert (cc.kind, cc.assignee, cc.status) == ("cc", 8, "cc")
    assert [(s.actor, s.action, s.node_id, s.comment) for s in state.steps] == [
        (7, "submit", "start", None), (10, "approve", "supervisor", "同意")]


def test_large_receipt_goes_on_to_the_finance_director(receipt):
    state, _ = submit(receipt, amount="50000.01")
    state, events = act_as(receipt, state, 10)
    assert state.status == "running"
    assert [(t.node_id, t.assignee) for t in state.open_tasks] == [("finance", 20)]
    assert {"event": "node_reached", "node_id": "amount_check", "type": "condition",
            "branch": 0} in [e.to_dict() for e in events]
    assert state.open_tasks[0].due_at == "2026-03-03T09:00:00"  # 24 plain hours
    state, events = act_as(receipt, state, 20)
    assert state.status == "approved"
    assert names(events)[-2:] == ["approved", "completed"]


def test_rejected_back_to_the_submitter_who_edits_and_resubmits(receipt):
    state, _ = submit(receipt, amount=80000)
    state, _ = act_as(receipt, state, 10)
    state, events = act_as(receipt, state, 20, "reject", to_node="start", comment="金额不对")
    assert state.status == "returned" and state.open_tasks == ()
    assert events[-1].to_dict() == {"event": "returned", "by": 20, "node_id": "finance",
                                    "to": 7, "comment": "金额不对"}
    with pytest.raises(FlowError, match="only the submitter"):
        resubmit(receipt, state, {"amount": Decimal(1)}, 10, resolve, NOW)

    # The submitter corrects the amount; the route is decided again: supervisor only.
    state, events = resubmit(receipt, state, {"amount": Decimal(30000)}, 7, resolve,
                             NOW + dt.timedelta(hours=1), snapshot_version=2)
    assert events[0].data == {"submitter": 7, "round": 2, "snapshot_version": 2}
    assert state.round == 2 and state.route == {"amount_check": -1}
    assert [(t.node_id, t.assignee) for t in state.open_tasks] == [("supervisor", 10)]
    state, _ = act_as(receipt, state, 10)
    assert state.status == "approved"
    assert [s.action for s in state.steps] == ["submit", "approve", "reject", "resubmit",
                                              "approve"]
    with pytest.raises(FlowError, match="only a returned instance"):
        resubmit(receipt, state, {"amount": Decimal(1)}, 7, resolve, NOW)


def test_return_action_sends_it_to_the_submitter(receipt):
    state, _ = submit(receipt)
    state, events = act_as(receipt, state, 10, "return", comment="请补充供应商")
    assert state.status == "returned"
    assert [e.name for e in events] == ["task_closed", "returned"]


def test_final_rejection_ends_the_instance(receipt):
    state, _ = submit(receipt, amount=90000)
    state, _ = act_as(receipt, state, 10)
    state, events = act_as(receipt, state, 20, "reject", comment="预算不足")
    assert state.status == "rejected" and state.ended and state.open_tasks == ()
    assert names(events) == ["task_closed", "rejected", "completed"]
    assert events[1].data == {"by": 20, "node_id": "finance", "comment": "预算不足"}


def test_field_permissions_per_node(receipt):
    supervisor = receipt.node_fields("supervisor")
    assert supervisor.visible == {"supplier", "amount", "lines", "note"}
    assert supervisor.editable == {"note"}
    assert receipt.node_fields("finance").visible is None  # everything, read-only
    assert receipt.node_fields("finance").editable == frozenset()
    assert "lines.qty" in receipt.node_fields("start").editable


# ---- messages for people who cannot act ----------------------------------------------

def test_acting_on_someone_elses_task_is_refused(receipt):
    state, _ = submit(receipt)
    with pytest.raises(FlowError, match="task 1 is assigned to 李娜, not to 张伟") as error:
        act(receipt, state, 1, "approve", 20, NOW, name_of=NAMES.get)
    assert error.value.kind == "forbidden"


def test_acting_twice_names_who_handled_it_and_when(receipt):
    state, _ = submit(receipt, amount=60000)
    state, _ = act_as(receipt, state, 10, now=NOW + dt.timedelta(minutes=5))
    with pytest.raises(FlowError) as error:
        act(receipt, state, 1, "approve", 10, NOW, name_of=NAMES.get)
    assert str(error.value) == ("task 1 was already handled by 李娜 at "
                                "2026-03-02T09:05:00 (approved)")
    assert error.value.kind == "conflict"


def test_unknown_task_action_and_option_are_refused(receipt):
    state, _ = submit(receipt)
    with pytest.raises(FlowError, match="task 5 is not a task of this instance"):
        act(receipt, state, 5, "approve", 10, NOW)
    with pytest.raises(FlowError, match="unknown action 'sign'; use one of approve"):
        act(receipt, state, 1, "sign", 10, NOW)
    with pytest.raises(FlowError, match="approve does not take to_node"):
        act(receipt, state, 1, "approve", 10, NOW, to_node="start")


def test_cc_tasks_cannot_be_approved(receipt):
    state, _ = start(receipt, {"amount": Decimal(1), "keeper": 8}, 7, resolve, NOW)
    state, _ = act_as(receipt, state, 10)
    with pytest.raises(FlowError, match=r"task 2 is a copy \(CC\) sent to 赵敏"):
        act(receipt, state, 2, "approve", 8, NOW, name_of=NAMES.get)


# ---- approver modes --------------------------------------------------------------------

def test_countersign_needs_everyone():
    flow = compiled(approver("board", 10, 11, 12, mode="all"))
    state, _ = submit(flow)
    assert sorted(open_by_user(state)) == [10, 11, 12]
    state, _ = act_as(flow, state, 10)
    state, events = act_as(flow, state, 12)
    assert state.status == "running" and list(open_by_user(state)) == [11]
    assert "node_passed" not in names(events)
    state, _ = act_as(flow, state, 11)
    assert state.status == "approved"


def test_countersign_one_rejection_ends_it():
    flow = compiled(approver("board", 10, 11, 12, mode="all"))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10)
    state, events = act_as(flow, state, 11, "reject")
    assert state.status == "rejected" and state.open_tasks == ()
    closed = state.tasks[2]
    assert (closed.assignee, closed.status, closed.outcome, closed.handled_by) == (
        12, "cancelled", "rejected", 11)
    with pytest.raises(FlowError, match="task 3 is closed: the instance was rejected by 周杰"):
        act(flow, state, 3, "approve", 12, NOW, name_of=NAMES.get)


def test_or_sign_first_wins_and_closes_the_others():
    flow = compiled(approver("desk", 10, 11, 12, mode="any"), approver("next", 20))
    state, _ = submit(flow)
    state, events = act_as(flow, state, 11)
    assert [(t.assignee, t.status, t.outcome) for t in state.tasks[:3]] == [
        (10, "cancelled", "decided"), (11, "done", "approve"), (12, "cancelled", "decided")]
    assert list(open_by_user(state)) == [20]
    with pytest.raises(FlowError, match="task 1 is closed: the step was decided by 周杰"):
        act(flow, state, 1, "approve", 10, NOW, name_of=NAMES.get)


def test_or_sign_first_rejection_decides_too():
    flow = compiled(approver("desk", 10, 11, mode="any"))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10, "reject")
    assert state.status == "rejected"


def test_sequential_one_after_another():
    flow = compiled(approver("chain", 10, 11, 12, mode="sequential"))
    state, _ = submit(flow)
    order = []
    while state.status == "running":
        (user,) = open_by_user(state)
        order.append(user)
        state, _ = act_as(flow, state, user)
    assert order == [10, 11, 12]


def test_share_passes_at_sixty_percent():
    flow = compiled({"id": "audit", "type": "approver", "approvers": [{"role": "auditors"}],
                     "mode": "share", "share_pct": 60})
    state, _ = submit(flow)
    assert len(state.open_tasks) == 5
    state, _ = act_as(flow, state, 40)
    state, _ = act_as(flow, state, 41, "reject")  # a "no" vote; 4 of 5 can still reach 60%
    state, _ = act_as(flow, state, 42)
    assert state.status == "running"
    state, events = act_as(flow, state, 43)  # 3 of 5 = 60%
    assert state.status == "approved"
    assert [t.status for t in state.tasks if t.assignee == 44] == ["cancelled"]


def test_share_fails_once_sixty_percent_is_out_of_reach():
    flow = compiled({"id": "audit", "type": "approver", "approvers": [{"role": "auditors"}],
                     "mode": "share", "share_pct": 60})
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 40, "reject")
    state, _ = act_as(flow, state, 41, "reject")
    assert state.status == "running"  # 3 of 5 could still approve
    state, _ = act_as(flow, state, 42, "reject")
    assert state.status == "rejected" and state.open_tasks == ()


# ---- parallel branches -----------------------------------------------------------------

PARALLEL = {"id": "checks", "type": "parallel", "branches": [
    {"label": "质检", "nodes": [approver("quality", 10), approver("quality_lead", 11)]},
    {"label": "财务", "nodes": [approver("cost", 20)]},
    {"label": "空", "nodes": []},
]}


def test_parallel_waits_for_every_branch():
    flow = compiled(PARALLEL, approver("final", 30))
    state, events = submit(flow)
    assert sorted(open_by_user(state)) == [10, 20]
    assert state.joins == {"checks": (2,)}  # the empty branch is done at once
    state, _ = act_as(flow, state, 20)
    assert state.joins == {"checks": (2, 1)} and sorted(open_by_user(state)) == [10]
    state, _ = act_as(flow, state, 10)
    state, events = act_as(flow, state, 11)
    assert {"event": "node_passed", "node_id": "checks", "type": "parallel", "auto": False} \
        in [e.to_dict() for e in events]
    assert list(open_by_user(state)) == [30] and state.joins == {}
    state, _ = act_as(flow, state, 30)
    assert state.status == "approved"


def test_rejection_in_one_branch_closes_the_others():
    flow = compiled(PARALLEL, approver("final", 30))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 20, "reject")
    assert state.status == "rejected" and state.open_tasks == () and state.joins == {}


def test_send_back_inside_a_branch_leaves_the_other_branch_alone():
    flow = compiled(PARALLEL, approver("final", 30))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10)
    task = open_by_user(state)[11]
    assert return_targets(flow, state, task) == ["start", "quality"]
    state, events = act_as(flow, state, 11, "reject", to_node="quality")
    assert sorted(open_by_user(state)) == [10, 20]
    assert {"event": "sent_back", "by": 11, "from_node": "quality_lead",
            "to_node": "quality"} in [e.to_dict() for e in events]
    state, _ = act_as(flow, state, 20)
    state, _ = act_as(flow, state, 10)
    state, _ = act_as(flow, state, 11)
    assert list(open_by_user(state)) == [30]


def test_send_back_from_after_a_parallel_reruns_one_branch():
    flow = compiled(PARALLEL, approver("final", 30))
    state, _ = submit(flow)
    for user in (10, 11, 20):
        state, _ = act_as(flow, state, user)
    task = open_by_user(state)[30]
    assert return_targets(flow, state, task) == ["start", "quality", "quality_lead", "cost"]
    state, _ = act_as(flow, state, 30, "reject", to_node="cost")
    assert list(open_by_user(state)) == [20]
    state, _ = act_as(flow, state, 20)  # the other branches count as finished
    assert list(open_by_user(state)) == [30]


# ---- reject to an earlier node -----------------------------------------------------------

def test_reject_back_to_an_earlier_node():
    flow = compiled(approver("first", 10), approver("second", 11), approver("third", 12))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10)
    state, _ = act_as(flow, state, 11)
    state, events = act_as(flow, state, 12, "reject", to_node="first", comment="重新审核")
    assert state.status == "running" and list(open_by_user(state)) == [10]
    assert state.steps[-1].data == {"to_node": "first"}
    state, _ = act_as(flow, state, 10)  # task 4
    with pytest.raises(FlowError, match="cannot send task 5 back to 'third'.*choose one of "
                                        "'start', 'first'"):
        act(flow, state, 5, "reject", 11, NOW, to_node="third")
    with pytest.raises(FlowError, match="'nowhere'"):
        act(flow, state, 5, "reject", 11, NOW, to_node="nowhere")


def test_reject_back_to_a_node_inside_a_taken_condition_branch(receipt):
    flow = compiled(
        approver("first", 10),
        {"id": "big", "type": "condition",
         "branches": [{"condition": "amount > 100", "nodes": [approver("director", 20)]}],
         "default": {"nodes": [approver("clerk", 30)]}},
        approver("last", 12))
    state, _ = submit(flow, amount=500)
    state, _ = act_as(flow, state, 10)
    state, _ = act_as(flow, state, 20)
    assert return_targets(flow, state, open_by_user(state)[12]) == ["start", "first", "director"]
    state, _ = act_as(flow, state, 12, "reject", to_node="director")
    state, _ = act_as(flow, state, 20)
    assert list(open_by_user(state)) == [12]


# ---- transfer and add-signer ---------------------------------------------------------------

def test_transfer_to_another_user():
    flow = compiled(approver("desk", 10), approver("next", 20))
    state, _ = submit(flow)
    state, events = act_as(flow, state, 10, "transfer", to=11, comment="我休假")
    assert events[-1].to_dict() == {"event": "transferred", "task_id": 1, "by": 10, "to": 11,
                                    "new_task_id": 2}
    assert list(open_by_user(state)) == [11]
    with pytest.raises(FlowError, match=r"already handled by 李娜 at .* \(transferred\)"):
        act(flow, state, 1, "approve", 10, NOW, name_of=NAMES.get)
    with pytest.raises(FlowError, match="give 'to'"):
        act(flow, state, 2, "transfer", 11, NOW)
    state, _ = act_as(flow, state, 11)
    assert list(open_by_user(state)) == [20]


def test_transfer_to_someone_already_signing_is_refused():
    flow = compiled(approver("board", 10, 11, mode="all"))
    state, _ = submit(flow)
    with pytest.raises(FlowError, match="周杰 already signs at step 'board'"):
        act(flow, state, 1, "transfer", 10, NOW, to=11, name_of=NAMES.get)


def test_add_signer_before():
    flow = compiled(approver("desk", 10), approver("next", 20))
    state, _ = submit(flow)
    state, events = act_as(flow, state, 10, "add_signer", users=[11, 12], position="before")
    assert events[-1].data == {"task_id": 1, "by": 10, "position": "before", "users": [11, 12]}
    order = []
    while 20 not in open_by_user(state):
        (user,) = open_by_user(state)
        order.append(user)
        state, _ = act_as(flow, state, user)
    assert order == [11, 12, 10]  # the added signers, then the one who added them


def test_add_signer_after_counts_as_approval():
    flow = compiled(approver("desk", 10), approver("next", 20))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10, "add_signer", users=[11], position="after")
    assert list(open_by_user(state)) == [11]
    state, _ = act_as(flow, state, 11)
    assert list(open_by_user(state)) == [20]


def test_add_signer_in_a_countersign_waits_for_the_added_signer():
    flow = compiled(approver("board", 10, 11, mode="all"))
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 10, "add_signer", users=[12], position="after")
    state, _ = act_as(flow, state, 11)
    assert state.status == "running" and list(open_by_user(state)) == [12]
    state, _ = act_as(flow, state, 12)
    assert state.status == "approved"


def test_add_signer_checks_its_arguments():
    flow = compiled(approver("desk", 10))
    state, _ = submit(flow)
    with pytest.raises(FlowError, match="needs 'users'"):
        act(flow, state, 1, "add_signer", 10, NOW, users=[10])
    with pytest.raises(FlowError, match="position must be 'before'"):
        act(flow, state, 1, "add_signer", 10, NOW, users=[11], position="middle")


# ---- withdraw, comment, urge ---------------------------------------------------------------

def test_submitter_withdraws_before_anyone_acts(receipt):
    state, _ = submit(receipt)
    with pytest.raises(FlowError, match="only the submitter") as error:
        act(receipt, state, None, "withdraw", 10, NOW)
    assert error.value.kind == "forbidden"
    state, events = act_as(receipt, state, 7, "withdraw", comment="填错了")
    assert state.status == "withdrawn" and state.open_tasks == ()
    assert names(events) == ["task_closed", "withdrawn", "completed"]
    assert state.tasks[0].outcome == "withdrawn"
    with pytest.raises(FlowError, match="already withdrawn"):
        act(receipt, state, None, "withdraw", 7, NOW)


def test_no_withdrawal_after_an_approval(receipt):
    state, _ = submit(receipt, amount=60000)
    state, _ = act_as(receipt, state, 10)
    with pytest.raises(FlowError, match="李娜 already acted \\(approve\\)") as error:
        act(receipt, state, None, "withdraw", 7, NOW, name_of=NAMES.get)
    assert error.value.kind == "conflict"


def test_comments_and_urging_do_not_block_withdrawal(receipt):
    state, _ = submit(receipt)
    state, events = act_as(receipt, state, 10, "comment", task_id=1, comment="看一下")
    assert events[0].to_dict() == {"event": "commented", "task_id": 1, "by": 10,
                                   "comment": "看一下"}
    state, events = act_as(receipt, state, 7, "urge")
    assert events[0].data == {"task_id": 1, "assignee": 10, "reason": "urge", "by": 7,
                              "comment": None}
    state, _ = act_as(receipt, state, 7, "withdraw")
    assert state.status == "withdrawn"


def test_withdraw_after_resubmission_counts_only_the_new_round(receipt):
    state, _ = submit(receipt)
    state, _ = act_as(receipt, state, 10, "return")
    state, _ = resubmit(receipt, state, {"amount": Decimal(5)}, 7, resolve, NOW)
    state, _ = act_as(receipt, state, 7, "withdraw")
    assert state.status == "withdrawn"


def test_a_returned_instance_can_be_withdrawn(receipt):
    state, _ = submit(receipt)
    state, _ = act_as(receipt, state, 10, "return")
    state, events = act_as(receipt, state, 7, "withdraw")
    assert state.status == "withdrawn" and names(events) == ["withdrawn", "completed"]


def test_who_may_comment_and_urge(receipt):
    state, _ = submit(receipt)
    with pytest.raises(FlowError, match="takes no part"):
        act(receipt, state, None, "comment", 55, NOW, comment="hi")
    with pytest.raises(FlowError, match="needs text"):
        act(receipt, state, None, "comment", 7, NOW, comment="  ")
    with pytest.raises(FlowError, match="only the submitter"):
        act(receipt, state, 1, "urge", 10, NOW)


# ---- resolving approvers, fallbacks ----------------------------------------------------------

def test_approvers_by_department_head_field_and_expression():
    flow = compiled(
        {"id": "head", "type": "approver", "approvers": [{"department_head": 2}]},
        {"id": "keeper", "type": "approver", "approvers": [{"field": "keeper"}]},
        {"id": "picked", "type": "approver",
         "approvers": [{"expr": "IF(amount > 100, 41, 42)"}, {"user": 41}]})
    state, _ = submit(flow, amount=500, keeper=8)
    assert state.plan == {"head": (20,), "keeper": (8,), "picked": (41,)}


def test_condition_on_the_submitter():
    flow = compiled(
        {"id": "who", "type": "condition", "branches": [
            {"condition": 'submitter.department = "采购部" AND HAS_ROLE("buyer") '
                          "AND submitter.id = 7",
             "nodes": [approver("purchase_lead", 40)]}],
         "default": {"nodes": [approver("other", 41)]}})
    buyer = {"id": 7, "department": "采购部", "roles": ["buyer"]}
    state, _ = start(flow, {"amount": Decimal(1)}, buyer, resolve, NOW)
    assert list(open_by_user(state)) == [40]
    state, _ = start(flow, {"amount": Decimal(1)}, {**buyer, "roles": []}, resolve, NOW)
    assert list(open_by_user(state)) == [41]


def test_a_condition_that_fails_does_not_match_and_says_why():
    flow = compiled({"id": "ratio", "type": "condition", "branches": [
        {"condition": "amount / 0 > 1", "nodes": [approver("a", 40)]}],
        "default": {"nodes": [approver("b", 41)]}})
    state, events = submit(flow)
    assert list(open_by_user(state)) == [41]
    (error,) = events[0].data["condition_errors"]
    assert error["node_id"] == "ratio" and error["error"].startswith("#DIV/0!")


def test_fallback_admin_is_the_default():
    flow = compiled({"id": "x", "type": "approver", "approvers": [{"role": "nobody"}]})
    state, events = submit(flow)
    assert list(open_by_user(state)) == [99]
    assert events[0].data["fallbacks"] == {"x": "admin"}


def test_fallback_auto_approve_passes_the_node():
    flow = compiled({"id": "x", "type": "approver", "approvers": [{"field": "keeper"}],
                     "fallback": "auto_approve"}, approver("next", 20))
    state, events = submit(flow)
    assert list(open_by_user(state)) == [20]
    assert {"event": "node_passed", "node_id": "x", "type": "approver", "auto": True} in [
        e.to_dict() for e in events]
    assert state.steps[-1].action == "auto_approve" and state.steps[-1].actor is None
    # A flow where every node passes by itself is approved at submission.
    only = compiled({"id": "x", "type": "approver", "approvers": [{"role": "nobody"}],
                     "fallback": "auto_approve"})
    state, events = submit(only)
    assert state.status == "approved" and names(events)[-2:] == ["approved", "completed"]


def test_fallback_refuse_refuses_the_submission(receipt):
    roles = dict(ROLES)
    ROLES["finance_director"] = []
    try:
        with pytest.raises(FlowError, match="cannot be submitted: nobody can act at step "
                                            "'财务总监审批' \\(role 'finance_director'"):
            submit(receipt, amount=60000)
        submit(receipt, amount=100)  # off the route: nobody needed there
    finally:
        ROLES.update(roles)


def test_admin_fallback_without_any_admin_refuses():
    flow = compiled({"id": "x", "type": "approver", "approvers": [{"role": "nobody"}]})

    def no_admins(spec, context):
        return [] if spec.get("admin") else resolve(spec, context)

    with pytest.raises(FlowError, match="no admin to fall back on"):
        start(flow, {}, 7, no_admins, NOW)


# ---- handlers ------------------------------------------------------------------------------

def test_handler_fills_in_and_completes():
    flow = compiled({"id": "fill", "type": "handler", "handlers": [{"user": 30}],
                     "fields": {"editable": ["note"]}}, approver("check", 10))
    state, _ = submit(flow)
    (task,) = state.open_tasks
    assert task.kind == "handler" and flow.node_fields("fill").editable == {"note"}
    state, _ = act_as(flow, state, 30)
    assert list(open_by_user(state)) == [10]


# ---- definition versions ---------------------------------------------------------------------

def test_instances_keep_the_version_they_started_on():
    versions = {}  # what the runtime keeps: (flow key, version) -> compiled flow
    old = dict(RECEIPT_FLOW)
    versions[("receipt_approval", 1)] = compile_flow(old, RECEIPT_FIELDS)
    running, _ = submit(versions[("receipt_approval", 1)], amount=60000)

    new = json.loads(json.dumps(RECEIPT_FLOW))
    new["version"] = 2
    new["nodes"][2]["branches"][0]["condition"] = "amount > 10000"
    new["nodes"][2]["branches"][0]["nodes"].append(
        {"id": "ceo", "type": "approver", "approvers": [{"user": 42}]})
    versions[("receipt_approval", 2)] = compile_flow(new, RECEIPT_FIELDS)

    with pytest.raises(FlowError, match="runs on version 1 .* not on version 2") as error:
        act(versions[("receipt_approval", 2)], running, 1, "approve", 10, NOW)
    assert error.value.kind == "conflict"

    def flow_of(state):
        return versions[(state.flow, state.flow_version)]

    for user in (10, 20):
        running, _ = act_as(flow_of(running), running, user)
    assert running.status == "approved"  # no CEO in version 1

    fresh, _ = submit(versions[("receipt_approval", 2)], amount=20000)
    for user in (10, 20, 42):
        fresh, _ = act_as(flow_of(fresh), fresh, user)
    assert fresh.status == "approved" and fresh.flow_version == 2


# ---- state as JSON, events, docs -------------------------------------------------------------

def test_state_survives_a_json_round_trip(receipt):
    state, _ = submit(receipt, amount=60000)
    state, _ = act_as(receipt, state, 10, "add_signer", users=[11], position="before")
    text = json.dumps(state_to_dict(state), ensure_ascii=False)
    assert state_from_dict(json.loads(text)) == state
    assert len(text) < 3000


def test_every_event_is_declared():
    flow = compiled(PARALLEL, {"id": "copy", "type": "cc", "recipients": [{"user": 8}]},
                    approver("last", 30, time_limit={"hours": 1}))
    seen = set()
    state, events = submit(flow)
    seen |= set(names(events))
    state, events = act_as(flow, state, 10, "transfer", to=12)
    seen |= set(names(events))
    state, events = act_as(flow, state, 20, "add_signer", users=[41])
    seen |= set(names(events))
    assert seen <= {name for name, _ in EVENTS}


def _doc():
    return (ROOT / "docs" / "flows.md").read_text(encoding="utf-8")


def test_docs_show_the_mission_flow_and_cover_everything():
    text = _doc()
    first_json = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    assert json.loads(first_json) == RECEIPT_FLOW
    for name, _ in EVENTS:
        assert f"`{name}`" in text, name
    for action in ACTIONS:
        assert f"`{action}`" in text, action
    for node_type in ("start", "approver", "handler", "cc", "condition", "parallel"):
        assert f"`{node_type}`" in text, node_type
    examples = re.search(r"```\n(amount > 50000\n.*?)```", text, re.S).group(1)
    for condition in examples.splitlines():
        assert compile_flow({"key": "doc", "form": "receipts", "nodes": [
            {"id": "start", "type": "start"},
            {"id": "c", "type": "condition", "branches": [{"condition": condition, "nodes": []}],
             "default": {"nodes": []}}]}, RECEIPT_FIELDS)
    for option in ("any", "all", "share", "sequential", "admin", "auto_approve", "refuse",
                   "remind", "escalate", "share_pct", "working_hours", "escalate_to",
                   "to_node", "department_head"):
        assert f"`{option}`" in text, option


def test_a_user_field_named_submitter_is_read_from_the_record():
    fields = {**RECEIPT_FIELDS, "submitter": "user"}
    flow = compiled({"id": "a", "type": "approver", "approvers": [{"field": "submitter"}]},
                    fields=fields)
    state, _ = start(flow, {"submitter": 41}, {"id": 7}, resolve, NOW)
    assert list(open_by_user(state)) == [41]


def test_a_number_condition_is_true_unless_zero():
    flow = compiled({"id": "c", "type": "condition",
                     "branches": [{"condition": "amount", "nodes": [approver("a", 40)]}],
                     "default": {"nodes": [approver("b", 41)]}})
    assert list(open_by_user(submit(flow, amount=3)[0])) == [40]
    assert list(open_by_user(submit(flow, amount=0)[0])) == [41]
