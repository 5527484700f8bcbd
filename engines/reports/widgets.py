"""Widgets: a dataset's result drawn as a Plotly figure.

``render_widget(report, result)`` returns ``{"columns", "rows", "figure"}`` — the
report API's answer — where ``figure`` is Plotly JSON (``data`` + ``layout``) built
with the ``plotly`` package and drawn in the browser by the plotly.js it ships.
Widget types are a registry (``WIDGETS``, ``register_widget``): the built-in ones are
registered the same way an extension adds its own.

Labels are text in the viewer's language; the layout names CJK fonts first, so
Chinese renders in the browser, and the JSON keeps it as UTF-8 text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import plotly.graph_objects as go

from engines.forms.definition import label_text
from engines.reports.result import Result, json_value

FONT = ("'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', "
        "'WenQuanYi Micro Hei', -apple-system, 'Segoe UI', Roboto, sans-serif")
COLORS = ["#2f6fde", "#f29d38", "#3bb273", "#e15554", "#7768ae", "#4cb5c9", "#d8a13b",
          "#8c6d5c", "#c95f9d", "#7b8a99"]
BLANK = {"zh": "(空)", "en": "(blank)"}

WIDGETS: dict[str, Callable] = {}


def register_widget(name: str, draw: Callable | None = None):
    """Register ``draw(widget, result, context) -> go.Figure`` as widget type ``name``
    (usable as a decorator)."""
    def add(fn):
        WIDGETS[name] = fn
        return fn
    return add(draw) if draw is not None else add


class Context:
    """What drawing needs besides the result: the language and extra values (a metric's
    previous period, a gauge's parameters)."""

    def __init__(self, report, lang: str = "zh", extra: dict | None = None):
        self.report = report
        self.lang = lang
        self.extra = extra or {}

    def title(self, widget: dict) -> str:
        return label_text(widget.get("title") or self.report.label, self.lang)

    def column_title(self, result: Result, key: str) -> str:
        return result.columns[result.index(key)].title(self.lang)

    def shown(self, value) -> str:
        return label_text(BLANK, self.lang) if value is None else str(json_value(value))


def render_widget(report, result: Result, *, lang: str = "zh", extra: dict | None = None,
                  widget: dict | None = None) -> dict:
    """``{columns, rows, figure}`` (plus ``totals`` when the dataset has them)."""
    widget = widget if widget is not None else (report.widget or {"type": "table"})
    draw = WIDGETS.get(widget["type"])
    if draw is None:
        raise ValueError(f"unknown widget type {widget['type']!r}; use one of "
                         f"{', '.join(sorted(WIDGETS))}")
    context = Context(report, lang, extra)
    figure = draw(widget, result, context)
    figure.update_layout(
        template="none", font={"family": FONT, "size": 13}, colorway=COLORS,
        title={"text": context.title(widget), "x": 0.02, "xanchor": "left"},
        margin={"l": 48, "r": 16, "t": 48, "b": 40}, paper_bgcolor="white",
        plot_bgcolor="white", autosize=True)
    if figure.layout.showlegend and figure.layout.legend.orientation == "h":
        # Below the category axis and its title, not on them.
        figure.update_layout(legend={"y": -0.4, "yanchor": "top"}, margin={"b": 110})
    out = result.to_json(lang)
    out["figure"] = json.loads(figure.to_json())
    if extra:
        out.update({k: json_value(v) for k, v in extra.items() if not isinstance(v, dict)})
    return out


def numbers(values) -> list:
    return [float(v) if isinstance(v, Decimal) else v for v in values]


def elements(result: Result, **keys) -> list[dict]:
    """Per point, the element that identifies it for drill-down (dimension key ->
    value as the result gives it, None for blank); put in a trace's ``customdata``."""
    dims = {c.key for c in result.columns if c.role == "dimension"}
    columns = {name: values for name, values in keys.items() if name in dims}
    count = len(next(iter(columns.values()))) if columns else 0
    return [{name: json_value(values[i]) for name, values in columns.items()}
            for i in range(count)]


def _series(widget, result: Result, context: Context):
    """(name, x values, y values, measure key, elements) per trace."""
    x_key, y_keys, series = widget["x"], widget.get("y") or _measures(result), widget.get("series")
    xs = result.column(x_key)
    if not series:
        for key in y_keys:
            yield context.column_title(result, key), [context.shown(v) for v in xs], \
                numbers(result.column(key)), key, elements(result, **{x_key: xs})
        return
    groups = result.column(series)
    order = list(dict.fromkeys(groups))
    categories = list(dict.fromkeys(xs))
    for key in y_keys:
        values = result.column(key)
        for group in order:
            cells = {x: v for x, g, v in zip(xs, groups, values, strict=True) if g == group}
            name = context.shown(group) if len(y_keys) == 1 else \
                f"{context.shown(group)} · {context.column_title(result, key)}"
            yield name, [context.shown(x) for x in categories], \
                numbers([cells.get(x) for x in categories]), key, \
                elements(result, **{x_key: categories, series: [group] * len(categories)})


def _measures(result: Result) -> list[str]:
    return [c.key for c in result.columns if c.role != "dimension"][:1]


def _axes(fig, widget, result, context, horizontal=False):
    x_title = context.column_title(result, widget["x"])
    keys = widget.get("y") or _measures(result)
    y_title = context.column_title(result, keys[0]) if len(keys) == 1 else ""
    percent = all(result.columns[result.index(k)].percent for k in keys)
    value_axis = {"title": {"text": y_title}, "tickformat": ".0%" if percent else None,
                  "gridcolor": "#e8e8e8", "zerolinecolor": "#bbb", "automargin": True}
    category_axis = {"title": {"text": x_title}, "type": "category", "automargin": True}
    fig.update_layout(xaxis=value_axis if horizontal else category_axis,
                      yaxis=category_axis if horizontal else value_axis,
                      legend={"orientation": "h", "y": -0.2})


@register_widget("bar")
def bar(widget, result, context, stacked=False):
    horizontal = widget.get("orientation") == "h"
    fig = go.Figure()
    for name, xs, ys, _key, points in _series(widget, result, context):
        fig.add_trace(go.Bar(name=name, x=ys if horizontal else xs, y=xs if horizontal else ys,
                             orientation="h" if horizontal else "v", customdata=points))
    fig.update_layout(barmode="stack" if stacked else "group", showlegend=len(fig.data) > 1)
    _axes(fig, widget, result, context, horizontal)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return fig


@register_widget("stacked_bar")
def stacked_bar(widget, result, context):
    return bar(widget, result, context, stacked=True)


@register_widget("line")
def line(widget, result, context, area=False):
    fig = go.Figure()
    for name, xs, ys, _key, points in _series(widget, result, context):
        options = {"stackgroup": "one"} if area and widget.get("series") else (
            {"fill": "tozeroy"} if area else {})
        fig.add_trace(go.Scatter(name=name, x=xs, y=ys, mode="lines+markers",
                                 connectgaps=False, customdata=points, **options))
    fig.update_layout(showlegend=len(fig.data) > 1)
    _axes(fig, widget, result, context)
    return fig


@register_widget("area")
def area(widget, result, context):
    return line(widget, result, context, area=True)


@register_widget("pie")
def pie(widget, result, context, hole=0.0):
    labels = [context.shown(v) for v in result.column(widget["labels"])]
    values = numbers(result.column(widget["value"]))
    points = elements(result, **{widget["labels"]: result.column(widget["labels"])})
    fig = go.Figure(go.Pie(labels=labels, values=values, hole=hole, sort=False,
                           textinfo="label+percent", customdata=points))
    return fig


@register_widget("donut")
def donut(widget, result, context):
    return pie(widget, result, context, hole=0.55)


@register_widget("table")
def table(widget, result, context):
    keys = widget.get("columns") or [c.key for c in result.columns]
    rows = list(result.rows) + ([result.totals] if result.totals is not None else [])
    cells = []
    for key in keys:
        column = result.columns[result.index(key)]
        cells.append([format_value(r[result.index(key)], column, context) for r in rows])
    header = [context.column_title(result, k) for k in keys]
    return go.Figure(go.Table(header={"values": header, "fill": {"color": "#eef2f8"},
                                      "align": "left"},
                              cells={"values": cells, "align": "left"}))


SUBTOTAL = {"zh": "小计", "en": "Subtotal"}
TOTAL = {"zh": "合计", "en": "Total"}


@register_widget("pivot")
def pivot(widget, result, context):
    """The pivot laid out as a table; subtotal rows and the total row say what they are."""
    layout = result.extra.get("pivot", {})
    levels = layout.get("row_levels", [])
    depth = len(layout.get("rows", ()))
    rows = []
    for row, level in zip(result.rows, levels or [depth] * len(result.rows), strict=False):
        row = list(row)
        if level < depth:
            row[level] = label_text(SUBTOTAL, context.lang)
        rows.append(row)
    totals = list(result.totals) if result.totals is not None else None
    if totals is not None and depth:
        totals[0] = label_text(TOTAL, context.lang)
    shown = Result(result.columns, rows, totals, result.extra)
    return table({"type": "table"}, shown, context)


def _scalar(result: Result, key: str):
    values = result.column(key)
    return values[0] if values else None


@register_widget("metric")
def metric(widget, result, context):
    value = _scalar(result, widget["value"])
    previous = context.extra.get("previous")
    indicator = {"mode": "number", "value": float(value or 0),
                 "number": {"valueformat": _format_of(result, widget["value"])}}
    if previous is not None:
        indicator["mode"] = "number+delta"
        indicator["delta"] = {"reference": float(previous), "relative": True,
                              "valueformat": ".1%"}
    return go.Figure(go.Indicator(**indicator))


@register_widget("gauge")
def gauge(widget, result, context):
    value = float(_scalar(result, widget["value"]) or 0)
    low = float(context.extra.get("min", widget.get("min", 0)) or 0)
    top = context.extra.get("max", widget.get("max"))
    if isinstance(top, str):
        top = _scalar(result, top)
    top = float(top) if top is not None else max(value, 1.0) * 1.25
    steps = widget.get("steps", [])
    bands = [low, *steps, top]
    palette = ["#fde2e1", "#fff3cd", "#e1f3e6"]
    return go.Figure(go.Indicator(
        mode="gauge+number", value=value,
        number={"valueformat": _format_of(result, widget["value"])},
        gauge={"axis": {"range": [low, top]}, "bar": {"color": COLORS[0]},
               "steps": [{"range": [a, b], "color": palette[i % len(palette)]}
                         for i, (a, b) in enumerate(zip(bands, bands[1:], strict=False))]}))


def _format_of(result: Result, key: str) -> str:
    column = result.columns[result.index(key)]
    if column.percent:
        return ".1%"
    return f",.{column.decimals}f" if column.decimals is not None else ",~g"


def format_value(value, column, context) -> str:
    """A cell as a table shows it: numbers with the column's decimals, blanks empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        if column.percent:
            return f"{Decimal(value) * 100:.1f}%"
        if column.decimals is not None:
            return f"{Decimal(value):,.{column.decimals}f}"
        return f"{Decimal(value):,}" if isinstance(value, int) else \
            format(Decimal(value).normalize(), ",f")
    return str(json_value(value))
