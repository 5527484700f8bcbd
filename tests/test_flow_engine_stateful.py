"""Random sequences of flow actions (hypothesis' stateful testing) on a flow with every
node type and mode: a running instance always has an open task, an ended one has
none, nobody acts on a task that is not theirs, and no transition changes its input."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engines.flows import (
    FlowError,
    act,
    compile_flow,
    expire,
    resubmit,
    return_targets,
    start,
    state_from_dict,
    state_to_dict,
)
from engines.flows.progress import decide
from tests.test_flow_engine import RECEIPT_FIELDS

SUBMITTER = 7
OUTSIDERS = [60, 61, 62]
ROLES = {"escalation": [52, 53], "nobody": []}


def people(*users):
    return [{"user": u} for u in users]


FLOW = compile_flow({
    "key": "everything", "form": "receipts", "version": 1,
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "a", "type": "approver", "approvers": people(10, 11), "mode": "any"},
        {"id": "p", "type": "parallel", "branches": [
            {"nodes": [
                {"id": "b", "type": "approver", "approvers": people(20, 21), "mode": "all"},
                {"id": "c", "type": "handler", "handlers": people(22, 23),
                 "mode": "sequential"}]},
            {"nodes": [
                {"id": "big", "type": "condition",
                 "branches": [{"condition": "amount > 100", "nodes": [
                     {"id": "d", "type": "approver", "approvers": people(30, 31, 32),
                      "mode": "share", "share_pct": 60}]}],
                 "default": {"nodes": [
                     {"id": "e", "type": "approver", "approvers": people(33),
                      "time_limit": {"hours": 1, "on_expiry": "approve"}}]}}]}]},
        {"id": "k", "type": "cc", "recipients": people(40)},
        {"id": "f", "type": "approver", "approvers": people(50, 51), "mode": "sequential",
         "time_limit": {"hours": 2, "on_expiry": "escalate",
                        "escalate_to": {"role": "escalation"}}},
        {"id": "g", "type": "approver", "approvers": [{"role": "nobody"}],
         "fallback": "auto_approve"},
    ]}, RECEIPT_FIELDS)
EVERYONE = sorted({10, 11, 20, 21, 22, 23, 30, 31, 32, 33, 40, 50, 51, 52, 53, SUBMITTER,
                   *OUTSIDERS})


def resolve(spec, context):
    return ROLES[spec["role"]] if "role" in spec else [99]


class FlowMachine(RuleBasedStateMachine):
    @initialize(amount=st.sampled_from([50, 500]))
    def submit(self, amount):
        self.now = dt.datetime(2026, 3, 2, 9)
        self.state, _ = start(FLOW, {"amount": Decimal(amount)}, SUBMITTER, resolve, self.now)

    def apply(self, call, *args, **kwargs):
        """Run a transition; check it left its input alone; keep its result."""
        before = copy.deepcopy(state_to_dict(self.state))
        try:
            new, events = call(FLOW, self.state, *args, **kwargs)
        finally:
            assert state_to_dict(self.state) == before, "a transition changed its input"
        self.state = new
        return events

    def tick(self, minutes):
        self.now += dt.timedelta(minutes=minutes)

    # ---- actions by the right people ------------------------------------------------

    @precondition(lambda self: self.state.open_tasks)
    @rule(minutes=st.integers(0, 90))
    def everyone_waiting_approves(self, minutes):
        self.tick(minutes)
        for task in self.state.open_tasks:
            if self.state.tasks[task.id - 1].status == "open":
                self.apply(act, task.id, "approve", task.assignee, self.now)

    @precondition(lambda self: self.state.open_tasks)
    @rule(data=st.data(), minutes=st.integers(0, 90),
          action=st.sampled_from(["approve", "approve", "approve", "reject", "reject_to",
                                  "reject_to", "return", "transfer", "before", "after",
                                  "comment"]))
    def assignee_acts(self, data, minutes, action):
        self.tick(minutes)
        task = data.draw(st.sampled_from(self.state.open_tasks))
        options = {}
        if action == "reject_to":
            action = "reject"
            options["to_node"] = data.draw(st.sampled_from(
                return_targets(FLOW, self.state, task.id)))
        elif action == "transfer":
            options["to"] = data.draw(st.sampled_from(
                [u for u in OUTSIDERS if u != task.assignee]))
        elif action in ("before", "after"):
            options["position"], action = action, "add_signer"
            others = [u for u in OUTSIDERS if u != task.assignee]
            options["users"] = data.draw(st.lists(st.sampled_from(others), min_size=1,
                                                  max_size=2, unique=True))
        elif action == "comment":
            options["comment"] = "看一下"
        try:
            self.apply(act, task.id, action, task.assignee, self.now, **options)
        except FlowError as error:
            # Only handing the task to someone who already signs at the node is refused.
            assert action in ("transfer", "add_signer") and "already signs" in str(error)

    @precondition(lambda self: self.state.open_tasks)
    @rule(data=st.data())
    def someone_else_tries(self, data):
        task = data.draw(st.sampled_from(self.state.open_tasks))
        intruder = data.draw(st.sampled_from([u for u in EVERYONE if u != task.assignee]))
        action = data.draw(st.sampled_from(["approve", "reject", "return", "transfer"]))
        options = {"to": OUTSIDERS[0]} if action == "transfer" else {}
        try:
            self.apply(act, task.id, action, intruder, self.now, **options)
        except FlowError as error:
            assert error.kind == "forbidden"
        else:
            raise AssertionError(f"{intruder} acted on task {task.id} of {task.assignee}")

    @precondition(lambda self: any(t.status != "open" for t in self.state.tasks))
    @rule(data=st.data())
    def acting_on_a_closed_task_is_refused(self, data):
        task = data.draw(st.sampled_from([t for t in self.state.tasks if t.status != "open"]))
        user = task.assignee
        try:
            self.apply(act, task.id, "approve", user, self.now)
        except FlowError as error:
            assert error.kind in ("conflict", "invalid")
        else:
            raise AssertionError(f"task {task.id} ({task.status}) was approved again")

    @precondition(lambda self: self.state.status in ("running", "returned"))
    @rule()
    def submitter_withdraws(self):
        round_steps = []
        for step in reversed(self.state.steps):
            if step.action in ("submit", "resubmit"):
                break
            round_steps.append(step.action)
        acted = {"approve", "reject", "return", "transfer", "add_signer"} & set(round_steps)
        allowed = self.state.status == "returned" or (
            self.state.status == "running" and not acted)
        try:
            self.apply(act, None, "withdraw", SUBMITTER, self.now)
        except FlowError:
            assert not allowed
        else:
            assert allowed and self.state.status == "withdrawn"

    @precondition(lambda self: self.state.status == "running")
    @rule()
    def submitter_urges(self):
        events = self.apply(act, None, "urge", SUBMITTER, self.now)
        assert len(events) == len(self.state.open_tasks)

    @precondition(lambda self: self.state.status == "returned")
    @rule(amount=st.sampled_from([50, 500]))
    def submitter_resubmits(self, amount):
        self.apply(resubmit, {"amount": Decimal(amount)}, SUBMITTER, resolve, self.now)
        assert self.state.status == "running"

    @rule(hours=st.integers(0, 4))
    def clock_runs(self, hours):
        self.tick(hours * 60)
        self.apply(expire, self.now, resolve)

    @precondition(lambda self: self.state.ended)
    @rule(amount=st.sampled_from([50, 500]))
    def next_instance(self, amount):
        self.submit(amount)

    # ---- what always holds ------------------------------------------------------------

    @invariant()
    def open_tasks_match_the_status(self):
        open_tasks = self.state.open_tasks
        if self.state.status == "running":
            assert open_tasks, "a running instance without an open task"
        else:
            assert not open_tasks and not self.state.stages and not self.state.joins

    @invariant()
    def every_open_task_belongs_to_an_undecided_node(self):
        stages = {s.node_id: s for s in self.state.stages}
        for task in self.state.open_tasks:
            stage = stages[task.node_id]
            slot = stage.slots[task.slot]
            assert slot.outcome == "open" and task.assignee in slot.queue[0]
        for stage in stages.values():
            assert decide(FLOW.nodes[stage.node_id], stage) is None
            assert any(t.node_id == stage.node_id for t in self.state.open_tasks)

    @invariant()
    def task_ids_are_their_positions(self):
        assert [t.id for t in self.state.tasks] == list(range(1, len(self.state.tasks) + 1))

    @invariant()
    def state_is_json(self):
        text = json.dumps(state_to_dict(self.state))
        assert state_from_dict(json.loads(text)) == self.state


FlowMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_flow_machine = FlowMachine.TestCase
