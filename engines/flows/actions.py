"""The public transitions: ``start``, ``resubmit`` and ``act`` (approve, reject,
return, transfer, add_signer, withdraw, comment, urge).

Each takes the compiled flow the instance started on, the current state and the
clock, and returns ``(new_state, events)``; inputs are never changed. A refused
action raises ``FlowError`` and nothing happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from engines.flows.definition import CompiledFlow
from engines.flows.progress import REJECTED_SLOT, Run, earlier_nodes, find_task, rewind
from engines.flows.resolution import Resolve, plan_route, submitter_info
from engines.flows.state import (
    CANCELLED,
    CC,
    DONE,
    OPEN,
    REJECTED,
    RETURNED,
    RUNNING,
    WITHDRAWN,
    Event,
    FlowError,
    Slot,
    State,
    Task,
)

# What each action accepts besides the task, the actor and the clock.
OPTIONS = {
    "approve": {"comment"},
    "reject": {"comment", "to_node"},
    "return": {"comment"},
    "transfer": {"comment", "to"},
    "add_signer": {"comment", "users", "position"},
    "withdraw": {"comment"},
    "comment": {"comment"},
    "urge": {"comment"},
}
# Steps that count as acting on an instance: after one, the submitter cannot withdraw.
DECISIONS = frozenset({"approve", "reject", "return", "transfer", "add_signer"})
DONE_WORDS = {"approve": "approved", "reject": "rejected",
              "return": "returned to the submitter", "transfer": "transferred",
              "add_signer": "signers added"}
CANCEL_WORDS = {"decided": "the step was decided", "group_signed": "another member signed",
                "sent_back": "the flow was sent back to an earlier step",
                "escalated": "it was escalated", "rejected": "the instance was rejected",
                "withdrawn": "the instance was withdrawn",
                "returned": "the instance was returned to the submitter"}


def start(flow: CompiledFlow, record: Mapping, submitter, resolve: Resolve, now, *,
          snapshot_version=None, env: Mapping | None = None,
          comment: str | None = None) -> tuple[State, list[Event]]:
    """Submit ``record`` (the snapshot the route is decided on) by ``submitter`` (an id,
    or a mapping with ``id`` and whatever conditions read: ``name``, ``department``,
    ``roles``). ``resolve(spec, context)`` gives the user ids of a ``{"role": key}``,
    ``{"department_head": levels}`` or ``{"admin": True}`` spec. Raises ``FlowError``
    when a node nobody can act at refuses the submission."""
    info = submitter_info(submitter)
    route, plan, notes = plan_route(flow, record, info, resolve, now, env)
    state = State(flow=flow.key, flow_version=flow.version, status=RUNNING,
                  submitter=info["id"], round=1, snapshot_version=snapshot_version,
                  route=route, plan=plan, started_at=now.isoformat())
    return _submit(flow, state, info["id"], now, "submit", comment, notes)


def resubmit(flow: CompiledFlow, state: State, record: Mapping, submitter,
             resolve: Resolve, now, *, snapshot_version=None, env: Mapping | None = None,
             comment: str | None = None) -> tuple[State, list[Event]]:
    """Submit a returned instance again with the edited record: the route is decided
    anew and the flow restarts after the start node."""
    check_version(flow, state)
    info = submitter_info(submitter)
    if info["id"] != state.submitter:
        raise FlowError(f"only the submitter ({state.submitter}) can resubmit this "
                        "instance", "forbidden")
    if state.status != RETURNED:
        raise FlowError(f"only a returned instance can be resubmitted; this one is "
                        f"{state.status}", "conflict")
    route, plan, notes = plan_route(flow, record, info, resolve, now, env)
    state = State(flow=state.flow, flow_version=state.flow_version, status=RUNNING,
                  submitter=state.submitter, round=state.round + 1,
                  snapshot_version=snapshot_version, route=route, plan=plan,
                  tasks=state.tasks, steps=state.steps, started_at=state.started_at)
    return _submit(flow, state, info["id"], now, "resubmit", comment, notes)


def _submit(flow, state, submitter, now, action, comment, notes):
    run = Run(flow, state, now)
    run.actor = submitter
    run.step(submitter, action, flow.start, comment=comment)
    run.emit("submitted", submitter=submitter, round=state.round,
             snapshot_version=state.snapshot_version, **notes)
    run.leave(flow.start)
    return run.result()


def act(flow: CompiledFlow, state: State, task_id: int | None, action: str, actor, now, *,
        name_of=None, **options) -> tuple[State, list[Event]]:
    """``actor`` takes ``action`` on task ``task_id``:

    - ``approve`` (a handler completes the step with it too), ``return``;
    - ``reject``, with ``to_node`` to send the flow back to an earlier node instead of
      ending it (the start node's id: a return to the submitter);
    - ``transfer`` with ``to`` (a user id);
    - ``add_signer`` with ``users`` and ``position`` "before" (they sign first, then
      the actor again) or "after" (the actor approves, then they sign);
    - ``withdraw`` (the submitter, before anyone acted; ``task_id`` may be None);
    - ``comment`` (any participant; ``task_id`` None comments on the instance);
    - ``urge`` (the submitter reminds the assignee, or with None all of them).

    Every action takes ``comment``. ``name_of(user_id)`` names users in messages."""
    check_version(flow, state)
    if action not in ACTIONS:
        raise FlowError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    unknown = set(options) - OPTIONS[action]
    if unknown:
        raise FlowError(f"{action} does not take {', '.join(sorted(unknown))}; it takes "
                        f"{', '.join(sorted(OPTIONS[action]))}")
    run = Run(flow, state, now, name_of)
    run.actor = actor
    ACTIONS[action](run, task_id, actor, **options)
    return run.result()


def return_targets(flow: CompiledFlow, state: State, task_id: int) -> list[str]:
    """The node ids the assignee of ``task_id`` may reject back to (``to_node``)."""
    return earlier_nodes(flow, state, find_task(state.tasks, task_id).node_id)


def check_version(flow: CompiledFlow, state: State):
    if state.flow != flow.key or state.flow_version != flow.version:
        raise FlowError(f"this instance runs on version {state.flow_version} of flow "
                        f"{state.flow!r}, not on version {flow.version} of {flow.key!r}; "
                        "pass the compiled flow of the version it started with", "conflict")


# ---- the actions ----------------------------------------------------------------------

def assigned(run: Run, task_id, actor, action: str) -> Task:
    """The open task ``task_id``, which must be ``actor``'s."""
    task = run.task(task_id)
    if task.status == CC:
        raise FlowError(f"task {task.id} is a copy (CC) sent to {run.name(task.assignee)} "
                        f"for information; there is nothing to {action}", "invalid")
    if task.status == DONE:
        raise FlowError(f"task {task.id} was already handled by {run.name(task.handled_by)} "
                        f"at {task.handled_at} ({DONE_WORDS.get(task.outcome, task.outcome)})",
                        "conflict")
    if task.status == CANCELLED:
        why = CANCEL_WORDS.get(task.outcome, task.outcome)
        by = f" by {run.name(task.handled_by)}" if task.handled_by is not None else ""
        raise FlowError(f"task {task.id} is closed: {why}{by} at {task.handled_at}",
                        "conflict")
    if task.assignee != actor:
        raise FlowError(f"task {task.id} is assigned to {run.name(task.assignee)}, not to "
                        f"{run.name(actor)}; only its assignee can {action.replace('_', ' ')} "
                        "it", "forbidden")
    return task


def approve(run: Run, task_id, actor, comment=None):
    task = assigned(run, task_id, actor, "approve")
    approve_task(run, task, actor, comment)


def approve_task(run: Run, task: Task, actor, comment=None, data=None):
    task = run.close(task, DONE, "approve", actor)
    run.step(actor, "approve", task.node_id, task.id, comment, data)
    run.signed(task, approved=True)


def reject(run: Run, task_id, actor, comment=None, to_node=None):
    task = assigned(run, task_id, actor, "reject")
    if to_node is not None and to_node != run.flow.start and rewind(
            run.flow, run.state, task.node_id, to_node) is None:
        targets = ", ".join(repr(n) for n in earlier_nodes(run.flow, run.state, task.node_id))
        raise FlowError(f"cannot send task {task.id} back to {to_node!r}: it is not a step "
                        f"passed before {run.flow.label_of(task.node_id)}; choose one of "
                        f"{targets}")
    reject_task(run, task, actor, comment, to_node)


def reject_task(run: Run, task: Task, actor, comment=None, to_node=None, data=None):
    task = run.close(task, DONE, "reject", actor)
    run.step(actor, "reject", task.node_id, task.id, comment,
             {**(data or {}), "to_node": to_node} if to_node else data)
    if run.signed(task, approved=False) != REJECTED_SLOT:
        return  # a share node that may still pass
    if to_node is None:
        run.end(REJECTED, "rejected", node_id=task.node_id, comment=comment)
    elif to_node == run.flow.start:
        run.end(RETURNED, "returned", node_id=task.node_id, to=run.state.submitter,
                comment=comment)
    else:
        run.send_back(task.node_id, to_node)


def return_(run: Run, task_id, actor, comment=None):
    task = assigned(run, task_id, actor, "return")
    task = run.close(task, DONE, "return", actor)
    run.step(actor, "return", task.node_id, task.id, comment)
    run.end(RETURNED, "returned", node_id=task.node_id, to=run.state.submitter,
            comment=comment)


def transfer(run: Run, task_id, actor, comment=None, to=None):
    task = assigned(run, task_id, actor, "transfer")
    if to is None or to == actor:
        raise FlowError(f"transfer task {task.id} to another user: give 'to'")
    _not_signing(run, task, [to])
    task = run.close(task, DONE, "transfer", actor)
    run.step(actor, "transfer", task.node_id, task.id, comment, {"to": to})
    stage = run.stages[task.node_id]
    slot = stage.slots[task.slot]
    group = tuple(to if user == actor else user for user in slot.queue[0])
    run.set_slot(task.node_id, task.slot, Slot((group, *slot.queue[1:])))
    new = run.open_task(run.flow.nodes[task.node_id], task.slot, to)
    run.emit("transferred", task_id=task.id, by=actor, to=to, new_task_id=new.id)


def add_signer(run: Run, task_id, actor, comment=None, users=None, position="before"):
    task = assigned(run, task_id, actor, "add signers to")
    users = list(dict.fromkeys(u for u in (users or ()) if u is not None))
    if not users or actor in users:
        raise FlowError(f"add_signer on task {task.id} needs 'users': one or more other "
                        "users")
    if position not in ("before", "after"):
        raise FlowError(f"position must be 'before' (they sign first, then you) or 'after' "
                        f"(you approve, then they sign), not {position!r}")
    _not_signing(run, task, users)
    task = run.close(task, DONE, "add_signer", actor)
    run.step(actor, "add_signer", task.node_id, task.id, comment,
             {"position": position, "users": users})
    run.cancel(run.open_tasks(task.node_id, task.slot), "group_signed")
    slot = run.stages[task.node_id].slots[task.slot]
    added = tuple((user,) for user in users)
    queue = (*added, (actor,), *slot.queue[1:]) if position == "before" else (
        *added, *slot.queue[1:])
    run.set_slot(task.node_id, task.slot, Slot(queue))
    node = run.flow.nodes[task.node_id]
    for user in queue[0]:
        run.open_task(node, task.slot, user)
    run.emit("signer_added", task_id=task.id, by=actor, position=position, users=users)


def _not_signing(run: Run, task: Task, users):
    busy = {t.assignee for t in run.open_tasks(task.node_id)}
    for slot in run.stages[task.node_id].slots:
        busy.update(u for group in slot.queue for u in group)
    clash = [u for u in users if u in busy]
    if clash:
        raise FlowError(f"{', '.join(run.name(u) for u in clash)} already signs at step "
                        f"{run.flow.label_of(task.node_id)}")


def withdraw(run: Run, task_id, actor, comment=None):
    state = run.state
    if actor != state.submitter:
        raise FlowError(f"only the submitter ({run.name(state.submitter)}) can withdraw "
                        "this instance", "forbidden")
    if state.status not in (RUNNING, RETURNED):
        raise FlowError(f"cannot withdraw: the instance is already {state.status}",
                        "conflict")
    acted = next((s for s in reversed(state.steps) if s.action in DECISIONS
                  or s.action in ("submit", "resubmit")), None)
    if acted is not None and acted.action in DECISIONS and state.status == RUNNING:
        who = run.name(acted.actor)
        raise FlowError(f"cannot withdraw: {who} already acted ({acted.action}) at "
                        f"{acted.at}; an instance can be withdrawn only before anyone "
                        "acts on it", "conflict")
    run.step(actor, "withdraw", run.flow.start, task_id, comment)
    run.end(WITHDRAWN, "withdrawn", comment=comment)


def comment(run: Run, task_id, actor, comment=None):
    if not comment or not str(comment).strip():
        raise FlowError("a comment needs text")
    node_id = run.flow.start if task_id is None else run.task(task_id).node_id
    if actor != run.state.submitter and all(t.assignee != actor for t in run.tasks):
        raise FlowError(f"{run.name(actor)} takes no part in this instance and cannot "
                        "comment on it", "forbidden")
    run.step(actor, "comment", node_id, task_id, comment)
    run.emit("commented", task_id=task_id, by=actor, comment=comment)


def urge(run: Run, task_id, actor, comment=None):
    if actor != run.state.submitter:
        raise FlowError(f"only the submitter ({run.name(run.state.submitter)}) can urge "
                        "the approvers", "forbidden")
    run.check_running("urge")
    if task_id is None:
        tasks = run.open_tasks()
    else:
        task = run.task(task_id)
        if task.status != OPEN:
            raise FlowError(f"task {task.id} is not waiting for anyone", "conflict")
        tasks = [task]
    for task in tasks:
        run.emit("reminded", task_id=task.id, assignee=task.assignee, reason="urge",
                 by=actor, comment=comment)
    run.step(actor, "urge", tasks[0].node_id, task_id, comment)


ACTIONS = {"approve": approve, "reject": reject, "return": return_, "transfer": transfer,
           "add_signer": add_signer, "withdraw": withdraw, "comment": comment, "urge": urge}
