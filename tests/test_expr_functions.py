"""Every operator and built-in function of the expression language, with blanks,
text/number conversion and error values (engines/expr)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from engines.expr import FUNCTIONS, ErrorValue, compile_expression, register_function
from engines.expr.errors import fail

D = Decimal
NOW = dt.datetime(2026, 11, 21, 12, 0)
ENV = {"now": NOW}
RECORD = {
    "qty": D(3), "price": D("2.5"), "zero": D(0), "name": "Steel pipe", "code": "12",
    "due": dt.date(2026, 11, 21), "stamp": dt.datetime(2026, 11, 21, 18, 0), "done": True,
    "count_int": 4, "ratio_float": 0.25, "empty": None, "blank_text": "",
    "material": {"name": "M6 bolt", "supplier": {"name": "ACME"}, "safety_stock": D(10)},
    "unlinked": None,
    "lines": [{"amount": D(10), "note": "a", "ok": True},
              {"amount": D("2.5"), "note": None, "ok": False},
              {"amount": None, "note": "c", "ok": True}],
    "no_lines": [],
    "bad": ErrorValue("#N/A"),
    # Text where a number or date is expected: the checker refuses such literals, so
    # these fields (untyped here) show what happens at run time, as in LibreOffice.
    "word": "abc", "spaced": " 5 ", "grouped": "1,000", "sci": "1e2", "half": "2.5",
    "one_text": "1", "a_text": "a", "iso": "2026-03-01", "iso2": "2026-01-01",
    "serial": D("46347.7"),
}


def run(source: str, record=RECORD):
    return compile_expression(source).evaluate(record, ENV)


def same(actual, expected) -> bool:
    if isinstance(expected, str) and expected.startswith("#"):
        return isinstance(actual, ErrorValue) and actual.code == expected
    if isinstance(expected, (int, float, Decimal)) and not isinstance(expected, bool):
        return isinstance(actual, Decimal) and actual == Decimal(str(expected))
    return type(actual) is type(expected) and actual == expected


def check(cases):
    failures = [(source, expected, run(source)) for source, expected in cases
                if not same(run(source), expected)]
    assert not failures, "\n".join(f"{s}: expected {e!r}, got {a!r}" for s, e, a in failures)


# ---- operators ------------------------------------------------------------------------

def test_literals_and_fields():
    check([
        ("12.50", D("12.50")), ('"text"', "text"), ("'single ''quoted'''", "single 'quoted'"),
        ('"say ""hi"""', 'say "hi"'), ("TRUE", True), ("false", False), ("TRUE()", True),
        ("BLANK", None), ("BLANK()", None), (".5", D("0.5")), ("1e3", 1000),
        ("qty", 3), ("name", "Steel pipe"), ("due", dt.date(2026, 11, 21)), ("missing", None),
        ("material.name", "M6 bolt"), ("material.supplier.name", "ACME"),
        ("unlinked.name", None), ("count_int + 1", 5), ("ratio_float * 4", 1),
    ])


def test_numbers_are_decimals_never_floats():
    assert run("0.1 + 0.2") == D("0.3")
    assert type(run("qty * price")) is Decimal
    assert run("ratio_float + 0.1") == D("0.35")


def test_arithmetic():
    check([
        ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 - 10", -3), ("7 / 2", 3.5), ("2 ^ 10", 1024),
        ("2 ^ 0.5 * 2 ^ 0.5", 2), ("-2 ^ 2", 4), ("2 ^ 3 ^ 2", 64), ("2 ^ -1", 0.5),
        ("-qty", -3), ("+qty", 3), ("50%", 0.5), ("qty%", 0.03), ("200 * 15%", 30),
        ("10 / 4", 2.5), ("1 / 3 * 3", 1), ("(-8) ^ (1/3)", -2), ("0 ^ 0", 1),
        ("1 / 0", "#DIV/0!"), ("qty / zero", "#DIV/0!"), ("0 ^ -1", "#NUM!"),
        ("(-4) ^ 0.5", "#NUM!"), ("10 ^ 1000000", "#NUM!"),
    ])


