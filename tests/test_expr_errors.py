"""Errors a business user can act on: what is wrong, on which line and column, and how
to fix it — for syntax, names, argument counts and types; error values at run time;
circles between formula fields; and what an expression cannot reach."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engines.expr import (
    ErrorValue,
    ExpressionError,
    check_expression,
    compile_expression,
    evaluation_order,
    find_cycle,
)

FIELDS = {
    "qty": "number", "price": "money", "discount": "percent", "name": "text",
    "received_at": "date", "done": "checkbox", "category": "select",
    "material": {"type": "relation", "fields": {
        "name": "text", "safety_stock": "number",
        "supplier": {"type": "relation", "fields": {"name": "text"}}}},
    "lines": {"type": "subtable", "fields": {"amount": "money", "note": "text"}},
    "total": {"type": "formula", "result": "number"},
}

SYNTAX = [
    ("", "the expression is empty: write a value, a field or a formula", 1, 1),
    ("qty +", "a value is missing here: the expression ends after an operator", 1, 6),
    ("ROUND(qty, 2", "a ')' is missing: every '(' needs a matching ')'", 1, 13),
    ("qty)", "there is a ')' without a matching '('", 1, 4),
    ("qty price", "two values with nothing between them: add an operator (+ - * / & = ...) "
                  "or a comma between arguments", 1, 5),
    ("ROUND(,2)", "a value is missing before this ','", 1, 7),
    ("ROUND(qty,)", "a value is missing after this ','", 1, 11),
    ("()", "a value is missing between '(' and ')'", 1, 2),
    ("qty == 1", "use '=' to compare, not '=='", 1, 6),
    ("done && qty", "use AND instead of '&&'", 1, 7),
    ("done || qty", "use OR instead of '|' or '||'", 1, 6),
    ("material.", "a field name is missing after '.'", 1, 10),
    ("qty IN 1", "IN needs a list of values in parentheses, e.g. x IN (1, 2, 3)", 1, 8),
    ("* 2", "an operator is missing its left side", 1, 1),
    ('"abc', 'this text has no closing ": end it with "', 1, 1),
    ("'abc", "this text has no closing ': end it with '", 1, 1),
    ("ROUND(qty; 2)", "separate arguments with ',' (a comma), not ';'", 1, 10),
    ("ROUND(qty，2)", "use ',' (a half-width comma) instead of '，'", 1, 10),
    ("“abc”", "put text in straight quotes \"...\" instead of “...”", 1, 1),
    ("qty\n  * price\n  +", "a value is missing here: the expression ends after an operator",
     3, 4),
    ("qty @ 2", "'@' cannot be used here", 1, 5),
    ("[qty]", "square brackets are not used in expressions: name a field by its key, e.g. qty",
     1, 1),
]

CHECKS = [
    ("qyt * price", "unknown field 'qyt' — did you mean 'qty'?", 1, 1),
    ("qty * pirce", "unknown field 'pirce' — did you mean 'price'?", 1, 7),
    ("wibble + 1", "unknown field 'wibble'", 1, 1),
    ("TODAY + 1", "unknown field 'TODAY' — a function needs parentheses: TODAY()", 1, 1),
    ("ROUDN(qty, 2)", "unknown function 'ROUDN' — did you mean 'ROUND'?", 1, 1),
    ("wibble(qty)", "unknown function 'wibble'", 1, 1),
    ("ROUND(qty, 2, 3)", "ROUND takes 1 or 2 arguments — ROUND(number, [digits]) — but got 3",
     1, 1),
    ("MID(name, 2)", "MID takes 3 arguments — MID(text, start, count) — but got 2", 1, 1),
    ("TODAY(1)", "TODAY takes no arguments — TODAY() — but got 1", 1, 1),
    ("SUM()", "SUM takes at least 1 argument — SUM(value, ...) — but got 0", 1, 1),
    ("IFS(done, 1, qty > 2)", "IFS takes at least 2 arguments, in groups of 2 — "
                              "IFS(condition, value, ...) — but got 3", 1, 1),
    ("'abc' * 2", "'abc' is text, but '*' needs numbers — use VALUE(...) to read a number "
                  "from text", 1, 1),
    ("qty * name", "name is text, but '*' needs numbers — use VALUE(...) to read a number "
                   "from text", 1, 7),
    ("-name", "name is text, but '-' needs numbers — use VALUE(...) to read a number from text",
     1, 2),
    ("received_at * 2", "received_at is a date, but '*' needs numbers", 1, 1),
    ("received_at + received_at", "two dates cannot be added — subtract them to count the days "
                                  "between", 1, 13),
    ("qty - received_at", "a date cannot be subtracted from a number (qty - received_at)", 1, 5),
    ("qty = 'five'", "qty is a number and 'five' is text: they cannot be compared — remove the "
                     "quotes to write a number, or use VALUE(...) on the text", 1, 1),
    ("received_at > '2026-01-01'", "received_at is a date and '2026-01-01' is text: they cannot "
                                   "be compared — write a date as DATE(2026, 11, 21)", 1, 1),
    ("received_at < 5", "received_at is a date and 5 is a number: they cannot be compared — "
                        "write a date as DATE(2026, 11, 21), or compare with DAYS(...)", 1, 1),
    ("category IN ('a', 2)", "category is text and 2 is a number: they cannot be compared — "
                             "remove the quotes to write a number, or use VALUE(...) on the "
                             "text", 1, 1),
    ("name AND done", "name is text, but AND needs TRUE or FALSE", 1, 1),
    ("NOT name", "name is text, but NOT needs TRUE or FALSE", 1, 5),
    ("IF(name, 1, 2)", "name is text, but IF needs TRUE or FALSE here (condition)", 1, 4),
    ("YEAR(qty)", "qty is a number, but YEAR needs a date here (date) — write a date as "
                  "DATE(2026, 11, 21)", 1, 6),
    ("ROUND(name, 2)", "name is text, but ROUND needs a number here (number) — use VALUE(...) "
                       "to read a number from text", 1, 7),
    ("material.nmae", "'material' has no field 'nmae' — did you mean 'name'?", 1, 10),
    ("material.supplier.nam", "'material.supplier' has no field 'nam' — did you mean 'name'?",
     1, 19),
    ("qty.name", "'qty' is a number, not a linked record or subtable, so it has no field 'name'",
     1, 5),
    ("lines.amuont", "'lines' has no field 'amuont' — did you mean 'amount'?", 1, 7),
    ("lines.amount * 2", "lines.amount has one value per line: '*' needs one value — use SUM, "
                         "AVERAGE, MIN, MAX, COUNT or CONCAT", 1, 1),
    ("LEFT(lines.note)", "lines.note has one value per line: LEFT needs one value — use SUM, "
                         "AVERAGE, MIN, MAX, COUNT or CONCAT", 1, 6),
    ("SUM(lines)", "lines is a subtable: SUM needs one of its fields, e.g. SUM(lines.amount)",
     1, 5),
    ("material + 1", "material is a linked record: '+' needs one of its fields, e.g. "
                     "material.name", 1, 1),
    ("material = 'M6'", "material is a linked record: '=' needs one of its fields, e.g. "
                        "material.name", 1, 1),
]


@pytest.mark.parametrize(("source", "message", "line", "column"), SYNTAX + CHECKS,
                         ids=[case[0] or "empty" for case in SYNTAX + CHECKS])
def test_error_message_and_position(source, message, line, column):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, FIELDS)
    error = caught.value
    assert (error.message, error.line, error.column) == (message, line, column)
    assert str(error) == f"line {line}, column {column}: {message}"
    source_line = (source.splitlines() or [""])[line - 1]
    assert error.context == f"{source_line}\n{' ' * (column - 1)}^"


def test_check_expression_reports_every_problem():
    problems = check_expression("qyt * pirce + ROUDN(name * 2)", FIELDS)
    assert [(p.line, p.column) for p in problems] == [(1, 1), (1, 7), (1, 21), (1, 15)]
    assert check_expression("ROUND(qty * price * (1 - discount), 2)", FIELDS) == []


def test_valid_expressions_with_fields():
    cases = {
        "ROUND(qty * price * (1 - discount), 2)": ("number", {"qty", "price", "discount"}),
        'IF(total > 10000, "director", "manager")': ("text", {"total"}),
        "SUM(lines.amount) - total": ("number", {"lines.amount", "total"}),
        "COUNT(lines) > 0 AND qty <= material.safety_stock": (
            "boolean", {"lines", "qty", "material.safety_stock"}),
        "material.supplier.name & ' / ' & material.name": (
            "text", {"material.supplier.name", "material.name"}),
        "received_at + 30": ("date", {"received_at"}),
        "DAYS(TODAY(), received_at)": ("number", {"received_at"}),
        "received_at - DATE(2026, 1, 1)": ("number", {"received_at"}),
        "qty = ''": ("boolean", {"qty"}),
        "category IN ('chip', 'board')": ("boolean", {"category"}),
        "IFERROR(qty / price, 0)": ("number", {"qty", "price"}),
        "MAX(received_at, DATE(2026, 1, 1))": ("date", {"received_at"}),
        "IF(done, qty, BLANK)": ("number", {"done", "qty"}),
        "IF(done, qty, 'none')": ("any", {"done", "qty"}),
        "material": ("record", {"material"}),
    }
    for source, (type_, references) in cases.items():
        compiled = compile_expression(source, FIELDS)
        assert (str(compiled.type), set(compiled.references)) == (type_, references), source


def test_expected_result_kind():
    assert compile_expression("qty <= material.safety_stock", FIELDS, expect="boolean")
    with pytest.raises(ExpressionError) as caught:
        compile_expression("name", FIELDS, expect="boolean")
    assert caught.value.message == "this condition must give TRUE or FALSE, but it gives text"
    with pytest.raises(ExpressionError, match="must give a number, but it gives a date"):
        compile_expression("received_at", FIELDS, expect="number")


def test_field_descriptions_are_checked():
    with pytest.raises(ValueError, match="unknown type 'numbr'"):
        compile_expression("qty", {"qty": "numbr"})
    with pytest.raises(ValueError, match="a type name or a mapping with 'type'"):
        compile_expression("qty", {"qty": 12})
    undescribed = {"material": {"type": "relation"}}
    compiled = compile_expression("material.anything.at_all", undescribed)
    assert compiled.evaluate({"material": {"anything": {"at_all": 5}}}) == 5


# ---- at run time ---------------------------------------------------------------------

def test_runtime_errors_are_values_with_a_position():
    compiled = compile_expression("ROUND(qty * price, 2) / (qty - 3)", FIELDS)
    result = compiled.evaluate({"qty": Decimal(3), "price": Decimal(2)})
    assert isinstance(result, ErrorValue)
    assert (result.code, result.line, result.column) == ("#DIV/0!", 1, 23)
    assert result.describe() == "#DIV/0! division by zero (line 1, column 23)"
    multi = compile_expression("qty +\n  LEN(MID(name, 0, 2))", FIELDS)
    error = multi.evaluate({"qty": Decimal(1), "name": "abc"})
    assert (error.code, error.line, error.column) == ("#VALUE!", 2, 7)
    assert "MID counts positions from 1, got 0" in error.describe()


def test_runtime_type_surprises_are_error_values_not_crashes():
    compiled = compile_expression("qty * 2")
    assert compiled.evaluate({"qty": "lots"}).code == "#VALUE!"
    assert compiled.evaluate({"qty": {"id": 1}}).code == "#VALUE!"
    assert compiled.evaluate({"qty": [1, 2]}).code == "#VALUE!"
    assert compiled.evaluate({"qty": float("nan")}).code == "#NUM!"
    assert compile_expression("qty < 2").evaluate({"qty": Decimal("NaN")}).code == "#NUM!"
    assert compile_expression("material.name").evaluate({"material": 17}).code == "#REF!"
    assert compile_expression("EDATE(d, 120000)").evaluate({"d": dt.date(2026, 1, 1)}).code \
        == "#NUM!"


# ---- circles between formula fields --------------------------------------------------

def test_cycles_between_formula_fields_are_named():
    formulas = {"subtotal": "qty * price", "tax": "total * 0.1", "total": "subtotal + tax"}
    assert find_cycle(formulas) == ["tax", "total", "tax"]
    with pytest.raises(ExpressionError) as caught:
        evaluation_order(formulas)
    error = caught.value
    assert error.message == ("formula fields use each other in a circle: tax → total → tax; "
                             "one of them must be computed without the others")
    assert (error.field, error.line, error.column) == ("tax", 1, 1)
    assert find_cycle({"a": "a + 1"}) == ["a", "a"]
    assert find_cycle({"a": "b", "b": "c", "c": "lines.x + a"}) == ["a", "b", "c", "a"]


def test_evaluation_order_puts_each_formula_after_what_it_uses():
    formulas = {"total": "subtotal + tax", "tax": "subtotal * 0.1", "subtotal": "qty * price",
                "label": "name & total"}
    order = evaluation_order(formulas)
    assert order.index("subtotal") < order.index("tax") < order.index("total") \
        < order.index("label")
    assert find_cycle(formulas) is None


# ---- what an expression cannot reach --------------------------------------------------

def test_no_python_is_reachable():
    for source in ["__import__('os')", "eval('1')", "open('/etc/passwd')", "getattr(qty, 'x')"]:
        with pytest.raises(ExpressionError, match="unknown function"):
            compile_expression(source)
    # Attribute names are field names: they read the record (a mapping), nothing else.
    compiled = compile_expression("qty.__class__")
    assert compiled.evaluate({"qty": Decimal(1)}).code == "#REF!"
    assert compiled.evaluate({"qty": {"__class__": "x"}}) == "x"
    with pytest.raises(ExpressionError):
        compile_expression("qty.__class__", FIELDS)


def test_generated_code_never_contains_the_users_text():
    source = "name & \"\"\"); import os; os.system('x') #\" & qty"
    compiled = compile_expression(source)
    assert "import" not in compiled.python and "system" not in compiled.python
    assert "name" not in compiled.python and "qty" not in compiled.python
    assert compiled.evaluate({"name": "a", "qty": Decimal(1)}) \
        == "a\"); import os; os.system('x') #1"


def test_deep_nesting_is_an_error_not_a_crash():
    deep = "(" * 2000 + "1" + ")" * 2000
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression(deep)
    ifs = "IF(qty > 0, " * 150 + "1" + ", 0)" * 150
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression(ifs)
    assert compile_expression("IF(qty > 0, " * 40 + "1" + ", 0)" * 40).evaluate(
        {"qty": Decimal(1)}) == 1
