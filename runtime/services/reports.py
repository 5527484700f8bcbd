"""Reports and dashboards of an app, run for one viewer.

Definitions come from the app's ``reports/`` and ``dashboards/`` (versioned like
forms), parsed once per app version. ``RuntimeSources`` hands the report engine the
real form, subtable and ledger tables: a form the viewer may not read is missing
(with every field reached through it), and every form table a report reads carries
``runtime.auth.permissions.row_filter`` inside the SQL. A dataset is compiled once per
app version and permission profile, then only bound and run.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from engines.forms.definition import Field, label_text
from engines.reports import (
    ReportError,
    SourceField,
    SourceTable,
    compile_dataset,
    drill_down,
    drill_records,
    parse_dashboard,
    parse_report,
    report_params,
    run_dashboard,
    run_report,
    to_csv,
    to_xlsx,
)
from engines.reports.documents import SYSTEM_FIELDS, field_type
from engines.reports.sources import ledger_source
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules, require_app, row_filter, scopes
from runtime.services import clock
from runtime.services.errors import Invalid, NotFound
from runtime.services.ledgers import ledger_of
from runtime.services.recordio import record_titles
from runtime.storage import definitions

DRILL_LIMIT = 1000
_COLUMNS = {"id": "id", "created_at": "_created_at", "created_by": "_created_by",
            "updated_at": "_updated_at"}


class RuntimeSources:
    """``engines.reports.Sources`` over an ``AppSchema`` for one viewer (``conn`` is
    used only while a dataset compiles, to open ledgers)."""

    def __init__(self, conn, schema, actor: Actor):
        self.conn = conn
        self.schema = schema
        self.actor = actor

    def _granted(self, form: str) -> set[str]:
        granted = scopes(self.actor, self.schema, form, "read")
        if not granted:
            raise KeyError(form)  # as if the form did not exist
        return granted

    def table_for(self, form: str) -> SourceTable:
        ft = self.schema.form(form)
        if ft is None:
            raise KeyError(form)
        self._granted(form)
        hidden = field_rules(self.actor, self.schema, form).hidden  # as if not there
        fields = {key: SourceField(ft.table.c[_COLUMNS[key]], kind, label=key)
                  for key, kind in SYSTEM_FIELDS}
        for f, column in ft.fields_with_columns():
            if f.key not in hidden:
                fields[f.key] = SourceField(column, field_type(f), f.target, f.label)
        return SourceTable(form, ft.table, fields, form=form, label=ft.form.label,
                           subtables=frozenset(ft.subtables))

    def subtable_for(self, form: str, subtable: str) -> SourceTable:
        ft = self.schema.form(form)
        if ft is None or subtable not in ft.subtables:
            raise KeyError(f"{form}.{subtable}")
        self._granted(form)
        if subtable in field_rules(self.actor, self.schema, form).hidden:
            raise KeyError(f"{form}.{subtable}")
        st = ft.subtables[subtable]
        fields = {"id": SourceField(st.table.c.id, "integer", label="id")}
        for f, column in st.fields_with_columns():
            fields[f.key] = SourceField(column, field_type(f), f.target, f.label)
        return SourceTable(f"{form}.{subtable}", st.table, fields, form=form, parent=form,
                           label=st.field.label)

    def ledger_table(self, ledger: str, part: str) -> SourceTable:
        try:
            opened = ledger_of(self.conn, self.schema, ledger)
        except NotFound:
            raise KeyError(ledger) from None
        return ledger_source(opened, part)

    def row_filter(self, source: SourceTable, table):
        if source.form is None or source.parent:
            return None  # ledgers: any role in the app; lines: through their parent's
        ft = self.schema.form(source.form)
        return row_filter(self.actor, ft, self._granted(source.form), table=table)


# ---- definitions ---------------------------------------------------------------------

def app_reports(conn, schema) -> tuple[dict, dict]:
    """({key: Report}, {key: Dashboard}) of the app version ``schema`` describes."""
    cached = schema.cache.get("reports")
    if cached is None:
        docs = definitions.current(conn, schema.key)
        reports = {key: parse_report(body) for (kind, key), body in docs.items()
                   if kind == "report"}
        dashboards = {key: parse_dashboard(body, reports) for (kind, key), body in docs.items()
                      if kind == "dashboard"}
        cached = schema.cache["reports"] = (reports, dashboards)
    return cached


def _profile(actor: Actor, app: str) -> tuple:
    """What decides the SQL a viewer's reports get (their row filters)."""
    if actor.is_admin:
        return ("admin",)
    return (actor.id, frozenset(actor.roles_in(app)), actor.departments)


