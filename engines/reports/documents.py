"""``Sources`` over an app's definition documents, before any table exists.

``loom check`` and the API's import check every report against the forms and ledgers
of the same bundle: the fields a dataset names, the relations it follows, the types
its measures and expressions need. The tables here are only descriptions (never
created); the statement is built, checked, and thrown away.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, Numeric, Table, Text

from engines.forms.definition import parse_form
from engines.forms.fieldtypes import storage_of
from engines.ledgers import open_ledger
from engines.reports.sources import SourceField, SourceTable, ledger_source

_COLUMN_TYPES = {"number": Numeric, "money": Numeric, "percent": Numeric, "rollup": Numeric,
                 "date": Date, "datetime": DateTime, "checkbox": Boolean, "relation": Integer,
                 "user": Integer, "department": Integer, "barcode": Integer}
SYSTEM_FIELDS = (("id", "integer"), ("created_at", "datetime"), ("created_by", "user"),
                 ("updated_at", "datetime"))


def field_type(f) -> str:
    """The type a report sees: a formula reads as its result type."""
    return f.get("result", "number") if f.type == "formula" else f.type


class DocumentSources:
    """``Sources`` of forms (key -> form document) and ledgers (key -> ledger
    document); every row is readable."""

    def __init__(self, app: str, forms: dict[str, dict], ledgers: dict[str, dict]):
        self.app = app
        self.forms = {key: parse_form(doc) for key, doc in forms.items()}
        self.ledger_docs = ledgers
        self.metadata = MetaData()
        self._tables: dict[str, SourceTable] = {}

    def _table(self, name: str, fields, *, system: bool) -> tuple[Table, dict]:
        columns = [Column("id", Integer, primary_key=True)]
        if system:
            columns += [Column(key, _COLUMN_TYPES.get(kind, Text)) for key, kind
                        in SYSTEM_FIELDS[1:]]
        else:
            columns.append(Column("parent_id", Integer))
        stored = [f for f in fields if f.type != "subtable" and storage_of(f) is not None]
        columns += [Column(f.key, _COLUMN_TYPES.get(field_type(f), Text)) for f in stored]
        table = Table(name, self.metadata, *columns)
        described = {key: SourceField(table.c[key], kind, label=key)
                     for key, kind in (SYSTEM_FIELDS if system else SYSTEM_FIELDS[:1])}
        for f in stored:
            described[f.key] = SourceField(table.c[f.key], field_type(f), f.target, f.label)
        return table, described

    def table_for(self, form: str) -> SourceTable:
        if form not in self._tables:
            parsed = self.forms[form]
            table, fields = self._table(f"check_{form}", parsed.scalar_fields, system=True)
            self._tables[form] = SourceTable(form, table, fields, form=form,
                                             label=parsed.label, subtables=frozenset(
                                                 s.key for s in parsed.subtables))
        return self._tables[form]

    def subtable_for(self, form: str, subtable: str) -> SourceTable:
        key = f"{form}.{subtable}"
        if key not in self._tables:
            sub = next((s for s in self.forms[form].subtables if s.key == subtable), None)
            if sub is None:
                raise KeyError(key)
            table, fields = self._table(f"check_{form}__{subtable}", sub.fields, system=False)
            self._tables[key] = SourceTable(key, table, fields, form=form, parent=form,
                                            label=sub.label)
        return self._tables[key]

    def ledger_table(self, ledger: str, part: str) -> SourceTable:
        key = f"ledger {ledger}.{part}"
        if key not in self._tables:
            opened = open_ledger(self.app, self.ledger_docs[ledger], self.metadata)
            self._tables[key] = ledger_source(opened, part)
        return self._tables[key]

    def row_filter(self, source: SourceTable, table):
        return None