def test_blank_is_zero_in_arithmetic_and_empty_in_text():
    check([
        ("empty + 1", 1), ("BLANK + 1", 1), ("empty * 5", 0), ("-empty", 0), ("empty%", 0),
        ("empty ^ 0", 1), ("1 / empty", "#DIV/0!"), ('"a" & empty & "b"', "ab"),
        ("empty & empty", ""), ("empty = 0", True), ('empty = ""', True), ("empty = empty", True),
        ("empty < 1", True), ("empty < -1", False), ('empty < "a"', True),
    ])


def test_text_and_number_conversion():
    check([
        ('code + 1', 13), ("spaced * 2", 10), ("grouped * 2", 2000), ("sci + 0", 100),
        ("word * 2", "#VALUE!"), ("blank_text + 1", "#VALUE!"), ('"x" & 1.5', "x1.5"),
        ('1 / 3 & ""', "0.333333333333333"), ('2 ^ 60 & ""', "1.15292150460685E+018"),
        ('"n" & 1.10', "n1.1"), ('TRUE & "x"', "1x"), ('due & ""', "2026-11-21"),
        ('stamp & ""', "2026-11-21 18:00"), ('-0 & ""', "0"),
    ])


def test_booleans_are_numbers():
    check([("TRUE + 1", 2), ("TRUE = 1", True), ("done * 5", 5), ("a_text < TRUE", False),
           ("1 = 1 = TRUE", True)])


def test_comparison():
    check([
        ("1 < 2", True), ("2 <= 2", True), ("3 > 4", False), ("3 >= 4", False), ("1 = 1.0", True),
        ("1 <> 2", True), ("1 != 1", False), ('"abc" = "ABC"', True), ('"a" <> "A"', False),
        ('"a" < "B"', True), ('"b" > "A"', True), ('"" < "a"', True), ("1 < a_text", True),
        ("one_text = 1", False), ("1/3*3 = 1", True), ("0.1 + 0.2 = 0.3", True),
        ("1 < 2 < 3", True), ("due = DATE(2026, 11, 21)", True), ("due < stamp", True),
        ("due > 46000", True), ("1/0 = 1", "#DIV/0!"), ('name = "steel PIPE"', True),
        ('material.name = "m6 bolt"', True),
    ])


def test_concatenation():
    check([('"a" & "b" & "c"', "abc"), ('"n=" & 1 + 2', "n=3"), ("1 & 2", "12"),
           ('"x" & 1/0', "#DIV/0!")])


def test_logic_keywords_and_functions_agree():
    check([
        ("TRUE AND FALSE", False), ("TRUE OR FALSE", True), ("NOT TRUE", False),
        ("not 1 > 2", True), ("1 AND 2", True), ("0 OR empty", False), ("NOT empty", True),
        ("qty > 1 AND name = 'steel pipe'", True), ("FALSE AND 1/0", "#DIV/0!"),
        ("AND(FALSE, 1/0)", "#DIV/0!"), ("NOT(0)", True), ("AND(TRUE, 1 < 2)", True),
        ("NOT word", "#VALUE!"), ("TRUE AND word", "#VALUE!"), ("AND(empty)", "#VALUE!"),
        ("OR(FALSE, empty)", False), ("a AND b OR c", "#VALUE!"),
        ("TRUE OR FALSE AND FALSE", True), ("NOT FALSE AND FALSE", False),
    ])


def test_in():
    check([("qty IN (1, 2, 3)", True), ("qty in (4, 5)", False),
           ("name IN ('x', 'STEEL PIPE')", True), ("empty IN (0)", True),
           ("qty IN (1/0, 3)", "#DIV/0!")])


def test_subtable_aggregates_and_paths():
    check([
        ("SUM(lines.amount)", 12.5), ("COUNT(lines)", 3), ("COUNT(lines.amount)", 2),
        ("COUNTA(lines.note)", 2), ("AVERAGE(lines.amount)", 6.25), ("MIN(lines.amount)", 2.5),
        ("MAX(lines.amount)", 10), ("SUM(no_lines.amount)", 0), ("COUNT(no_lines)", 0),
        ("COUNT(missing)", 0), ("AVERAGE(no_lines.amount)", "#DIV/0!"),
        ("CONCAT(lines.note)", "ac"), ("SUM(lines.ok)", 2), ("AND(lines.ok)", False),
        ("OR(lines.ok)", True), ("SUM(lines.amount) * 2", 25),
    ])


