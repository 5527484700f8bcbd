"""Loom's formulas give what LibreOffice Calc gives for the same formula.

Hypothesis writes random well-typed formulas over the functions both share; each is
written twice from the same tree, in Loom's syntax and in spreadsheet syntax, the
spreadsheet ones into .xlsx files without cached values. One headless ``soffice``
call recalculates every file; the values it saved are compared with Loom's: numbers
to about 1e-9 (Loom's are decimals, Calc's binary floats), error values by kind,
dates as day numbers. Fixed cases pin down behaviour the issue names.

Needs LibreOffice (``apt-get install libreoffice-calc-nogui``). Without it the test
is skipped, unless LOOM_REQUIRE_ALL_TESTS=1, when it fails.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import openpyxl
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from engines.expr import ErrorValue, compile_expression
from engines.expr.values import serial

# Workbooks, each of FORMULAS_PER_BOOK formulas. The same ones every run, unless
# LOOM_LIBREOFFICE_SEED picks others (to search wider: with LOOM_LIBREOFFICE_BOOKS).
EXAMPLES = int(os.environ.get("LOOM_LIBREOFFICE_BOOKS", "80"))
SEED = os.environ.get("LOOM_LIBREOFFICE_SEED")
FORMULAS_PER_BOOK = 10
# Functions newer than Excel 2007 are stored with this prefix in .xlsx files.
NEWER = {"IFS", "SWITCH", "XOR", "CONCAT", "DAYS", "IFNA"}

KNOWN = [  # (Loom formula, spreadsheet formula): the cases the issue names, and more
    ("ROUND(1.005, 2)", "ROUND(1.005,2)"), ("ROUND(-2.5, 0)", "ROUND(-2.5,0)"),
    ('"abc" = "ABC"', '"abc"="ABC"'), ("BLANK + 1", "Z999+1"),
    ('"a" & BLANK & "b"', '"a"&Z999&"b"'),
    ("1/0", "1/0"), ("NA() + 1/0", "NA()+1/0"), ("1/3*3 = 1", "1/3*3=1"),
    ("INT(1/3*3)", "INT(1/3*3)"),
    ("-2^2", "-2^2"), ("2^3^2", "2^3^2"), ("50%", "50%"), ("0.1 + 0.2 = 0.3", "0.1+0.2=0.3"),
    ('1/3 & ""', '1/3&""'), ('TRUE & "x"', 'TRUE&"x"'), ("MOD(-7, 3)", "MOD(-7,3)"),
    ("SQRT(-1)", "SQRT(-1)"), ("0^-1", "0^-1"), ("(-8)^(1/3)", "(-8)^(1/3)"),
    ('DATEDIF(DATE(2020,1,31), DATE(2020,3,1), "md")',
        'DATEDIF(DATE(2020,1,31),DATE(2020,3,1),"md")'),
    ("DATE(2026, 0, 0)", "DATE(2026,0,0)"), ("DATE(26, 1, 1)", "DATE(26,1,1)"),
    ("WEEKNUM(DATE(2026, 11, 21))", "WEEKNUM(DATE(2026,11,21))"),
    ('TEXT(1234.5, "#,##0")', 'TEXT(1234.5,"#,##0")'), ('TEXT(0.256, "0%")', 'TEXT(0.256,"0%")'),
    ('TEXT(DATE(2026,3,4), "yyyy-mm-dd")', 'TEXT(DATE(2026,3,4),"yyyy-mm-dd")'),
    ("IF(FALSE, 1)", "IF(FALSE(),1)"), ("AND(FALSE, 1/0)", "AND(FALSE(),1/0)"),
    ('IFS(FALSE, 1)', "_xlfn.IFS(FALSE(),1)"), ('SWITCH(3, 1, "a")', '_xlfn.SWITCH(3,1,"a")'),
    ('VALUE("(12)")', 'VALUE("(12)")'), ('SEARCH("b?", "abcb")', 'SEARCH("b?","abcb")'),
    ('COUNT(1, "a", TRUE, "2")', 'COUNT(1,"a",TRUE(),"2")'), ('SUM(1, "2")', 'SUM(1,"2")'),
]


class F(NamedTuple):
    loom: str
    calc: str


# ---- finding LibreOffice ----------------------------------------------------------------

def soffice() -> str:
    program = shutil.which("soffice") or shutil.which("libreoffice")
    if program:
        return program
    reason = ("LibreOffice's 'soffice' program is not installed, so Loom's formulas cannot be "
              "compared with Calc's (apt-get install libreoffice-calc-nogui)")
    if os.environ.get("LOOM_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(reason + "; LOOM_REQUIRE_ALL_TESTS=1 requires it")
    print(reason)
    pytest.skip(reason)


def recalculate(program: str, books: list[list[str]], folder: Path) -> list[list[tuple]]:
    """Each book's formulas as Calc computes them: (value, openpyxl data type) pairs."""
    source, out = folder / "in", folder / "out"
    source.mkdir()
    out.mkdir()
    paths = []
    for index, formulas in enumerate(books):
        book = openpyxl.Workbook()
        sheet = book.active
        for row, formula in enumerate(formulas, start=1):
            sheet.cell(row, 1, "=" + formula)
        path = source / f"book{index:03d}.xlsx"
        book.save(path)
        paths.append(path)
    profile = (folder / "profile").as_uri()
    done = subprocess.run(
        [program, f"-env:UserInstallation={profile}", "--headless", "--norestore",
         "--convert-to", "xlsx", "--outdir", str(out), *map(str, paths)],
        capture_output=True, text=True, timeout=600, check=False)
    results = []
    for path, formulas in zip(paths, books, strict=True):
        converted = out / path.name
        assert converted.exists(), f"soffice did not convert {path.name}: {done.stderr}"
        sheet = openpyxl.load_workbook(converted, data_only=True).active
        results.append([(sheet.cell(row, 1).value, sheet.cell(row, 1).data_type)
                        for row in range(1, len(formulas) + 1)])
    return results


