"""Static checking: every name resolved against the description of the fields, every
operator and function argument checked for type where the types are known, and the
result type inferred — before the expression ever runs.

The description of the fields is neutral data (no runtime code): a mapping of field
key to a type name, or to a mapping with ``type`` and, for a linked record or a
subtable, the nested ``fields`` of its target form or of its lines::

    {"qty": "number", "price": "money", "received_at": "date",
     "material": {"type": "relation", "fields": {"name": "text",
                  "supplier": {"type": "relation", "fields": {"name": "text"}}}},
     "lines": {"type": "subtable", "fields": {"amount": "money"}},
     "total": {"type": "formula", "result": "number"}}

A relation or subtable without ``fields`` lets any of its fields be named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engines.expr.errors import Problem, problem_at, suggestion
from engines.expr.nodes import Binary, Call, Field, In, Literal, Node, Unary
from engines.expr.types import (
    ANY,
    BLANK,
    BOOLEAN,
    DATE,
    DATETIME,
    FIELD_TYPES,
    NUMBER,
    RECORD,
    TEXT,
    ListOf,
    a,
    datelike,
    numeric,
)


@dataclass(frozen=True)
class FieldInfo:
    type: object
    container: str | None = None  # "relation" or "subtable"
    fields: dict | None = None  # of a container; None: not described, anything goes


def describe_fields(fields: Mapping) -> dict[str, FieldInfo]:
    """The checker's view of a description of fields (see the module docstring)."""
    described = {}
    for key, spec in fields.items():
        if isinstance(spec, FieldInfo):
            described[key] = spec
            continue
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ValueError(f"field {key!r}: describe it as a type name or a mapping with "
                             f"'type', got {spec!r}")
        kind, nested = spec["type"], spec.get("fields")
        if kind in ("relation", "subtable"):
            inner = describe_fields(nested) if nested is not None else None
            described[key] = FieldInfo(RECORD if kind == "relation" else ListOf(RECORD),
                                       kind, inner)
        elif kind == "formula":
            described[key] = describe_fields({key: spec.get("result", "any")})[key]
        elif kind in FIELD_TYPES:
            described[key] = FieldInfo(FIELD_TYPES[kind])
        else:
            known = ", ".join(sorted([*FIELD_TYPES, "relation", "subtable", "formula"]))
            raise ValueError(f"field {key!r} has the unknown type {kind!r}; use one of {known}")
    return described


ARITHMETIC = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
KIND_NEEDS = {
    "number": "a number", "text": "a single value", "logical": "TRUE or FALSE",
    "date": "a date", "scalar": "a single value", "values": "values or a subtable column",
    "rows": "values, a subtable or a subtable column",
}