def test_error_values_propagate_as_values():
    result = run("qty + 1/0")
    assert isinstance(result, ErrorValue) and result.code == "#DIV/0!"
    assert (result.line, result.column) == (1, 8)  # the '/'
    assert "division by zero" in result.describe()
    check([("1/0 + NA()", "#DIV/0!"), ("NA() + 1/0", "#N/A"), ("bad", "#N/A"),
           ("bad + 1", "#N/A"), ("ROUND(1/0, 2)", "#DIV/0!"), ("LEFT(NA())", "#N/A"),
           ("IF(1/0 > 1, 1, 2)", "#DIV/0!"), ("IF(TRUE, NA(), 0) + 1/0", "#N/A"),
           ("unlinked_value.name", None), ("qty.name", "#REF!")])


# ---- functions ------------------------------------------------------------------------

def test_logical_functions():
    check([
        ('IF(qty > 2, "big", "small")', "big"), ('IF(qty > 5, "big", "small")', "small"),
        ("IF(FALSE, 1)", False), ("IF(TRUE, 1)", 1), ("IF(empty, 1, 2)", 2),
        ("IF(word, 1, 2)", "#VALUE!"), ("IF(TRUE, 1, 1/0)", 1), ("IF(FALSE, 1/0, 2)", 2),
        ('IFS(qty > 5, "big", qty > 2, "mid", TRUE, "small")', "mid"),
        ("IFS(FALSE, 1)", "#N/A"), ("IFS(TRUE, 1, 1/0, 2)", 1),
        ('SWITCH(qty, 1, "one", 3, "three")', "three"), ('SWITCH(9, 1, "one", "other")', "other"),
        ('SWITCH(9, 1, "one")', "#N/A"), ('SWITCH("A", "a", 1, 2)', 1),
        ("XOR(TRUE, TRUE)", False), ("XOR(TRUE, FALSE, FALSE)", True), ("XOR(1, 0, 1)", False),
        ("OR(FALSE, 1 > 2)", False), ("OR(0, 1)", True),
        ("IFERROR(1/0, 0)", 0), ("IFERROR(5, 0)", 5), ("IFERROR(NA(), 'x')", "x"),
        ("IFERROR(bad, 'x')", "x"), ("IFERROR(1/0, NA())", "#N/A"),
        ("IFNA(NA(), 'none')", "none"), ("IFNA(1/0, 'none')", "#DIV/0!"),
        ("NA()", "#N/A"),
    ])


def test_information_functions():
    check([
        ("ISBLANK(empty)", True), ('ISBLANK("")', False), ("ISBLANK(blank_text)", False),
        ("ISBLANK(1/0)", False), ("ISBLANK(missing)", True), ("ISBLANK(unlinked)", True),
        ("ISNUMBER(qty)", True), ('ISNUMBER("1")', False), ("ISNUMBER(TRUE)", True),
        ("ISNUMBER(due)", True), ("ISNUMBER(1/0)", False), ("ISNUMBER(empty)", False),
        ('ISTEXT("12")', True), ("ISTEXT(12)", False), ("ISLOGICAL(1 = 1)", True),
        ("ISLOGICAL(1)", False), ("ISERROR(1/0)", True), ("ISERROR(1)", False),
        ("ISERROR(bad)", True), ("ISERR(NA())", False), ("ISERR(1/0)", True),
        ("ISNA(NA())", True), ("ISNA(1/0)", False),
    ])


def test_rounding_half_away_from_zero():
    check([
        ("ROUND(1.005, 2)", 1.01), ("ROUND(-2.5, 0)", -3), ("ROUND(2.5)", 3),
        ("ROUND(-1.005, 2)", -1.01),
        ("ROUND(1234.5, -2)", 1200), ("ROUND(2.345, 1.9)", 2.3), ("ROUND(-0.001, 2)", 0),
        ("ROUND(empty, 2)", 0), ("ROUND(1/3, 3)", 0.333), ("ROUND(2/3, 20)", 0.666666666666667),
        ("ROUNDUP(-2.31, 1)", -2.4), ("ROUNDUP(2.31, -1)", 10), ("ROUNDUP(1.0000001, 2)", 1.01),
        ("ROUNDDOWN(-2.39, 1)", -2.3), ("ROUNDDOWN(1.9999)", 1), ("TRUNC(8.79)", 8),
        ("TRUNC(-8.79, 1)", -8.7), ("INT(-1.5)", -2), ("INT(2.9)", 2), ("INT(1/3*3)", 1),
        ("ROUND(half, 0)", 3), ("ROUND(word, 0)", "#VALUE!"),
    ])
    assert str(run("ROUND(1234.5, -2)")) == "1200"
    assert str(run("ROUND(-0.001, 2)")) == "0.00"