# ---- comparing ------------------------------------------------------------------------------

def agrees(loom, calc, calc_type) -> bool:
    if isinstance(loom, ErrorValue) or calc_type == "e":
        return isinstance(loom, ErrorValue) and loom.code == calc
    if isinstance(loom, dt.date):
        loom = serial(loom)
    if isinstance(calc, dt.date):  # Calc gave the cell a date format
        calc = serial(calc)
    if loom is None or loom == "":
        return calc in (None, "", 0)
    if isinstance(loom, str) or isinstance(calc, str):
        return loom == (calc if calc is not None else "")
    if calc is None:
        return False
    left, right = float(loom), float(calc)
    return abs(left - right) <= 1e-9 * max(abs(left), abs(right), 1e-6)


# ---- writing formulas ---------------------------------------------------------------------

def call(name: str, *args: F) -> F:
    prefix = "_xlfn." if name in NEWER else ""
    return F(f"{name}({', '.join(a.loom for a in args)})",
             f"{prefix}{name}({','.join(a.calc for a in args)})")


def binary(left: F, symbol: str, right: F) -> F:
    calc_symbol = {"!=": "<>"}.get(symbol, symbol)
    return F(f"({left.loom} {symbol} {right.loom})", f"({left.calc}{calc_symbol}{right.calc})")


def literal(text: str) -> F:
    return F(text, text)


def quoted(text: str) -> F:
    return literal('"' + text.replace('"', '""') + '"')


NUMBER_TEXT = st.builds(lambda n, places: str(Decimal(n).scaleb(-places)),
                        st.integers(0, 2000), st.integers(0, 2))
SMALL = st.integers(-3, 5).map(str)
WORDS = st.text(alphabet="abcxyzAB1 ", max_size=6)
KEYS = st.text(alphabet="abAB12", min_size=1, max_size=3)  # for ordering: no spaces
NUMBER_FORMATS = ["0", "0.00", "#,##0", "#,##0.00", "0%", "0.0%", "0.##", "General"]
DATE_FORMATS = ["yyyy-mm-dd", "dd/mm/yyyy", "yyyy/m/d", "mmm d, yyyy", "dddd", "mmmm yy"]


