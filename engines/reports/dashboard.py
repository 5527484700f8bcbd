"""Running a report (dataset + widget) and a dashboard (reports on a grid with global
filters).

``run_report`` is what ``GET /apps/{app}/reports/{report}`` answers; ``run_dashboard``
what ``GET /apps/{app}/dashboards/{dashboard}`` answers. A dashboard's filter fills the
report parameter of the same key, unless a placement maps parameters explicitly
(``"params": {"site": {"filter": "warehouse"}, "top": 5}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engines.forms.definition import label_text
from engines.reports.compiler import compile_dataset
from engines.reports.definition import Report
from engines.reports.result import json_value
from engines.reports.sources import ReportError, Sources
from engines.reports.widgets import render_widget
from engines.schema import validate


@dataclass(frozen=True)
class Dashboard:
    key: str
    label: object
    columns: int
    filters: tuple[dict, ...]
    widgets: tuple[dict, ...]
    raw: dict = field(default_factory=dict, compare=False, repr=False)


def parse_dashboard(doc: dict, reports: dict[str, Report] | None = None) -> Dashboard:
    """A ``Dashboard`` from its JSON document; with ``reports`` (key -> Report) also
    check that every placement names a report and fills declared parameters."""
    problems = validate("dashboard", doc)
    if problems:
        raise ReportError(problems)
    dashboard = Dashboard(doc["key"], doc.get("label", doc["key"]), doc.get("columns", 12),
                          tuple(doc.get("filters", ())), tuple(doc["widgets"]), doc)
    if reports is not None:
        problems = check_dashboard(dashboard, reports)
        if problems:
            raise ReportError(problems)
    return dashboard


def check_dashboard(dashboard: Dashboard, reports: dict[str, Report]) -> list:
    problems = []
    filters = {f["key"] for f in dashboard.filters}
    for i, placement in enumerate(dashboard.widgets):
        where = f"/widgets/{i}"
        report = reports.get(placement["report"])
        if report is None:
            problems.append((f"{where}/report", f"there is no report '{placement['report']}'"))
            continue
        for name, value in placement.get("params", {}).items():
            if name not in report.parameters:
                problems.append((f"{where}/params/{name}", f"report '{report.key}' has no "
                                 f"parameter '{name}'"))
            if isinstance(value, dict) and value["filter"] not in filters:
                problems.append((f"{where}/params/{name}", f"the dashboard has no filter "
                                 f"'{value['filter']}'"))
    return problems


def report_params(dashboard: Dashboard, placement: dict, report: Report,
                  filter_values: dict) -> dict:
    """The parameter values one placed report runs with."""
    defaults = {f["key"]: f.get("default") for f in dashboard.filters}
    values = {}
    mapping = placement.get("params", {})
    for key in report.parameters:
        if key in mapping:
            bound = mapping[key]
            if isinstance(bound, dict):
                bound = filter_values.get(bound["filter"], defaults.get(bound["filter"]))
            values[key] = bound
        elif key in defaults:
            values[key] = filter_values.get(key, defaults[key])
    return {k: v for k, v in values.items() if v is not None}


def run_report(conn, report: Report, sources: Sources, params: dict | None = None, *,
               today=None, now=None, lang: str = "zh", compiled=None) -> dict:
    """``{columns, rows, figure}`` of one report (``compiled``: a cached
    ``CompiledDataset`` of it, to skip checking and building the SQL again)."""
    compiled = compiled or compile_dataset(report, sources)
    result = compiled.run(conn, params, today=today, now=now)
    extra = {}
    if "previous" in result.extra and report.widget.get("value"):
        index = [m.key for m in report.dataset.measures].index(report.widget["value"])
        extra["previous"] = result.extra["previous"][index]
        extra["periods"] = result.extra.get("periods")
    out = render_widget(report, result, lang=lang, extra=extra)
    if "pivot" in result.extra:
        layout = result.extra["pivot"]
        out["pivot"] = {**layout, "column_keys": [[json_value(v) for v in key]
                                                  for key in layout["column_keys"]]}
    return out


def run_dashboard(conn, dashboard: Dashboard, reports: dict[str, Report], sources: Sources,
                  filter_values: dict | None = None, *, today=None, now=None,
                  lang: str = "zh", compiled: dict | None = None) -> dict:
    """Every placed report with its grid position; a report that cannot run answers
    ``{"errors": [...]}`` in its place instead of failing the dashboard."""
    filter_values = filter_values or {}
    compiled = compiled if compiled is not None else {}
    widgets = []
    for placement in dashboard.widgets:
        report = reports[placement["report"]]
        position = {k: placement[k] for k in ("x", "y", "w", "h") if k in placement}
        try:
            if report.key not in compiled:
                compiled[report.key] = compile_dataset(report, sources)
            params = report_params(dashboard, placement, report, filter_values)
            out = run_report(conn, report, sources, params, today=today, now=now, lang=lang,
                             compiled=compiled[report.key])
            if placement.get("title"):
                out["figure"]["layout"]["title"]["text"] = label_text(placement["title"], lang)
        except ReportError as error:
            out = {"errors": [{"field": where, "message": message}
                              for where, message in error.problems]}
        widgets.append({"report": report.key, **position, **out})
    return {"key": dashboard.key, "label": label_text(dashboard.label, lang),
            "columns": dashboard.columns,
            "filters": [{**f, "label": label_text(f.get("label", f["key"]), lang)}
                        for f in dashboard.filters],
            "widgets": widgets}