def test_math_functions():
    check([
        ("MOD(-7, 3)", 2), ("MOD(7, -3)", -2), ("MOD(5.5, 1.5)", 1), ("MOD(-5.5, 1.5)", 0.5),
        ("MOD(7, 0)", "#DIV/0!"), ("ABS(-3)", 3), ("ABS(empty)", 0), ("POWER(2, 10)", 1024),
        ("POWER(0, -1)", "#NUM!"), ("SQRT(16)", 4), ("SQRT(-1)", "#VALUE!"),
        ("SQRT(2) * SQRT(2) = 2", True),
        ("MIN(4, -1, 7)", -1), ("MAX(4, -1, 7)", 7), ("MIN(empty, 5)", 5), ("MAX(empty)", 0),
        ('MAX("a")', "#VALUE!"), ("MAX(due, DATE(2020, 1, 1))", dt.date(2026, 11, 21)),
        ("MIN(due, 5)", 5),
        ("SUM(1, 2, 3)", 6), ("SUM(empty)", 0), ("SUM(TRUE, 1)", 2), ('SUM(1, "2")', "#VALUE!"),
        ("AVERAGE(1, 2, 3, 4)", 2.5), ("AVERAGE(1, 2, TRUE) * 3", 4), ("AVERAGE(empty)", "#DIV/0!"),
        ('AVERAGE(1, "3")', "#VALUE!"), ("AVERAGE(1, 2) = 1.5", True),
        ('COUNT(1, "a", TRUE, "2")', 3), ("COUNT(empty, 1)", 1), ('COUNTA(1, "a", empty, "")', 3),
        ("COUNTA(lines)", 3),
    ])


def test_text_functions():
    check([
        ('CONCATENATE("A-", 12)', "A-12"), ('CONCATENATE("a", 1.5, TRUE)', "a1.51"),
        ('CONCAT("a", "b", 1)', "ab1"), ("CONCAT(empty, 'x')", "x"),
        ('LEFT("RK-2026", 2)', "RK"), ('LEFT("abc")', "a"), ('LEFT("abc", -1)', "#VALUE!"),
        ('LEFT("abc", 10)', "abc"), ("LEFT(TRUE, 2)", "1"), ("LEFT(empty, 2)", ""),
        ('RIGHT("RK-2026", 4)', "2026"), ('RIGHT("abc", 5)', "abc"), ('RIGHT("abc", 0)', ""),
        ('MID("RK-2026-001", 4, 4)', "2026"), ('MID("abc", 0, 1)', "#VALUE!"),
        ('MID("abc", 5, 1)', ""), ('MID("abcdef", 2.9, 2.9)', "bc"),
        ('MID("abc", 1, -1)', "#VALUE!"),
        ('LEN("steel")', 5), ("LEN(empty)", 0), ("LEN(12.50)", 4), ("LEN(qty)", 1),
        ('FIND("b", "abcb", 3)', 4), ('FIND("z", "abc")', "#VALUE!"),
        ('FIND("", "abc")', "#VALUE!"),
        ('FIND("B", "abc")', "#VALUE!"), ('FIND("b", "abcb", 10)', "#VALUE!"),
        ('FIND("b", "abcb", 0)', "#VALUE!"),
        ('SEARCH("B", "abcb")', 2), ('SEARCH("b?", "abcb")', 2), ('SEARCH("*c", "abcb")', 1),
        ('SEARCH("x", "abc")', "#VALUE!"), ('SEARCH("~*", "a*b")', 2),
        ('SEARCH("c", "abcc", 4)', 4),
        ('SUBSTITUTE("a-b-c", "-", "/")', "a/b/c"), ('SUBSTITUTE("aaa", "a", "b", 2)', "aba"),
        ('SUBSTITUTE("aaa", "", "b")', "aaa"), ('SUBSTITUTE("aaa", "a", "b", 0)', "#VALUE!"),
        ('SUBSTITUTE("aaa", "a", "b", 5)', "aaa"),
        ('REPLACE("abcdef", 2, 3, "X")', "aXef"), ('REPLACE("abc", 0, 1, "X")', "#VALUE!"),
        ('UPPER("m6 bolt")', "M6 BOLT"), ("UPPER(1.5)", "1.5"), ('LOWER("M6 Bolt")', "m6 bolt"),
        ("PROPER(\"hello wORLD o'neil 3rd-party\")", "Hello World O'Neil 3Rd-Party"),
        ('TRIM("  M6   bolt ")', "M6 bolt"), ('TRIM("a\tb")', "a\tb"),
        ('REPT("*", 3)', "***"), ('REPT("ab", 0)', ""), ('REPT("ab", 2.9)', "abab"),
        ('REPT("ab", -1)', "#VALUE!"), ('REPT("ab", 10000000)', "#VALUE!"),
        ('EXACT("abc", "ABC")', False), ('EXACT("abc", "abc")', True), ('EXACT(1, "1")', True),
    ])


