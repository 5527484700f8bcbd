"""Parsing: source text -> tree of ``engines.expr.nodes``, or an ``ExpressionError``
that says in plain words what is wrong and where.

The grammar is ``expr.lark`` (the specification); ``TreeBuilder`` has one method per
alias in it. Syntax errors are mapped to friendly messages with Lark's
``match_examples``: each message below is shown for input that fails the way its
examples fail.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput

from engines.expr.errors import ExpressionError, problem_at
from engines.expr.nodes import Binary, Call, Field, In, Literal, Node, Unary


@functools.cache
def parser() -> Lark:
    return Lark.open("expr.lark", rel_to=__file__, parser="lalr", propagate_positions=True,
                     maybe_placeholders=True)


def parse(source: str) -> Node:
    """The tree of ``source``; raises ``ExpressionError`` for a syntax error."""
    if not source.strip():
        raise ExpressionError.from_problems(
            [problem_at(source, "the expression is empty: write a value, a field or a formula",
                        1, 1)])
    try:
        tree = parser().parse(source)
    except UnexpectedInput as error:
        raise ExpressionError.from_problems([_syntax_problem(source, error)]) from None
    try:
        return TreeBuilder(source).transform(tree)
    except RecursionError:
        raise ExpressionError.from_problems(
            [problem_at(source, "the expression is nested too deeply to read", 1, 1)]) from None


def _at(token: Token) -> dict:
    return {"line": token.line, "column": token.column, "start": token.start_pos,
            "end": token.end_pos}


def _span(first: Node, last: Node) -> dict:
    return {"line": first.line, "column": first.column, "start": first.start, "end": last.end}


def _text_of(token: str) -> str:
    quote = token[0]
    return token[1:-1].replace(quote * 2, quote)


class TreeBuilder(Transformer):
    """One method per alias of ``expr.lark``."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    # literals
    def number(self, children):
        (token,) = children
        return Literal(**_at(token), value=Decimal(str(token)))

    def string(self, children):
        (token,) = children
        return Literal(**_at(token), value=_text_of(str(token)))

    def true(self, children):
        return Literal(**_at(children[0]), value=True)

    def false(self, children):
        return Literal(**_at(children[0]), value=False)

    def blank(self, children):
        return Literal(**_at(children[0]), value=None)

    # names
    def field(self, names):
        return Field(line=names[0].line, column=names[0].column, start=names[0].start_pos,
                     end=names[-1].end_pos, path=tuple(str(n) for n in names),
                     positions=tuple((n.line, n.column) for n in names))

    def call(self, children):
        name, arguments = children
        arguments = arguments or []
        end = self.source.find(")", arguments[-1].end if arguments else name.end_pos) + 1
        return Call(**_at(name) | {"end": end or name.end_pos}, name=str(name).upper(),
                    args=arguments, spelled=str(name))

    def arguments(self, children):
        return list(children)

    def group(self, children):
        return children[0]

    # operators
    def _binary(self, op, children):
        left, token, right = children
        return Binary(**_span(left, right), op=op, left=left, right=right,
                      op_line=token.line, op_column=token.column)

    def or_(self, children):
        return self._binary("or", children)

    def and_(self, children):
        return self._binary("and", children)

    def eq(self, children):
        return self._binary("eq", children)

    def ne(self, children):
        return self._binary("ne", children)

    def lt(self, children):
        return self._binary("lt", children)

    def le(self, children):
        return self._binary("le", children)

    def gt(self, children):
        return self._binary("gt", children)

    def ge(self, children):
        return self._binary("ge", children)

    def concat(self, children):
        return self._binary("concat", children)

    def add(self, children):
        return self._binary("add", children)

    def sub(self, children):
        return self._binary("sub", children)

    def mul(self, children):
        return self._binary("mul", children)

    def div(self, children):
        return self._binary("div", children)

    def pow(self, children):
        return self._binary("pow", children)

    def in_(self, children):
        value, _token, options = children
        end = self.source.find(")", options[-1].end) + 1
        return In(**_span(value, options[-1]) | {"end": end}, value=value, options=options)

    def not_(self, children):
        token, operand = children
        return Unary(**_at(token) | {"end": operand.end}, op="not", operand=operand)

    def neg(self, children):
        token, operand = children
        return Unary(**_at(token) | {"end": operand.end}, op="neg", operand=operand)

    def pos(self, children):
        token, operand = children
        return Unary(**_at(token) | {"end": operand.end}, op="pos", operand=operand)

    def percent(self, children):
        operand, token = children
        return Unary(**_span(operand, operand) | {"end": token.end_pos}, op="percent",
                     operand=operand)