def _compiled(conn, schema, actor: Actor, report):
    cache = schema.cache.setdefault("compiled_reports", {})
    key = (report.key, _profile(actor, schema.key))
    if key not in cache:
        if len(cache) > 512:  # many viewers: start again rather than grow without end
            cache.clear()
        cache[key] = compile_dataset(report, RuntimeSources(conn, schema, actor))
    return cache[key]


def _open(store, conn, actor: Actor, app: str):
    from runtime.services.apps import app_schema

    schema = app_schema(store, conn, actor, app)
    require_app(actor, schema)  # approvers from outside the app see no reports
    return schema


def _report(conn, schema, key: str):
    reports, _ = app_reports(conn, schema)
    if key not in reports:
        raise NotFound(f"app '{schema.key}' has no report '{key}'; GET /api/v1/apps/"
                       f"{schema.key}/reports lists them")
    return reports[key]


def _invalid(error: ReportError, report) -> Invalid:
    """A ``ReportError`` as a 422: parameter problems name the parameter."""
    errors = []
    for where, message in error.problems:
        if where.startswith("/parameters/"):
            field = where[len("/parameters/"):]
        else:
            field = f"reports/{report.key}.json#{where}" if where not in ("", "/") else None
        errors.append({"field": field, "message": message})
    return Invalid(errors)


def _params(report, args: dict) -> dict:
    unknown = sorted(set(args) - set(report.parameters))
    if unknown:
        known = ", ".join(sorted(report.parameters)) or "none"
        raise Invalid([{"field": name, "message": f"report '{report.key}' has no parameter "
                        f"'{name}'; its parameters: {known}"} for name in unknown])
    return args


def run_as(conn, schema, actor: Actor, key: str, lang: str = "zh"):
    """(Result, title) of a report with its default parameters, as ``actor`` may read
    it, inside the caller's transaction (a rule sending it)."""
    now = clock.now()
    report = _report(conn, schema, key)
    try:
        result = _compiled(conn, schema, actor, report).run(conn, {}, today=now.date(), now=now)
    except ReportError as error:
        raise _invalid(error, report) from None
    return result, label_text(report.label, lang)


def list_reports(store, actor: Actor, app: str, lang: str = "zh") -> dict:
    with store.read() as conn:
        schema = _open(store, conn, actor, app)
        reports, dashboards = app_reports(conn, schema)
    return {"reports": [{"key": k, "label": label_text(r.label, lang),
                         "widget": r.widget.get("type", "table"),
                         "parameters": sorted(r.parameters)} for k, r in reports.items()],
            "dashboards": [{"key": k, "label": label_text(d.label, lang)}
                           for k, d in dashboards.items()]}


def report_json(store, actor: Actor, app: str, key: str, args: dict, lang: str = "zh") -> dict:
    """``{columns, rows, figure}`` of a report with parameters from ``args``."""
    now = clock.now()
    with store.read() as conn:
        schema = _open(store, conn, actor, app)
        report = _report(conn, schema, key)
        params = _params(report, args)
        try:
            compiled = _compiled(conn, schema, actor, report)
            out = run_report(conn, report, compiled.sources, params, today=now.date(),
                             now=now, lang=lang, compiled=compiled)
        except ReportError as error:
            raise _invalid(error, report) from None
    return {"key": key, "label": label_text(report.label, lang), **out}


def dashboard_json(store, actor: Actor, app: str, key: str, args: dict,
                   lang: str = "zh") -> dict:
    """Every widget of a dashboard, with the global filter values from ``args``; each
    widget also says the report parameters it ran with (for drill-down and export)."""
    now = clock.now()
    with store.read() as conn:
        schema = _open(store, conn, actor, app)
        reports, dashboards = app_reports(conn, schema)
        dashboard = dashboards.get(key)
        if dashboard is None:
            raise NotFound(f"app '{app}' has no dashboard '{key}'; GET /api/v1/apps/{app}/"
                           "reports lists the reports and dashboards")
        filters = {f["key"] for f in dashboard.filters}
        unknown = sorted(set(args) - filters)
        if unknown:
            raise Invalid([{"field": name, "message": f"dashboard '{key}' has no filter "
                            f"'{name}'; its filters: {', '.join(sorted(filters)) or 'none'}"}
                           for name in unknown])
        compiled = {}
        for placement in dashboard.widgets:
            report = reports[placement["report"]]
            try:
                compiled[report.key] = _compiled(conn, schema, actor, report)
            except ReportError:
                pass  # run_dashboard answers this widget with its errors
        sources = RuntimeSources(conn, schema, actor)
        out = run_dashboard(conn, dashboard, reports, sources, args, today=now.date(),
                            now=now, lang=lang, compiled=compiled)
    for widget, placement in zip(out["widgets"], dashboard.widgets, strict=True):
        report = reports[placement["report"]]
        if "errors" in widget:
            widget["errors"] = _invalid(ReportError([(e["field"], e["message"]) for e in
                                                     widget["errors"]]), report).errors
        params = report_params(dashboard, placement, report, args)
        widget["params"] = {k: v if isinstance(v, str | int | float | bool | list) else str(v)
                            for k, v in params.items()}
        widget["dimensions"] = [d.key for d in report.dataset.dimensions]
    return out


