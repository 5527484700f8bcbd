"""Approval flows as a pure library: no database, no web, no clock of its own.

    flow = compile_flow(definition, describe(form, forms))      # once per version
    state, events = start(flow, record, submitter, resolve, now)
    state, events = act(flow, state, task_id, "approve", user_id, now, comment="ok")
    state, events = expire(flow, state, now, resolve)            # from the scheduler

``State`` is small, immutable and JSON-ready (``state_to_dict`` / ``state_from_dict``);
every transition returns ``(new_state, events)`` and never changes its inputs, so the
runtime calls it inside its write transaction, stores the state and the tasks, and
hands the events to rules and notifications. See docs/flows.md.
"""

from engines.flows.actions import ACTIONS, act, resubmit, return_targets, start
from engines.flows.calendar import WorkCalendar
from engines.flows.definition import (
    CompiledFlow,
    FieldAccess,
    FlowDefinitionError,
    Node,
    compile_flow,
)
from engines.flows.expiry import expire
from engines.flows.state import (
    EVENTS,
    Event,
    FlowError,
    Slot,
    Stage,
    State,
    Step,
    Task,
    state_from_dict,
    state_to_dict,
)
from engines.flows.validation import validate_flow

__all__ = [
    "ACTIONS", "CompiledFlow", "EVENTS", "Event", "FieldAccess", "FlowDefinitionError", "FlowError",
    "Node", "Slot", "Stage", "State", "Step", "Task", "WorkCalendar", "act",
    "compile_flow", "expire", "resubmit", "return_targets", "start", "state_from_dict",
    "state_to_dict", "validate_flow",
]
