"""Time limits of flow tasks, driven by a clock the test controls."""

from __future__ import annotations

import datetime as dt

import pytest

from engines.flows import FlowError, WorkCalendar, act, compile_flow, expire
from tests.test_flow_engine import (
    NAMES,
    NOW,
    RECEIPT_FIELDS,
    RECEIPT_FLOW,
    act_as,
    approver,
    compiled,
    names,
    open_by_user,
    resolve,
    submit,
)

HOUR = dt.timedelta(hours=1)


def limited(on_expiry, *users, hours=2, mode="all", **limit):
    return compiled(approver("desk", *users, mode=mode,
                             time_limit={"hours": hours, "on_expiry": on_expiry, **limit}),
                    approver("next", 20))


def test_nothing_happens_before_the_due_time():
    flow = limited("remind", 10)
    state, _ = submit(flow)
    assert state.open_tasks[0].due_at == "2026-03-02T11:00:00"
    same, events = expire(flow, state, NOW + HOUR, resolve)
    assert same is state and events == []


def test_remind_once_when_overdue():
    flow = limited("remind", 10)
    state, _ = submit(flow)
    state, events = expire(flow, state, NOW + 2 * HOUR, resolve)
    assert [e.to_dict() for e in events] == [{"event": "reminded", "task_id": 1,
                                              "assignee": 10, "reason": "time_limit",
                                              "by": None, "comment": None}]
    assert state.open_tasks[0].overdue
    assert state.steps[-1].action == "remind" and state.steps[-1].actor is None
    again, events = expire(flow, state, NOW + 5 * HOUR, resolve)
    assert again is state and events == []
    state, _ = act_as(flow, state, 10)  # an overdue task can still be approved
    assert list(open_by_user(state)) == [20]


def test_escalation_of_the_mission_supervisor_after_eight_working_hours():
    flow = compile_flow(RECEIPT_FLOW, RECEIPT_FIELDS)
    state, _ = submit(flow, amount=60000)
    almost, events = expire(flow, state, dt.datetime(2026, 3, 2, 17, 59), resolve)
    assert events == []
    state, events = expire(flow, state, dt.datetime(2026, 3, 2, 18, 0), resolve)
    assert names(events) == ["task_closed", "task_created", "escalated"]
    assert events[-1].data == {"task_id": 1, "assignee": 10, "to": [30], "task_ids": [2]}
    old, new = state.tasks
    assert (old.status, old.outcome, old.overdue) == ("cancelled", "escalated", True)
    assert (new.assignee, new.due_at) == (30, None)  # escalated tasks do not expire again
    with pytest.raises(FlowError, match="task 1 is closed: it was escalated at "
                                        "2026-03-02T18:00:00"):
        act(flow, state, 1, "approve", 10, NOW, name_of=NAMES.get)
    state, _ = act_as(flow, state, 30)
    assert list(open_by_user(state)) == [20]


def test_escalation_to_a_role_gives_each_member_a_task_and_any_of_them_signs():
    flow = limited("escalate", 10, escalate_to={"role": "auditors"})
    state, _ = submit(flow)
    state, _ = expire(flow, state, NOW + 3 * HOUR, resolve)
    assert sorted(open_by_user(state)) == [40, 41, 42, 43, 44]
    state, _ = act_as(flow, state, 42)
    assert list(open_by_user(state)) == [20]
    outcomes = {t.assignee: t.outcome for t in state.tasks}
    assert outcomes[41] == "group_signed" and outcomes[42] == "approve"


def test_escalation_to_nobody_reminds_instead():
    flow = limited("escalate", 10, escalate_to={"role": "nobody"})
    state, _ = submit(flow)
    state, events = expire(flow, state, NOW + 3 * HOUR, resolve)
    assert names(events) == ["reminded"] and list(open_by_user(state)) == [10]


def test_escalation_in_a_countersign_replaces_only_the_late_signer():
    flow = limited("escalate", 10, 11, escalate_to={"user": 12})
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 11)
    state, _ = expire(flow, state, NOW + 3 * HOUR, resolve)
    assert list(open_by_user(state)) == [12]
    state, _ = act_as(flow, state, 12)
    assert list(open_by_user(state)) == [20]


def test_auto_approve_on_expiry():
    flow = limited("approve", 10, 11)
    state, _ = submit(flow)
    state, events = expire(flow, state, NOW + 2 * HOUR, resolve)
    assert list(open_by_user(state)) == [20]
    approvals = [s for s in state.steps if s.action == "approve"]
    assert [(s.actor, s.data["reason"]) for s in approvals] == [(None, "time_limit")] * 2
    with pytest.raises(FlowError, match="the system already acted"):
        act(flow, state, None, "withdraw", 7, NOW)


def test_auto_reject_on_expiry():
    flow = limited("reject", 10)
    state, _ = submit(flow)
    state, events = expire(flow, state, NOW + 2 * HOUR, resolve)
    assert state.status == "rejected" and state.open_tasks == ()
    assert names(events)[-2:] == ["rejected", "completed"]
    assert events[-2].data["by"] is None


def test_expire_ignores_ended_instances():
    flow = limited("reject", 10)
    state, _ = submit(flow)
    state, _ = act_as(flow, state, 7, "withdraw")
    same, events = expire(flow, state, NOW + 10 * HOUR, resolve)
    assert same is state and events == []


def test_due_times_in_working_hours():
    flow = limited("remind", 10, hours=3, working_hours=True)
    friday = dt.datetime(2026, 3, 6, 17, 0)
    state, _ = flow_start(flow, friday)
    # 1 hour on Friday, then 2 on Monday from 09:00
    assert state.open_tasks[0].due_at == "2026-03-09T11:00:00"
    same, events = expire(flow, state, dt.datetime(2026, 3, 8, 23, 0), resolve)
    assert events == []


def flow_start(flow, now):
    from engines.flows import start
    return start(flow, {}, 7, resolve, now)


@pytest.mark.parametrize("start, hours, due", [
    ("2026-03-02T09:00", 3, "2026-03-02T12:00:00"),      # morning exactly
    ("2026-03-02T11:00", 2, "2026-03-02T14:00:00"),      # over lunch
    ("2026-03-02T19:30", 1, "2026-03-03T10:00:00"),      # after hours
    ("2026-03-02T07:00", 0.5, "2026-03-02T09:30:00"),    # before hours
    ("2026-03-06T17:00", 8, "2026-03-09T17:00:00"),      # over the weekend
    ("2026-09-30T17:00", 2, "2026-10-08T10:00:00"),      # national holidays
    ("2026-09-25T17:00", 2, "2026-09-26T10:00:00"),      # a Saturday made a working day
])
def test_work_calendar(start, hours, due):
    holidays = frozenset(dt.date(2026, 10, d) for d in range(1, 8))
    calendar = WorkCalendar(holidays=holidays, workdays=frozenset({dt.date(2026, 9, 26)}))
    assert calendar.add_hours(dt.datetime.fromisoformat(start), hours).isoformat() == due


def test_a_calendar_without_working_hours_is_refused():
    with pytest.raises(ValueError, match="no working hours"):
        WorkCalendar(weekdays=frozenset()).add_hours(NOW, 1)


def test_the_runtime_passes_its_own_calendar():
    night_shift = WorkCalendar(periods=((22 * 60, 24 * 60),),
                               weekdays=frozenset(range(7)))
    flow = compiled(approver("desk", 10, time_limit={"hours": 3, "working_hours": True}),
                    calendar=night_shift)
    state, _ = submit(flow)
    assert state.open_tasks[0].due_at == "2026-03-03T23:00:00"