def test_value():
    check([
        ('VALUE("1,234.5")', 1234.5), ('VALUE("12%")', 0.12), ('VALUE(" 12 ")', 12),
        ('VALUE("(12)")', -12), ('VALUE("12-")', -12), ('VALUE("$12")', 12), ('VALUE("1e3")', 1000),
        ('VALUE("TRUE")', 1), ('VALUE("2026-03-04")', 46085), ('VALUE("abc")', "#VALUE!"),
        ('VALUE("")', "#VALUE!"), ("VALUE(empty)", 0), ("VALUE(12)", 12), ("VALUE(code) + 1", 13),
    ])


def test_text_formats():
    check([
        ('TEXT(1234.567, "0.00")', "1234.57"), ('TEXT(1234.5, "#,##0")', "1,235"),
        ('TEXT(-1234.567, "#,##0.00")', "-1,234.57"),
        ('TEXT(1234567.891, "#,##0.00")', "1,234,567.89"),
        ('TEXT(0.256, "0%")', "26%"), ('TEXT(0.125, "0.0%")', "12.5%"), ('TEXT(0.001, "0%")', "0%"),
        ('TEXT(2.5, "0")', "3"), ('TEXT(-0.5, "0")', "-1"), ('TEXT(1.005, "0.00")', "1.01"),
        ('TEXT(0, "0.00")', "0.00"), ('TEXT(12, "0.##")', "12"), ('TEXT(12.3456, "0.0")', "12.3"),
        ("TEXT(5, '\"$\"0.00')", "$5.00"), ("TEXT(3, '0 \"pcs\"')", "3 pcs"),
        ('TEXT(-5, "0;(0)")', "(5)"), ("TEXT(0, '0;-0;\"zero\"')", "zero"),
        ('TEXT(1234.5, "General")', "1234.5"), ('TEXT("abc", "0.00")', "abc"),
        ('TEXT(DATE(2026, 3, 4), "yyyy-mm-dd")', "2026-03-04"),
        ('TEXT(DATE(2026, 3, 4), "dd/mm/yyyy")', "04/03/2026"),
        ('TEXT(DATE(2026, 3, 4), "yyyy/m/d")', "2026/3/4"),
        ('TEXT(DATE(2026, 3, 4), "mmm d, yyyy")', "Mar 4, 2026"),
        ('TEXT(DATE(2026, 3, 4), "dddd")', "Wednesday"),
        ('TEXT(DATE(2026, 3, 4), "mmmm yy")', "March 26"),
        ('TEXT(DATE(2026, 3, 4) + 0.75, "yyyy-mm-dd hh:mm")', "2026-03-04 18:00"),
        ('TEXT(stamp, "h:mm AM/PM")', "6:00 PM"), ('TEXT(due, "yyyy年m月d日")', "2026年11月21日"),
        ('TEXT(46085, "yyyy-mm-dd")', "2026-03-04"),
    ])


