"""Widgets: every type answers {columns, rows, figure} with a Plotly figure built by
the plotly package, Chinese labels kept as text; dashboards pass global filters to
their reports."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from engines.reports import (
    WIDGETS,
    ReportError,
    compile_dataset,
    parse_dashboard,
    parse_report,
    register_widget,
    render_widget,
    run_dashboard,
    run_report,
)
from tests.test_report_differential import TODAY, fixture  # noqa: F401
from tests.test_report_drill import DOCS, REPORT

BY_CATEGORY = {
    "source": "docs.lines",
    "dimensions": [{"key": "category", "label": {"zh": "类别", "en": "Category"},
                    "field": "item.category"}],
    "measures": [{"key": "qty", "label": {"zh": "数量", "en": "Quantity"}, "agg": "sum",
                  "field": "qty"},
                 {"key": "amount", "label": {"zh": "金额", "en": "Amount"}, "agg": "sum",
                  "expr": "qty * price", "decimals": 2}],
}
ITEM_NAMES = {"source": "docs.lines",
              "dimensions": [{"key": "item", "label": "物料", "field": "item.name"}],
              "measures": [{"key": "qty", "label": "数量", "agg": "sum", "field": "qty"}]}


def render(fixture, doc, lang="zh", params=None):  # noqa: F811
    report = parse_report(doc)
    with fixture.engine.connect() as conn:
        return run_report(conn, report, fixture.sources(), params, today=TODAY, lang=lang)


@pytest.fixture
def loaded(fixture):  # noqa: F811
    fixture.load(DOCS)
    return fixture


def test_every_builtin_widget_type_is_registered():
    assert set(WIDGETS) >= {"metric", "bar", "stacked_bar", "line", "area", "pie", "donut",
                            "table", "pivot", "gauge"}


def test_bar_chart_keeps_chinese_labels_as_text(loaded):
    out = render(loaded, {"key": "bar", "label": "物料数量", "dataset": ITEM_NAMES,
                          "widget": {"type": "bar", "x": "item", "y": ["qty"]}})
    assert out["columns"][0] == {"key": "item", "label": "物料", "role": "dimension",
                                 "type": "text"}
    assert out["rows"] == [["bolt", 2.5], ["主控芯片", 14], ["彩盒", None]]
    trace = out["figure"]["data"][0]
    assert trace["type"] == "bar" and trace["x"] == ["bolt", "主控芯片", "彩盒"]
    assert trace["y"] == [2.5, 14.0, None]
    layout = out["figure"]["layout"]
    assert layout["title"]["text"] == "物料数量" and "Noto Sans CJK SC" in layout["font"]["family"]
    assert layout["yaxis"]["title"]["text"] == "数量"
    text = json.dumps(out, ensure_ascii=False)
    assert "主控芯片" in text and "\\u" not in text
    # The figure is what plotly.js draws: plotly accepts it back.
    go.Figure(out["figure"])


def test_stacked_bar_has_a_trace_per_series(loaded):
    out = render(loaded, REPORT)
    data = out["figure"]["data"]
    assert [t["name"] for t in data] == ["chip", "mechanical", "(空)"]
    assert data[0]["x"] == ["2026-09", "2026-10"] and data[0]["y"] == [10.0, 4.0]
    assert data[1]["y"] == [2.5, None]
    assert out["figure"]["layout"]["barmode"] == "stack"
    assert out["totals"][:3] == [None, None, 16.5]


def test_horizontal_bar_line_and_area(loaded):
    dataset = {**BY_CATEGORY, "sort": ["-amount"]}
    horizontal = render(loaded, {"key": "h", "dataset": dataset,
                                 "widget": {"type": "bar", "x": "category",
                                            "y": ["amount", "qty"], "orientation": "h"}},
                        lang="en")
    assert [t["name"] for t in horizontal["figure"]["data"]] == ["Amount", "Quantity"]
    assert horizontal["figure"]["data"][0]["orientation"] == "h"
    assert horizontal["figure"]["data"][0]["y"] == ["chip", "mechanical", "(blank)"]
    line = render(loaded, {"key": "l", "dataset": REPORT["dataset"],
                           "widget": {"type": "line", "x": "month", "y": ["amount"]}})
    assert line["figure"]["data"][0]["mode"] == "lines+markers"
    area = render(loaded, {"key": "a", "dataset": REPORT["dataset"],
                           "widget": {"type": "area", "x": "month", "y": ["qty"],
                                      "series": "category"}})
    assert all(t["stackgroup"] == "one" for t in area["figure"]["data"])
    share = render(loaded, {"key": "s", "dataset": REPORT["dataset"],
                            "widget": {"type": "line", "x": "month", "y": ["share"]}})
    assert share["figure"]["layout"]["yaxis"]["tickformat"] == ".0%"


def test_pie_and_donut(loaded):
    pie = render(loaded, {"key": "p", "dataset": BY_CATEGORY,
                          "widget": {"type": "pie", "labels": "category", "value": "amount"}})
    slice_ = pie["figure"]["data"][0]
    assert slice_["type"] == "pie" and slice_["labels"] == ["chip", "mechanical", "(空)"]
    assert slice_["values"] == [138.5, 1.25, 0.0]
    donut = render(loaded, {"key": "d", "dataset": BY_CATEGORY,
                            "widget": {"type": "donut", "labels": "category", "value": "qty"}})
    assert donut["figure"]["data"][0]["hole"] == 0.55


def test_table_and_pivot(loaded):
    table = render(loaded, {"key": "t", "dataset": {**BY_CATEGORY, "totals": True},
                            "widget": {"type": "table", "columns": ["category", "amount"]}})
    cells = table["figure"]["data"][0]["cells"]["values"]
    assert table["figure"]["data"][0]["header"]["values"] == ["类别", "金额"]
    assert cells[1] == ["138.50", "1.25", "0.00", "139.75"]
    pivot = render(loaded, {"key": "pv", "dataset": {
        **REPORT["dataset"], "measures": REPORT["dataset"]["measures"][:1], "totals": False,
        "pivot": {"rows": ["category"], "columns": ["month"]}},
        "widget": {"type": "pivot"}})
    assert [c["label"] for c in pivot["columns"]] == ["类别", "2026-09", "2026-10", "合计"]
    assert pivot["rows"] == [["chip", 10, 4, 14], ["mechanical", 2.5, None, 2.5],
                             [None, None, None, None]]
    assert pivot["totals"] == [None, 12.5, 4, 16.5]
    assert pivot["pivot"]["column_keys"] == [["2026-09"], ["2026-10"]]
    cells = pivot["figure"]["data"][0]["cells"]["values"]
    assert pivot["figure"]["data"][0]["type"] == "table"
    assert cells[0] == ["chip", "mechanical", "", "合计"]
    assert cells[3] == ["14.00", "2.50", "", "16.50"]


def test_gauge_scale_from_a_measure_or_a_number(loaded):
    dataset = {"source": "docs.lines",
               "measures": [{"key": "qty", "agg": "sum", "field": "qty"},
                            {"key": "target", "agg": "max", "expr": "20"}]}
    gauge = render(loaded, {"key": "g", "dataset": dataset,
                            "widget": {"type": "gauge", "value": "qty", "max": "target",
                                       "steps": [10, 15]}})
    indicator = gauge["figure"]["data"][0]
    assert indicator["value"] == 16.5 and indicator["gauge"]["axis"]["range"] == [0, 20]
    assert [s["range"] for s in indicator["gauge"]["steps"]] == [[0, 10], [10, 15], [15, 20]]
    fixed = render(loaded, {"key": "g2", "dataset": dataset,
                            "widget": {"type": "gauge", "value": "qty", "max": 100}})
    assert fixed["figure"]["data"][0]["gauge"]["axis"]["range"] == [0, 100]


def test_a_metric_without_comparison(loaded):
    out = render(loaded, {"key": "m", "label": {"zh": "总数量"},
                          "dataset": {"source": "docs.lines",
                                      "measures": [{"key": "qty", "agg": "sum", "field": "qty",
                                                    "decimals": 1}]},
                          "widget": {"type": "metric", "value": "qty"}})
    indicator = out["figure"]["data"][0]
    assert indicator["mode"] == "number" and indicator["value"] == 16.5
    assert indicator["number"]["valueformat"] == ",.1f"


def test_widgets_are_a_registry(loaded):
    @register_widget("count_text")
    def count_text(widget, result, context):
        return go.Figure(layout={"annotations": [{"text": f"{len(result.rows)} 行",
                                                  "showarrow": False}]})

    try:
        report = parse_report({"key": "x", "dataset": BY_CATEGORY})
        with loaded.engine.connect() as conn:
            result = compile_dataset(report, loaded.sources()).run(conn)
        out = render_widget(report, result, widget={"type": "count_text"})
        assert out["figure"]["layout"]["annotations"][0]["text"] == "3 行"
    finally:
        del WIDGETS["count_text"]
    with pytest.raises(ValueError, match="unknown widget type 'nope'"):
        render_widget(report, result, widget={"type": "nope"})


def test_widget_keys_are_checked_against_the_dataset():
    with pytest.raises(ReportError) as error:
        parse_report({"key": "w", "dataset": BY_CATEGORY,
                      "widget": {"type": "bar", "x": "amount", "y": ["qtty"]}})
    problems = dict(error.value.problems)
    assert "'amount' is not a dimension" in problems["/widget/x"]
    assert "'qtty' is not a measure" in problems["/widget/y/0"]
    with pytest.raises(ReportError, match="needs 'labels'"):
        parse_report({"key": "w", "dataset": BY_CATEGORY, "widget": {"type": "pie"}})


DASHBOARD = {
    "key": "overview", "label": {"zh": "总览", "en": "Overview"},
    "filters": [{"key": "status", "label": {"zh": "状态"}, "type": "select"}],
    "widgets": [
        {"report": "by_status", "x": 0, "y": 0, "w": 6, "h": 4},
        {"report": "by_status", "x": 6, "y": 0, "w": 6, "h": 4, "title": "全部",
         "params": {"status": None}},
        {"report": "broken", "x": 0, "y": 4, "w": 12, "h": 4},
    ],
}


def test_dashboard_passes_global_filters_to_reports(loaded):
    reports = {
        "by_status": parse_report({
            "key": "by_status", "label": "按类别",
            "parameters": {"status": {"type": "select"}},
            "dataset": {**BY_CATEGORY, "filters": [{"parent.status": {"param": "status"}}]},
            "widget": {"type": "bar", "x": "category", "y": ["qty"]}}),
        "broken": parse_report({"key": "broken", "dataset": {
            "source": "docs.lines", "measures": [{"key": "x", "agg": "sum", "field": "nope"}]}}),
    }
    dashboard = parse_dashboard(DASHBOARD, reports)
    with loaded.engine.connect() as conn:
        out = run_dashboard(conn, dashboard, reports, loaded.sources(), {"status": "open"},
                            today=TODAY)
    first, second, broken = out["widgets"]
    assert out["label"] == "总览" and out["filters"][0]["label"] == "状态"
    assert (first["x"], first["w"]) == (0, 6)
    assert first["rows"] == [["chip", 4, 16], [None, None, 0]]
    assert second["figure"]["layout"]["title"]["text"] == "全部"
    assert second["rows"] == [["chip", 14, 138.5], ["mechanical", 2.5, 1.25], [None, None, 0]]
    assert "has no field 'nope'" in broken["errors"][0]["message"]
    with pytest.raises(ReportError, match="there is no report 'missing'"):
        parse_dashboard({"key": "d", "widgets": [{"report": "missing"}]}, reports)