def number(draw, depth: int) -> F:
    leaves = ["literal", "literal", "blank"]
    nodes = ["arith", "arith", "power", "negate", "percent", "round", "one", "mod", "many",
             "len", "find", "date_part", "week", "days", "datedif", "networkdays", "if",
             "iferror", "value", "date_difference"]
    kind = draw(st.sampled_from(leaves + (nodes if depth > 0 else [])))
    d = depth - 1
    if kind == "literal":
        return literal(draw(NUMBER_TEXT))
    if kind == "blank":
        return F("BLANK", "Z999")
    if kind == "arith":
        return binary(number(draw, d), draw(st.sampled_from("+-*/")), number(draw, d))
    if kind == "power":
        return binary(number(draw, d), "^", literal(draw(st.sampled_from(["0", "1", "2", "3",
                                                                          "0.5"]))))
    if kind == "negate":
        inner = number(draw, d)
        return F(f"-{inner.loom}", f"-{inner.calc}")
    if kind == "percent":
        inner = number(draw, d)
        return F(f"({inner.loom})%", f"({inner.calc})%")
    if kind == "round":
        name = draw(st.sampled_from(["ROUND", "ROUNDUP", "ROUNDDOWN"]))
        return call(name, number(draw, d), literal(draw(st.sampled_from(["-1", "0", "1", "2"]))))
    if kind == "one":
        return call(draw(st.sampled_from(["INT", "ABS", "SQRT"])), number(draw, d))
    if kind == "mod":
        return call(draw(st.sampled_from(["MOD", "POWER"])), number(draw, d),
                    literal(draw(st.sampled_from(["2", "3", "0.5", "-2"]))))
    if kind == "many":
        name = draw(st.sampled_from(["MIN", "MAX", "SUM", "AVERAGE"]))
        return call(name, *[number(draw, d) for _ in range(draw(st.integers(1, 3)))])
    if kind == "len":
        return call("LEN", text(draw, d))
    if kind == "find":
        name = draw(st.sampled_from(["FIND", "SEARCH"]))
        args = [text(draw, d), text(draw, d)]
        if draw(st.booleans()):
            args.append(literal(draw(st.sampled_from(["1", "2", "4"]))))
        return call(name, *args)
    if kind == "date_part":
        return call(draw(st.sampled_from(["YEAR", "MONTH", "DAY"])), date(draw, d))
    if kind == "week":
        name = draw(st.sampled_from(["WEEKDAY", "WEEKNUM"]))
        kinds = ["1", "2", "3", "11", "14", "17"] + (["21"] if name == "WEEKNUM" else [])
        return call(name, date(draw, d), literal(draw(st.sampled_from(kinds))))
    if kind == "days":
        return call("DAYS", date(draw, d), date(draw, d))
    if kind == "datedif":
        unit = quoted(draw(st.sampled_from(["y", "m", "d", "ym", "md", "yd"])))
        return call("DATEDIF", date(draw, d), date(draw, d), unit)
    if kind == "networkdays":
        return call("NETWORKDAYS", date(draw, d), date(draw, d))
    if kind == "if":
        return call("IF", logical(draw, d), number(draw, d), number(draw, d))
    if kind == "iferror":
        return call("IFERROR", number(draw, d), number(draw, d))
    if kind == "value":
        return call("VALUE", quoted(draw(st.sampled_from(
            ["12.5", " 7 ", "1,234", "50%", "(3)", "4-", "1e3", "abc", ""]))))
    return binary(date(draw, d), "-", date(draw, d))


def text(draw, depth: int) -> F:
    kind = draw(st.sampled_from(["literal", "literal"] + ([
        "concat", "number_text", "cut", "mid", "case", "substitute", "replace", "rept",
        "concatenate", "format", "format_date", "if"] if depth > 0 else [])))
    d = depth - 1
    if kind == "literal":
        return quoted(draw(WORDS))
    if kind == "concat":
        return binary(text(draw, d), "&", text(draw, d))
    if kind == "number_text":
        return binary(text(draw, d), "&", number(draw, d))
    if kind == "cut":
        return call(draw(st.sampled_from(["LEFT", "RIGHT"])), text(draw, d),
                    literal(draw(st.sampled_from(["0", "1", "2", "5"]))))
    if kind == "mid":
        return call("MID", text(draw, d), literal(draw(st.sampled_from(["1", "2", "4"]))),
                    literal(draw(st.sampled_from(["0", "1", "3"]))))
    if kind == "case":
        return call(draw(st.sampled_from(["UPPER", "LOWER", "PROPER", "TRIM"])), text(draw, d))
    if kind == "substitute":
        args = [text(draw, d), quoted(draw(KEYS)), text(draw, d)]
        if draw(st.booleans()):
            args.append(literal(draw(st.sampled_from(["1", "2"]))))
        return call("SUBSTITUTE", *args)
    if kind == "replace":
        return call("REPLACE", text(draw, d), literal(draw(st.sampled_from(["1", "2", "3"]))),
                    literal(draw(st.sampled_from(["0", "1", "2"]))), text(draw, d))
    if kind == "rept":
        return call("REPT", text(draw, d), literal(draw(st.sampled_from(["0", "1", "3"]))))
    if kind == "concatenate":
        return call(draw(st.sampled_from(["CONCATENATE", "CONCAT"])), text(draw, d),
                    number(draw, d), logical(draw, d))
    if kind == "format":
        return call("TEXT", number(draw, d), quoted(draw(st.sampled_from(NUMBER_FORMATS))))
    if kind == "format_date":
        return call("TEXT", date(draw, d), quoted(draw(st.sampled_from(DATE_FORMATS))))
    return call("IF", logical(draw, d), text(draw, d), text(draw, d))