def test_date_functions():
    check([
        ("TODAY()", dt.date(2026, 11, 21)), ("NOW()", NOW), ("NOW() - TODAY()", 0.5),
        ("DATE(2026, 11, 21)", dt.date(2026, 11, 21)), ("DATE(2026, 13, 1)", dt.date(2027, 1, 1)),
        ("DATE(2026, 0, 0)", dt.date(2025, 11, 30)), ("DATE(26, 1, 1)", dt.date(2026, 1, 1)),
        ("DATE(95, 1, 1)", dt.date(1995, 1, 1)), ("DATE(2026, 1, 1.9)", dt.date(2026, 1, 1)),
        ("DATE(2026, 2, 29)", dt.date(2026, 3, 1)), ("DATE(10000, 1, 1)", "#NUM!"),
        ("YEAR(due)", 2026), ("MONTH(due)", 11), ("DAY(due)", 21), ("YEAR(empty)", 1899),
        ("YEAR(iso)", 2026), ("YEAR(word)", "#VALUE!"), ("DAY(serial)", 21),
        ("WEEKDAY(due)", 7), ("WEEKDAY(due, 2)", 6), ("WEEKDAY(due, 3)", 5),
        ("WEEKDAY(due, 11)", 6),
        ("WEEKDAY(due, 17)", 7), ("WEEKDAY(due, 4)", "#VALUE!"),
        ("WEEKNUM(DATE(2026, 1, 1))", 1), ("WEEKNUM(due)", 47), ("WEEKNUM(DATE(2026, 1, 4), 1)", 2),
        ("WEEKNUM(DATE(2026, 1, 4), 2)", 1), ("WEEKNUM(DATE(2026, 1, 4), 21)", 1),
        ("WEEKNUM(DATE(2026, 1, 4), 17)", 2), ("WEEKNUM(DATE(2026, 1, 4), 3)", "#VALUE!"),
        ("DAYS(DATE(2026, 3, 1), DATE(2026, 1, 1))", 59), ("DAYS(stamp, due)", 0),
        ("DAYS(iso, iso2)", 59),
        ('DATEDIF(DATE(2020, 2, 29), DATE(2021, 2, 28), "y")', 0),
        ('DATEDIF(DATE(2020, 1, 31), DATE(2020, 3, 1), "m")', 1),
        ('DATEDIF(DATE(2020, 1, 31), DATE(2020, 3, 1), "d")', 30),
        ('DATEDIF(DATE(2020, 1, 31), DATE(2020, 3, 1), "md")', -1),
        ('DATEDIF(DATE(2020, 1, 31), DATE(2021, 3, 1), "ym")', 1),
        ('DATEDIF(DATE(2020, 1, 31), DATE(2021, 3, 1), "yd")', 29),
        ('DATEDIF(DATE(2021, 1, 31), DATE(2020, 3, 1), "d")', "#VALUE!"),
        ('DATEDIF(DATE(2020, 1, 1), DATE(2021, 1, 1), "w")', "#VALUE!"),
        ("EDATE(DATE(2020, 1, 31), 1)", dt.date(2020, 2, 29)),
        ("EDATE(DATE(2026, 1, 31), -2.7)", dt.date(2025, 11, 30)),
        ("EOMONTH(DATE(2020, 1, 15), 1)", dt.date(2020, 2, 29)),
        ("EOMONTH(DATE(2020, 1, 15), -1.5)", dt.date(2019, 12, 31)),
        ("NETWORKDAYS(DATE(2026, 11, 1), DATE(2026, 11, 30))", 21),
        ("NETWORKDAYS(DATE(2026, 11, 30), DATE(2026, 11, 1))", -21),
        ("NETWORKDAYS(DATE(2026, 11, 1), DATE(2026, 11, 30), DATE(2026, 11, 2))", 20),
        ("NETWORKDAYS(DATE(2026, 11, 21), DATE(2026, 11, 22))", 0),
        ("NETWORKDAYS(DATE(2000, 1, 3), DATE(2099, 12, 31))", 26089),
    ])


def test_date_arithmetic():
    check([
        ("due + 30", dt.date(2026, 12, 21)), ("30 + due", dt.date(2026, 12, 21)),
        ("due - 21", dt.date(2026, 10, 31)), ("due - DATE(2026, 1, 1)", 324),
        ("due + 0.5", dt.datetime(2026, 11, 21, 12, 0)),
        ("stamp + 1", dt.datetime(2026, 11, 22, 18)),
        ("stamp - due", 0.75), ("due + empty", dt.date(2026, 11, 21)), ("due * 1", 46347),
        ("due + due", 92694), ("DATE(9999, 12, 31) + 1", "#NUM!"),
    ])


