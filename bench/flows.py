"""Approval flows: instances/s run to completion by Loom's flow engine and by
SpiffWorkflow's BPMN engine, in the same run, over the same receipts.

The process is the mission's two-level approval: the supervisor approves, then, when
the amount is over 50,000, the finance director approves too (an exclusive gateway
with one conditional flow and a default). Half the receipts take each way.

* Loom: ``compile_flow`` once; per instance ``start`` (which decides the route from
  the receipt), then ``act(..., "approve", ...)`` on each open task until the instance
  is approved. The state is the engine's own immutable state, kept in memory.
* SpiffWorkflow (``pip install SpiffWorkflow``): the BPMN XML below, parsed once;
  per instance a ``BpmnWorkflow``, the amount put in the supervisor task's data, and
  each ready user task run (``task.run()`` then ``do_engine_steps()``) until the
  workflow is completed.

Target: Loom at least 5x SpiffWorkflow. The script checks that both engines asked the
finance director for the same receipts and exits non-zero if not; it never fails on
speed (numbers depend on the machine).

    python bench/flows.py
    python bench/flows.py --instances 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import sys
import time
from decimal import Decimal
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.flows import act, compile_flow, start  # noqa: E402

THRESHOLD = 50_000
SUPERVISOR, DIRECTOR, SUBMITTER = 10, 20, 7
ROLES = {"supervisor": [SUPERVISOR], "finance_director": [DIRECTOR]}
NOW = dt.datetime(2026, 3, 2, 9)

FLOW = {
    "key": "receipt_approval", "form": "receipts", "version": 1,
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "supervisor", "type": "approver", "approvers": [{"role": "supervisor"}]},
        {"id": "amount_check", "type": "condition",
         "branches": [{"condition": f"amount > {THRESHOLD}", "nodes": [
             {"id": "finance", "type": "approver",
              "approvers": [{"role": "finance_director"}]}]}],
         "default": {"nodes": []}},
    ],
}

BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="receipt_definitions" targetNamespace="https://loom.example/bench">
  <bpmn:process id="receipt_approval" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>to_supervisor</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="supervisor" name="Supervisor">
      <bpmn:incoming>to_supervisor</bpmn:incoming>
      <bpmn:outgoing>to_gateway</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="amount_check" default="small">
      <bpmn:incoming>to_gateway</bpmn:incoming>
      <bpmn:outgoing>large</bpmn:outgoing>
      <bpmn:outgoing>small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="finance" name="Finance director">
      <bpmn:incoming>large</bpmn:incoming>
      <bpmn:outgoing>finance_done</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end">
      <bpmn:incoming>finance_done</bpmn:incoming>
      <bpmn:incoming>small</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="to_supervisor" sourceRef="start" targetRef="supervisor"/>
    <bpmn:sequenceFlow id="to_gateway" sourceRef="supervisor" targetRef="amount_check"/>
    <bpmn:sequenceFlow id="large" sourceRef="amount_check" targetRef="finance">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >amount &gt; {THRESHOLD}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="amount_check" targetRef="end"/>
    <bpmn:sequenceFlow id="finance_done" sourceRef="finance" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def make_amounts(count: int) -> list[Decimal]:
    rng = random.Random(2026)
    return [Decimal(rng.randint(1_000, 2 * THRESHOLD - 1_000)) for _ in range(count)]


def resolve(spec, context):
    return ROLES[spec["role"]]


def run_loom(amounts) -> list[bool]:
    """Per instance: did the finance director approve it?"""
    flow = compile_flow(FLOW, {"amount": "money"})
    asked = []
    for amount in amounts:
        state, _ = start(flow, {"amount": amount}, SUBMITTER, resolve, NOW)
        director = False
        while state.status == "running":
            task = state.open_tasks[0]
            director |= task.node_id == "finance"
            state, _ = act(flow, state, task.id, "approve", task.assignee, NOW)
        assert state.status == "approved"
        asked.append(director)
    return asked


def run_spiff(amounts) -> list[bool]:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(BPMN.encode())
    spec = parser.get_spec("receipt_approval")
    asked = []
    for amount in amounts:
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        director = False
        while not workflow.is_completed():
            task = workflow.get_next_task(state=TaskState.READY, manual=True)
            if task.task_spec.name == "supervisor":
                task.data["amount"] = amount
            director |= task.task_spec.name == "finance"
            task.run()
            workflow.do_engine_steps()
        asked.append(director)
    return asked


def run_write_path(count: int) -> tuple[float, int]:
    """The same approvals through Loom's full write path on SQLite: create the receipt,
    submit it, and approve every task through the services, each step its own
    transaction with the state, tasks and audit rows persisted. Returns (seconds,
    instances approved)."""
    import tempfile
    from pathlib import Path

    from runtime.auth.actors import SYSTEM, load_actor
    from runtime.auth.users import add_user, find_user, grant_role
    from runtime.services import approvals
    from runtime.services.records import create_record
    from runtime.services.templates import install_template
    from runtime.storage.store import Store

    folder = Path(tempfile.mkdtemp())
    store = Store(f"sqlite:///{folder / 'flows.db'}")
    install_template(store, SYSTEM, "receipts", sample_data=True)
    with store.write() as conn:
        for name, role in (("clerk", "clerk"), ("boss", "supervisor"),
                           ("cfo", "finance_director")):
            grant_role(conn, add_user(conn, name, "password123"), "receipts", role)
    with store.read() as conn:
        people = {name: load_actor(conn, find_user(conn, name)["id"])
                  for name in ("clerk", "boss", "cfo")}
    amounts = make_amounts(count)
    started = time.perf_counter()
    approved = 0
    for amount in amounts:
        record = create_record(store, people["clerk"], "receipts", "receipts", {
            "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
            "lines": [{"material": {"code": "M-001"}, "qty": 1, "price": amount}]})
        approvals.submit_record(store, people["clerk"], "receipts", "receipts", record["id"])
        for who in ("boss", "cfo"):
            for task in approvals.list_tasks(store, people[who])["tasks"]:
                if task["record_id"] == record["id"]:
                    result = approvals.act_on_task(store, people[who], task["id"], "approve")
                    approved += result["approval"] == "approved"
    elapsed = time.perf_counter() - started
    store.dispose()
    return elapsed, approved


def best_time(function, amounts, repeat: int) -> tuple[float, list]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(amounts)
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    try:
        version = metadata.version("SpiffWorkflow")
    except metadata.PackageNotFoundError:
        print("SpiffWorkflow is not installed: pip install SpiffWorkflow  (it is the peer "
              "this benchmark compares with; Loom does not depend on it)")
        return 2
    amounts = make_amounts(options.instances)
    large = sum(amount > THRESHOLD for amount in amounts)
    print(f"{options.instances:,} instances ({large:,} over {THRESHOLD:,}: two approvals); "
          f"Python {platform.python_version()}, {platform.machine()}, "
          f"SpiffWorkflow {version}; best of {options.repeat}")
    loom_time, loom_asked = best_time(run_loom, amounts, options.repeat)
    spiff_time, spiff_asked = best_time(run_spiff, amounts, options.repeat)
    agreed = loom_asked == spiff_asked == [amount > THRESHOLD for amount in amounts]
    if not agreed:
        print("the engines disagree on which receipts the finance director approved")
    loom_rate, spiff_rate = options.instances / loom_time, options.instances / spiff_time
    print(f"{'Loom':14} {loom_rate:>10,.0f} instances/s")
    print(f"{'SpiffWorkflow':14} {spiff_rate:>10,.0f} instances/s")
    print(f"Loom/SpiffWorkflow {spiff_time / loom_time:.1f}x  (target >= 5x)")
    persisted = max(1, options.instances // 20)
    seconds, approved = run_write_path(persisted)
    print(f"{'Loom write path':14} {persisted / seconds:>10,.0f} instances/s  ({persisted:,} "
          "receipts created, submitted and approved through the services on SQLite, each "
          "step a transaction; beside the in-memory engines above)")
    return 0 if agreed and approved == persisted else 1


if __name__ == "__main__":
    sys.exit(main())