class Checker:
    """Annotates a tree with types and field steps; collects problems and references."""

    def __init__(self, source: str, fields: dict[str, FieldInfo] | None, functions: Mapping):
        self.source = source
        self.fields = fields
        self.functions = functions
        self.problems: list[Problem] = []
        self.references: set[str] = set()

    def check(self, node: Node):
        node.type = getattr(self, f"visit_{type(node).__name__}")(node)
        return node.type

    def problem(self, message: str, line: int, column: int):
        self.problems.append(problem_at(self.source, message, line, column))

    def quote(self, node: Node) -> str:
        text = " ".join(self.source[node.start:node.end].split())
        return text if len(text) <= 40 else text[:37] + "..."

    # ---- leaves -------------------------------------------------------------------

    def visit_Literal(self, node: Literal):
        value = node.value
        if value is None:
            return BLANK
        if isinstance(value, bool):
            return BOOLEAN
        return TEXT if isinstance(value, str) else NUMBER

    def visit_Field(self, node: Field):
        if self.fields is None:
            node.steps = ("dynamic",) * (len(node.path) - 1)
            self.references.add(node.dotted)
            return ANY
        first = node.path[0]
        info = self.fields.get(first)
        if info is None:
            hint = suggestion(first, self.fields)
            if first.upper() in self.functions and len(node.path) == 1:
                hint = f" — a function needs parentheses: {first}()"
            self.problem(f"unknown field '{first}'{hint}", *node.positions[0])
            return ANY
        steps, in_list = [], isinstance(info.type, ListOf) and info.container == "subtable"
        for index, name in enumerate(node.path[1:], start=1):
            owner = ".".join(node.path[:index])
            if info.container is None:
                self.problem(f"'{owner}' is {a(info.type)}, not a linked record or subtable, "
                             f"so it has no field '{name}'", *node.positions[index])
                return ANY
            steps.append("column" if in_list else "member")
            if info.fields is None:
                steps += ["dynamic"] * (len(node.path) - 1 - len(steps))
                node.steps = tuple(steps)
                self.references.add(node.dotted)
                return ListOf(ANY) if in_list else ANY
            nested = info.fields.get(name)
            if nested is None:
                self.problem(f"'{owner}' has no field '{name}'{suggestion(name, info.fields)}",
                             *node.positions[index])
                return ANY
            info = nested
            in_list = in_list or info.container == "subtable"
        node.steps = tuple(steps)
        self.references.add(node.dotted)
        if in_list and not isinstance(info.type, ListOf):
            return ListOf(info.type)
        return info.type

    # ---- operators ----------------------------------------------------------------

    def single(self, node: Node, what: str) -> bool:
        """Report a subtable column or a linked record where ``what`` needs one value."""
        quoted = self.quote(node)
        if isinstance(node.type, ListOf):
            if node.type.item == RECORD:
                self.problem(f"{quoted} is a subtable: {what} needs one of its fields, "
                             f"e.g. SUM({quoted}.{self.example_field(node)})", node.line,
                             node.column)
            else:
                self.problem(f"{quoted} has one value per line: {what} needs one value — use "
                             f"SUM, AVERAGE, MIN, MAX, COUNT or CONCAT", node.line, node.column)
            return False
        if node.type == RECORD:
            self.problem(f"{quoted} is a linked record: {what} needs one of its fields, "
                         f"e.g. {quoted}.{self.example_field(node)}", node.line, node.column)
            return False
        return True

    def example_field(self, node: Node) -> str:
        info = FieldInfo(ANY, fields=self.fields) if isinstance(node, Field) else None
        for name in node.path if info else ():
            info = (info.fields or {}).get(name)
            if info is None:
                break
        names = list(info.fields or {}) if info is not None else []
        return names[0] if names else "name"

    def needs_number(self, node: Node, symbol: str, dates_ok: bool = False) -> bool:
        if not self.single(node, f"'{symbol}'"):
            return False
        if numeric(node.type) or (dates_ok and datelike(node.type)):
            return True
        hint = " — use VALUE(...) to read a number from text" if node.type == TEXT else ""
        self.problem(f"{self.quote(node)} is {a(node.type)}, but '{symbol}' needs numbers{hint}",
                     node.line, node.column)
        return False

    def needs_logical(self, node: Node, word: str) -> None:
        if self.single(node, word) and node.type not in (BOOLEAN, NUMBER, BLANK, ANY):
            self.problem(f"{self.quote(node)} is {a(node.type)}, but {word} needs TRUE or FALSE",
                         node.line, node.column)

    def visit_Unary(self, node: Unary):
        operand = self.check(node.operand)
        if node.op == "not":
            self.needs_logical(node.operand, "NOT")
            return BOOLEAN
        symbol = {"neg": "-", "pos": "+", "percent": "%"}[node.op]
        self.needs_number(node.operand, symbol)
        return NUMBER if operand != ANY else ANY

    def visit_Binary(self, node: Binary):
        left, right = self.check(node.left), self.check(node.right)
        op = node.op
        if op in ("and", "or"):
            self.needs_logical(node.left, op.upper())
            self.needs_logical(node.right, op.upper())
            return BOOLEAN
        if op == "concat":
            self.single(node.left, "'&'")
            self.single(node.right, "'&'")
            return TEXT
        if op in COMPARISONS:
            self.comparable(node.left, node.right, COMPARISONS[op])
            return BOOLEAN
        return self.arithmetic(node, left, right)

    def arithmetic(self, node: Binary, left, right):
        op, symbol = node.op, ARITHMETIC[node.op]
        dates_ok = op in ("add", "sub")
        ok = self.needs_number(node.left, symbol, dates_ok)
        ok = self.needs_number(node.right, symbol, dates_ok) and ok
        if not ok:
            return ANY
        if ANY in (left, right):
            return ANY
        if op == "add" and datelike(left) and datelike(right):
            self.problem("two dates cannot be added — subtract them to count the days between",
                         node.op_line, node.op_column)
            return ANY
        if op == "sub" and datelike(right) and not datelike(left):
            self.problem(f"a date cannot be subtracted from a number ({self.quote(node)})",
                         node.op_line, node.op_column)
            return ANY
        if datelike(left) and datelike(right):
            return NUMBER
        if datelike(left) or datelike(right):
            return left if datelike(left) else right
        return NUMBER

    def comparable(self, left: Node, right: Node, symbol: str) -> None:
        if not (self.single(left, f"'{symbol}'") and self.single(right, f"'{symbol}'")):
            return
        group = {NUMBER: "number", BOOLEAN: "number", DATE: "date", DATETIME: "date",
                 TEXT: "text"}
        lg, rg = group.get(left.type), group.get(right.type)
        empty_text = any(isinstance(n, Literal) and n.value == "" for n in (left, right))
        if lg is None or rg is None or lg == rg or empty_text:
            return
        hint = ""
        if "date" in (lg, rg) and "text" in (lg, rg):
            hint = " — write a date as DATE(2026, 11, 21)"
        elif "date" in (lg, rg):
            hint = " — write a date as DATE(2026, 11, 21), or compare with DAYS(...)"
        elif "text" in (lg, rg):
            hint = " — remove the quotes to write a number, or use VALUE(...) on the text"
        self.problem(f"{self.quote(left)} is {a(left.type)} and {self.quote(right)} is "
                     f"{a(right.type)}: they cannot be compared{hint}", left.line, left.column)

    def visit_In(self, node: In):
        self.check(node.value)
        for option in node.options:
            self.check(option)
            self.comparable(node.value, option, "IN")
        return BOOLEAN

    # ---- calls --------------------------------------------------------------------

    def visit_Call(self, node: Call):
        types = [self.check(arg) for arg in node.args]
        spec = self.functions.get(node.name)
        if spec is None:
            self.problem(f"unknown function '{node.spelled}'"
                         f"{suggestion(node.name, self.functions)}", node.line, node.column)
            return ANY
        count = len(node.args)
        if not self.arity_ok(spec, count):
            self.problem(f"{spec.name} takes {arity_text(spec)} — {spec.signature} — "
                         f"but got {count}", node.line, node.column)
            return ANY
        for index, arg in enumerate(node.args):
            self.argument(spec, index, arg)
        return spec.result_type(types)

    @staticmethod
    def arity_ok(spec, count: int) -> bool:
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            return False
        fixed = len(spec.params) - spec.repeat
        if spec.max_args is None and spec.repeat > 1:
            return (count - fixed) % spec.repeat == 0
        return True

    def argument(self, spec, index: int, arg: Node) -> None:
        kind = spec.kind_of(index)
        name = parameter_name(spec, index)
        what = spec.name
        if kind == "any":
            return
        if kind in ("values", "rows"):
            if isinstance(arg.type, ListOf) and (arg.type.item != RECORD or kind == "rows"):
                return
            if not isinstance(arg.type, ListOf) and arg.type != RECORD:
                return
        if not self.single(arg, what):
            return
        type_ = arg.type
        if kind in ("scalar", "text", "values", "rows") or type_ in (ANY, BLANK):
            return
        ok = {"number": numeric(type_), "logical": type_ in (BOOLEAN, NUMBER),
              "date": datelike(type_)}[kind]
        if ok:
            return
        hint = ""
        if kind == "number" and type_ == TEXT:
            hint = " — use VALUE(...) to read a number from text"
        elif kind == "date":
            hint = " — write a date as DATE(2026, 11, 21)"
        self.problem(f"{self.quote(arg)} is {a(type_)}, but {what} needs {KIND_NEEDS[kind]} "
                     f"here ({name}){hint}", arg.line, arg.column)


