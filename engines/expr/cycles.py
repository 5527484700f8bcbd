"""Formula fields that depend on each other: the order to compute them in, and the
circle when there is one (``total`` uses ``tax`` and ``tax`` uses ``total``)."""

from __future__ import annotations

from collections.abc import Mapping

from engines.expr.errors import ExpressionError, problem_at
from engines.expr.grammar import parse
from engines.expr.nodes import Field, walk


def dependencies(formulas: Mapping[str, str]) -> dict[str, list[tuple[str, int, int]]]:
    """For each formula field, the other formula fields it names, with the line and
    column where it names them. A path counts by its first name: ``lines.amount``
    depends on ``lines``."""
    found = {}
    for key, source in formulas.items():
        uses = []
        for node in walk(parse(source)):
            if isinstance(node, Field) and node.path[0] in formulas:
                uses.append((node.path[0], node.line, node.column))
        found[key] = uses
    return found


def find_cycle(formulas: Mapping[str, str]) -> list[str] | None:
    """The first circle among ``formulas`` (field key -> expression source) as a list
    of keys that starts and ends with the same key, e.g. ``["total", "tax",
    "total"]``; None when there is none."""
    graph = {key: [name for name, _, _ in uses] for key, uses in dependencies(formulas).items()}
    state: dict[str, int] = {}  # 1: being visited, 2: done
    for start in graph:
        if state.get(start):
            continue
        path, stack = [start], [iter(graph[start])]
        state[start] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return path[path.index(following):] + [following]
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(graph[following]))
    return None


def evaluation_order(formulas: Mapping[str, str]) -> list[str]:
    """The formula fields in an order where each comes after the ones it uses.

    Raises ``ExpressionError`` naming the circle, located where the first field of
    the circle names the next (``field`` on the error says which formula)."""
    cycle = find_cycle(formulas)
    if cycle:
        first, following = cycle[0], cycle[1]
        _, line, column = next(use for use in dependencies(formulas)[first]
                               if use[0] == following)
        circle = " → ".join(cycle)
        message = (f"formula fields use each other in a circle: {circle}; "
                   f"one of them must be computed without the others")
        error = ExpressionError.from_problems(
            [problem_at(formulas[first], message, line, column)])
        error.field = first
        raise error
    uses = {key: [name for name, _, _ in found] for key, found in dependencies(formulas).items()}
    order, done = [], set()

    def visit(key):
        if key in done:
            return
        done.add(key)
        for name in uses[key]:
            visit(name)
        order.append(key)

    for key in formulas:
        visit(key)
    return order
