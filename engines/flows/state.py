"""What one running approval is: ``State`` (with its ``Task``s, ``Step``s and the
progress of each open node) and the ``Event``s a transition emits.

Everything here is immutable and made of JSON values only (timestamps are ISO 8601
strings, user ids are whatever the caller uses: ints or strings), so the runtime
stores ``state_to_dict(state)`` in a JSON column and gets the same state back with
``state_from_dict``. Task ids are numbers 1, 2, 3 ... unique within the instance
(``tasks[id - 1]``); the runtime prefixes them with the instance id for its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RUNNING, APPROVED, REJECTED, WITHDRAWN, RETURNED = (
    "running", "approved", "rejected", "withdrawn", "returned")
ENDED = (APPROVED, REJECTED, WITHDRAWN)

# Task.status: "open" waits for its assignee; "done" was acted on (outcome = the
# action); "cancelled" was closed by something else (outcome = why); "cc" is a
# notification, never open.
OPEN, DONE, CANCELLED, CC = "open", "done", "cancelled", "cc"

# Every event a transition can emit, with what it means (docs/flows.md lists them all).
EVENTS = (
    ("submitted", "the record was submitted (round 1) or resubmitted (round 2, 3 ...)"),
    ("node_reached", "the flow arrived at a node (for a condition: the branch taken)"),
    ("node_passed", "an approver, handler or parallel node is done (auto: by fallback)"),
    ("task_created", "a task was given to someone (kind approver, handler or cc)"),
    ("task_closed", "a task was acted on or cancelled"),
    ("cc", "users were copied at a cc node"),
    ("reminded", "an assignee is to be reminded (urged, or a time limit ran out)"),
    ("escalated", "an overdue task moved to the escalation users"),
    ("transferred", "an assignee gave their task to another user"),
    ("signer_added", "an assignee added signers before or after themselves"),
    ("commented", "someone commented"),
    ("sent_back", "a rejection sent the flow back to an earlier node"),
    ("approved", "the instance is finally approved"),
    ("rejected", "the instance is finally rejected"),
    ("returned", "the instance went back to the submitter for edits"),
    ("withdrawn", "the submitter withdrew the instance"),
    ("completed", "the instance ended (status approved, rejected or withdrawn)"),
)


class FlowError(ValueError):
    """An action that cannot be taken, with a message for the person who tried.

    ``kind`` lets the runtime pick a status: "forbidden" (not your task, not your
    instance: 403), "conflict" (already handled, instance ended, stale flow version:
    409) or "invalid" (a wrong argument or a refused submission: 422)."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    node_id: str
    slot: int  # which signer line of the node it belongs to (see Slot)
    assignee: object
    kind: str  # "approver", "handler" or "cc"
    created_at: str
    due_at: str | None = None
    status: str = OPEN
    outcome: str | None = None  # the action that closed it, or why it was cancelled
    handled_by: object = None
    handled_at: str | None = None
    overdue: bool = False  # its time limit has been applied

    def to_dict(self) -> dict:
        return {"id": self.id, "node_id": self.node_id, "slot": self.slot,
                "assignee": self.assignee, "kind": self.kind,
                "created_at": self.created_at, "due_at": self.due_at,
                "status": self.status, "outcome": self.outcome,
                "handled_by": self.handled_by, "handled_at": self.handled_at,
                "overdue": self.overdue}


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the instance's history: who did what, when, where, and why."""

    at: str
    actor: object  # None: the engine itself (fallback, time limit)
    action: str
    node_id: str
    task_id: int | None = None
    comment: str | None = None
    data: dict | None = None  # e.g. {"to": 9} for a transfer

    def to_dict(self) -> dict:
        return {"at": self.at, "actor": self.actor, "action": self.action,
                "node_id": self.node_id, "task_id": self.task_id,
                "comment": self.comment, "data": self.data}


@dataclass(frozen=True, slots=True)
class Slot:
    """One line of signers inside a node. A countersign node has one slot per
    approver, a sequential node one slot holding everyone in order. ``queue`` holds
    the groups still to sign, the first being the one with open tasks; a group is
    usually one user (several after an escalation to a role: any of them signs)."""

    queue: tuple[tuple, ...]
    outcome: str = OPEN  # "open", "approved" or "rejected"


@dataclass(frozen=True, slots=True)
class Stage:
    """An approver or handler node waiting for its signers."""

    node_id: str
    slots: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class State:
    flow: str  # the flow's key
    flow_version: object  # the definition version the instance runs on
    status: str
    submitter: object
    round: int  # 1 at submission, +1 per resubmission
    snapshot_version: object  # the record version the route was decided on
    route: dict  # condition node id -> branch index taken (-1: the default branch)
    plan: dict  # approver / handler / cc node id -> the users resolved at submission
    stages: tuple[Stage, ...] = ()
    joins: dict = field(default_factory=dict)  # parallel node id -> finished branch indexes
    tasks: tuple[Task, ...] = ()
    steps: tuple[Step, ...] = ()
    started_at: str | None = None
    ended_at: str | None = None

    @property
    def open_tasks(self) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if t.status == OPEN)

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclass(frozen=True, slots=True)
class Event:
    """Something rules, notifications or ledger posting may react to.
    ``data`` holds JSON values only."""

    name: str
    data: dict

    def to_dict(self) -> dict:
        return {"event": self.name, **self.data}


def state_to_dict(state: State) -> dict:
    """The state as JSON values (for ``json.dumps``)."""
    return {
        "flow": state.flow, "flow_version": state.flow_version, "status": state.status,
        "submitter": state.submitter, "round": state.round,
        "snapshot_version": state.snapshot_version,
        "route": dict(state.route), "plan": {k: list(v) for k, v in state.plan.items()},
        "stages": [{"node_id": s.node_id,
                    "slots": [{"queue": [list(g) for g in slot.queue], "outcome": slot.outcome}
                              for slot in s.slots]} for s in state.stages],
        "joins": {k: list(v) for k, v in state.joins.items()},
        "tasks": [t.to_dict() for t in state.tasks],
        "steps": [s.to_dict() for s in state.steps],
        "started_at": state.started_at, "ended_at": state.ended_at,
    }


def state_from_dict(data: dict) -> State:
    """The inverse of ``state_to_dict`` (also accepts what ``json.loads`` gave back)."""
    return State(
        flow=data["flow"], flow_version=data["flow_version"], status=data["status"],
        submitter=data["submitter"], round=data["round"],
        snapshot_version=data["snapshot_version"],
        route=dict(data["route"]), plan={k: tuple(v) for k, v in data["plan"].items()},
        stages=tuple(Stage(s["node_id"], tuple(
            Slot(tuple(tuple(g) for g in slot["queue"]), slot["outcome"])
            for slot in s["slots"])) for s in data["stages"]),
        joins={k: tuple(v) for k, v in data["joins"].items()},
        tasks=tuple(Task(**t) for t in data["tasks"]),
        steps=tuple(Step(**s) for s in data["steps"]),
        started_at=data["started_at"], ended_at=data["ended_at"],
    )