# ---- syntax errors ------------------------------------------------------------------

MISSING_VALUE = "a value is missing here: the expression ends after an operator"
EXAMPLES = {
    MISSING_VALUE: ["1 +", "1 *", "1 -", "1 /", "1 ^", "1 &", "a AND", "a OR", "NOT", "1 =",
                    "1 <", "1 >=", "1 <>", "-", "a IN"],
    "a ')' is missing: every '(' needs a matching ')'": [
        "ROUND(1", "(1", "ROUND(1, 2", "IF(a, (1)", "ROUND(", "a IN (1", "a IN (1, 2"],
    "there is a ')' without a matching '('": ["1)", "ROUND(1))", "(1))", "a)"],
    "two values with nothing between them: add an operator (+ - * / & = ...) or a comma "
    "between arguments": ["a b", "1 2", "ROUND(a b)", "\"a\" \"b\"", "1 (2)", "a.b c",
                          "ROUND(1) 2", "(1) 2", "TRUE 1", "1 TRUE", "a NOT b",
                          "IF(a, 1 2)", "ROUND(1, a b)", "a IN (1 2)"],
    "a value is missing before this ','": ["ROUND(,1)", "ROUND(1,,2)", "(,", "a IN (,1)"],
    "a value is missing after this ','": ["ROUND(1,)", "a IN (1,)"],
    "a value is missing between '(' and ')'": ["()", "1 + ()", "a IN ()"],
    "use '=' to compare, not '=='": ["a == 1", "1 == 2"],
    "use AND instead of '&&'": ["a && b", "1 && 2"],
    "a field name is missing after '.'": ["a.", "a.1", "a.(b)", "a..b", "a.b.", "a.b.1"],
    "IN needs a list of values in parentheses, e.g. x IN (1, 2, 3)": ["a IN 1", "a IN b"],
    "an operator is missing its left side": ["* 1", "/ 2", "^ 2", "& a", "= 1", "AND a",
                                             "OR a", "(* 1)", "ROUND(* 1)", "1 + * 2", "%"],
}

CHARACTER_HINTS = {
    ";": "separate arguments with ',' (a comma), not ';'",
    "|": "use OR instead of '|' or '||'",
    "!": "use NOT(...) or <> instead of '!'",
    "，": "use ',' (a half-width comma) instead of '，'",
    "（": "use '(' (a half-width parenthesis) instead of '（'",
    "）": "use ')' (a half-width parenthesis) instead of '）'",
    "“": "put text in straight quotes \"...\" instead of “...”",
    "”": "put text in straight quotes \"...\" instead of “...”",
    "‘": "put text in straight quotes '...' instead of ‘...’",
    "’": "put text in straight quotes '...' instead of ‘...’",
    "！": "use NOT(...) or <> instead of '！'",
    "[": "square brackets are not used in expressions: name a field by its key, e.g. qty",
    "{": "braces are not used in expressions: list values as x IN (1, 2, 3)",
    "$": "'$' is not used in expressions: write amounts as plain numbers",
    "\\": "'\\' is not used in expressions: a quote inside text is written twice, "
          "e.g. \"say \"\"hi\"\"\"",
}


def _syntax_problem(source: str, error: UnexpectedInput):
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream]
        if char in "\"'":
            message = f"this text has no closing {char}: end it with {char}"
        elif char in CHARACTER_HINTS:
            message = CHARACTER_HINTS[char]
        else:
            message = f"'{char}' cannot be used here"
        return problem_at(source, message, error.line, error.column)
    token = getattr(error, "token", None)
    at_end = token is None or token.type == "$END"
    if at_end:
        line, column = _end_of(source)
    else:
        line, column = error.line, error.column
    message = error.match_examples(parser().parse, EXAMPLES, use_accepts=True)
    if message is None:
        if at_end:
            message = "the expression ends too early: something is missing at the end"
        else:
            message = f"'{token}' is not expected here"
    return problem_at(source, message, line, column)


def _end_of(source: str) -> tuple[int, int]:
    text = source.rstrip()
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1
