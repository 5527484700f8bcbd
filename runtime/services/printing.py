"""Printing a record: its form's print templates (``prints/<key>.html.j2`` in the app),
or the standard layout, rendered in Jinja2's sandbox with the values the reader may
see — option labels, linked records by title, money formatted — and barcodes.

Templates get ``record`` (display text by field key), ``raw`` (the values as the API
returns them), ``lines`` (per subtable, a list of display dicts), ``form``, ``app``,
``fields`` / ``tables`` (everything, in order, for generic layouts), ``title`` (the
record's title text; ``title_code`` its number or code when a barcode can hold it),
``url``, ``printed_at``, ``printed_by``, and the functions ``barcode(value)`` and
``qrcode(value)``."""

from __future__ import annotations

from pathlib import Path

from engines.forms.definition import label_text
from engines.forms.display import display_text
from engines.printing import PrintError, parse_print, render_print
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules
from runtime.services import clock, records
from runtime.services.apps import open_form
from runtime.services.errors import Invalid, NotFound
from runtime.services.recordio import record_titles
from runtime.storage import definitions

DEFAULT = Path(__file__).resolve().parents[2] / "engines" / "printing" / "default.html.j2"
REFERENCES = ("relation", "user", "department")
MAX_BATCH = 500


def templates_of_form(conn, schema, form: str) -> dict:
    """{key: PrintTemplate} of the form's print templates, compiled once per version."""
    every = schema.cache.get("prints")
    if every is None:
        every = {}
        for (kind, key), body in definitions.current(conn, schema.key).items():
            if kind == "print":
                try:
                    template = parse_print(key, body["source"])
                except PrintError:
                    continue  # saved definitions were checked; a broken one is skipped
                every.setdefault(template.form, {})[key] = template
        schema.cache["prints"] = every
    return every.get(form, {})


def list_prints(store, actor: Actor, app: str, form: str, lang: str = "zh") -> list[dict]:
    with store.read() as conn:
        schema, _ = open_form(store, conn, actor, app, form)
        found = templates_of_form(conn, schema, form)
    return [{"key": key, "label": label_text(t.label, lang) or key, "paper": t.paper}
            for key, t in found.items()]


def print_record(store, actor: Actor, app: str, form: str, record_id: int, *,
                 template: str | None = None, lang: str = "zh", url: str | None = None) -> str:
    """The HTML of the record printed with ``template`` (its form's first one when not
    given, the standard layout when the form has none)."""
    return print_records(store, actor, app, form, [record_id], template=template, lang=lang,
                         url=lambda _: url)[1][0]


def print_records(store, actor: Actor, app: str, form: str, record_ids: list[int], *,
                  template: str | None = None, lang: str = "zh", url=lambda record_id: None):
    """(template, [HTML per record]): a batch — a sheet of labels, a day's slips. Each
    record is read with the reader's permission, as when printed alone."""
    if len(record_ids) > MAX_BATCH:
        raise Invalid([{"field": None, "message": f"{len(record_ids)} records: print at most "
                        f"{MAX_BATCH} at once; filter the list further"}])
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        chosen = _chosen(conn, schema, form, template)
    hidden = field_rules(actor, schema, form).hidden
    printed_at = clock.now().strftime("%Y-%m-%d %H:%M")
    pages = []
    for record_id in record_ids:
        record = records.get_record(store, actor, app, form, record_id)  # read permission
        with store.read() as conn:
            titles = _titles(conn, schema, ft, record)
        context = _context(schema, ft, record, titles, lang, hidden)
        context.update(url=url(record_id), printed_at=printed_at, printed_by=actor.username)
        try:
            pages.append(render_print(chosen, context))
        except PrintError as error:
            where = f" (line {error.line})" if error.line else ""
            raise Invalid([{"field": f"prints/{chosen.key}.html.j2",
                            "message": error.message + where}]) from None
    return chosen, pages


def _chosen(conn, schema, form: str, template: str | None):
    found = templates_of_form(conn, schema, form)
    if template is not None and template not in found:
        raise NotFound(f"form '{form}' has no print template '{template}'"
                       + (f"; it has {', '.join(found)}" if found else ""))
    chosen = found[template] if template else next(iter(found.values()), None)
    return chosen or parse_print("standard", DEFAULT.read_text(encoding="utf-8"))


def _titles(conn, schema, ft, record) -> dict:
    """{path: {id: title}} of the linked records the record shows."""
    out = {}
    for f in ft.form.scalar_fields:
        if f.type in REFERENCES:
            out[f.key] = record_titles(conn, schema, f, [record.get(f.key)])
    for sub in ft.form.subtables:
        for f in sub.fields:
            if f.type in REFERENCES:
                out[f"{sub.key}.{f.key}"] = record_titles(
                    conn, schema, f, [line.get(f.key) for line in record.get(sub.key, [])])
    return out


def _context(schema, ft, record, titles, lang, hidden=frozenset()) -> dict:
    def text(f, value, path):
        return display_text(f, value, lang, titles.get(path))

    scalar = [f for f in ft.form.scalar_fields if f.key not in hidden]
    shown = {f.key: text(f, record.get(f.key), f.key) for f in scalar}
    lines, tables = {}, []
    for sub in [s for s in ft.form.subtables if s.key not in hidden]:
        rows = [{f.key: text(f, line.get(f.key), f"{sub.key}.{f.key}") for f in sub.fields}
                for line in record.get(sub.key, [])]
        lines[sub.key] = rows
        tables.append({"label": label_text(sub.label, lang) or sub.key,
                       "columns": [label_text(f.label, lang) or f.key for f in sub.fields],
                       "rows": [[row[f.key] for f in sub.fields] for row in rows]})
    title_keys = [k for k in ft.form.title if k in shown]
    title = " ".join(shown[k] for k in title_keys if shown[k]) or str(record["id"])
    code = shown[title_keys[0]] if title_keys and shown[title_keys[0]] else str(record["id"])
    return {
        "record": {**shown, "id": record["id"]}, "raw": record, "lines": lines,
        "form": {"key": ft.form.key, "label": label_text(ft.form.label, lang)},
        "app": {"key": schema.key, "name": label_text(schema.definition.get("name"), lang)},
        "fields": [{"key": f.key, "label": label_text(f.label, lang) or f.key,
                    "text": shown[f.key]} for f in scalar],
        "tables": tables,
        "title": title,
        # The first title field (the number or code) when a Code 128 barcode can hold it.
        "title_code": code if code.isascii() else None,
    }
