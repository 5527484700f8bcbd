"""What the report engine reads: tables described as data, supplied by the caller.

The engine never imports ``runtime``. The caller implements ``Sources`` — three
look-ups and one permission hook — and the engine builds its SQL from the tables it
gets back. A field the viewer may not read is simply left out of ``SourceTable.fields``;
a report that names it fails with "unknown field", and a record the viewer may not
read is kept out by ``row_filter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, FromClause, Table

NUMERIC_TYPES = frozenset({"number", "money", "percent", "rollup", "integer"})
DATE_TYPES = frozenset({"date", "datetime"})
# Stored as the id of another record (an integer column).
REFERENCE_TYPES = frozenset({"relation", "user", "department"})


class ReportError(ValueError):
    """A report that cannot run as defined. ``problems`` are (where, message) pairs:
    ``where`` is a JSON pointer into the report definition (``/dataset/measures/2``),
    the message says what is wrong and how to fix it."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{where or '/'}: {message}"
                                   for where, message in self.problems))


@dataclass(frozen=True)
class SourceField:
    """One readable field: its SQL column (on ``SourceTable.table``) and its Loom type.

    ``type`` is a form field type (``number``, ``money``, ``date``, ``select``,
    ``relation``, ``checkbox`` ...); ``target`` names the form a ``relation`` points to,
    so reports can follow it (``material.category``)."""

    column: ColumnElement
    type: str
    target: str | None = None
    label: object = None


@dataclass(frozen=True)
class SourceTable:
    """Rows a report can aggregate: a form, a subtable or a ledger table.

    ``name`` is how messages name it (``receipts``, ``receipts.lines``,
    ``ledger stock.movements``). ``form`` is the form whose read permission governs
    the rows (the parent form for a subtable, None for a ledger). ``parent`` is set for
    a subtable: the parent form's key, the lines reaching it by ``parent_id``.
    ``id`` names the column that identifies a row (for drill-down)."""

    name: str
    table: Table
    fields: Mapping[str, SourceField]
    form: str | None = None
    parent: str | None = None
    parent_id: str = "parent_id"
    id: str = "id"
    label: object = None
    subtables: frozenset[str] = field(default_factory=frozenset)


class Sources(Protocol):
    """What the caller supplies to compile a report (the runtime wraps its storage).

    Each look-up returns a ``SourceTable`` or raises ``KeyError`` when there is no such
    form, subtable or ledger (or the viewer may not read it at all). ``row_filter`` is
    called once for every table a report reads — the source, each joined form, the
    parent of a subtable — with the alias the query uses; it returns the condition
    that keeps only rows the viewer may read (``None``: every row).
    """

    def table_for(self, form: str) -> SourceTable: ...

    def subtable_for(self, form: str, subtable: str) -> SourceTable: ...

    def ledger_table(self, ledger: str, part: str) -> SourceTable: ...

    def row_filter(self, source: SourceTable, table: FromClause) -> ColumnElement | None: ...


def relation_target(source: SourceTable, key: str) -> str | None:
    f = source.fields.get(key)
    return f.target if f is not None and f.type == "relation" else None


def ledger_source(ledger, part: str) -> SourceTable:
    """A ledger's movements or balances table (an ``engines.ledgers.Ledger``) as a
    source: ``ref`` dimensions with a ``target`` are relations to that form. KeyError
    for a part other than movements / balances."""
    if part not in ("movements", "balances"):
        raise KeyError(part)
    table = getattr(ledger.tables, part)
    targets = {d["key"]: d.get("target") for d in ledger.definition.raw.get("dimensions", ())}
    fields = {"id": SourceField(table.c.id, "integer")}
    for dim in ledger.definition.dimensions:
        target = targets.get(dim.key)
        kind = "relation" if dim.kind == "ref" and target else (
            "integer" if dim.kind == "ref" else "text")
        fields[dim.key] = SourceField(table.c[dim.key], kind, target, dim.label)
    for key in ("qty", "value") if part == "movements" else ("qty",):
        fields[key] = SourceField(table.c[key], "number", label=key)
    if part == "movements":
        fields["date"] = SourceField(table.c.date, "date", label="date")
        fields["source_form"] = SourceField(table.c.source_form, "text")
        fields["source_record"] = SourceField(table.c.source_record, "integer")
        fields["trace_group"] = SourceField(table.c.trace_group, "text")
    else:
        fields["last_date"] = SourceField(table.c.last_date, "date")
    return SourceTable(f"ledger {ledger.definition.key}.{part}", table, fields,
                       label=ledger.definition.label)
