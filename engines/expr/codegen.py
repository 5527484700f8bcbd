"""Compiling: a checked tree -> one Python function, generated as source text and
compiled once with ``compile()``.

The generated code is built only from the checked tree, never from the user's text:
every literal and field name becomes a constant the function reads by a generated
name (``k0``, ``k1`` ...), and ``_verify`` refuses any name in the code that the
compiler did not make. The function sees no builtins, only the record (``r``),
the environment (``env``) and the helpers it is given.

Speed comes from doing the common case inline: ``qty * price`` becomes
``a * b if a.__class__ is Decimal and b.__class__ is Decimal else mul(a, b)``, so
two exact numbers multiply directly, and blanks, text, dates and error values take
the slow path through ``engines.expr.operators``, which follows LibreOffice.
Errors travel as the ``Failure`` exception and become error values at the end, with
the line and column of the operator or function that failed (found from the
generated line the exception came from).
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType

from engines.expr import operators, values
from engines.expr.errors import NA, NUM, ErrorValue, Failure
from engines.expr.functions import math as rounding
from engines.expr.nodes import Binary, Call, Field, In, Literal, Node, Unary
from engines.expr.types import ANY, NUMBER

BINARY_HELPERS = {
    "add": operators.add, "sub": operators.sub, "mul": operators.mul, "div": operators.div,
    "pow": operators.power, "concat": operators.concat, "eq": operators.eq, "ne": operators.ne,
    "lt": operators.lt, "le": operators.le, "gt": operators.gt, "ge": operators.ge,
    "and": operators.and_, "or": operators.or_,
}
UNARY_HELPERS = {"neg": operators.neg, "percent": operators.percent, "not": operators.not_}
# Python's own operator when both sides are exact numbers (or both TRUE/FALSE).
FAST = {"add": "+", "sub": "-", "mul": "*", "eq": "==", "ne": "!=", "lt": "<", "le": "<=",
        "gt": ">", "ge": ">=", "and": "and", "or": "or"}
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
INLINE_ROUNDING = {"ROUND": (rounding.round_, rounding.ROUND_HALF_UP),
                   "ROUNDUP": (rounding.roundup, rounding.ROUND_UP),
                   "ROUNDDOWN": (rounding.rounddown, rounding.ROUND_DOWN)}
EMPTY_ENV = MappingProxyType({})


class CodeWriter:
    """Writes the Python function for one checked tree (see the module docstring)."""

    def __init__(self, functions: Mapping):
        self.functions = functions
        self.lines: list[str] = []
        self.positions: dict[int, tuple[int, int]] = {}
        self.names: dict[str, object] = {}
        self.constants: dict[tuple, str] = {}
        self.helpers: dict[int, str] = {}
        self.depth = 2
        self.temps = 0
        self.reads: dict[str, str] = {}  # field path -> temp holding it, in this block
        self.uses_env = False

    # names
    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def constant(self, value) -> str:
        if value is None or isinstance(value, bool):
            return repr(value)
        key = (type(value), repr(value), getattr(value, "message", None))
        if key not in self.constants:
            self.constants[key] = f"k{len(self.constants)}"
            self.names[self.constants[key]] = value
        return self.constants[key]

    def helper(self, function) -> str:
        if id(function) not in self.helpers:
            label = re.sub(r"\W", "", getattr(function, "__name__", "")).strip("_")
            name = f"h{len(self.helpers)}_{label or 'function'}"
            self.helpers[id(function)] = name
            self.names[name] = function
        return self.helpers[id(function)]

    def line(self, text: str, at: tuple[int, int] | None = None):
        self.lines.append("    " * self.depth + text)
        if at is not None:
            self.positions[len(self.lines)] = at

    # the whole function
    def function(self, tree: Node) -> tuple[str, dict]:
        result = self.emit(tree)
        body = self.lines
        self.lines = []
        self.depth = 0
        self.line("def evaluate(r, env=None):")
        self.depth = 1
        self.line("try:")
        self.depth = 2
        if self.uses_env:
            self.line(f"if env is None: env = {self.helper_value('EMPTY_ENV', EMPTY_ENV)}")
        self.line("g = r.get")
        offset = len(self.lines)
        self.lines += body
        self.positions = {number + offset: at for number, at in self.positions.items()}
        if tree.type in (NUMBER, ANY):
            self.line(f"return {result} if {result}.__class__ is not _Inexact "
                      f"else {self.helper(values.finish)}({result})")
        else:
            self.line(f"return {result}")
        self.depth = 1
        self.line("except _Failure as failure:")
        self.line("    return _located(failure.error, failure.__traceback__, _positions)")
        self.line("except _Arith as failure:")
        self.line("    return _located(_NUM, failure.__traceback__, _positions)")
        python = "\n".join(self.lines) + "\n"
        self.names.update({
            "__builtins__": {}, "_Failure": Failure, "_Err": ErrorValue, "_D": Decimal,
            "_Inexact": values.Inexact, "_Arith": ArithmeticError, "_dict": dict, "_str": str,
            "_bool": bool,
            "_located": located, "_positions": self.positions,
            "_NUM": ErrorValue(NUM, "the number is too large or not defined"),
        })
        _verify(python, self.names)
        return python, self.names

    def helper_value(self, name: str, value) -> str:
        self.names[f"_{name}"] = value
        return f"_{name}"

    # nodes
    def emit(self, node: Node) -> str:
        """Write the statements computing ``node``; return the name holding its value."""
        return getattr(self, f"emit_{type(node).__name__}")(node)

    def emit_Literal(self, node: Literal) -> str:
        return self.constant(node.value)

    def emit_Field(self, node: Field) -> str:
        if node.dotted in self.reads:
            return self.reads[node.dotted]
        at = (node.line, node.column)
        value = self.temp()
        self.line(f"{value} = g({self.constant(node.path[0])})", at)
        for step, name in zip(node.steps, node.path[1:], strict=True):
            key, previous, value = self.constant(name), value, self.temp()
            if step == "column":
                self.line(f"{value} = {self.helper(operators.column)}({previous}, {key})", at)
            else:
                self.line(f"{value} = {previous}.get({key}) if {previous}.__class__ is _dict "
                          f"else {self.helper(operators.member)}({previous}, {key})", at)
        self.reads[node.dotted] = value
        return value

    def emit_Unary(self, node: Unary) -> str:
        operand = self.emit(node.operand)
        if node.op == "pos":
            return operand
        result, at = self.temp(), (node.line, node.column)
        slow = f"{self.helper(UNARY_HELPERS[node.op])}({operand})"
        if node.op == "neg":
            self.line(f"{result} = -{operand} if {operand}.__class__ is _D else {slow}", at)
        elif node.op == "not":
            self.line(f"{result} = (not {operand}) if {operand}.__class__ is _bool else {slow}",
                      at)
        else:
            self.line(f"{result} = {slow}", at)
        return result

    def emit_Binary(self, node: Binary) -> str:
        left, right = self.emit(node.left), self.emit(node.right)
        result, op = self.temp(), node.op
        at = (node.op_line, node.op_column)
        slow = f"{self.helper(BINARY_HELPERS[op])}({left}, {right})"
        if op not in FAST and op != "concat":
            self.line(f"{result} = {slow}", at)
            return result
        if op in ("and", "or"):
            fast = self.fast_condition((left, right), bool, "_bool",
                                       {left: node.left, right: node.right})
        elif op == "concat":
            fast = self.fast_condition((left, right), str, "_str")
        else:
            fast = self.fast_condition((left, right), Decimal, "_D")
        if fast == "True":
            self.line(f"{result} = {left} {FAST.get(op, '+')} {right}", at)
            return result
        branches = [f"({left} {FAST.get(op, '+')} {right}) if {fast} else "] if fast else []
        text_check = self.fast_condition((left, right), str, "_str") if op in COMPARE else ""
        if text_check:
            sides = [self.constant(self.value_of(name).lower()) if self.is_constant(name)
                     else f"{name}.lower()" for name in (left, right)]
            branches.append(f"({sides[0]} {FAST[op]} {sides[1]}) if {text_check} else ")
        self.line(f"{result} = {''.join(branches)}{slow}", at)
        return result

    def is_constant(self, name: str) -> bool:
        return name in ("None", "True", "False") or name[0] == "k"

    def value_of(self, name: str):
        if name[0] == "k":
            return self.names[name]
        return {"None": None, "True": True, "False": False}[name]

    def fast_condition(self, names, cls, check: str, nodes=None) -> str:
        """The test that every operand is exactly a ``cls`` ("True" when all are
        constants of it or always give one), or "" when a constant is not one, so no
        fast path applies."""
        tests = []
        for name in names:
            if self.is_constant(name):
                if self.value_of(name).__class__ is not cls:
                    return ""
            elif not (cls is bool and nodes and gives_bool(nodes[name])):
                tests.append(f"{name}.__class__ is {check}")
        return " and ".join(tests) or "True"

    def emit_In(self, node: In) -> str:
        value = self.emit(node.value)
        options = [self.emit(option) for option in node.options]
        result = self.temp()
        self.line(f"{result} = {self.helper(operators.is_in)}({value}, ({', '.join(options)},))",
                  (node.line, node.column))
        return result

    def emit_Call(self, node: Call) -> str:
        spec = self.functions[node.name]
        at = (node.line, node.column)
        emitter = getattr(self, f"emit_{spec.name.lower()}", None) if spec.lazy else None
        if emitter is not None:
            return emitter(node, at)
        if node.name in INLINE_ROUNDING and spec.impl is INLINE_ROUNDING[node.name][0]:
            inline = self.inline_rounding(node, INLINE_ROUNDING[node.name][1], at)
            if inline:
                return inline
        if spec.catches_errors:
            args = [self.caught(arg) for arg in node.args]
        else:
            args = [self.emit(arg) for arg in node.args]
        if spec.needs_env:
            self.uses_env = True
            args.insert(0, "env")
        result = self.temp()
        self.line(f"{result} = {self.helper(spec.impl)}({', '.join(args)})", at)
        if spec.catches_errors:
            self.line(f"if {result}.__class__ is _Err: raise _Failure({result})", at)
        return result

    def inline_rounding(self, node: Call, mode: str, at) -> str:
        """ROUND(x, 2) and the like with 0 to 15 places: one quantize when x is an
        exact number (and 0.00 for -0.00); the function otherwise."""
        places = node.args[1].value if len(node.args) == 2 and \
            isinstance(node.args[1], Literal) else None
        if places.__class__ is not Decimal or places not in rounding.STEPS:
            return ""
        value, digits = self.emit(node.args[0]), self.constant(places)
        quantize = self.helper_value(f"quantize_{mode.lower()}", rounding.ROUNDERS[mode].quantize)
        step, result = self.constant(rounding.STEPS[places]), self.temp()
        self.line(f"{result} = {quantize}({value}, {step}) if {value}.__class__ is _D "
                  f"else {self.helper(self.functions[node.name].impl)}({value}, {digits})", at)
        self.line(f"if not {result}: {result} = {self.helper(Decimal.copy_abs)}({result})")
        return result

    # blocks: statements that run only sometimes, with their own field reads
    def block(self, write: Callable[[], None]):
        saved_reads, self.depth = dict(self.reads), self.depth + 1
        write()
        self.depth -= 1
        self.reads = saved_reads

    def assign(self, target: str, node: Node | None, default: str = "False"):
        value = self.emit(node) if node is not None else default
        self.line(f"{target} = {value}")

    def caught(self, node: Node) -> str:
        """The value of ``node``, with an error as an ``ErrorValue`` instead of raised."""
        if isinstance(node, Literal):
            return self.constant(node.value)
        result = self.temp()
        self.line("try:")
        self.block(lambda: self.assign(result, node))
        self.line("except (_Failure, _Arith) as failure:")
        self.block(lambda: self.line(f"{result} = {self.helper(caught_error)}(failure)"))
        return result

    def condition(self, node: Node, at) -> str:
        value = self.emit(node)
        if value in ("True", "False"):
            return value
        return f"({value} if {value}.__class__ is _bool else {self.helper(values.truth)}({value}))"

    def emit_if(self, node: Call, at) -> str:
        condition, rest = node.args[0], node.args[1:]
        result = self.temp()
        self.line(f"if {self.condition(condition, at)}:", at)
        self.block(lambda: self.assign(result, rest[0]))
        self.line("else:")
        self.block(lambda: self.assign(result, rest[1] if len(rest) > 1 else None))
        self.line(f"if {result}.__class__ is _Err: raise _Failure({result})", at)
        return result

    def emit_ifs(self, node: Call, at) -> str:
        result = self.temp()
        pairs = list(zip(node.args[::2], node.args[1::2], strict=True))

        def chain():
            for condition, value in pairs:
                self.line(f"if {self.condition(condition, at)}:", at)
                self.block(lambda value=value: (self.assign(result, value), self.line("break")))
            missing = ErrorValue(NA, "IFS found no TRUE condition")
            self.line(f"raise _Failure({self.constant(missing)})", at)

        self.line("while True:")
        self.block(chain)
        self.line(f"if {result}.__class__ is _Err: raise _Failure({result})", at)
        return result

    def emit_switch(self, node: Call, at) -> str:
        subject, cases = self.emit(node.args[0]), node.args[1:]
        default = cases[-1] if len(cases) % 2 else None
        pairs = list(zip(cases[::2], cases[1::2], strict=False))
        result = self.temp()

        def chain():
            for value, outcome in pairs:
                candidate = self.emit(value)
                self.line(f"if {self.helper(operators.eq)}({subject}, {candidate}):", at)
                self.block(lambda outcome=outcome: (self.assign(result, outcome),
                                                    self.line("break")))
            if default is not None:
                self.assign(result, default)
                self.line("break")
            else:
                missing = ErrorValue(NA, "SWITCH found no matching value")
                self.line(f"raise _Failure({self.constant(missing)})", at)

        self.line("while True:")
        self.block(chain)
        self.line(f"if {result}.__class__ is _Err: raise _Failure({result})", at)
        return result


def gives_bool(node: Node) -> bool:
    """Whether ``node`` always gives TRUE or FALSE (or fails): comparisons, IN, NOT,
    AND, OR — so no test of its value's type is needed."""
    if isinstance(node, Binary):
        return node.op in COMPARE or node.op in ("and", "or")
    return isinstance(node, In) or (isinstance(node, Unary) and node.op == "not")


def caught_error(failure: BaseException) -> ErrorValue:
    if isinstance(failure, Failure):
        return failure.error
    return ErrorValue(NUM, "the number is too large or not defined")


def located(error: ErrorValue, traceback, positions: Mapping) -> ErrorValue:
    """``error`` with the line and column of the part of the expression that failed."""
    at = positions.get(traceback.tb_lineno) if traceback is not None else None
    return error.located(*at) if at else error


_ALLOWED = frozenset({"def", "evaluate", "r", "env", "try", "except", "as", "failure",
                      "return", "if", "else", "is", "not", "and", "or", "None", "True",
                      "False", "g", "get", "lower", "raise", "while", "break", "__class__",
                      "error", "__traceback__"})


def _verify(python: str, names: Mapping) -> None:
    """Refuse generated code naming anything the compiler did not make."""
    for token in tokenize.generate_tokens(io.StringIO(python).readline):
        if token.type != tokenize.NAME:
            continue
        name = token.string
        generated = name[0] == "t" and name[1:].isdigit()
        if not (generated or name in _ALLOWED or name in names) or \
                (keyword.iskeyword(name) and name not in _ALLOWED):
            raise AssertionError(f"generated code names {name!r}")

