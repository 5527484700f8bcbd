"""How an instance moves: entering nodes, opening and closing tasks, deciding a node
from its signers, joining parallel branches, ending.

``Run`` is the working copy of one transition: it copies the state's lists, changes
them, collects events, and ``result()`` freezes a new ``State``; the input state is
never touched.
"""

from __future__ import annotations

from engines.flows.calendar import due_at
from engines.flows.definition import CompiledFlow, Join, Node
from engines.flows.state import (
    CANCELLED,
    CC,
    OPEN,
    RETURNED,
    RUNNING,
    Event,
    FlowError,
    Slot,
    Stage,
    State,
    Step,
    Task,
)

APPROVED_SLOT, REJECTED_SLOT = "approved", "rejected"


class Run:
    def __init__(self, flow: CompiledFlow, state: State, now, name_of=None):
        self.flow = flow
        self.state = state
        self.now = now
        self.at = now.isoformat()
        self.name_of = name_of or str
        self.status = state.status
        self.tasks = list(state.tasks)
        self.steps = list(state.steps)
        self.stages = {s.node_id: s for s in state.stages}
        self.joins = dict(state.joins)
        self.ended_at = state.ended_at
        self.actor = None  # who caused this transition (None: the engine)
        self.events: list[Event] = []

    def result(self) -> tuple[State, list[Event]]:
        old = self.state  # built field by field: dataclasses.replace is slow on hot paths
        state = State(old.flow, old.flow_version, self.status, old.submitter, old.round,
                      old.snapshot_version, old.route, old.plan, tuple(self.stages.values()),
                      self.joins, tuple(self.tasks), tuple(self.steps), old.started_at,
                      self.ended_at)
        return state, self.events

    # ---- records of what happened ---------------------------------------------------

    def emit(self, name: str, **data):
        self.events.append(Event(name, data))

    def step(self, actor, action, node_id, task_id=None, comment=None, data=None):
        self.steps.append(Step(self.at, actor, action, node_id, task_id, comment, data))

    def name(self, user) -> str:
        return "the system" if user is None else self.name_of(user)

    # ---- tasks ------------------------------------------------------------------------

    def task(self, task_id) -> Task:
        return find_task(self.tasks, task_id)

    def open_task(self, node: Node, slot: int, user, *, timed=True) -> Task:
        task = Task(len(self.tasks) + 1, node.id, slot, user, node.kind, self.at,
                    due_at(self.now, node.time_limit, self.flow.calendar) if timed else None)
        self.tasks.append(task)
        self.emit("task_created", task=task.to_dict())
        return task

    def close(self, task: Task, status: str, outcome: str, by=None, *,
              overdue: bool | None = None) -> Task:
        closed = Task(task.id, task.node_id, task.slot, task.assignee, task.kind,
                      task.created_at, task.due_at, status, outcome, by, self.at,
                      task.overdue if overdue is None else overdue)
        self.tasks[task.id - 1] = closed
        self.emit("task_closed", task=closed.to_dict())
        return closed

    def open_tasks(self, node_id=None, slot=None) -> list[Task]:
        return [t for t in self.tasks if t.status == OPEN
                and (node_id is None or t.node_id == node_id)
                and (slot is None or t.slot == slot)]

    def cancel(self, tasks, reason: str):
        for task in tasks:
            self.close(task, CANCELLED, reason, self.actor)

    # ---- moving through the tree ------------------------------------------------------

    def enter(self, node_id: str):
        node = self.flow.nodes[node_id]
        kind = node.type
        if kind == "condition":
            index = self.state.route[node_id]
            branch = next(b for b in node.branches if b.index == index)
            self.emit("node_reached", node_id=node_id, type=kind, branch=index)
            if branch.first is None:
                self.leave(node_id)
            else:
                self.enter(branch.first)
        elif kind == "parallel":
            self.emit("node_reached", node_id=node_id, type=kind)
            self.joins[node_id] = ()
            for branch in node.branches:
                if branch.first is None:
                    self.join(Join(node_id, branch.index))
                else:
                    self.enter(branch.first)
        elif kind == "cc":
            self.emit("node_reached", node_id=node_id, type=kind)
            users = self.state.plan.get(node_id, ())
            tasks = []
            for user in users:
                task = Task(len(self.tasks) + 1, node_id, 0, user, "cc", self.at, status=CC)
                self.tasks.append(task)
                tasks.append(task.id)
                self.emit("task_created", task=task.to_dict())
            if users:
                self.emit("cc", node_id=node_id, users=list(users), task_ids=tasks)
            self.leave(node_id)
        else:  # approver or handler
            self.emit("node_reached", node_id=node_id, type=kind)
            users = self.state.plan.get(node_id, ())
            if not users:  # the node's fallback is auto_approve
                self.step(None, "auto_approve", node_id,
                          data={"reason": "nobody to act; the node passes by its fallback"})
                self.emit("node_passed", node_id=node_id, type=kind, auto=True)
                self.leave(node_id)
                return
            if node.mode == "sequential":
                slots = (Slot(tuple((u,) for u in users)),)
            else:
                slots = tuple(Slot(((u,),)) for u in users)
            self.stages[node_id] = Stage(node_id, slots)
            for i, slot in enumerate(slots):
                for user in slot.queue[0]:
                    self.open_task(node, i, user)

    def leave(self, node_id: str):
        target = self.flow.next_of[node_id]
        if target is None:
            self.finish()
        elif type(target) is Join:
            self.join(target)
        else:
            self.enter(target)

    def join(self, join: Join):
        done = (*self.joins[join.parallel], join.branch)
        if len(done) < len(self.flow.nodes[join.parallel].branches):
            self.joins[join.parallel] = done
            return
        del self.joins[join.parallel]
        self.emit("node_passed", node_id=join.parallel, type="parallel", auto=False)
        self.leave(join.parallel)

    def finish(self):
        self.status = "approved"
        self.ended_at = self.at
        self.emit("approved", by=self.actor)
        self.emit("completed", status="approved")

    # ---- signers ----------------------------------------------------------------------

    def set_slot(self, node_id: str, index: int, slot: Slot):
        stage = self.stages[node_id]
        slots = list(stage.slots)
        slots[index] = slot
        self.stages[node_id] = Stage(node_id, tuple(slots))

    def signed(self, task: Task, approved: bool) -> str | None:
        """The assignee of ``task`` (already closed) approved or rejected: move its slot
        on and settle the node. Return "rejected" when the node is rejected (the caller
        applies the rejection); a node that passes is left here."""
        self.cancel(self.open_tasks(task.node_id, task.slot), "group_signed")
        node = self.flow.nodes[task.node_id]
        slot = self.stages[task.node_id].slots[task.slot]
        if approved and len(slot.queue) > 1:
            self.set_slot(task.node_id, task.slot, Slot(slot.queue[1:]))
            for user in slot.queue[1]:
                self.open_task(node, task.slot, user)
            return None
        self.set_slot(task.node_id, task.slot,
                      Slot((), APPROVED_SLOT if approved else REJECTED_SLOT))
        verdict = decide(node, self.stages[task.node_id])
        if verdict == APPROVED_SLOT:
            self.cancel(self.open_tasks(node.id), "decided")
            del self.stages[node.id]
            self.emit("node_passed", node_id=node.id, type=node.type, auto=False)
            self.leave(node.id)
        return verdict if verdict == REJECTED_SLOT else None

    # ---- endings ----------------------------------------------------------------------

    def end(self, status: str, reason: str, **data):
        self.cancel(self.open_tasks(), reason)
        self.stages.clear()
        self.joins.clear()
        self.status = status
        if status != RETURNED:
            self.ended_at = self.at
        self.emit(status, by=self.actor, **data)
        if status != RETURNED:
            self.emit("completed", status=status)

    def send_back(self, from_node: str, to_node: str):
        """Rejected back to ``to_node``: everything begun after it is undone (branches
        of a parallel that began before it go on) and it runs again."""
        container, finished = rewind(self.flow, self.state, from_node, to_node)
        inside = self.flow.subtree[container]
        for node_id in [n for n in self.stages if n in inside]:
            self.cancel(self.open_tasks(node_id), "sent_back")
            del self.stages[node_id]
        for parallel in [p for p in self.joins if p in inside]:
            del self.joins[parallel]
        for parallel, branches in finished:
            self.joins[parallel] = branches
        self.emit("sent_back", by=self.actor, from_node=from_node, to_node=to_node)
        self.enter(to_node)

    def check_running(self, what: str):
        if self.status != RUNNING:
            raise FlowError(f"cannot {what}: the instance is {self.status}"
                            + (f" (since {self.ended_at})" if self.ended_at else ""),
                            "conflict")


