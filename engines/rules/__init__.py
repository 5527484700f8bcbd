"""Loom's rule DSL: *when* something happens, *if* a condition holds, *then* do actions
(see docs/rules.md for users, ``rules.lark`` for the grammar).

    >>> from engines.rules import parse_rules
    >>> [rule] = parse_rules('''
    ... rule "大额订单"
    ... when orders created
    ... if amount > 10000
    ... then notify role "sales_manager" title "大额订单 {number}"
    ... ''', "orders.rule")
    >>> rule.trigger
    RecordEvent(form='orders', event='created')
    >>> rule.condition.evaluate({"amount": 20000})
    True

This package reads, checks and compiles rules; it runs nothing. The runtime fires
rules on events, evaluates ``rule.condition`` and carries out ``rule.actions``
(writing records, posting, sending through the outbox) as docs/rules.md describes.

* ``parse_rules(text, filename)`` — the rules of a file; expressions compiled without
  knowing the app's fields (any field name accepted). Raises ``RuleError``.
* ``compile_rules(text, catalog, filename)`` — the same, checked against the app's
  forms, fields, ledgers, flows, roles and reports (a ``Catalog``) and compiled in the
  scope each expression has. Raises ``RuleError`` listing every error.
* ``check_rules(text, catalog, filename)`` — every problem (errors and warnings) as
  ``RuleProblem`` with line, column and the source line; empty when all is well.
* ``format_rules(rules)`` — the canonical text of rules.
* ``rule_to_data`` / ``rule_from_data`` — a rule as plain JSON-able data and back.
"""

from __future__ import annotations

from collections.abc import Mapping

from engines.rules.catalog import Catalog
from engines.rules.checking import RuleChecker
from engines.rules.cron import cron_fields
from engines.rules.cycles import MAX_CHAIN_DEPTH, find_circles
from engines.rules.data import rule_from_data, rule_to_data
from engines.rules.errors import RuleError, RuleProblem, SourceText
from engines.rules.formatting import format_rule, format_rules
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
    Template,
    Trigger,
    UpdateRecords,
    WebhookReceived,
)
from engines.rules.syntax import SyntaxProblem, read_rules

DEFAULT_FILENAME = "rules.rule"


def check_rules(text: str, catalog: Catalog | Mapping | None = None,
                filename: str = DEFAULT_FILENAME, *,
                functions: Mapping | None = None) -> list[RuleProblem]:
    """Every problem in ``text``, in file order: syntax (only the first), then names,
    expressions and structure; warnings (``severity == "warning"``) for rules that may
    fire each other in a circle. Without a catalog, names are not checked."""
    return _read(text, filename, catalog, functions)[1]


def compile_rules(text: str, catalog: Catalog | Mapping | None = None,
                  filename: str = DEFAULT_FILENAME, *,
                  functions: Mapping | None = None) -> list[Rule]:
    """The rules of ``text``, checked against ``catalog`` and with every expression
    compiled in its scope; ``RuleError`` lists every error (warnings do not fail)."""
    rules, problems = _read(text, filename, catalog, functions)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RuleError(errors)
    return rules


def parse_rules(text: str, filename: str = DEFAULT_FILENAME, *,
                functions: Mapping | None = None) -> list[Rule]:
    """The rules of ``text`` with expressions compiled but names unchecked (any form,
    field or role is accepted); ``RuleError`` for anything else that is wrong."""
    return compile_rules(text, None, filename, functions=functions)


def _read(text, filename, catalog, functions) -> tuple[list[Rule], list[RuleProblem]]:
    source = SourceText(text, filename)
    try:
        rules, reading = read_rules(source)
    except SyntaxProblem as problem:
        return [], [source.problem(problem.message, problem.at.line, problem.at.column)]
    problems = [source.problem(message, at.line, at.column) for message, at in reading]
    problems += RuleChecker(source, Catalog.of(catalog), functions).check(rules)
    for circle in find_circles(rules):
        first = rules[circle[0]]
        if len(circle) == 2:
            what = f"rule '{first.name}' may fire itself: it writes what it watches"
        else:
            names = " → ".join(f"'{rules[i].name}'" for i in circle)
            what = f"rules may fire each other in a circle: {names}"
        problems.append(source.problem(
            f"{what}; make sure a condition ends the chain (the runtime refuses a chain "
            f"deeper than {MAX_CHAIN_DEPTH} rules)",
            first.name_at.line, first.name_at.column, severity="warning"))
    problems.sort(key=lambda p: (p.line, p.column))
    return rules, problems


__all__ = [
    "Action", "Assignment", "BalanceChanged", "CallWebhook", "Catalog", "CreateRecord",
    "DEFAULT_FILENAME", "Expr", "FieldChanged", "FlowEvent", "Interval", "MAX_CHAIN_DEPTH",
    "Notify", "Position", "PostMovement", "Recipient", "RecordEvent", "ReverseMovements",
    "Rule", "RuleError", "RuleProblem", "Schedule", "SendReport", "SetFields", "StartFlow",
    "Template", "Trigger", "UpdateRecords", "WebhookReceived", "check_rules",
    "compile_rules", "cron_fields", "find_circles", "format_rule", "format_rules",
    "parse_rules", "rule_from_data", "rule_to_data",
]