def export(store, actor: Actor, app: str, key: str, args: dict, fmt: str,
           lang: str = "zh") -> tuple[bytes, str]:
    """(file content, file name) of a report's data as CSV or XLSX."""
    now = clock.now()
    with store.read() as conn:
        schema = _open(store, conn, actor, app)
        report = _report(conn, schema, key)
        params = _params(report, args)
        try:
            result = _compiled(conn, schema, actor, report).run(conn, params, today=now.date(),
                                                                now=now)
        except ReportError as error:
            raise _invalid(error, report) from None
    title = label_text(report.label, lang)
    if fmt == "csv":
        return to_csv(result, lang=lang), f"{key}.csv"
    return to_xlsx(result, lang=lang, title=title), f"{key}.xlsx"


def drill_json(store, actor: Actor, app: str, key: str, element_text: str | None,
               args: dict, lang: str = "zh") -> dict:
    """The records behind one element of a report's chart: ``element_text`` is a JSON
    object of dimension key -> value as the report shows it (null: blank)."""
    try:
        element = json.loads(element_text) if element_text else {}
    except ValueError:
        element = None
    if not isinstance(element, dict) or any(isinstance(v, list | dict)
                                            for v in element.values()):
        raise Invalid([{"field": "element", "message": 'give the element as a JSON object of '
                        'dimension values, e.g. element={"month": "2026-11"}'}])
    now = clock.now()
    with store.read() as conn:
        schema = _open(store, conn, actor, app)
        report = _report(conn, schema, key)
        params = _params(report, args)
        try:
            drill = drill_down(report, element, params, today=now.date())
        except ReportError as error:
            raise Invalid([{"field": "element" if where in ("", "/") else where[
                len("/parameters/"):], "message": message}
                for where, message in error.problems]) from None
        try:
            ids = drill_records(conn, drill, RuntimeSources(conn, schema, actor),
                                today=now.date(), now=now)
        except ReportError as error:
            raise _invalid(error, report) from None
        source = report.dataset.source
        shown = ids[:DRILL_LIMIT]
        if isinstance(source, dict):
            records = _movements(conn, schema, source, shown, lang)
            form = None
        else:
            form = source.partition(".")[0]
            records = _form_records(conn, schema, app, form, shown)
    return {"report": key, "element": element, "form": form, "count": len(ids),
            "truncated": len(ids) > DRILL_LIMIT, "records": records}


def _form_records(conn, schema, app: str, form: str, ids: list) -> list[dict]:
    """The records (for lines: their documents, once each) with title and page link."""
    lines: dict[int, list[int]] = {}
    for item in ids:
        line, record = item if isinstance(item, tuple) else (None, item)
        lines.setdefault(record, [])
        if line is not None:
            lines[record].append(line)
    titles = record_titles(conn, schema, Field("record", "relation", target=form), list(lines))
    return [{"id": record, "title": titles.get(record) or f"#{record}",
             "url": f"/apps/{app}/forms/{form}/{record}",
             **({"lines": found} if found else {})} for record, found in lines.items()]


def _movements(conn, schema, source: dict, ids: list, lang: str) -> list[dict]:
    """Ledger rows behind an element, each linked to the document that posted it."""
    ledger = ledger_of(conn, schema, source["ledger"])
    table = getattr(ledger.tables, source.get("part", "movements"))
    rows = conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id)) \
        .mappings().all() if ids else []
    out = []
    for row in rows:
        item = {k: v if isinstance(v, str | int | float | bool | type(None)) else str(v)
                for k, v in row.items()}
        if row.get("source_form") and row.get("source_record") and \
                schema.form(row["source_form"]):
            item["url"] = f"/apps/{schema.key}/forms/{row['source_form']}/" \
                          f"{row['source_record']}"
        out.append(item)
    return out
