"""Carrying out a rule's actions, inside the firing transaction.

Record writes go through the one write path (``create_in`` / ``update_in``), so they
validate, number, post, audit and fire rules of their own; ledger postings go through
``runtime.services.posting``; messages and webhook calls are queued in the outbox
(``runtime.notify``) and sent after commit. Each action returns a short description
of what it did (the dry run shows them).

A rule acts with the app's authority (not the user's: form and field permissions of
the user who fired it do not restrict it) and is audited as the user, through the rule.
"""

from __future__ import annotations

from sqlalchemy import select

from engines.expr import ErrorValue
from engines.rules import (
    CallWebhook,
    CreateRecord,
    Notify,
    PostMovement,
    ReverseMovements,
    SendReport,
    SetFields,
    StartFlow,
    UpdateRecords,
)
from runtime.auth.actors import Actor
from runtime.notify import messages
from runtime.notify.messages import jsonable
from runtime.services.errors import Invalid
from runtime.services.firing import Firing, record_values


def rule_actor(actor: Actor, rule) -> Actor:
    """Who a rule's writes are made as: the app's authority, audited as the user."""
    return Actor(id=actor.id, username=f'rule "{rule.name}"', is_admin=True,
                 roles=actor.roles, department_id=actor.department_id,
                 departments=actor.departments)


def _value(expr, record, env):
    value = expr.evaluate(record, env)
    if isinstance(value, ErrorValue):
        raise Invalid([{"field": None, "message": f"{expr.source} gave {value.code}: "
                        f"{value.message}"}])
    return value


def _input(value):
    """A value as the write path takes it: a linked record by its id."""
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, list):
        return [_input(v) for v in value]
    return value


def _values(assignments, record, env) -> dict:
    return {a.field: _input(_value(a.value, record, env)) for a in assignments}


def _form(schema, key: str):
    ft = schema.form(key)
    if ft is None:
        raise Invalid([{"field": None, "message": f"the app has no form '{key}' any more"}])
    return ft


def run_action(conn, schema, actor: Actor, rule, action, firing: Firing, env,
               dry_run: bool) -> dict:
    from runtime.services.records import create_in, update_in  # they fire rules: cycle

    as_rule = rule_actor(actor, rule)
    record = firing.record
    if isinstance(action, SetFields):
        values = _values(action.assignments, record, env)
        update_in(conn, as_rule, schema, _form(schema, firing.form), firing.record_id, values)
        return {"action": "set", "form": firing.form, "record": firing.record_id,
                "values": {k: jsonable(v) for k, v in values.items()}}
    if isinstance(action, CreateRecord):
        values = _values(action.values, record, env)
        created = create_in(conn, as_rule, schema, _form(schema, action.form), values)
        return {"action": "create", "form": action.form, "record": created["id"],
                "values": {k: jsonable(v) for k, v in values.items()}}
    if isinstance(action, UpdateRecords):
        return _update_matching(conn, schema, as_rule, rule, action, firing, env, update_in)
    if isinstance(action, PostMovement):
        from runtime.services.posting import post_rule_movement

        movement = {a.field: _input(_value(a.value, record, env)) for a in action.values}
        source = (firing.form, firing.record_id) if firing.record_id else ("rules", 0)
        post_rule_movement(conn, schema, action.ledger, movement, source, actor)
        return {"action": "post", "ledger": action.ledger,
                "movement": {k: jsonable(v) for k, v in movement.items()}}
    if isinstance(action, ReverseMovements):
        from runtime.services.posting import reverse_rule_movements

        count = reverse_rule_movements(conn, schema, action.ledger,
                                       (firing.form, firing.record_id), actor)
        return {"action": "reverse", "ledger": action.ledger, "movements": count}
    if isinstance(action, StartFlow):
        from runtime.services.approvals import submit_in

        ft = _form(schema, firing.form)
        result = submit_in(conn, as_rule, schema, ft, firing.record_id, flow_key=action.flow)
        return {"action": "start flow", "flow": action.flow, "record": firing.record_id,
                "approval": result["approval"]}
    if isinstance(action, Notify):
        return messages.notify(conn, schema, rule, action, firing, env)
    if isinstance(action, CallWebhook):
        return messages.call_webhook(conn, schema, rule, action, firing, env)
    if isinstance(action, SendReport):
        from runtime.notify.reports import send_report

        return send_report(conn, schema, rule, action, firing, env)
    raise TypeError(f"not an action: {action!r}")


def _update_matching(conn, schema, as_rule, rule, action: UpdateRecords, firing: Firing, env,
                     update_in) -> dict:
    """Evaluate the condition on each record of the form (with the firing record as
    ``trigger``) and update those it holds for, each through the write path. The
    database narrows the records first where the condition compiles to SQL."""
    from runtime.services.recordio import read_records
    from runtime.services.rule_where import sql_condition

    ft = _form(schema, action.form)
    paths = set()
    for expr in (action.where, *(a.value for a in action.values)):
        paths |= {p for p in (expr.compiled.references if expr.compiled else ())
                  if not p.startswith("trigger.")}
    trigger = firing.record if firing.record is not None else {}
    updated = []
    candidates = select(ft.table.c.id).order_by(ft.table.c.id)
    condition = sql_condition(ft, action.where.source, trigger)
    if condition is not None:
        candidates = candidates.where(condition)
    ids = list(conn.execute(candidates).scalars())
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(ft.table).where(ft.table.c.id.in_(ids[start:start + 500]))
                            .order_by(ft.table.c.id)).mappings().all()
        for record_json in read_records(conn, ft, rows):
            values = record_values(conn, schema, ft, record_json, paths)
            values.setdefault("trigger", trigger)
            if _value(action.where, values, env) is not True:
                continue
            update_in(conn, as_rule, schema, ft, record_json["id"],
                      _values(action.values, values, env))
            updated.append(record_json["id"])
    return {"action": "update", "form": action.form, "records": updated}

