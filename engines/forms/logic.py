"""The form engine: defaults, formulas, visibility, required-if and validations.

``compile_logic`` turns a form's expressions into compiled code once (per definition
version); ``run_logic`` applies them to one record in the write path or for a live
page (``evaluate``). Records here are plain mappings of field key to Python value;
a relation's value is the linked record as a mapping (its fields, ``id``), loaded by
the caller for the paths ``FormLogic.relation_paths`` names.

Order for one record: defaults (on create) -> line formulas -> record formulas (each
in dependency order) -> visible_if (hidden fields are cleared: not stored, not
required) -> required_if -> field validations -> form validations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import engines.forms.functions  # noqa: F401  (USER, COUNT_RECORDS, LOOKUP)
import engines.ledgers.functions  # noqa: F401  (BALANCE, AVAILABLE)
from engines.expr import (
    FUNCTIONS,
    Compiled,
    ErrorValue,
    ExpressionError,
    compile_expression,
)
from engines.forms.definition import Field, Form
from engines.forms.fieldtypes import FieldError, coerce_value

EXPRESSION_PROPERTIES = ("expr", "default", "visible_if", "required_if")
RESULT_TYPES = ("number", "money", "percent", "text", "date", "datetime", "checkbox")
DESCRIBE_DEPTH = 3  # relation hops an expression may take (material.supplier.name)


class LogicError(ValueError):
    """Expressions of a form that do not compile: ``problems`` are (pointer, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


@dataclass
class ScopeLogic:
    """The compiled expressions of the form itself, or of one subtable's lines."""

    fields: dict[str, Field]
    formulas: list[tuple[str, Compiled]] = field(default_factory=list)  # in order
    defaults: dict[str, Compiled] = field(default_factory=dict)
    visible_if: dict[str, Compiled] = field(default_factory=dict)
    required_if: dict[str, Compiled] = field(default_factory=dict)
    validations: list[tuple[str | None, Compiled, str]] = field(default_factory=list)


@dataclass
class FormLogic:
    main: ScopeLogic
    lines: dict[str, ScopeLogic]
    # relation field (a key, or "lines.material") -> nested paths used beyond it
    relation_paths: dict[str, set[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        scopes = [self.main, *self.lines.values()]
        return not any(s.formulas or s.defaults or s.visible_if or s.required_if
                       or s.validations for s in scopes)


@dataclass
class Outcome:
    values: dict  # the record after logic: field key -> Python value (lines as lists)
    hidden: set[str]  # paths of hidden fields ("note", "lines[0].lot")
    required: set[str]  # paths required by required_if
    errors: list[dict]


def describe(form: Form, forms: dict[str, Form], depth: int = DESCRIBE_DEPTH) -> dict:
    """The expression checker's description of a form's fields (see engines.expr)."""
    described = {}
    for f in form.fields:
        if f.type == "subtable":
            described[f.key] = {"type": "subtable", "fields": describe(
                Form(f.key, f.label, f.fields), forms, depth)}
        elif f.type == "relation":
            target = forms.get(f.target)
            nested = describe(target, forms, depth - 1) if target and depth > 0 else {}
            described[f.key] = {"type": "relation", "fields": nested}
        elif f.type == "formula":
            described[f.key] = {"type": "formula", "result": _result(f)}
        elif f.type == "rollup":
            described[f.key] = "number"
        else:
            described[f.key] = f.type
    return described


def _result(f: Field) -> str:
    result = f.get("result", "number")
    return {"checkbox": "boolean", "money": "number", "percent": "number"}.get(result, result)


def _expectation(f: Field, prop: str) -> str | None:
    if prop in ("visible_if", "required_if"):
        return "boolean"
    if prop == "expr":
        return _result(f) if f.get("result") else None
    return None


def compile_logic(form: Form, forms: dict[str, Form], functions=None) -> FormLogic:
    """Compile every expression of ``form``; ``LogicError`` lists all problems."""
    functions = FUNCTIONS if functions is None else functions
    forms = {**forms, form.key: form}
    problems: list[tuple[str, str]] = []
    description = describe(form, forms)
    main = _compile_scope(form.fields, description, "/fields", functions, problems)
    lines = {}
    for i, sub in enumerate(form.fields):
        if sub.type == "subtable":
            lines[sub.key] = _compile_scope(sub.fields, description[sub.key]["fields"],
                                            f"/fields/{i}/fields", functions, problems,
                                            parent=description)
    for i, rule in enumerate(form.raw.get("validate", [])):
        compiled = _compile(rule["expr"], description, functions, "boolean",
                            f"/validate/{i}/expr", problems)
        if compiled is not None:
            main.validations.append((rule.get("field"), compiled, rule["message"]))
    if problems:
        raise LogicError(problems)
    logic = FormLogic(main, lines)
    logic.relation_paths = _relation_paths(form, logic)
    return logic


def _compile(source, description, functions, expect, pointer, problems):
    try:
        return compile_expression(source, description, functions=functions, expect=expect)
    except ExpressionError as error:
        for problem in error.problems:
            problems.append((pointer, f"line {problem.line}, column {problem.column}: "
                             f"{problem.message}"))
        return None


def _compile_scope(fields, description, base, functions, problems, parent=None) -> ScopeLogic:
    scope = ScopeLogic({f.key: f for f in fields})
    formulas = {}
    for i, f in enumerate(fields):
        pointer = f"{base}/{i}"
        for prop in EXPRESSION_PROPERTIES:
            source = f.get(prop)
            if source is None or (prop == "expr" and f.type != "formula"):
                continue
            compiled = _compile(source, description, functions, _expectation(f, prop),
                                f"{pointer}/{prop}", problems)
            if compiled is None:
                continue
            if prop == "expr":
                formulas[f.key] = compiled
            else:
                getattr(scope, prop if prop != "default" else "defaults")[f.key] = compiled
        for j, rule in enumerate(f.get("validate", [])):
            compiled = _compile(rule["expr"], description, functions, "boolean",
                                f"{pointer}/validate/{j}/expr", problems)
            if compiled is not None:
                scope.validations.append((f.key, compiled, rule["message"]))
    order = _formula_order(formulas, base, fields, problems)
    scope.formulas = [(key, formulas[key]) for key in order]
    return scope


def _formula_order(formulas: dict[str, Compiled], base, fields, problems) -> list[str]:
    """Formula keys so that each comes after the formulas it uses; a cycle is a problem."""
    uses = {key: {ref.split(".")[0] for ref in c.references} & set(formulas)
            for key, c in formulas.items()}
    order, done, visiting = [], set(), []

    def visit(key):
        if key in done:
            return True
        if key in visiting:
            cycle = visiting[visiting.index(key):] + [key]
            index = next(i for i, f in enumerate(fields) if f.key == key)
            problems.append((f"{base}/{index}/expr", "formulas depend on each other in a "
                             f"circle: {' -> '.join(cycle)}; break the circle"))
            return False
        visiting.append(key)
        ok = all(visit(other) for other in sorted(uses[key]))
        visiting.pop()
        done.add(key)
        order.append(key)
        return ok

    for key in formulas:
        if not visit(key):
            break
    return order


def _relation_paths(form: Form, logic: FormLogic) -> dict[str, set[str]]:
    relations = {f.key for f in form.fields if f.type == "relation"}
    sub_relations = {(s.key, f.key) for s in form.subtables for f in s.fields
                     if f.type == "relation"}
    paths: dict[str, set[str]] = {}

    def collect(compiled: Compiled, line_scope: str | None):
        for ref in compiled.references:
            parts = ref.split(".")
            if line_scope is None and parts[0] in relations and len(parts) > 1:
                paths.setdefault(parts[0], set()).add(".".join(parts[1:]))
            elif line_scope is None and len(parts) > 2 and (parts[0], parts[1]) in sub_relations:
                paths.setdefault(f"{parts[0]}.{parts[1]}", set()).add(".".join(parts[2:]))
            elif line_scope and (line_scope, parts[0]) in sub_relations and len(parts) > 1:
                paths.setdefault(f"{line_scope}.{parts[0]}", set()).add(".".join(parts[1:]))

    for scope, name in [(logic.main, None), *((s, k) for k, s in logic.lines.items())]:
        for compiled in _all_compiled(scope):
            collect(compiled, name)
    return paths


def _all_compiled(scope: ScopeLogic):
    yield from (c for _, c in scope.formulas)
    yield from scope.defaults.values()
    yield from scope.visible_if.values()
    yield from scope.required_if.values()
    yield from (c for _, c, _ in scope.validations)


# ---- running ------------------------------------------------------------------------

def _store(f: Field, value, path: str, errors: list):
    """An expression's value as the field's stored value (errors become messages)."""
    if isinstance(value, ErrorValue):
        errors.append({"field": path, "message": f"{value.code} {value.message}".strip()})
        return None
    try:
        return coerce_value(f, value)  # a formula is coerced as its result type
    except FieldError as error:
        errors.append({"field": path, "message": f"computed value does not fit: {error}"})
        return None


def _truthy(value) -> bool:
    if isinstance(value, ErrorValue) or value is None:
        return False
    return bool(value)


def _blank(value) -> bool:
    return value is None or value == "" or value == []


def run_logic(logic: FormLogic, record: dict, env: dict, *, creating: bool,
              given: set[str] = frozenset()) -> Outcome:
    """Apply the form's logic to ``record`` (a copy is returned, never changed in place).

    ``given`` holds the keys the user sent: defaults never overwrite them."""
    values = dict(record)
    errors: list[dict] = []
    hidden: set[str] = set()
    required: set[str] = set()
    if creating:
        _defaults(logic.main, values, env, given, "", errors)
    for key, scope in logic.lines.items():
        lines = []
        for i, line in enumerate(values.get(key) or []):
            line = dict(line)
            if creating or line.get("id") is None:
                _defaults(scope, line, env, set(line) - {"id"}, f"{key}[{i}].", errors)
            _formulas(scope, line, env, f"{key}[{i}].", errors)
            lines.append(line)
        if key in values:
            values[key] = lines
    _formulas(logic.main, values, env, "", errors)
    _conditions(logic.main, values, env, "", hidden, required, errors)
    for key, scope in logic.lines.items():
        for i, line in enumerate(values.get(key) or []):
            _conditions(scope, line, env, f"{key}[{i}].", hidden, required, errors)
    return Outcome(values, hidden, required, errors)


def compute_formulas(logic: FormLogic, record: dict, env: dict) -> dict:
    """Only the formulas (lines, then the record): for recomputing stored values when
    something they depend on changed elsewhere. Errors leave the value blank."""
    values, errors = dict(record), []
    for key, scope in logic.lines.items():
        lines = []
        for i, line in enumerate(values.get(key) or []):
            line = dict(line)
            _formulas(scope, line, env, f"{key}[{i}].", errors)
            lines.append(line)
        values[key] = lines
    _formulas(logic.main, values, env, "", errors)
    return values


def _defaults(scope: ScopeLogic, values: dict, env, given, prefix, errors):
    for key, compiled in scope.defaults.items():
        if key not in given and _blank(values.get(key)):
            values[key] = _store(scope.fields[key], compiled.evaluate(values, env),
                                 prefix + key, errors)


def _formulas(scope: ScopeLogic, values: dict, env, prefix, errors):
    for key, compiled in scope.formulas:
        values[key] = _store(scope.fields[key], compiled.evaluate(values, env), prefix + key,
                             errors)


def _conditions(scope: ScopeLogic, values: dict, env, prefix, hidden, required, errors):
    for key, compiled in scope.visible_if.items():
        if not _truthy(compiled.evaluate(values, env)):
            hidden.add(prefix + key)
            values[key] = None  # a hidden field is neither stored nor required
    for key, compiled in scope.required_if.items():
        if prefix + key in hidden:
            continue
        if _truthy(compiled.evaluate(values, env)):
            required.add(prefix + key)
            if _blank(values.get(key)):
                errors.append({"field": prefix + key, "message": "is required"})
    for key, compiled, message in scope.validations:
        if key is not None and prefix + key in hidden:
            continue
        result = compiled.evaluate(values, env)
        if isinstance(result, ErrorValue):
            errors.append({"field": prefix + key if key else None, "message":
                           f"{message} (the check could not run: {result.code} "
                           f"{result.message})".strip()})
        elif result is False:
            errors.append({"field": prefix + key if key else None, "message": message})
