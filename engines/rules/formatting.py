"""Rules back to text: the canonical layout of the DSL (what the builder saves and
``loom`` prints). ``parse_rules(format_rules(rules))`` gives the same rules.

    rule "低库存预警"
    order 10
    when stock.balance changed
    if qty < material.safety_stock
    then notify role "purchasing" title "低库存: {material.name}"
         create purchase_requests {material: material, qty: material.safety_stock * 2 - qty}

Keywords are lower case; each clause starts a line; the second and later actions of a
clause line up under the first. Expressions are written as they were typed.
"""

from __future__ import annotations

from engines.rules.model import (
    BalanceChanged,
    CallWebhook,
    CreateRecord,
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
    UpdateRecords,
    WebhookReceived,
)
from engines.rules.templates import quote
from engines.rules.vocabulary import DEFAULT_CHANNEL


def format_rules(rules) -> str:
    """The text of ``rules``, one blank line between them."""
    return "\n".join(format_rule(rule) for rule in rules)


def format_rule(rule: Rule) -> str:
    lines = [f"rule {quote(rule.name)}"]
    if rule.order:
        lines.append(f"order {rule.order}")
    if not rule.enabled:
        lines.append("disabled")
    lines.append(format_trigger(rule.trigger))
    if rule.condition is not None:
        lines.append(f"if {rule.condition.source}")
    lines.extend(_clause("then", rule.actions))
    if rule.else_actions:
        lines.extend(_clause("else", rule.else_actions))
    return "\n".join(lines) + "\n"


def _clause(word: str, actions) -> list[str]:
    return [(f"{word} " if i == 0 else " " * (len(word) + 1)) + format_action(action)
            for i, action in enumerate(actions)]


def format_trigger(t) -> str:
    if isinstance(t, RecordEvent):
        return f"when {t.form} {t.event}"
    if isinstance(t, FieldChanged):
        return f"when {t.form}.{t.field} changed" + (f" to {t.to.source}" if t.to else "")
    if isinstance(t, FlowEvent):
        if t.event == "reached":
            return f"when {t.form} flow node {quote(t.node)} reached"
        return f"when {t.form} flow {t.event}"
    if isinstance(t, BalanceChanged):
        return f"when {t.ledger}.balance changed"
    if isinstance(t, Schedule):
        return f"every {quote(t.cron)}"
    if isinstance(t, Interval):
        unit = t.unit[:-1] if t.every == 1 and t.unit.endswith("s") else t.unit
        return f"every {t.every} {unit}"
    if isinstance(t, WebhookReceived):
        return f"when webhook {quote(t.name)}"
    raise TypeError(f"not a trigger: {t!r}")


def _values(values) -> str:
    return "{" + ", ".join(f"{v.field}: {v.value.source}" for v in values) + "}"


def _recipients(recipients: tuple[Recipient, ...]) -> str:
    return ", ".join(f"{r.kind} {quote(r.name)}" if r.expr is None else f"{r.kind} {r.expr.source}"
                     for r in recipients)


def format_action(a) -> str:
    if isinstance(a, SetFields):
        return "set " + ", ".join(f"{v.field} = {v.value.source}" for v in a.assignments)
    if isinstance(a, CreateRecord):
        return f"create {a.form} {_values(a.values)}"
    if isinstance(a, UpdateRecords):
        return f"update {a.form} where {a.where.source} set {_values(a.values)}"
    if isinstance(a, PostMovement):
        return f"post {a.ledger} {_values(a.values)}"
    if isinstance(a, ReverseMovements):
        return f"reverse {a.ledger}"
    if isinstance(a, StartFlow):
        return f"start flow {quote(a.flow)}"
    if isinstance(a, Notify):
        by = "" if a.channels == (DEFAULT_CHANNEL,) else f" by {', '.join(a.channels)}"
        body = f" body {quote(a.body.text)}" if a.body is not None else ""
        return f"notify {_recipients(a.recipients)}{by} title {quote(a.title.text)}{body}"
    if isinstance(a, SendReport):
        return f"report {a.report} to {_recipients(a.recipients)} by {', '.join(a.channels)}"
    if isinstance(a, CallWebhook):
        payload = f" payload {_values(a.payload)}" if a.payload is not None else ""
        return f"call webhook {quote(a.url)}{payload}"
    raise TypeError(f"not an action: {a!r}")