def logical(draw, depth: int) -> F:
    kind = draw(st.sampled_from(["literal"] + ([
        "compare", "compare", "text_equal", "text_order", "date_compare", "keyword",
        "function", "not", "xor", "is", "exact", "in", "if"] if depth > 0 else [])))
    d = depth - 1
    if kind == "literal":
        value = draw(st.sampled_from(["TRUE", "FALSE"]))
        return F(value, value + "()")
    if kind == "compare":
        symbol = draw(st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="]))
        return binary(number(draw, d), symbol, number(draw, d))
    if kind == "text_equal":
        return binary(text(draw, d), draw(st.sampled_from(["=", "<>"])), text(draw, d))
    if kind == "text_order":
        return binary(quoted(draw(KEYS)), draw(st.sampled_from(["<", ">="])), quoted(draw(KEYS)))
    if kind == "date_compare":
        return binary(date(draw, d), draw(st.sampled_from(["=", "<", ">="])), date(draw, d))
    if kind == "keyword":
        word = draw(st.sampled_from(["AND", "OR"]))
        left, right = logical(draw, d), logical(draw, d)
        return F(f"({left.loom} {word} {right.loom})", f"{word}({left.calc},{right.calc})")
    if kind == "function":
        name = draw(st.sampled_from(["AND", "OR"]))
        return call(name, *[logical(draw, d) for _ in range(draw(st.integers(1, 3)))])
    if kind == "not":
        inner = logical(draw, d)
        if draw(st.booleans()):
            return F(f"NOT {inner.loom}", f"NOT({inner.calc})")
        return call("NOT", inner)
    if kind == "xor":
        return call("XOR", logical(draw, d), logical(draw, d))
    if kind == "is":
        name = draw(st.sampled_from(["ISBLANK", "ISNUMBER", "ISERROR"]))
        argument = draw(st.sampled_from(["number", "text", "blank"]))
        value = F("BLANK", "Z999") if argument == "blank" else (
            number(draw, d) if argument == "number" else text(draw, d))
        return call(name, value)
    if kind == "exact":
        return call("EXACT", text(draw, d), text(draw, d))
    if kind == "in":
        value = number(draw, d)
        options = [number(draw, d) for _ in range(draw(st.integers(1, 3)))]
        return F(f"({value.loom} IN ({', '.join(o.loom for o in options)}))",
                 f"OR({','.join(f'{value.calc}={o.calc}' for o in options)})")
    return call("IF", logical(draw, d), logical(draw, d), logical(draw, d))


def date(draw, depth: int) -> F:
    kind = draw(st.sampled_from(["date"] + (["edate", "shift", "if"] if depth > 0 else [])))
    d = depth - 1
    if kind == "date":
        year, month, day = (draw(st.integers(*bounds)) for bounds in ((1990, 2040), (-1, 14),
                                                                       (-3, 33)))
        return call("DATE", literal(str(year)), literal(str(month)), literal(str(day)))
    if kind == "edate":
        return call(draw(st.sampled_from(["EDATE", "EOMONTH"])), date(draw, d),
                    literal(str(draw(st.integers(-14, 14)))))
    if kind == "shift":
        return binary(date(draw, d), draw(st.sampled_from("+-")), literal(str(draw(
            st.integers(0, 400)))))
    return call("IF", logical(draw, d), date(draw, d), date(draw, d))


KINDS = {"number": number, "text": text, "logical": logical, "date": date}


@st.composite
def formula(draw) -> F:
    return KINDS[draw(st.sampled_from(list(KINDS)))](draw, draw(st.integers(1, 3)))


def generated_books() -> list[list[F]]:
    books = []

    @settings(max_examples=EXAMPLES, derandomize=SEED is None, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(st.lists(formula(), min_size=FORMULAS_PER_BOOK, max_size=FORMULAS_PER_BOOK))
    def collect(formulas):
        books.append(formulas)

    if SEED is not None:
        collect = seed(int(SEED))(collect)

    collect()
    return books


# ---- the tests ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calc_results(tmp_path_factory):
    """Every generated book and the known cases, recalculated in one soffice call."""
    program = soffice()
    books = generated_books() + [[F(loom, calc) for loom, calc in KNOWN]]
    results = recalculate(program, [[f.calc for f in book] for book in books],
                          tmp_path_factory.mktemp("calc"))
    return [list(zip(book, cells, strict=True)) for book, cells in zip(books, results, strict=True)]


def _disagreements(pairs):
    found = []
    for pair, (value, kind) in pairs:
        loom = compile_expression(pair.loom).evaluate({})
        if not agrees(loom, value, kind):
            found.append(f"{pair.loom}\n    Loom: {loom!r}\n    Calc: {value!r} ({pair.calc})")
    return found


def test_generated_formulas_agree_with_libreoffice(calc_results):
    pairs = [pair for book in calc_results[:-1] for pair in book]
    assert len(pairs) == EXAMPLES * FORMULAS_PER_BOOK
    found = _disagreements(pairs)
    assert not found, f"{len(found)} of {len(pairs)} formulas differ:\n" + "\n".join(found[:20])


def test_known_cases_agree_with_libreoffice(calc_results):
    found = _disagreements(calc_results[-1])
    assert not found, "\n".join(found)