def find_task(tasks, task_id) -> Task:
    if type(task_id) is not int or not 1 <= task_id <= len(tasks):
        raise FlowError(f"task {task_id} is not a task of this instance; it has tasks "
                        f"1 to {len(tasks)}", "invalid")
    return tasks[task_id - 1]


def decide(node: Node, stage: Stage) -> str | None:
    """"approved", "rejected" or None (still open) for a node, by its mode."""
    outcomes = [slot.outcome for slot in stage.slots]
    total, yes, no = len(outcomes), outcomes.count(APPROVED_SLOT), outcomes.count(REJECTED_SLOT)
    if node.mode == "any":
        return APPROVED_SLOT if yes else REJECTED_SLOT if no else None
    if node.mode == "share":
        if yes * 100 >= node.share_pct * total:
            return APPROVED_SLOT
        if (total - no) * 100 < node.share_pct * total:
            return REJECTED_SLOT
        return None
    if no:  # all, sequential
        return REJECTED_SLOT
    return APPROVED_SLOT if yes == total else None


def earlier_nodes(flow: CompiledFlow, state: State, node_id: str) -> list[str]:
    """The nodes a task at ``node_id`` may be sent back to: the start node (a return
    to the submitter), then the approver and handler nodes passed before it on the
    route, in flow order."""
    found = [flow.start]
    for other in flow.nodes.values():
        if other.kind in ("approver", "handler") and rewind(flow, state, node_id, other.id):
            found.append(other.id)
    return found


def rewind(flow: CompiledFlow, state: State, here: str, target: str):
    """How to go back from ``here`` to ``target``: (the node on the common line that
    holds ``here``, [(parallel, branches to count as finished)]), or None when
    ``target`` is not an approver or handler node passed before ``here``."""
    node = flow.nodes.get(target)
    if node is None or node.kind not in ("approver", "handler") or not state.plan.get(target):
        return None
    t, h = node.ancestry, flow.nodes[here].ancestry
    depth = 0
    while (depth + 1 < min(len(t), len(h)) and t[depth] == h[depth]
           and t[depth + 1][0] == h[depth + 1][0]):
        depth += 1
    if t[depth][0] != h[depth][0] or t[depth][1] >= h[depth][1]:
        return None
    finished = []
    for level in range(depth, len(t) - 1):
        outer = flow.nodes[flow.sequences[t[level][0]][t[level][1]]]
        branch = next(b for b in outer.branches if b.sequence == t[level + 1][0])
        if outer.type == "condition" and state.route.get(outer.id) != branch.index:
            return None  # a branch the record did not take
        if outer.type == "parallel":
            finished.append((outer.id, tuple(b.index for b in outer.branches
                                             if b.index != branch.index)))
    return flow.sequences[h[depth][0]][h[depth][1]], finished
