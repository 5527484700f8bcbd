"""Deciding the route at submission: which branch each condition takes and who
approves, handles or is copied at each node on it.

As in DingTalk, the whole chain is settled when the record is submitted (and again
on resubmission), from the snapshot of the record: the submitter sees who will
approve, and a later change to the record or to a role does not re-route a running
instance. Roles, department heads and admins come from the caller's ``resolve``
callback; users named in the definition, user fields and expressions are read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from engines.expr import ErrorValue
from engines.flows.definition import CompiledFlow, Node
from engines.flows.state import FlowError

Resolve = Callable[[dict, dict], list]
ADMIN = {"admin": True}


def submitter_info(submitter) -> dict:
    """The submitter as a mapping with at least ``id`` (a bare id is accepted)."""
    if isinstance(submitter, Mapping):
        if "id" not in submitter:
            raise FlowError("the submitter needs an 'id'")
        return dict(submitter)
    return {"id": submitter}


def plan_route(flow: CompiledFlow, record: Mapping, submitter: dict, resolve: Resolve,
               now, env: Mapping | None = None) -> tuple[dict, dict, dict]:
    """(route, plan, notes): the branch taken at each condition node on the way, the
    users of each approver / handler / cc node on it, and what the submitter should be
    told (conditions that failed to evaluate, fallbacks used)."""
    scope = {**record, "submitter": submitter}
    env = {"now": now, "submitter": submitter, **(env or {})}
    route, plan, errors, fallbacks = {}, {}, [], {}

    def walk(sequence: str):
        for node_id in flow.sequences[sequence]:
            node = flow.nodes[node_id]
            if node.type == "condition":
                branch = _choose(node, scope, env, errors)
                route[node_id] = branch.index
                walk(branch.sequence)
            elif node.type == "parallel":
                for branch in node.branches:
                    walk(branch.sequence)
            elif node.kind is not None:
                users, fallback = resolve_people(flow, node, record, scope, env, submitter,
                                                 resolve)
                plan[node_id] = users
                if fallback:
                    fallbacks[node_id] = fallback

    walk("main")
    notes = {}
    if errors:
        notes["condition_errors"] = errors
    if fallbacks:
        notes["fallbacks"] = fallbacks
    return route, plan, notes


def _choose(node: Node, scope, env, errors):
    for branch in node.branches:
        if branch.condition is None:  # the default, always last
            return branch
        matched, error = truth(branch.condition.evaluate(scope, env))
        if matched:
            return branch
        if error:
            # A condition that cannot be evaluated does not match (like a blank field);
            # the submitter is told why the branch was not taken.
            errors.append({"node_id": node.id, "branch": branch.index, "error": error})
    raise AssertionError(f"condition node {node.id!r} has no default branch")


def truth(value) -> tuple[bool, str | None]:
    """A condition's value as the expression language reads it (numbers are TRUE
    unless 0, blank is FALSE), with the reason when it is not a condition at all."""
    if value is True or value is False:
        return value, None
    if value is None:
        return False, None
    if isinstance(value, ErrorValue):
        return False, value.describe()
    if isinstance(value, (int, float, Decimal)):
        return value != 0, None
    return False, f"{value!r} is not TRUE or FALSE"


def resolve_people(flow: CompiledFlow, node: Node, record: Mapping, scope: Mapping,
                   env: Mapping, submitter: dict,
                   resolve: Resolve) -> tuple[tuple, str | None]:
    """The users of ``node`` in order, without repeats, and the fallback used, if any.
    ``scope`` is the record as expressions see it (with ``submitter``). Raise
    ``FlowError`` when nobody can approve and the fallback refuses."""
    context = {"flow": flow.key, "node_id": node.id, "record": record, "submitter": submitter}
    users: list = []
    for i, spec in enumerate(node.people):
        if "user" in spec:
            found = (spec["user"],)
        elif "field" in spec:
            value = record.get(spec["field"])
            kind = flow.description.get(spec["field"])
            kind = kind if isinstance(kind, str) else (kind or {}).get("type")
            if kind == "department":  # the head of the department the field names
                value = value.get("id") if isinstance(value, Mapping) else value
                found = resolve({"department": value}, context) or () if value else ()
            else:
                found = users_in(value)
        elif "expr" in spec:
            found = users_in(flow.expressions[(node.id, i)].evaluate(scope, env))
        else:
            found = resolve(spec, context) or ()
        for user in found:
            if user is not None and user not in users:
                users.append(user)
    if users or node.type == "cc":
        return tuple(users), None
    if node.fallback == "auto_approve":
        return (), "auto_approve"
    who = describe_people(node.people)
    if node.fallback == "admin":
        admins = [u for u in (resolve(dict(ADMIN), context) or ()) if u is not None]
        if admins:
            return tuple(dict.fromkeys(admins)), "admin"
        raise FlowError(f"nobody can act at step {flow.label_of(node.id)}: {who} gives no "
                        "user and the app has no admin to fall back on; add someone to "
                        "the role or department, or give the node another fallback")
    raise FlowError(f"the record cannot be submitted: nobody can act at step "
                    f"{flow.label_of(node.id)} ({who} gives no user); ask an admin to "
                    "fill the role, or fill the user field on the record")


def users_in(value) -> tuple:
    """User ids in a field or expression value: one id, a list of them, or linked
    user records (mappings with ``id``)."""
    if value is None or value == "" or isinstance(value, ErrorValue):
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(u for item in value for u in users_in(item))
    if isinstance(value, Mapping):
        return users_in(value.get("id"))
    if isinstance(value, Decimal):
        return (int(value),) if value == value.to_integral_value() else (str(value),)
    return (value,)


def describe_people(people) -> str:
    parts = []
    for spec in people:
        (kind, value), = spec.items()
        parts.append({"user": f"user {value}", "role": f"role '{value}'",
                      "department_head": f"department head (level {value})",
                      "field": f"field '{value}'", "expr": f"expression {value}",
                      }.get(kind, f"{kind} {value}"))
    return ", ".join(parts) or "nobody"
