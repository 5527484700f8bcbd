"""Expressions of Loom's one expression language, compiled to SQL for reports.

The text is parsed and checked by ``engines.expr`` (same grammar, same messages, same
types); this module then walks the checked tree and builds a SQLAlchemy expression
instead of Python code. It keeps the language's meaning where SQL differs:

* a blank field counts as 0 / "" / day 0 in comparisons and arithmetic, as in a
  spreadsheet (``qty < 5`` holds for a blank qty) — without losing index use when a
  literal decides the blank case at compile time;
* NOT is pushed down into the comparisons, so no condition is ever SQL NULL;
* AND / OR skip blank arguments (all blank is #VALUE!), and NOT of a blank is TRUE;
* text compares without regard to case; division by zero gives blank.

The subset that runs in the database: literals, field paths, ``+ - * / ^ % &``,
comparisons, ``IN``, ``AND OR NOT``, and the functions in ``SQL_FUNCTIONS``.
Anything else is refused with its position, before the report runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    true,
)

from engines.expr import operators
from engines.expr.checking import Checker, describe_fields
from engines.expr.compiler import fold
from engines.expr.errors import ExpressionError, problem_at
from engines.expr.grammar import parse
from engines.expr.nodes import Binary, Call, Field, In, Literal, Node, Unary, walk
from engines.expr.types import BOOLEAN, DATE, DATETIME, NUMBER, TEXT
from engines.reports.dialects import DateShift, DaysBetween, ReportNumber, SafeDivide
from engines.reports.paths import PathError
from engines.reports.sqlfunctions import SQL_FUNCTIONS
from engines.reports.sqlvalues import (
    CHECK_TYPES,
    FLIP,
    LOOM_OPS,
    REPORT_FUNCTIONS,
    ZERO,
    Name,
    Sql,
    apply_op,
    as_text,
    bind_clock,
    bindable,
    common_type,
    expr_type,
    for_compare,
    zeroed,
)

__all__ = ["SQL_FUNCTIONS", "Name", "Sql", "SqlExpression", "bind_clock"]


@dataclass(frozen=True)
class Logical:
    """SQL conditions for when an AND / OR argument is TRUE, FALSE or blank (``blank``
    None: never blank, as a comparison)."""

    true: object
    false: object
    blank: object | None


class SqlExpression:
    """Compile one expression. ``resolve(path)`` returns a ``Name`` or raises
    ``PathError``; ``parameter(key)`` returns (bindparam, type, multiple) or raises
    KeyError; ``clock`` gives the bindparams of TODAY() and NOW()."""

    def __init__(self, source: str, resolve: Callable, parameter: Callable, clock: Callable):
        self.source = source
        self.resolve = resolve
        self.parameter = parameter
        self.clock = clock
        self.tree = self._checked()
        # Conditions under which the expression is an error value (#DIV/0!, #NUM!):
        # a condition with an error is not TRUE, whatever AND / OR / NOT say around it.
        self.errors: list = []
        self.guards: list = []

    # ---- checking ------------------------------------------------------------------

    def _checked(self) -> Node:
        tree = parse(self.source)
        problems, description, self.names = [], {}, {}
        for node in walk(tree):
            if not isinstance(node, Field) or node.dotted in self.names:
                continue
            try:
                name = self.resolve(node.path)
            except PathError as error:
                index = min(error.index, len(node.positions) - 1)
                problems.append(problem_at(self.source, str(error), *node.positions[index]))
                continue
            self.names[node.dotted] = name
            _describe(description, node.path, name)
        if problems:
            raise ExpressionError.from_problems(problems)
        checker = Checker(self.source, describe_fields(description), REPORT_FUNCTIONS)
        checker.check(tree)
        if checker.problems:
            raise ExpressionError.from_problems(checker.problems)
        tree = fold(tree, REPORT_FUNCTIONS)
        for node in walk(tree):
            if isinstance(node, Call) and node.name not in SQL_FUNCTIONS:
                raise ExpressionError.from_problems([problem_at(
                    self.source, f"{node.name} cannot be computed by the database in a "
                    f"report; use {', '.join(sorted(SQL_FUNCTIONS))}", node.line,
                    node.column)])
            if isinstance(node, Call) and node.name == "PARAM" and not (
                    node.args and isinstance(node.args[0], Literal)
                    and isinstance(node.args[0].value, str)):
                raise self.error_at(node, 'PARAM takes the key of a parameter in quotes: '
                                  'PARAM("site")')
        return tree

    def error_at(self, node: Node, message: str) -> ExpressionError:
        return ExpressionError.from_problems([problem_at(self.source, message, node.line,
                                                         node.column)])

    # ---- entry points --------------------------------------------------------------

    def condition(self):
        """The expression as a WHERE condition: TRUE rows only, never NULL."""
        self.errors = []
        condition = self.cond(self.tree, False)
        if self.errors:
            condition = and_(condition, not_(or_(*self.errors)))
        return condition

    def error_if(self, condition) -> None:
        self.errors.append(and_(*self.guards, condition) if self.guards else condition)

    def value(self) -> Sql:
        return self.val(self.tree)

    # ---- conditions ----------------------------------------------------------------

    def cond(self, node: Node, negate: bool):
        if isinstance(node, Unary) and node.op == "not":
            return self.cond(node.operand, not negate)
        if isinstance(node, Call) and node.name == "NOT":
            return self.cond(node.args[0], not negate)
        if isinstance(node, Binary) and node.op in ("and", "or"):
            return self._junction(node.op, [node.left, node.right], negate)
        if isinstance(node, Call) and node.name in ("AND", "OR"):
            return self._junction(node.name.lower(), node.args, negate)
        if isinstance(node, Binary) and node.op in FLIP:
            return self.compare(FLIP[node.op] if negate else node.op, self.val(node.left),
                                self.val(node.right))
        if isinstance(node, In):
            return self._in(node, negate)
        if isinstance(node, Call) and node.name == "ISBLANK":
            value = self.val(node.args[0]).expr
            return value.is_not(None) if negate else value.is_(None)
        return self._truth(self.val(node), negate)

    def _junction(self, op: str, nodes, negate: bool):
        """AND / OR as the language reads them: a blank argument is skipped (as in a
        spreadsheet), and all arguments blank is #VALUE!. So NOT is not pushed through
        the junction by De Morgan (NOT of a blank is TRUE, a skipped blank is nothing):
        the junction is TRUE or FALSE from its arguments' TRUE / FALSE / blank."""
        parts = [self.logical(n) for n in nodes]
        blanks = [p.blank for p in parts]
        if all(b is not None for b in blanks):
            self.error_if(and_(*blanks))
        if (op == "and") != negate:
            # AND holding, or OR failing: every argument decides so or is blank.
            wanted = [p.false if negate else p.true for p in parts]
            return and_(*[w if b is None else or_(w, b) for w, b in zip(wanted, blanks,
                                                                           strict=True)])
        # OR holding, or AND failing: one argument decides so.
        return or_(*[p.false if negate else p.true for p in parts])

    def logical(self, node: Node) -> Logical:
        """``node`` as an argument of AND / OR: when it is TRUE, FALSE, blank."""
        if _is_condition(node):
            return Logical(self.cond(node, False), self.cond(node, True), None)
        value = self.val(node)
        if value.is_literal and value.constant is None:
            return Logical(false(), false(), true())
        if not value.nullable or value.is_literal:
            return Logical(self._truth(value, False), self._truth(value, True), None)
        zero = false() if value.type == BOOLEAN else ZERO.get(value.type, 0)
        return Logical(self._truth(value, False), value.expr == zero, value.expr.is_(None))

    def _truth(self, value: Sql, negate: bool):
        if value.is_literal:
            holds = bool(value.constant)
            return (false() if holds else true()) if negate else (true() if holds else false())
        if value.type == BOOLEAN:
            expr = value.expr
            return or_(expr.is_(None), expr == false()) if negate else expr == true()
        zero = ZERO.get(value.type, 0)
        expr = value.expr
        return or_(expr.is_(None), expr == zero) if negate else expr != zero

    def compare(self, op: str, left: Sql, right: Sql):
        kind = common_type(left, right)
        left, right = for_compare(left, kind), for_compare(right, kind)
        zero = ZERO.get(kind)
        if zero is None or not (left.nullable or right.nullable):
            return apply_op(op, left.expr, right.expr, kind)
        for a, b, flip in ((left, right, False), (right, left, True)):
            if a.nullable and not a.is_literal and b.is_literal and not b.nullable:
                # The blank case is decided now: index-friendly SQL.
                rule = LOOM_OPS[op]
                blank_holds = rule(b.constant, zero) if flip else rule(zero, b.constant)
                base = apply_op(op, left.expr, right.expr, kind)
                return or_(a.expr.is_(None), base) if blank_holds else base
        return apply_op(op, zeroed(left, zero, kind), zeroed(right, zero, kind), kind)

    def _in(self, node: In, negate: bool):
        value = self.val(node.value)
        options = [self.val(o) for o in node.options]
        lists = [o for o in options if o.type == "list"]
        if lists or not all(o.is_literal for o in options):
            kind = common_type(value, *[o for o in options if o.type != "list"])
            zero = ZERO.get(kind, 0)
            left = zeroed(for_compare(value, kind), zero, kind)
            tests = [apply_op("eq", left, zeroed(for_compare(o, kind), zero, kind), kind)
                     for o in options if o.type != "list"]
            tests += [left.in_(o.expr) for o in lists]
            found = or_(*tests)
            return not_(found) if negate else found
        kind = common_type(value, *options)
        constants = [o.constant for o in options]
        keyed = [bindable(c.lower() if isinstance(c, str) else c)
                 for c in constants if c is not None]
        left = for_compare(value, kind).expr
        zero = ZERO.get(kind, 0)
        blank_in = any(operators.eq(c, zero) for c in constants)
        inside = left.in_(keyed) if keyed else false()
        if negate:
            inside = or_(left.is_(None), left.not_in(keyed)) if not blank_in else and_(
                left.is_not(None), left.not_in(keyed) if keyed else true())
            return inside
        return or_(value.expr.is_(None), inside) if blank_in and value.nullable else inside

    # ---- values --------------------------------------------------------------------

    def val(self, node: Node) -> Sql:
        return getattr(self, f"val_{type(node).__name__}")(node)

    def val_Literal(self, node: Literal) -> Sql:
        v = node.value
        if v is None:
            return Sql(null(), "blank", True, None)
        if isinstance(v, bool):
            return Sql(true() if v else false(), BOOLEAN, False, v)
        if isinstance(v, str):
            return Sql(literal(v, Text()), TEXT, False, v)
        if isinstance(v, dt.datetime):
            return Sql(literal(v, DateTime()), DATETIME, False, v)
        if isinstance(v, dt.date):
            return Sql(literal(v, Date()), DATE, False, v)
        v = Decimal(v)
        if v == v.to_integral_value() and abs(v) < 2 ** 62:
            return Sql(literal(int(v), Integer()), NUMBER, False, v)
        return Sql(literal(v, ReportNumber()), NUMBER, False, v)

    def val_Field(self, node: Field) -> Sql:
        name = self.names[node.dotted]
        return Sql(name.column, expr_type(name.type), name.nullable)

    def val_Unary(self, node: Unary) -> Sql:
        if node.op == "not":
            return Sql(self.cond(node, False), BOOLEAN, False)
        operand = self.number(self.val(node.operand))
        if node.op == "pos":
            return operand
        if node.op == "neg":
            return Sql(-operand.expr, NUMBER, False)
        return Sql(operand.expr * literal(Decimal("0.01"), ReportNumber()), NUMBER, False)

    def val_Binary(self, node: Binary) -> Sql:
        if node.op in ("and", "or") or node.op in FLIP:
            return Sql(self.cond(node, False), BOOLEAN, False)
        left, right = self.val(node.left), self.val(node.right)
        if node.op == "concat":
            return Sql(as_text(left).concat(as_text(right)), TEXT, False)
        dates = [s.type in (DATE, DATETIME) for s in (left, right)]
        if node.op == "sub" and all(dates):
            zero = [func.coalesce(v.expr, literal(ZERO[DATE], Date())) if v.nullable else v.expr
                    for v in (left, right)]
            return Sql(DaysBetween(*zero), NUMBER, False)
        if node.op in ("add", "sub") and any(dates):
            day, days = (left, right) if dates[0] else (right, left)
            shift = self.number(days).expr
            return Sql(DateShift(day.expr, -shift if node.op == "sub" else shift), DATE, True)
        a, b = self.number(left).expr, self.number(right).expr
        if node.op == "div":
            self.error_if(b == 0)
        expr = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
                "div": lambda: SafeDivide(a, b), "pow": lambda: func.power(a, b)}[node.op]()
        # NULL out of a division is the language's #DIV/0! error, not a blank: it is
        # never read as 0, and any condition on it is not TRUE.
        return Sql(expr, NUMBER, False)

    def val_In(self, node: In) -> Sql:
        return Sql(self._in(node, False), BOOLEAN, False)

    def val_Call(self, node: Call) -> Sql:
        return SQL_FUNCTIONS[node.name](self, node)

    def number(self, value: Sql) -> Sql:
        """A value in arithmetic: blank is 0, TRUE is 1."""
        expr = value.expr
        if value.type == BOOLEAN and not value.is_literal:
            expr = cast(expr, Integer)
        elif value.is_literal and value.type == BOOLEAN:
            expr = literal(int(value.constant), Integer())
        if value.nullable and not value.is_literal:
            expr = func.coalesce(expr, 0)
        elif value.is_literal and value.constant is None:
            expr = literal(0, Integer())
        return Sql(expr, NUMBER, False)



def _is_condition(node: Node) -> bool:
    """Nodes whose value is always TRUE or FALSE (or an error), never blank."""
    if isinstance(node, Binary):
        return node.op in ("and", "or") or node.op in FLIP
    if isinstance(node, Call):
        return node.name in ("AND", "OR", "NOT", "ISBLANK")
    return isinstance(node, In) or (isinstance(node, Unary) and node.op == "not")


def _describe(description: dict, path: tuple[str, ...], name: Name) -> None:
    level = description
    for part in path[:-1]:
        entry = level.setdefault(part, {"type": "relation", "fields": {}})
        level = entry["fields"]
    if name.type == "relation":
        level.setdefault(path[-1], {"type": "relation", "fields": {}})
    else:
        level[path[-1]] = CHECK_TYPES.get(name.type, name.type)
