"""Import records from, and export them to, spreadsheets (XLSX and CSV).

Import matches each column header to a field by label (any language) or key, turns
each row into a record and writes it through the normal write path: every row is
validated like a typed record, and an error names the spreadsheet row and column.
It is all-or-nothing: one transaction, each row in a savepoint so every bad row is
reported, and nothing is kept unless every row is good. With ``key`` it upserts: a row
whose key field matches an existing record updates it, so importing the same file
twice creates no duplicates. ``dry_run`` is the preview: the same checks, nothing kept.
``import_chunk`` is the loop itself, which ``sheet_jobs`` runs chunk by chunk for files
too large for one request.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

import openpyxl
from sqlalchemy import select

from engines.forms.definition import label_text
from engines.forms.display import display_text
from engines.forms.fieldtypes import COMPUTED, FieldError, coerce_value
from engines.schema.check import suggest
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules
from runtime.services.apps import open_form
from runtime.services.errors import Invalid
from runtime.services.query import list_records
from runtime.services.recordio import record_titles
from runtime.services.records import create_in, update_in

MAX_ROWS = 200_000
CHUNK = 500  # rows between progress reports (and per transaction in background jobs)
REFERENCES = ("relation", "user", "department")


class _Rollback(Exception):
    pass


def read_sheet(data: bytes, filename: str) -> tuple[list[str], list[list]]:
    """(headers, rows) of the first sheet of an .xlsx, or of a .csv (UTF-8 or GB18030)."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            raise Invalid([{"field": "file", "message": f"cannot read {filename} as an Excel "
                            f"workbook ({type(error).__name__}); save it as .xlsx"}]) from None
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    elif name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise Invalid([{"field": "file", "message": f"{filename} is not UTF-8 or GBK text"}])
        rows = list(csv.reader(io.StringIO(text)))
    else:
        raise Invalid([{"field": "file", "message": "import .xlsx or .csv files"}])
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise Invalid([{"field": "file", "message": f"{filename} has no rows"}])
    if len(rows) - 1 > MAX_ROWS:
        raise Invalid([{"field": "file", "message": f"{filename} has {len(rows) - 1} rows; "
                        f"import at most {MAX_ROWS} at a time"}])
    headers = ["" if h is None else str(h).strip() for h in rows[0]]
    return headers, rows[1:]


def match_columns(ft, headers: list[str]) -> tuple[list, list[str]]:
    """The field each column fills (None: ignored), and the headers matching nothing."""
    names = {}
    for f in ft.form.scalar_fields:
        if f.type in COMPUTED or f.key not in ft.columns:
            continue
        labels = f.label.values() if isinstance(f.label, dict) else [f.label]
        for name in [f.key, *labels]:
            names.setdefault(str(name).strip().lower(), f)
    mapping = [names.get(h.lower()) for h in headers]
    return mapping, [h for h, f in zip(headers, mapping, strict=True) if f is None and h]


def _cell(field, value):
    if value is None or value == "":
        return None
    if field.type in REFERENCES and not isinstance(value, int):
        key = {"user": "username", "department": "name"}.get(field.type)
        return {key: str(value).strip()} if key else {"$title": str(value).strip()}
    if hasattr(value, "isoformat") and field.type == "date":
        return value.date().isoformat() if hasattr(value, "date") else value.isoformat()
    return value


def _resolve_titles(schema, mapping, record: dict) -> None:
    """A relation cell names the record by its first title field (e.g. the code)."""
    for field in mapping:
        value = record.get(field.key) if field else None
        if isinstance(value, dict) and "$title" in value:
            target = schema.form(field.target)
            key = (list(target.form.title) or [target.form.scalar_fields[0].key])[0]
            record[field.key] = {key: value["$title"]}


