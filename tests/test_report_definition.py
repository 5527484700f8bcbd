"""Report definitions: the schema, the checks against the tables and the expression
language, with messages that say where and how to fix; one SQL statement per run; and
every option documented in docs/reports.md."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Text, create_engine, event, literal, select

from engines.reports import ReportError, compile_dataset, parse_report
from engines.reports.dialects import DateBucket, PeriodIndex
from engines.reports.drill import bucket_range
from engines.reports.forecast import period_label
from engines.reports.sqlexpr import SQL_FUNCTIONS
from engines.reports.widgets import WIDGETS
from engines.schema import schema, validate
from tests.test_report_differential import TODAY, fixture  # noqa: F401
from tests.test_report_drill import DOCS

ROOT = Path(__file__).resolve().parents[1]
LINES = {"source": "docs.lines", "measures": [{"key": "qty", "agg": "sum", "field": "qty"}]}


def problems_of(fixture, dataset, **report):  # noqa: F811
    with pytest.raises(ReportError) as error:
        compile_dataset({"key": "r", "dataset": dataset, **report}, fixture.sources())
    return joined(error.value.problems)


def joined(problems) -> dict[str, str]:
    out = {}
    for where, message in problems:
        out[where] = f"{out[where]} | {message}" if where in out else message
    return out


def test_schema_problems_point_into_the_document():
    problems = dict(validate("report", {"key": "Bad Key", "dataset": {
        "source": "docs.lines", "measures": [{"key": "q", "agg": "total", "field": "qty"}],
        "dimensions": [{"key": "d", "field": "day", "bucket": "fortnight"}]}}))
    assert "not a valid key" in problems["/key"]
    assert "'total' is not allowed" in problems["/dataset/measures/0/agg"]
    assert "'fortnight' is not allowed" in problems["/dataset/dimensions/0/bucket"]
    with pytest.raises(ReportError, match="unknown property 'colour'"):
        parse_report({"key": "r", "dataset": LINES, "widget": {"type": "bar", "colour": "red"}})


def test_consistency_checks_before_any_table_is_read():
    with pytest.raises(ReportError) as error:
        parse_report({"key": "r", "dataset": {
            "source": "docs.lines",
            "dimensions": [{"key": "qty", "field": "kind"},
                           {"key": "age", "field": "parent.day", "age": [90, 30],
                            "labels": ["new", "old"]}],
            "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                         {"key": "avg3", "window": "moving_avg", "of": "qty"},
                         {"key": "p", "agg": "sum"}],
            "sort": ["-nope"],
            "pivot": {"rows": ["qty"], "columns": []}}})
    problems = joined(error.value.problems)
    assert "already used by dimension qty" in problems["/dataset/measures/0/key"]
    assert "ascending" in problems["/dataset/dimensions/1/age"]
    assert "give 3 labels" in problems["/dataset/dimensions/1/labels"]
    assert "add a dimension with a 'bucket'" in problems["/dataset/measures/1"]
    assert "needs 'periods'" in problems["/dataset/measures/1/periods"]
    assert "'sum' needs a 'field' or an 'expr'" in problems["/dataset/measures/2"]
    assert "cannot sort by 'nope'" in problems["/dataset/sort/0"]
    assert "every dimension exactly once" in problems["/dataset/pivot"]


def test_fields_are_checked_against_the_tables_with_suggestions(fixture):  # noqa: F811
    problems = problems_of(fixture, {
        "source": "docs.lines",
        "dimensions": [{"key": "c", "field": "item.categroy"},
                       {"key": "m", "field": "kind", "bucket": "month"},
                       {"key": "k", "field": "qty.name"}],
        "measures": [{"key": "q", "agg": "sum", "field": "kind"},
                     {"key": "p", "agg": "max", "field": "parent"}]})
    assert problems["/dataset/dimensions/0/field"] == \
        "'item' has no field 'categroy' — did you mean 'category'?"
    assert "'kind' is select, not a date" in problems["/dataset/dimensions/1/bucket"]
    assert "'qty' is not a relation" in problems["/dataset/dimensions/2/field"]
    assert "'sum' adds numbers" in problems["/dataset/measures/0"]
    assert "name one of its fields, e.g. parent.day" in problems["/dataset/measures/1/field"]
    assert "a subtable of docs" in problems_of(fixture, {
        "source": "docs", "measures": [{"key": "q", "agg": "sum", "field": "lines"}]
    })["/dataset/measures/0/field"]
    assert "no 'docs.nothing'" in problems_of(fixture, {**LINES, "source": "docs.nothing"})[
        "/dataset/source"]


def test_expressions_are_checked_with_line_and_column(fixture):  # noqa: F811
    problems = problems_of(fixture, {**LINES, "filters": [
        "qty > 0 AND\n  item.nmae = 'x'", "kind > 3", "SEARCH('a', kind) > 0",
        "qty = PARAM('site')", "qty >", "IF(kind = 'out', qty) > 2"]})
    assert problems["/dataset/filters/0"] == \
        "line 2, column 8: 'item' has no field 'nmae' — did you mean 'name'?"
    assert "cannot be compared" in problems["/dataset/filters/1"]
    assert problems["/dataset/filters/2"].startswith(
        "line 1, column 1: SEARCH cannot be computed by the database in a report; use ")
    assert "parameter 'site' is not declared" in problems["/dataset/filters/3"]
    assert problems["/dataset/filters/4"] == \
        "line 1, column 6: the expression ends too early: something is missing at the end"
    assert problems["/dataset/filters/5"].startswith(
        "line 1, column 1: IF without value_if_false gives FALSE")
    calc = problems_of(fixture, {**LINES, "measures": [
        *LINES["measures"], {"key": "a", "calc": "b + 1"}, {"key": "b", "calc": "a * 2"},
        {"key": "c", "calc": "qty / lines"}]})
    assert calc["/dataset/measures/2/calc"] == \
        "line 1, column 1: measures use each other in a circle: a -> b -> a"
    assert calc["/dataset/measures/3/calc"] == \
        "line 1, column 7: 'lines' is not a measure or dimension of this dataset"


def test_dict_filters_are_checked(fixture):  # noqa: F811
    problems = problems_of(fixture, {**LINES, "filters": [
        {"qty__gte": "many"}, {"item.code__startswith": 3, "parent.sight": "x"}]})
    assert problems["/dataset/filters/0/qty__gte"] == "'many': 'many' is not a number"
    assert "'docs' has no field 'sight'" in problems["/dataset/filters/1/parent.sight"] or \
        "has no field 'sight'" in problems["/dataset/filters/1/parent.sight"]
    with pytest.raises(ReportError, match="parameter 'site' is not declared"):
        parse_report({"key": "r", "dataset": {**LINES, "filters": [
            {"parent.site": {"param": "site"}}]}})
    assert "unknown operator 'between'" in problems_of(fixture, {**LINES, "filters": [
        {"qty__between": 3}]})["/dataset/filters/0/qty__between"]


def test_parameters(fixture):  # noqa: F811
    fixture.load(DOCS)
    doc = {"key": "p", "parameters": {
        "kinds": {"type": "select", "multiple": True},
        "since": {"type": "date", "default": "today"},
        "min_qty": {"type": "number", "required": True}},
        "dataset": {**LINES, "filters": [{"kind__in": {"param": "kinds"}},
                                         "qty >= PARAM(\"min_qty\")",
                                         {"parent.day__lt": {"param": "since"}}]}}
    compiled = compile_dataset(doc, fixture.sources())
    with fixture.engine.connect() as conn:
        assert compiled.run(conn, {"min_qty": "3"}, today=TODAY).rows == [[14]]
        assert compiled.run(conn, {"min_qty": 3, "kinds": "out"}, today=TODAY).rows == [[None]]
        assert compiled.run(conn, {"min_qty": 0, "kinds": ["in", "out"]},
                            today=TODAY).rows == [[16.5]]
        with pytest.raises(ReportError, match="needs a value for 'min_qty'"):
            compiled.run(conn, today=TODAY)
        with pytest.raises(ReportError, match="'x'"):
            compiled.run(conn, {"min_qty": "x"}, today=TODAY)
        with pytest.raises(ReportError, match="pass today="):
            compile_dataset({"key": "t", "dataset": {**LINES, "filters": [
                "DAYS(TODAY(), parent.day) > 3"]}}, fixture.sources()).run(conn)
    # One statement per set of parameters that have values, built once: all three (the
    # check when compiled, and the run with kinds), and without kinds.
    assert len(compiled._plans) == 2


def test_each_run_is_one_sql_statement(fixture):  # noqa: F811
    fixture.load(DOCS)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    shapes = [
        {**LINES, "dimensions": [{"key": "m", "field": "parent.day", "bucket": "month"}],
         "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                      {"key": "items", "agg": "count_distinct", "field": "item"},
                      {"key": "avg", "agg": "avg", "field": "qty"},
                      {"key": "prev", "window": "previous", "of": "qty"},
                      {"key": "per_item", "calc": "qty / items"}],
         "totals": True, "sort": ["-qty"], "limit": 1},
        {**LINES, "dimensions": [{"key": "c", "field": "item.category"},
                                 {"key": "k", "field": "kind"}],
         "measures": [{"key": "items", "agg": "count_distinct", "field": "item"}],
         "pivot": {"rows": ["c"], "columns": ["k"]}},
        {**LINES, "dimensions": [{"key": "c", "field": "item.name"}], "abc": {"measure": "qty"}},
        {**LINES, "dimensions": [{"key": "m", "field": "parent.day", "bucket": "month"}],
         "forecast": {"measure": "qty", "method": "exponential"}},
    ]
    event.listen(fixture.engine, "before_cursor_execute", count)
    try:
        with fixture.engine.connect() as conn:
            for dataset in shapes:
                compiled = compile_dataset({"key": "s", "dataset": dataset}, fixture.sources())
                before = len(statements)
                compiled.run(conn, today=TODAY)
                assert len(statements) == before + 1, dataset
    finally:
        event.remove(fixture.engine, "before_cursor_execute", count)


def test_date_buckets_and_period_indexes_agree_with_python(database_url):
    """Labels are the same on both databases, each period's index reads back as its
    label, and a bucket of another unit never reuses a cached statement."""
    engine = create_engine(database_url)
    days = [dt.date(1969, 12, 28), dt.date(1969, 12, 29), dt.date(2020, 12, 31),
            dt.date(2021, 1, 3), dt.date(2021, 1, 4), dt.date(2024, 2, 29),
            dt.date(2026, 12, 31)]
    with engine.connect() as conn:
        for day in days:
            for unit in ("day", "week", "month", "quarter", "year"):
                label = conn.execute(select(DateBucket(literal(day), unit))).scalar()
                expected = {"day": day.isoformat(), "month": f"{day:%Y-%m}",
                            "quarter": f"{day.year}-Q{(day.month - 1) // 3 + 1}",
                            "year": f"{day:%Y}",
                            "week": "{}-W{:02d}".format(*day.isocalendar()[:2])}[unit]
                assert label == expected, (day, unit)
                index = conn.execute(select(PeriodIndex(literal(label, Text()), unit))).scalar()
                assert period_label(unit, index) == label
                start, end = bucket_range(unit, label)
                assert start <= day < end
    engine.dispose()


# ---- documentation --------------------------------------------------------------------

def _options(definition: dict) -> set[str]:
    names = set(definition.get("properties", {}))
    for value in definition.get("properties", {}).values():
        names |= {v for v in value.get("enum", ()) if isinstance(v, str)}
    return names


def test_every_option_and_widget_is_documented():
    text = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    report = schema("report")
    defs = report["$defs"]
    names = set(report["properties"])
    for part in ("dataset", "dimension", "measure", "parameter", "pivot", "abc", "tree",
                 "forecast", "widget"):
        names |= _options(defs[part])
    names |= _options(defs["widget"]["properties"]["compare"])
    names |= set(schema("dashboard")["properties"]) | set(
        schema("dashboard")["$defs"]["placement"]["properties"])
    names |= set(WIDGETS) | set(SQL_FUNCTIONS)
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"document in docs/reports.md: {missing}"
