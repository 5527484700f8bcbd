"""Time limits: ``expire`` is what the scheduler calls (every few minutes, with the
clock) for each running instance with a task past its ``due_at``."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from engines.flows.actions import approve_task, check_version, reject_task
from engines.flows.definition import CompiledFlow
from engines.flows.progress import Run
from engines.flows.resolution import Resolve
from engines.flows.state import CANCELLED, OPEN, RUNNING, Event, Slot, State


def expire(flow: CompiledFlow, state: State, now: dt.datetime, resolve: Resolve, *,
           name_of=None) -> tuple[State, list[Event]]:
    """Apply the time limit of every open task due at or before ``now``, once per task:
    ``remind`` (a ``reminded`` event), ``escalate`` (the task moves to the users of
    ``escalate_to``, without a new time limit; a reminder when nobody resolves),
    ``approve`` or ``reject`` (as the system). Returns the state unchanged and no
    events when nothing is due."""
    check_version(flow, state)
    if state.status != RUNNING:
        return state, []
    due = [t for t in state.tasks if t.status == OPEN and t.due_at and not t.overdue
           and dt.datetime.fromisoformat(t.due_at) <= now]
    if not due:
        return state, []
    run = Run(flow, state, now, name_of)
    for task in due:
        task = run.tasks[task.id - 1]
        if run.status != RUNNING or task.status != OPEN:
            continue  # an earlier expiry decided its node or ended the instance
        limit = flow.nodes[task.node_id].time_limit
        on_expiry = limit.get("on_expiry", "remind")
        data = {"reason": "time_limit", "due_at": task.due_at}
        if on_expiry == "approve":
            approve_task(run, task, None, data=data)
        elif on_expiry == "reject":
            reject_task(run, task, None, data=data)
        elif on_expiry == "escalate" and _escalate(run, task, limit["escalate_to"], resolve):
            continue
        else:  # remind, or an escalation that found nobody
            run.tasks[task.id - 1] = replace(task, overdue=True)
            run.step(None, "remind", task.node_id, task.id, data=data)
            run.emit("reminded", task_id=task.id, assignee=task.assignee,
                     reason="time_limit", by=None, comment=None)
    return run.result()


def _escalate(run: Run, task, spec: dict, resolve: Resolve) -> bool:
    context = {"flow": run.flow.key, "node_id": task.node_id, "record": None,
               "submitter": {"id": run.state.submitter}}
    signing = {t.assignee for t in run.open_tasks(task.node_id)}
    found = [spec["user"]] if "user" in spec else resolve(spec, context) or ()
    users = [u for u in dict.fromkeys(found)
             if u is not None and u not in signing]
    if not users:
        return False
    run.close(task, CANCELLED, "escalated", None, overdue=True)
    run.step(None, "escalate", task.node_id, task.id,
             data={"reason": "time_limit", "from": task.assignee, "to": users})
    slot = run.stages[task.node_id].slots[task.slot]
    group = (*[u for u in slot.queue[0] if u != task.assignee], *users)
    run.set_slot(task.node_id, task.slot, Slot((group, *slot.queue[1:])))
    node = run.flow.nodes[task.node_id]
    new = [run.open_task(node, task.slot, user, timed=False).id for user in users]
    run.emit("escalated", task_id=task.id, assignee=task.assignee, to=users, task_ids=new)
    return True