def test_today_reads_the_callers_clock_or_the_system_clock():
    compiled = compile_expression("TODAY()")
    assert compiled.evaluate({}, {"now": dt.date(2030, 1, 2)}) == dt.date(2030, 1, 2)
    assert compiled.evaluate({}) == dt.date.today()


# ---- registry, examples and documentation ---------------------------------------------

def test_every_builtin_is_exercised_by_these_tests():
    text = Path(__file__).read_text(encoding="utf-8")
    missing = [name for name, spec in FUNCTIONS.items()
               if spec.category != "engine" and not re.search(rf"\b{re.escape(name)}\(", text)]
    assert not missing


def _expected_of(example: str):
    formula, expected = example.split(" → ")
    if expected.startswith("#"):
        return formula, expected
    return formula, compile_expression(expected).evaluate({})


@pytest.mark.parametrize("name", sorted(n for n, s in FUNCTIONS.items() if s.category != "engine"))
def test_every_builtin_example_is_true(name):
    formula, expected = _expected_of(FUNCTIONS[name].example)
    assert same(compile_expression(formula).evaluate({}, ENV), expected), FUNCTIONS[name].example


def test_every_builtin_is_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "expressions.md").read_text("utf-8")
    for name, spec in FUNCTIONS.items():
        if spec.category != "engine":
            assert f"`{spec.signature}`" in docs, name
            assert spec.example.replace(" → ", "` → `") in docs, name


def test_engines_register_their_own_functions():
    registry = dict(FUNCTIONS)
    stock = {("stock", "M6"): D(40)}

    def balance(env, ledger, item):
        return env["stock"].get((ledger, item["name"] if isinstance(item, dict) else item), D(0))

    register_function("stock_level", balance, signature="stock_level(ledger, item)",
                      params=("text", "any"), returns="number", needs_env=True, registry=registry)
    fields = {"qty": "number", "material": {"type": "relation", "fields": {"name": "text"}}}
    rule = compile_expression("qty <= stock_level('stock', material)", fields, functions=registry,
                              expect="boolean")
    env = {"stock": stock}
    assert rule.evaluate({"qty": D(30), "material": {"name": "M6"}}, env) is True
    assert rule.evaluate({"qty": D(50), "material": {"name": "M6"}}, env) is False
    assert "STOCK_LEVEL" not in FUNCTIONS  # a registry of the caller's own
    with pytest.raises(ValueError, match="already registered"):
        register_function("stock_level", balance, registry=registry)
    # An error value in an argument is the call's result; the function never sees it.
    seen = []
    register_function("seen", lambda value: seen.append(value) or D(1), signature="seen(value)",
                      registry=registry)
    assert compile_expression("seen(1/0)", functions=registry).evaluate({}).code == "#DIV/0!"
    assert seen == []
    # A function reports an error value with fail().
    register_function("find_code", lambda key: fail("#N/A", f"no record {key}"),
                      signature="find_code(key)", registry=registry)
    result = compile_expression("1 + find_code('x')", functions=registry).evaluate({})
    assert result.code == "#N/A" and "no record x" in result.describe()
    # ... or by returning one: it is the result, as if raised where the call is.
    register_function("missing", lambda: ErrorValue("#N/A", "nothing here"),
                      signature="missing()", registry=registry)
    result = compile_expression("IF(TRUE, missing(), 0) + 1/0", functions=registry).evaluate({})
    assert (result.code, result.column) == ("#N/A", 10)


def test_volatile_and_constant_parts():
    compiled = compile_expression("DATE(2026, 11, 21) + qty")
    assert "date" not in compiled.python  # DATE(2026, 11, 21) was computed once, ahead
    assert compiled.evaluate({"qty": D(1)}) == dt.date(2026, 11, 22)
    today = compile_expression("TODAY()")
    assert today.evaluate({}, {"now": dt.datetime(2031, 5, 6)}) == dt.date(2031, 5, 6)


def test_docs_show_the_grammar_and_every_error_value():
    root = Path(__file__).resolve().parents[1]
    docs = (root / "docs" / "expressions.md").read_text("utf-8")
    assert (root / "engines" / "expr" / "expr.lark").read_text("utf-8") in docs
    from engines.expr.errors import ERROR_CODES

    for code in ERROR_CODES:
        if code != "#NAME?":  # unknown names are caught before running
            assert f"| `{code}` |" in docs, code
