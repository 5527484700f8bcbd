"""Rules as plain data (JSON-able dicts), without positions or compiled code, and back:
what the builder's rule editor stores and edits, and the normal form the round-trip
tests compare. ``format_rules(rules_from_data)`` gives the text again."""

from __future__ import annotations

from collections.abc import Mapping

from engines.rules.model import (
    Action,
    Assignment,
    BalanceChanged,
    CallWebhook,
    CreateRecord,
    Expr,
    FieldChanged,
    FlowEvent,
    Interval,
    Notify,
    PostMovement,
    Recipient,
    RecordEvent,
    ReverseMovements,
    Rule,
    Schedule,
    SendReport,
    SetFields,
    StartFlow,
    Template,
    Trigger,
    UpdateRecords,
    WebhookReceived,
)


def rule_to_data(rule: Rule) -> dict:
    """``rule`` as plain data (JSON-able), without positions or compiled code."""
    data = {"name": rule.name, "order": rule.order, "enabled": rule.enabled,
            "trigger": _trigger_data(rule.trigger),
            "if": rule.condition.source if rule.condition else None,
            "then": [_action_data(a) for a in rule.actions],
            "else": [_action_data(a) for a in rule.else_actions]}
    return data


def _values_data(values):
    return None if values is None else [[a.field, a.value.source] for a in values]


def _recipients_data(recipients):
    return [{"kind": r.kind, "name": r.name} if r.expr is None
            else {"kind": r.kind, "expr": r.expr.source} for r in recipients]


def _trigger_data(t: Trigger) -> dict:
    if isinstance(t, RecordEvent):
        return {"kind": t.kind, "form": t.form, "event": t.event}
    if isinstance(t, FieldChanged):
        return {"kind": t.kind, "form": t.form, "field": t.field,
                "to": t.to.source if t.to else None}
    if isinstance(t, FlowEvent):
        return {"kind": t.kind, "form": t.form, "event": t.event, "node": t.node}
    if isinstance(t, BalanceChanged):
        return {"kind": t.kind, "ledger": t.ledger}
    if isinstance(t, Schedule):
        return {"kind": t.kind, "cron": t.cron}
    if isinstance(t, Interval):
        return {"kind": t.kind, "every": t.every, "unit": t.unit}
    return {"kind": t.kind, "name": t.name}


def _action_data(a: Action) -> dict:
    if isinstance(a, SetFields):
        return {"action": a.word, "values": _values_data(a.assignments)}
    if isinstance(a, CreateRecord):
        return {"action": a.word, "form": a.form, "values": _values_data(a.values)}
    if isinstance(a, UpdateRecords):
        return {"action": a.word, "form": a.form, "where": a.where.source,
                "values": _values_data(a.values)}
    if isinstance(a, PostMovement):
        return {"action": a.word, "ledger": a.ledger, "values": _values_data(a.values)}
    if isinstance(a, ReverseMovements):
        return {"action": a.word, "ledger": a.ledger}
    if isinstance(a, StartFlow):
        return {"action": a.word, "flow": a.flow}
    if isinstance(a, Notify):
        return {"action": a.word, "recipients": _recipients_data(a.recipients),
                "channels": list(a.channels), "title": a.title.text,
                "body": a.body.text if a.body else None}
    if isinstance(a, SendReport):
        return {"action": a.word, "report": a.report,
                "recipients": _recipients_data(a.recipients), "channels": list(a.channels)}
    return {"action": a.word, "url": a.url, "payload": _values_data(a.payload)}


def rule_from_data(data: Mapping) -> Rule:
    """The ``Rule`` that ``rule_to_data`` gave ``data`` for (expressions not compiled;
    templates not split: format it and parse the text to check and compile it)."""
    condition = data.get("if")
    return Rule(name=data["name"], order=data.get("order", 0),
                enabled=data.get("enabled", True),
                trigger=_trigger_from(data["trigger"]),
                condition=Expr(condition) if condition is not None else None,
                actions=tuple(_action_from(a) for a in data["then"]),
                else_actions=tuple(_action_from(a) for a in data.get("else") or ()))


def _values_from(values):
    return None if values is None else tuple(Assignment(k, Expr(v)) for k, v in values)


def _recipients_from(recipients):
    return tuple(Recipient(r["kind"], r.get("name"),
                           Expr(r["expr"]) if r.get("expr") is not None else None)
                 for r in recipients)


def _trigger_from(t: Mapping) -> Trigger:
    kind = t["kind"]
    if kind == "record":
        return RecordEvent(t["form"], t["event"])
    if kind == "field_changed":
        return FieldChanged(t["form"], t["field"],
                            Expr(t["to"]) if t.get("to") is not None else None)
    if kind == "flow":
        return FlowEvent(t["form"], t["event"], t.get("node"))
    if kind == "balance":
        return BalanceChanged(t["ledger"])
    if kind == "cron":
        return Schedule(t["cron"])
    if kind == "interval":
        return Interval(t["every"], t["unit"])
    if kind == "webhook":
        return WebhookReceived(t["name"])
    raise ValueError(f"unknown trigger kind {kind!r}")


def _action_from(a: Mapping) -> Action:
    word = a["action"]
    if word == "set":
        return SetFields(_values_from(a["values"]))
    if word == "create":
        return CreateRecord(a["form"], _values_from(a["values"]))
    if word == "update":
        return UpdateRecords(a["form"], Expr(a["where"]), _values_from(a["values"]))
    if word == "post":
        return PostMovement(a["ledger"], _values_from(a["values"]))
    if word == "reverse":
        return ReverseMovements(a["ledger"])
    if word == "start flow":
        return StartFlow(a["flow"])
    if word == "notify":
        return Notify(_recipients_from(a["recipients"]), Template(a["title"]),
                      Template(a["body"]) if a.get("body") is not None else None,
                      tuple(a.get("channels") or ("inapp",)))
    if word == "report":
        return SendReport(a["report"], _recipients_from(a["recipients"]),
                          tuple(a.get("channels") or ("email",)))
    if word == "call webhook":
        return CallWebhook(a["url"], _values_from(a.get("payload")))
    raise ValueError(f"unknown action {word!r}")
