"""Checking rules against what the app has (the ``Catalog``) and compiling their
expressions, each in the scope its place gives it:

* the condition, ``set`` / ``create`` / ``post`` values, templates, recipient and
  payload expressions see the record that fired the rule (its form's fields; ``old``
  too for ``updated`` and ``changed``), the balance row of a ``balance changed`` rule
  (dimensions and measures, and ``old``), the ``payload`` of a webhook, or nothing at
  all in a scheduled rule;
* ``update <form> where ... set {...}`` sees the fields of the records it updates, and
  the firing record as ``trigger``.

Checks that need no catalog (event words, cron, channels, which actions need a
record, duplicate names) run always; names of forms, fields, ledgers, flows, roles
and reports are checked when the catalog knows them. Problems from engines.expr are
moved to the expression's place in the rule file.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

from engines.expr import FUNCTIONS, ExpressionError, compile_expression
from engines.expr.checking import FieldInfo, describe_fields
from engines.expr.errors import Problem, suggestion
from engines.expr.types import ANY, BLANK, BOOLEAN, DATE, DATETIME, NUMBER, RECORD, TEXT, ListOf, a
from engines.rules.catalog import Catalog, relation, with_extra
from engines.rules.cron import cron_problems
from engines.rules.errors import RuleProblem, SourceText, unknown
from engines.rules.model import (
    BalanceChanged,
    CallWebhook,
    CreateRecord,
    Expr,
    FieldChanged,
    FlowEvent,
    Interval,
    Notify,
    Position,
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
    trigger_form,
)
from engines.rules.vocabulary import (
    ACTIONS,
    CHANNELS,
    FLOW_EVENTS,
    OLD,
    PAYLOAD,
    RECIPIENT_KINDS,
    RECORD_EVENTS,
    REPORT_CHANNELS,
    TRIGGER,
    UNITS,
)

# What a value of each type may be stored in (by the field's type in expressions).
STORABLE = {
    NUMBER: {NUMBER, BOOLEAN},
    TEXT: {TEXT, NUMBER, BOOLEAN, DATE, DATETIME},
    DATE: {DATE, DATETIME},
    DATETIME: {DATE, DATETIME},
    BOOLEAN: {BOOLEAN, NUMBER},
}
READ_ONLY = {"formula": "it is computed from its formula",
             "rollup": "it is computed from the records that point to it",
             "autonumber": "it is numbered automatically"}
RECIPIENT_LISTS = {"user": "users", "role": "roles", "department": "departments"}


def _one_of(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _type_of(spec) -> str | None:
    return spec if isinstance(spec, str) else spec.get("type") if isinstance(spec, Mapping) \
        else None


class RuleChecker:
    """Checks rules of one file and sets ``compiled`` on each of their expressions."""

    def __init__(self, source: SourceText, catalog: Catalog, functions: Mapping | None = None):
        self.source = source
        self.catalog = catalog
        self.functions = functions if functions is not None else (
            catalog.functions if catalog.functions is not None else FUNCTIONS)
        self.problems: list[RuleProblem] = []

    def problem(self, message: str, at: Position, severity: str = "error"):
        self.problems.append(self.source.problem(message, at.line, at.column, severity))

    def check(self, rules: list[Rule]) -> list[RuleProblem]:
        seen: dict[str, Rule] = {}
        for rule in rules:
            if not rule.name.strip():
                self.problem("a rule needs a name: write it between the quotes", rule.name_at)
            elif rule.name in seen:
                self.problem(f"a rule named '{rule.name}' is already defined on line "
                             f"{seen[rule.name].at.line}: give each rule its own name",
                             rule.name_at)
            else:
                seen[rule.name] = rule
            self.rule(rule)
        return self.problems

    # ---- names the catalog knows ------------------------------------------------------

    def known(self, what: str, name: str, known, at: Position, where: str = "") -> bool:
        if known is None or name in known:
            return True
        self.problem(f"unknown {what} '{name}'{where}{suggestion(name, known)}", at)
        return False

    def form(self, name: str, at: Position) -> Mapping | None:
        forms = self.catalog.forms
        if not self.known("form", name, forms, at):
            return None
        return self.catalog.form_fields(name)

    def ledger(self, name: str, at: Position) -> Mapping | None:
        if not self.known("ledger", name, self.catalog.ledgers, at):
            return None
        return self.catalog.ledger_fields(name)

    # ---- rules and triggers -----------------------------------------------------------

    def rule(self, rule: Rule):
        scope = self.trigger(rule)
        if rule.condition is not None:
            self.compile(rule.condition, scope, rule, expect="boolean")
        for action in (*rule.actions, *rule.else_actions):
            getattr(self, f"action_{type(action).__name__}")(action, rule, scope)

    def trigger(self, rule: Rule) -> Mapping | None:
        """Check the trigger; the fields expressions of the rule see (None: unknown)."""
        t = rule.trigger
        if isinstance(t, RecordEvent):
            if t.event not in RECORD_EVENTS:
                self.problem(unknown("event", t.event, RECORD_EVENTS,
                                     f"a form's events are {_one_of(RECORD_EVENTS)}; see also "
                                     f"when {t.form}.<field> changed and when {t.form} flow "
                                     f"approved"), t.event_at)
            fields = self.form(t.form, t.at)
            return with_extra(fields, OLD, relation(fields)) if t.event == "updated" else fields
        if isinstance(t, FieldChanged):
            fields = self.form(t.form, t.at)
            target = self.field(fields, t.form, t.field, t.field_at)
            scope = with_extra(fields, OLD, relation(fields))
            if t.to is not None:
                self.compile(t.to, fields, rule, target=target)
            return scope
        if isinstance(t, FlowEvent):
            return self.flow_trigger(t)
        if isinstance(t, BalanceChanged):
            fields = self.ledger(t.ledger, t.at)
            return with_extra(fields, OLD, relation(fields))
        if isinstance(t, Schedule):
            for message, index in cron_problems(t.cron):
                self.problem(message, Position(t.at.line, t.at.column + 1 + index))
            return {}
        if isinstance(t, Interval):
            if t.unit not in UNITS:
                self.problem(unknown("unit", t.unit, UNITS, "write every 15 minutes, every "
                                     "2 hours or every 1 day"), t.unit_at)
            if t.every < 1:
                self.problem("the interval must be 1 or more", t.at)
            return {}
        if isinstance(t, WebhookReceived):
            webhooks = self.catalog.webhooks
            self.known("webhook", t.name, webhooks, t.at)
            return {PAYLOAD: relation((webhooks or {}).get(t.name))}
        raise TypeError(f"not a trigger: {t!r}")

    def flow_trigger(self, t: FlowEvent) -> Mapping | None:
        if t.event != "reached" and t.event not in FLOW_EVENTS:
            self.problem(unknown("flow event", t.event, FLOW_EVENTS,
                                 f"write when {t.form} flow {_one_of(FLOW_EVENTS)}, or when "
                                 f"{t.form} flow node \"<id>\" reached"), t.event_at)
        fields = self.form(t.form, t.at)
        with_flows = self.catalog.forms_with_flows()
        if fields is not None and with_flows is not None and t.form not in with_flows:
            self.problem(f"form '{t.form}' has no approval flow, so it has no flow events",
                         t.at)
        elif t.node is not None:
            nodes = self.catalog.flow_nodes(t.form)
            self.known("flow node", t.node, nodes, t.event_at,
                       f" in the flows of form '{t.form}'")
        return fields

    def field(self, fields: Mapping | None, form: str, name: str,
              at: Position) -> tuple[str, FieldInfo, str | None] | None:
        """(name, what the field holds, its declared type) — None when not known."""
        if fields is None:
            return None
        if name not in fields:
            self.problem(f"form '{form}' has no field '{name}'{suggestion(name, fields)}", at)
            return None
        spec = fields[name]
        return name, describe_fields({name: spec})[name], _type_of(spec)

    # ---- actions ----------------------------------------------------------------------

    def needs_record(self, rule: Rule, action, what: str, deleted_ok: bool = False,
                     hint: str = "") -> bool:
        t = rule.trigger
        form = trigger_form(t)
        if form is None:
            kind = {"cron": "scheduled", "interval": "scheduled"}.get(t.kind, t.kind)
            self.problem(f"{action.word} {what}, and a {kind} rule has no record{hint}",
                         action.at)
            return False
        if isinstance(t, RecordEvent) and t.event == "deleted" and not deleted_ok:
            self.problem(f"{action.word} {what}, but the record was deleted", action.at)
            return False
        return True

    def values(self, values, target: Mapping | None, owner: str, scope: Mapping | None,
               rule: Rule, writable: bool = True):
        seen = set()
        for item in values:
            if item.field in seen:
                self.problem(f"'{item.field}' is given twice", item.at)
            seen.add(item.field)
            info = self.field(target, owner, item.field, item.at) if target is not None \
                else None
            if info is not None and writable and info[2] in READ_ONLY:
                self.problem(f"'{item.field}' cannot be set: {READ_ONLY[info[2]]}", item.at)
                info = None
            self.compile(item.value, scope, rule, target=info)

    def action_SetFields(self, action: SetFields, rule: Rule, scope):
        if not self.needs_record(rule, action, "changes the record that fired the rule",
                                 hint=" — use create or update to change records"):
            return
        form = trigger_form(rule.trigger)
        self.values(action.assignments, self.catalog.form_fields(form), form, scope, rule)

    def action_CreateRecord(self, action: CreateRecord, rule: Rule, scope):
        target = self.form(action.form, action.form_at)
        self.values(action.values, target, action.form, scope, rule)

    def action_UpdateRecords(self, action: UpdateRecords, rule: Rule, scope):
        target = self.form(action.form, action.form_at)
        scheduled = rule.trigger.kind in ("cron", "interval")
        inner = target if scheduled else with_extra(target, TRIGGER, relation(scope))
        self.compile(action.where, inner, rule, expect="boolean")
        self.values(action.values, target, action.form, inner, rule)

    def action_PostMovement(self, action: PostMovement, rule: Rule, scope):
        target = self.ledger(action.ledger, action.ledger_at)
        if "qty" not in {item.field for item in action.values}:
            self.problem("post needs the quantity: add qty: <expression> inside the braces",
                         action.at)
        self.values(action.values, target, action.ledger, scope, rule, writable=False)

    def action_ReverseMovements(self, action: ReverseMovements, rule: Rule, scope):
        self.needs_record(rule, action, "undoes the movements of the record that fired the "
                                        "rule", deleted_ok=True)
        self.ledger(action.ledger, action.ledger_at)

    def action_StartFlow(self, action: StartFlow, rule: Rule, scope):
        self.needs_record(rule, action, "starts a flow for the record that fired the rule")
        if not self.known("flow", action.flow, self.catalog.flows, action.flow_at):
            return
        flow_form, form = self.catalog.flow_form(action.flow), trigger_form(rule.trigger)
        if flow_form and form and flow_form != form:
            self.problem(f"flow '{action.flow}' is for form '{flow_form}', but this rule "
                         f"fires for a record of '{form}'", action.flow_at)

    def recipients(self, recipients: tuple[Recipient, ...], scope, rule: Rule):
        for r in recipients:
            if r.kind not in RECIPIENT_KINDS:
                self.problem(unknown("recipient", r.kind, RECIPIENT_KINDS,
                                     f"write {_one_of(RECIPIENT_KINDS)} and a name in quotes, "
                                     f"e.g. role \"purchasing\""), r.at)
                continue
            if r.name is not None:
                known = getattr(self.catalog, RECIPIENT_LISTS[r.kind])
                self.known(r.kind, r.name, known, r.name_at)
            else:
                self.compile(r.expr, scope, rule, expect="text")

    def channels(self, channels, positions, allowed: Mapping, what: str):
        seen = set()
        for channel, at in zip(channels, positions or [None] * len(channels), strict=False):
            at = at or Position()
            if channel in seen:
                self.problem(f"the channel '{channel}' is given twice", at)
            seen.add(channel)
            if channel not in CHANNELS:
                self.problem(unknown("channel", channel, CHANNELS, f"use {_one_of(CHANNELS)}"),
                             at)
            elif channel not in allowed:
                self.problem(f"{what} cannot be sent by {channel}: use {_one_of(allowed)}", at)

    def action_Notify(self, action: Notify, rule: Rule, scope):
        self.recipients(action.recipients, scope, rule)
        self.channels(action.channels, action.channels_at, CHANNELS, "a notification")
        for template in (action.title, action.body):
            for placeholder in template.placeholders if template else ():
                self.compile(placeholder, scope, rule, expect="text")

    def action_SendReport(self, action: SendReport, rule: Rule, scope):
        if self.catalog.reports is not None and not self.catalog.reports:
            # Say why rather than "unknown report": no report can be named at all.
            self.problem(f"cannot send report '{action.report}': this app has no reports; "
                         f"add reports/{action.report}.json (see docs/reports.md) or send "
                         "the figures with notify instead", action.report_at)
        else:
            self.known("report", action.report, self.catalog.reports, action.report_at)
        self.recipients(action.recipients, scope, rule)
        self.channels(action.channels, action.channels_at, REPORT_CHANNELS, "a report")

    def action_CallWebhook(self, action: CallWebhook, rule: Rule, scope):
        url = urlparse(action.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            self.problem(f"'{action.url}' is not a web address: write it in full, e.g. "
                         f"\"https://erp.example.com/hooks/stock\"", action.url_at)
        self.values(action.payload or (), None, "", scope, rule)

    # ---- expressions ------------------------------------------------------------------

    def compile(self, expr: Expr, scope: Mapping | None, rule: Rule, *,
                expect: str | None = None, target=None):
        try:
            compiled = compile_expression(expr.source, scope, functions=self.functions,
                                          expect=expect)
        except ExpressionError as error:
            for problem in error.problems:
                self.expression_problem(expr, problem, rule)
            return
        except ValueError as error:  # a description in the catalog that cannot be read
            self.problem(f"this expression cannot be checked: {error}", expr.at)
            return
        expr.compiled = compiled
        if target is not None and not storable(target[1], compiled.type):
            name, info, _declared = target
            self.problem(f"'{name}' holds {_holds(info)}, but this value gives "
                         f"{a(compiled.type)}", expr.at)

    def expression_problem(self, expr: Expr, problem: Problem, rule: Rule):
        line, column = place(expr, problem.line, problem.column, self.source)
        message = problem.message
        if message.startswith("two values with nothing between them") and \
                line > expr.at.line and not self.source.text.splitlines()[line - 1][
                    :column - 1].strip():
            message += (f" — or, if a new action starts on this line, check its spelling "
                        f"({', '.join(ACTIONS)})")
        if message.startswith("unknown field") and rule.trigger.kind in ("cron", "interval"):
            message += " — a scheduled rule has no record; read data with functions such " \
                       "as COUNT_RECORDS(...)"
        self.problem(message, Position(line, column))


def place(expr: Expr, line: int, column: int, source: SourceText) -> tuple[int, int]:
    """Where (line, column) of ``expr``'s own text is in the rule file."""
    if expr.offsets is None:
        if line == 1:
            return expr.at.line, expr.at.column + column - 1
        return expr.at.line + line - 1, column
    starts = [0] + [i + 1 for i, ch in enumerate(expr.source) if ch == "\n"]
    index = starts[min(line, len(starts)) - 1] + column - 1
    if index < len(expr.offsets):
        return source.position(expr.offsets[index])
    return source.position(expr.offsets[-1] + 1 + index - len(expr.offsets))


def storable(info: FieldInfo, type_) -> bool:
    """Can a value of ``type_`` be stored in a field described by ``info``?"""
    if type_ in (ANY, BLANK) or info.type == ANY:
        return True
    if info.container == "relation":
        return type_ in (RECORD, NUMBER)
    if info.container == "subtable":
        return type_ == ListOf(RECORD)
    if isinstance(info.type, ListOf):
        return type_ in (info.type, TEXT)
    return type_ in STORABLE.get(info.type, {info.type})


def _holds(info: FieldInfo) -> str:
    if info.container == "relation":
        return "a linked record (give a linked record or a record id)"
    if info.container == "subtable":
        return "lines (give another record's subtable)"
    return a(info.type)
