"""Drill-down returns exactly the records behind a chart element, and exports carry
the same numbers as the result (opened back with openpyxl / csv)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.reports import (
    ReportError,
    compile_dataset,
    drill_down,
    drill_records,
    parse_report,
    to_csv,
    to_xlsx,
)
from tests.test_report_differential import (
    DICT_FILTERS,
    DIMENSIONS,
    SLOW,
    TODAY,
    _line_ids,
    dimension_value,
    doc_rows,
    expressions,
    fixture,  # noqa: F401
    flat_lines,
    holds,
)


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(docs=doc_rows,
       dims=st.lists(st.sampled_from(sorted(DIMENSIONS)), unique=True, min_size=1, max_size=3),
       filters=st.lists(st.one_of(st.sampled_from(DICT_FILTERS), expressions), max_size=2),
       restricted=st.booleans(), rolled_up=st.booleans())
def test_drill_down_selects_exactly_the_records_of_each_element(fixture, docs, dims, filters,  # noqa: F811
                                                                 restricted, rolled_up):
    fixture.load(docs)
    readers = {1} if restricted else None
    sources = fixture.sources(readers)
    report = parse_report({"key": "drill", "dataset": {
        "source": "docs.lines", "filters": filters,
        "dimensions": [{"key": k, **DIMENSIONS[k]} for k in dims],
        "measures": [{"key": "n", "agg": "count"}]}})
    ids = _line_ids(fixture)
    lines = flat_lines(docs, readers)
    visible_ids = _visible_ids(docs, ids, readers)
    with fixture.engine.connect() as conn:
        result = compile_dataset(report, sources).run(conn, today=TODAY)
        for record in result.records():
            # A subtotal element leaves the last dimension out.
            element = {k: record[k] for k in dims[:-1 if rolled_up else None]}
            drill = drill_down(report, element, today=TODAY)
            got = drill_records(conn, drill, sources, today=TODAY)
            wanted = [(line_id, parent) for (line_id, parent), line in zip(visible_ids, lines,
                                                                           strict=True)
                      if all(holds(f, line) for f in filters)
                      and all(dimension_value(DIMENSIONS[k], line) == v
                              for k, v in element.items())]
            assert got == sorted(wanted)
            if not rolled_up:
                assert len(got) == record["n"]


def _visible_ids(docs, ids, readers):
    """(line id, doc id) of the lines the reader sees, in flat_lines' order."""
    out, position = [], 0
    for d in docs:
        for _line in d["lines"]:
            if readers is None or d["_created_by"] in readers:
                out.append((ids[position], d["id"]))
            position += 1
    return out


REPORT = {
    "key": "by_month", "label": {"zh": "月度出入库", "en": "By month"},
    "dataset": {"source": "docs.lines",
                "dimensions": [{"key": "month", "label": {"zh": "月份"}, "field": "parent.day",
                                "bucket": "month"},
                               {"key": "category", "label": {"zh": "类别"},
                                "field": "item.category"}],
                "measures": [{"key": "qty", "label": {"zh": "数量"}, "agg": "sum",
                              "field": "qty", "decimals": 2},
                             {"key": "amount", "label": {"zh": "金额"}, "agg": "sum",
                              "expr": "qty * price", "decimals": 2},
                             {"key": "share", "label": {"zh": "占比"}, "window": "share",
                              "of": "amount"}],
                "totals": True},
    "widget": {"type": "stacked_bar", "x": "month", "y": ["qty"], "series": "category"}}

DOCS = [
    {"id": 1, "_created_by": 1, "day": TODAY.replace(month=9, day=3), "site": 1,
     "status": "done", "urgent": False,
     "lines": [{"item": 1, "qty": Decimal("10"), "price": Decimal("12.25"), "kind": "in"},
               {"item": 2, "qty": Decimal("2.5"), "price": Decimal("0.5"), "kind": "out"}]},
    {"id": 2, "_created_by": 1, "day": TODAY.replace(month=10, day=3), "site": 2,
     "status": "open", "urgent": True,
     "lines": [{"item": 1, "qty": Decimal("4"), "price": Decimal("4"), "kind": "in"},
               {"item": 4, "qty": None, "price": Decimal("4"), "kind": "in"}]},
]


def test_drill_from_a_stacked_bar_segment_and_query_args(fixture):  # noqa: F811
    fixture.load(DOCS)
    report = parse_report(REPORT)
    with fixture.engine.connect() as conn:
        segment = drill_down(report, {"month": "2026-10", "category": "chip"})
        assert segment.conditions == ({"parent.day__gte": "2026-10-01",
                                       "parent.day__lt": "2026-11-01"},
                                      {"item.category__eq": "chip"})
        ids = _line_ids(fixture)
        assert drill_records(conn, segment, fixture.sources()) == [(ids[2], 2)]
        blank = drill_down(report, {"category": None})
        assert drill_records(conn, blank, fixture.sources()) == [(ids[3], 2)]
    with pytest.raises(ValueError, match="drill_query"):
        segment.query_args()
    on_form = parse_report({"key": "docs", "parameters": {"site": {"type": "relation"}},
                            "dataset": {"source": "docs", "filters": [{"site": {"param": "site"}}],
                                        "dimensions": [{"key": "q", "field": "day",
                                                        "bucket": "quarter"}],
                                        "measures": [{"key": "n", "agg": "count"}]}})
    drill = drill_down(on_form, {"q": "2026-Q3"}, {"site": 1})
    assert drill.query_args() == [("site", "1"), ("day__gte", "2026-07-01"),
                                  ("day__lt", "2026-10-01")]
    with pytest.raises(ReportError, match="'nope' is not a dimension"):
        drill_down(on_form, {"nope": 1})
    with pytest.raises(ReportError, match="not a quarter"):
        drill_down(on_form, {"q": "2026-13"})


def run(fixture, doc):  # noqa: F811
    with fixture.engine.connect() as conn:
        return compile_dataset(doc, fixture.sources()).run(conn, today=TODAY)


def test_xlsx_export_has_the_same_numbers(fixture):  # noqa: F811
    fixture.load(DOCS)
    result = run(fixture, REPORT)
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(result, title="月度出入库")))
    sheet = book.active
    assert sheet.title == "月度出入库"
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("月份", "类别", "数量", "金额", "占比")
    for written, row in zip(values[1:], result.rows + [result.totals], strict=True):
        for cell, value in zip(written, row, strict=True):
            if isinstance(value, Decimal):
                assert cell == pytest.approx(float(value), rel=1e-12)
            elif value is None:
                assert cell in (None, "合计")
            else:
                assert cell == value
    assert values[-1][0] == "合计" and values[-1][3] == pytest.approx(139.75)
    assert sheet.cell(row=2, column=3).number_format == "#,##0.00"
    assert sheet.cell(row=2, column=5).number_format == "0.0%"


def test_csv_export_has_the_same_numbers(fixture):  # noqa: F811
    fixture.load(DOCS)
    result = run(fixture, REPORT)
    data = to_csv(result, lang="en")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["月份", "类别", "数量", "金额", "占比"]
    for written, row in zip(rows[1:], result.rows + [result.totals], strict=True):
        assert [Decimal(c) if c and c[0].isdigit() else c for c in written[2:]] == [
            v if v is not None else "" for v in row[2:]]
    assert rows[-1][0] == "Total"
    assert rows[1] == ["2026-09", "chip", "10", "122.5", rows[1][4]]
    assert Decimal(rows[1][4]) == result.rows[0][4]
