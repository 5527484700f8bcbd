"""Rules that may fire each other in a circle, found before they run.

A rule's ``create``, ``update``, ``set``, ``post`` and ``reverse`` actions write
through the normal write path, which fires rules again (docs/rules.md, "Chains"). When
the rules of a file can fire each other in a circle, ``check_rules`` warns: it is
fine when a condition ends the chain, and a runaway chain is stopped by the runtime at
``MAX_CHAIN_DEPTH`` and rolled back — but it is better found while writing the rules.

A rule whose only circle is its own ``set`` on the record that fired it is not
reported: the runtime never re-enters a rule for the record it is running on.
"""

from __future__ import annotations

from engines.rules.model import (
    BalanceChanged,
    CreateRecord,
    FieldChanged,
    PostMovement,
    RecordEvent,
    ReverseMovements,
    Rule,
    SetFields,
    UpdateRecords,
    trigger_form,
)

MAX_CHAIN_DEPTH = 8  # rules firing rules, nested, before the write is refused


def _effects(rule: Rule):
    """(event, form or ledger, fields written, same record) for each writing action."""
    for action in (*rule.actions, *rule.else_actions):
        if isinstance(action, CreateRecord):
            yield "created", action.form, {v.field for v in action.values}, False
        elif isinstance(action, UpdateRecords):
            yield "updated", action.form, {v.field for v in action.values}, False
        elif isinstance(action, SetFields) and trigger_form(rule.trigger):
            yield ("updated", trigger_form(rule.trigger),
                   {v.field for v in action.assignments}, True)
        elif isinstance(action, PostMovement | ReverseMovements):
            yield "balance", action.ledger, set(), False


def _fires(rule: Rule, event: str, target: str, fields: set[str]) -> bool:
    t = rule.trigger
    if isinstance(t, RecordEvent):
        return t.form == target and t.event == event
    if isinstance(t, FieldChanged):
        return t.form == target and event in ("created", "updated") and t.field in fields
    if isinstance(t, BalanceChanged):
        return event == "balance" and t.ledger == target
    return False


def rule_graph(rules: list[Rule]) -> dict[int, set[int]]:
    """For each enabled rule (by index), the rules its actions may fire — leaving out a
    rule's own ``set`` on its own record."""
    graph: dict[int, set[int]] = {i: set() for i, r in enumerate(rules) if r.enabled}
    for i in graph:
        for event, target, fields, same_record in _effects(rules[i]):
            for j in graph:
                if (i != j or not same_record) and _fires(rules[j], event, target, fields):
                    graph[i].add(j)
    return graph


def find_circles(rules: list[Rule]) -> list[list[int]]:
    """One circle (rule indexes, first = last) per group of rules that fire each other."""
    graph = rule_graph(rules)
    circles, reported = [], set()
    for start in graph:
        if start in reported:
            continue
        path = _path(graph, start, start)
        if path:
            circles.append(path)
            reported.update(path)
    return circles


def _path(graph, start: int, goal: int) -> list[int] | None:
    """The shortest path start -> ... -> goal of at least one step (breadth first)."""
    previous = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == goal:
                    path = [goal, node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1] if path[-1] == start and len(path) > 1 else None
                if nxt not in previous and nxt != start:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return None