def parameter_name(spec, index: int) -> str:
    signature = spec.signature
    inside = signature[signature.find("(") + 1: signature.rfind(")")]
    names = [n.strip(" []") for n in inside.split(",") if n.strip() and n.strip() != "..."]
    if not names:
        return f"argument {index + 1}"
    if index < len(names):
        return names[index]
    start = max(len(names) - spec.repeat, 0)
    return names[start + (index - start) % spec.repeat]


def arity_text(spec) -> str:
    low, high = spec.min_args, spec.max_args
    plural = "s" if (high or low) != 1 else ""
    if high is None:
        if spec.repeat > 1:
            return f"at least {low} arguments, in groups of {spec.repeat}"
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        return "no arguments" if not low else f"{low} argument{plural}"
    if high == low + 1:
        return f"{low} or {high} arguments"
    return f"{low} to {high} arguments"


EXPECTED = {
    "boolean": ((BOOLEAN, NUMBER, BLANK, ANY), "this condition must give TRUE or FALSE"),
    "number": ((NUMBER, BOOLEAN, BLANK, ANY), "this formula must give a number"),
    "text": ((TEXT, NUMBER, BOOLEAN, DATE, DATETIME, BLANK, ANY), "this formula must give text"),
    "date": ((DATE, DATETIME, BLANK, ANY), "this formula must give a date"),
    "datetime": ((DATE, DATETIME, BLANK, ANY), "this formula must give a date and time"),
}
