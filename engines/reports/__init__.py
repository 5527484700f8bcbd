"""Reports: datasets compiled to one SQL query (aggregation in the database, never by
loading rows into Python), analyses, widgets drawn with Plotly, drill-down and export.

    from engines.reports import compile_dataset, parse_report, render_widget

    report = parse_report(doc)                       # engines/schema/report.schema.json
    compiled = compile_dataset(report, sources)      # checked against the tables, once
    with engine.connect() as conn:
        result = compiled.run(conn, {"site": 3}, today=date(2026, 11, 21))
    render_widget(report, result)                    # {columns, rows, figure}

``sources`` is the caller's implementation of ``Sources`` (the tables of forms,
subtables and ledgers, and the viewer's row filter); the engine imports nothing from
``runtime``. Runs the same on SQLite and PostgreSQL. See docs/reports.md.
"""

from engines.reports.compiler import CompiledDataset, compile_dataset, run_dataset
from engines.reports.dashboard import (
    Dashboard,
    parse_dashboard,
    report_params,
    run_dashboard,
    run_report,
)
from engines.reports.definition import Report, parse_dataset, parse_report
from engines.reports.drill import Drill, drill_down, drill_query, drill_records
from engines.reports.export import to_csv, to_xlsx
from engines.reports.forecast import forecast_series
from engines.reports.result import Column, Result
from engines.reports.sources import ReportError, SourceField, Sources, SourceTable
from engines.reports.widgets import WIDGETS, register_widget, render_widget

__all__ = [
    "WIDGETS", "Column", "CompiledDataset", "Dashboard", "Drill", "Report", "ReportError",
    "Result", "SourceField", "SourceTable", "Sources", "compile_dataset", "drill_down",
    "drill_query", "drill_records", "forecast_series", "parse_dashboard", "parse_dataset",
    "parse_report", "register_widget", "render_widget", "report_params", "run_dashboard",
    "run_dataset", "run_report", "to_csv", "to_xlsx",
]
