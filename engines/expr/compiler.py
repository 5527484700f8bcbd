"""Compiling an expression: parse (``grammar``), check (``checking``), compute the
constant parts now (``fold``), write the Python function (``codegen``) and compile it
once. ``compile_expression`` and ``check_expression`` are the entry points."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engines.expr import operators
from engines.expr.checking import EXPECTED, Checker, describe_fields
from engines.expr.codegen import BINARY_HELPERS, UNARY_HELPERS, CodeWriter
from engines.expr.errors import ExpressionError, Failure, Problem, problem_at
from engines.expr.functions import FUNCTIONS, FunctionSpec
from engines.expr.grammar import parse
from engines.expr.nodes import Binary, Call, In, Literal, Node, Unary
from engines.expr.types import a


@dataclass(frozen=True)
class Compiled:
    """A compiled expression.

    ``evaluate(record, env=None)`` gives its value for one record: a mapping of field
    key to value (``Decimal``, ``str``, ``date``, ``datetime``, ``bool``, ``None``;
    a dict for a linked record, a list of dicts for a subtable). ``env`` is a mapping
    for the functions that need one: ``now`` (a datetime: the clock of TODAY / NOW)
    and whatever engine functions read. Errors come back as ``ErrorValue``, never
    raised. ``type`` is the inferred result type, ``references`` the field paths
    used (``"qty"``, ``"material.name"``), ``python`` the generated code."""

    source: str
    type: object
    references: frozenset[str]
    evaluate: Callable = field(repr=False)
    python: str = field(repr=False, default="")


def check_expression(source: str, fields: Mapping | None = None, *,
                     functions: Mapping[str, FunctionSpec] | None = None,
                     expect: str | None = None) -> list[Problem]:
    """Every problem in ``source`` (an empty list when it compiles)."""
    try:
        _checked(source, fields, functions, expect)
    except ExpressionError as error:
        return error.problems
    return []


def compile_expression(source: str, fields: Mapping | None = None, *,
                       functions: Mapping[str, FunctionSpec] | None = None,
                       expect: str | None = None) -> Compiled:
    """Parse, check and compile ``source``; raise ``ExpressionError`` when it is wrong.

    ``fields`` describes the fields the expression may name (see
    ``engines.expr.checking``); without it any name is accepted and nothing is
    checked before run time. ``functions`` is the registry (default ``FUNCTIONS``).
    ``expect`` ("boolean", "number", "text", "date", "datetime") is the kind of
    result the caller needs, e.g. "boolean" for a validation or visible_if."""
    functions = FUNCTIONS if functions is None else functions
    tree, checker = _checked(source, fields, functions, expect)
    writer = CodeWriter(functions)
    python, namespace = writer.function(fold(tree, functions))
    try:
        code = compile(python, "<expression>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        raise ExpressionError.from_problems([problem_at(
            source, "the expression is nested too deeply; split it into several fields",
            1, 1)]) from None
    exec(code, namespace)  # runs only the definition of the generated function
    return Compiled(source, tree.type, frozenset(checker.references), namespace["evaluate"],
                    python)


def _checked(source, fields, functions, expect):
    functions = FUNCTIONS if functions is None else functions
    scope = None if fields is None else describe_fields(fields)
    tree = parse(source)
    checker = Checker(source, scope, functions)
    try:
        checker.check(tree)
    except RecursionError:
        checker.problem("the expression is nested too deeply to check", 1, 1)
    if expect is not None and not checker.problems:
        allowed, message = EXPECTED[expect]
        if tree.type not in allowed:
            checker.problem(f"{message}, but it gives {a(tree.type)}", tree.line, tree.column)
    if checker.problems:
        raise ExpressionError.from_problems(checker.problems)
    return tree, checker


# ---- constant folding ---------------------------------------------------------------

def fold(node: Node, functions: Mapping) -> Node:
    """``node`` with every part that does not depend on the record computed now, e.g.
    DATE(2026, 11, 21) or -5. Parts that fail are left to fail at run time, where the
    error value gets its position."""
    if isinstance(node, Unary):
        node.operand = fold(node.operand, functions)
        parts = [node.operand]
    elif isinstance(node, Binary):
        node.left, node.right = fold(node.left, functions), fold(node.right, functions)
        parts = [node.left, node.right]
    elif isinstance(node, In):
        node.value = fold(node.value, functions)
        node.options = [fold(option, functions) for option in node.options]
        parts = [node.value, *node.options]
    elif isinstance(node, Call):
        node.args = [fold(arg, functions) for arg in node.args]
        spec = functions[node.name]
        if spec.lazy or spec.volatile or spec.catches_errors:
            return node
        parts = node.args
    else:
        return node
    if not all(isinstance(part, Literal) for part in parts):
        return node
    try:
        value = _compute(node, [part.value for part in parts], functions)
    except (Failure, ArithmeticError):
        return node
    folded = Literal(node.line, node.column, node.start, node.end, value=value)
    folded.type = node.type
    return folded


def _compute(node, args, functions):
    if isinstance(node, Call):
        return functions[node.name].impl(*args)
    if isinstance(node, In):
        return operators.is_in(args[0], args[1:])
    if isinstance(node, Unary):
        return args[0] if node.op == "pos" else UNARY_HELPERS[node.op](args[0])
    return BINARY_HELPERS[node.op](*args)
