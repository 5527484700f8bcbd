"""An app's rules, compiled once per app version and indexed by what fires them.

The rule files are definitions (``rules/*.rule``, kind ``rule``); ``rulebook`` reads
and compiles them against the app's catalog the first time a transaction of a new
app revision asks, and keeps the result on ``schema.cache`` (never a module global:
several apps, and several versions of one app, live in one process).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from engines.rules import (
    BalanceChanged,
    FieldChanged,
    FlowEvent,
    Interval,
    RecordEvent,
    Rule,
    RuleError,
    Schedule,
    WebhookReceived,
    check_rules,
    compile_rules,
)
from engines.rules.catalog import Catalog, catalog_from_documents
from runtime.services.errors import Invalid
from runtime.storage import definitions


@dataclass
class Rulebook:
    """The enabled rules of one app version, in firing order, by trigger."""

    rules: list[Rule] = field(default_factory=list)
    record: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)  # (form, event)
    changed: dict[str, list[Rule]] = field(default_factory=dict)  # form -> field rules
    flow: dict[str, list[Rule]] = field(default_factory=dict)  # form -> flow-event rules
    balance: dict[str, list[Rule]] = field(default_factory=dict)  # ledger -> rules
    webhook: dict[str, list[Rule]] = field(default_factory=dict)  # hook name -> rules
    scheduled: list[Rule] = field(default_factory=list)
    catalog: Catalog | None = None
    position: dict[int, int] = field(default_factory=dict)  # id(rule) -> firing order

    def named(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    watched_forms: frozenset[str] = frozenset()  # forms any record rule watches


def app_documents(conn, schema) -> dict[str, object]:
    """The app's live definitions as documents (``forms/x.json`` ...), rules included."""
    docs = {"app.json": schema.definition}
    for (kind, key), body in definitions.current(conn, schema.key).items():
        if kind in ("form", "flow", "ledger", "report"):
            docs[f"{kind}s/{key}.json"] = body
        elif kind == "rule":
            docs[f"rules/{key}.rule"] = body["source"]
    return docs


def rulebook(conn, schema) -> Rulebook:
    """The app's compiled rules (cached on the app schema of this revision)."""
    if "rulebook" in schema.cache:
        return schema.cache["rulebook"]
    docs = app_documents(conn, schema)
    catalog = catalog_from_documents(docs)
    rules: list[Rule] = []
    errors = []
    files = sorted(path for path in docs if path.startswith("rules/"))
    for path in files:
        try:
            rules += compile_rules(docs[path], catalog, path)
        except RuleError as error:
            # Checked when installed; this guards a rule whose form changed since.
            errors += [{"field": path, "message": str(p)} for p in error.problems]
    if errors:
        raise Invalid(errors)
    book = Rulebook(catalog=catalog)
    # Ascending order, then files in name order, rules in file order (a stable sort).
    book.rules = sorted((r for r in rules if r.enabled), key=lambda r: r.order)
    book.position = {id(rule): i for i, rule in enumerate(book.rules)}
    for rule in book.rules:
        t = rule.trigger
        if isinstance(t, RecordEvent):
            book.record.setdefault((t.form, t.event), []).append(rule)
        elif isinstance(t, FieldChanged):
            book.changed.setdefault(t.form, []).append(rule)
        elif isinstance(t, FlowEvent):
            book.flow.setdefault(t.form, []).append(rule)
        elif isinstance(t, BalanceChanged):
            book.balance.setdefault(t.ledger, []).append(rule)
        elif isinstance(t, WebhookReceived):
            book.webhook.setdefault(t.name, []).append(rule)
        elif isinstance(t, Schedule | Interval):
            book.scheduled.append(rule)
    book.watched_forms = frozenset({f for f, _ in book.record} | set(book.changed)
                                   | set(book.flow))
    schema.cache["rulebook"] = book
    return book


def check_source(conn, schema, source: str, filename: str = "rules.rule") -> list[dict]:
    """Problems of rule text against the app (``POST /rules/check``)."""
    return [p.as_dict() for p in check_rules(source, rulebook(conn, schema).catalog, filename)]


def condition_key(rule: Rule) -> str:
    """Names an edge flag: a changed condition starts with fresh flags."""
    text = rule.condition.source if rule.condition is not None else ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trigger_text(rule: Rule) -> str:
    """The trigger as the run log shows it, e.g. ``stock.balance changed``."""
    t = rule.trigger
    if isinstance(t, RecordEvent):
        return f"{t.form} {t.event}"
    if isinstance(t, FieldChanged):
        return f"{t.form}.{t.field} changed"
    if isinstance(t, FlowEvent):
        return f"{t.form} flow {t.event}" + (f' "{t.node}"' if t.node else "")
    if isinstance(t, BalanceChanged):
        return f"{t.ledger}.balance changed"
    if isinstance(t, Schedule):
        return f'every "{t.cron}"'
    if isinstance(t, Interval):
        return f"every {t.every} {t.unit}"
    return f'webhook "{t.name}"'
