"""Reports and dashboards: results, drill-down and export (services/reports.py)."""

from __future__ import annotations

from flask import Response, jsonify, request

from runtime.api import actor, api, store
from runtime.services import reports
from runtime.services.errors import NotFound

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _lang() -> str:
    return request.args.get("lang", "zh")


def _args(*reserved: str) -> dict:
    """Query arguments other than ``lang`` and ``reserved`` (repeated ones as a list)."""
    out = {}
    for key in request.args:
        if key in ("lang", *reserved):
            continue
        values = request.args.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


@api.get("/apps/<app>/reports")
def list_reports(app):
    return jsonify(reports.list_reports(store(), actor(), app, _lang()))


@api.get("/apps/<app>/reports/<report>")
def get_report(app, report):
    return jsonify(reports.report_json(store(), actor(), app, report, _args(), _lang()))


@api.get("/apps/<app>/reports/<report>/drill")
def drill_report(app, report):
    return jsonify(reports.drill_json(store(), actor(), app, report,
                                      request.args.get("element"), _args("element"), _lang()))


@api.get("/apps/<app>/reports/<report>/export.<fmt>")
def export_report(app, report, fmt):
    if fmt not in EXPORT_TYPES:
        raise NotFound(f"reports export as export.csv or export.xlsx, not export.{fmt}")
    content, name = reports.export(store(), actor(), app, report, _args(), fmt, _lang())
    return Response(content, mimetype=EXPORT_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


@api.get("/apps/<app>/dashboards/<dashboard>")
def get_dashboard(app, dashboard):
    return jsonify(reports.dashboard_json(store(), actor(), app, dashboard, _args(),
                                          _lang()))