def import_rows(store, actor: Actor, app: str, form: str, data: bytes, filename: str, *,
                key: str | None = None, dry_run: bool = False,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Import every row in one transaction, all or nothing (``sheet_jobs`` runs large
    files in the background, in chunks)."""
    headers, rows = read_sheet(data, filename)
    report = {"rows": len(rows), "created": 0, "updated": 0, "errors": [],
              "committed": False, "dry_run": dry_run}
    try:
        with store.write() as conn:
            schema, ft = open_form(store, conn, actor, app, form)
            plan = plan_import(ft, headers, key)
            report.update(plan.columns_report())
            numbered = list(enumerate(rows, start=2))  # row 1 is the header
            for start in range(0, len(numbered), CHUNK):
                import_chunk(conn, actor, schema, ft, plan, numbered[start:start + CHUNK], report)
                if progress:
                    progress(min(start + CHUNK, len(rows)), len(rows))
            if report["errors"] or dry_run:
                raise _Rollback
            report["committed"] = True
    except _Rollback:
        if report["errors"]:  # nothing was kept; a preview reports what would be
            report["created"] = report["updated"] = 0
    return report


@dataclass
class ImportPlan:
    """How a sheet's columns map to a form's fields, and the upsert key."""

    headers: list[str]
    mapping: list
    unknown: list[str]
    key: str | None

    def columns_report(self) -> dict:
        return {"columns": [{"header": h, "field": f.key if f else None}
                            for h, f in zip(self.headers, self.mapping, strict=True)],
                "unmatched": self.unknown}

    @property
    def header_of(self) -> dict:
        return {f.key: h for h, f in zip(self.headers, self.mapping, strict=True) if f}


def plan_import(ft, headers: list[str], key: str | None) -> ImportPlan:
    mapping, unknown = match_columns(ft, headers)
    if key is not None and key not in ft.columns:
        raise Invalid([{"field": "key", "message": f"'{key}' is not a field of "
                        f"'{ft.form.key}'{suggest(key, ft.columns)}"}])
    return ImportPlan(headers, mapping, unknown, key)


def import_chunk(conn, actor: Actor, schema, ft, plan: ImportPlan, numbered_rows,
                 report: dict, max_errors: int = 1000) -> None:
    """Create or update one record per ``(row number, cells)``, each in a savepoint;
    count into ``report`` and list each row's problems (row, column, message)."""
    header_of = plan.header_of
    for number, row in numbered_rows:
        record = {f.key: _cell(f, v) for f, v in zip(plan.mapping, row, strict=False) if f}
        record = {k: v for k, v in record.items() if v is not None}
        _resolve_titles(schema, plan.mapping, record)
        try:
            with conn.begin_nested():
                existing = _find(conn, ft, plan.key, record) if plan.key else None
                if existing is None:
                    create_in(conn, actor, schema, ft, record)
                    report["created"] += 1
                else:
                    update_in(conn, actor, schema, ft, existing, record)
                    report["updated"] += 1
        except Invalid as error:
            for e in error.errors:
                if len(report["errors"]) >= max_errors:
                    report["more_errors"] = True
                    break
                field = (e.get("field") or "").split("[")[0].split(".")[0]
                report["errors"].append({"row": number, "column": header_of.get(field),
                                         "field": e.get("field"), "message": e["message"]})


def _find(conn, ft, key: str, record: dict):
    value = record.get(key)
    if value is None:
        return None
    field = ft.form.field(key)
    try:
        value = coerce_value(field, value)
    except FieldError:
        return None
    return conn.execute(select(ft.table.c.id).where(ft.columns[key] == value).limit(2)) \
        .scalar()


def export_rows(store, actor: Actor, app: str, form: str, *, fmt: str = "xlsx",
                filters=(), sort=None, search=None, lang: str = "zh") -> bytes:
    """The records a list shows, as a spreadsheet people can read and import again."""
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
    hidden = field_rules(actor, schema, form).hidden
    fields = [f for f in ft.form.scalar_fields if f.key not in hidden]
    headers = [label_text(f.label, lang) or f.key for f in fields]
    rows, offset = [], 0
    while True:
        page = list_records(store, actor, app, form, filters=filters, sort=sort,
                            search=search, limit=1000, offset=offset)
        with store.read() as conn:
            titles = {f.key: _export_titles(conn, schema, f, page["records"])
                      for f in fields if f.type in REFERENCES}
        for record in page["records"]:
            rows.append([_export_value(f, record.get(f.key), lang, titles.get(f.key))
                         for f in fields])
        offset += 1000
        if offset >= page["total"]:
            break
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(label_text(ft.form.label, lang)[:31] or form)
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _export_titles(conn, schema, field, records) -> dict:
    ids = [r.get(field.key) for r in records]
    if field.type != "relation":
        return record_titles(conn, schema, field, ids)
    target = schema.form(field.target)
    key = (list(target.form.title) or [target.form.scalar_fields[0].key])[0]
    rows = conn.execute(select(target.table.c.id, target.columns[key]).where(
        target.table.c.id.in_([i for i in ids if i]))).all()
    return dict(rows)


def _export_value(field, value, lang, titles):
    if value is None:
        return None
    if field.type in ("number", "money", "percent", "rollup") or (
            field.type == "formula" and field.get("result", "number") in
            ("number", "money", "percent")):
        return value  # numbers stay numbers, so the sheet can sum them
    if field.type == "checkbox":
        return bool(value)
    return display_text(field, value, lang, titles)
