"""Where a ledger lives: its tables, built with SQLAlchemy Core from the definition.

A ledger ``stock`` of app ``demo`` keeps, each in a table ``l_demo_stock_<part>``:

* ``movements``    append-only rows: dimension values, signed qty, value, date, source
                   document, trace group; reversals and revaluations are new rows
* ``balances``     one row per combination of every dimension: qty on hand, last date
* ``costs``        one row per valuation key: qty, value, unit cost (moving average)
* ``layers``       FIFO cost layers per valuation key: qty and value still in stock
* ``reservations`` qty held for a document at the constraint level
* ``links``        genealogy: input movement -> output movement
* ``closings``     period closes: nothing may be posted on or before the last end date

Dimension columns carry the dimension key as their name and are NOT NULL: "not given"
is stored as 0 (ref) or "" (text) so a unique index covers every balance.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

from engines.ledgers.definition import LedgerDefinition, parse_ledger
from engines.sqltypes import DecimalNumber, short_name

PARTS = ("movements", "balances", "costs", "layers", "reservations", "links", "closings")


# Quantities and values are stored like form number fields.
Amount = DecimalNumber


def table_name(app: str, ledger: str, part: str) -> str:
    return short_name(f"l_{app}_{ledger}_{part}")


@dataclass(frozen=True)
class LedgerTables:
    movements: Table
    balances: Table
    costs: Table
    layers: Table
    reservations: Table
    links: Table
    closings: Table

    def all(self) -> list[Table]:
        return [getattr(self, part) for part in PARTS]


@dataclass(frozen=True)
class Ledger:
    """A ledger definition bound to its tables: what every ledger function takes."""

    app: str
    definition: LedgerDefinition
    tables: LedgerTables

    def columns(self, table: Table, keys) -> list[Column]:
        return [table.c[k] for k in keys]


def open_ledger(app: str, definition, metadata: MetaData | None = None) -> Ledger:
    """The ``Ledger`` of ``definition`` (a JSON document or a parsed definition) in ``app``."""
    if not isinstance(definition, LedgerDefinition):
        definition = parse_ledger(definition)
    return Ledger(app, definition, ledger_tables(app, definition, metadata))


def create_ledger_tables(conn, app: str, definition) -> Ledger:
    """Create the ledger's tables and indexes (if missing) and return the ``Ledger``."""
    ledger = open_ledger(app, definition)
    for table in ledger.tables.all():
        table.create(conn, checkfirst=True)
    costs = ledger.tables.costs
    # Ledgers created before costs had a method column get it (nothing else changed).
    if "method" not in {c["name"] for c in inspect(conn).get_columns(costs.name)}:
        conn.execute(text(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(costs.name)} "
                          "ADD COLUMN method VARCHAR(16)"))
    return ledger


def ledger_tables(app: str, definition: LedgerDefinition,
                  metadata: MetaData | None = None) -> LedgerTables:
    """The SQLAlchemy ``Table`` objects of a ledger (nothing is created)."""
    metadata = metadata if metadata is not None else MetaData()
    d = definition
    name = {part: table_name(app, d.key, part) for part in PARTS}

    def ix(table: str, suffix: str, *cols, **kw) -> Index:
        return Index(short_name(f"ix_{table}_{suffix}"), *cols, **kw)

    def dims(keys) -> list[Column]:
        kinds = {x.key: x for x in d.dimensions}
        return [Column(k, Integer if kinds[k].kind == "ref" else Text, nullable=False,
                       server_default=text("0") if kinds[k].kind == "ref" else text("''"))
                for k in keys]

    # Balances are looked up by the constraint first (the lock a posting takes), so its
    # dimensions lead every composite index; the rest follow in declared order.
    ordered = list(d.constraint) + [k for k in d.keys if k not in d.constraint]
    lead = list(d.constraint) or [d.keys[0]]
    def sparse(column: str) -> dict:
        # Most movements have no trace group, reversal or correction: index only those that do.
        where = text(f"{column} IS NOT NULL")
        return {"sqlite_where": where, "postgresql_where": where}

    m = name["movements"]
    movement_indexes = [
        ix(m, "place", *lead, "date"),
        ix(m, "source", "source_form", "source_record"),
        ix(m, "group", "trace_group", **sparse("trace_group")),
        ix(m, "reversal", "reversal_of", **sparse("reversal_of")),
        ix(m, "corrects", "corrects", **sparse("corrects")),
        ix(m, "cost_from", "cost_from", **sparse("cost_from")),
    ]
    if d.valued and list(d.valuation_level) != lead[:len(d.valuation_level)]:
        movement_indexes.append(ix(m, "valuation", *d.valuation_level, "date"))
    # A trace looks up the movements in (qty > 0) or out (qty < 0) of one lot or serial:
    # with qty last, that is one range of the index, not every movement of the lot.
    if d.lot:
        movement_indexes.append(ix(m, "lot", d.lot, *[k for k in d.identity if k != d.lot],
                                   "qty"))
    if d.serial:
        movement_indexes.append(ix(m, "serial", d.serial,
                                   *[k for k in d.identity if k not in (d.serial, d.lot)],
                                   "qty"))
    movements = Table(
        m, metadata,
        Column("id", Integer, primary_key=True),
        *dims(d.keys),
        Column("qty", Amount, nullable=False),
        Column("value", Amount, nullable=True),
        Column("date", Date, nullable=False),
        Column("source_form", String(40), nullable=False),
        Column("source_record", Integer, nullable=False),
        Column("source_line", Integer, nullable=True),
        Column("trace_group", Text, nullable=True),
        # How the value was found, which decides whether a back-dated posting may
        # change it: "fixed" (given), "method" (valuation method), "from" (the cost of
        # the movement named in cost_from), "revaluation" (a correction of `corrects`).
        Column("valued_by", String(12), nullable=True),
        Column("cost_from", Integer, nullable=True),
        Column("reversal_of", Integer, nullable=True),
        Column("corrects", Integer, nullable=True),
        *movement_indexes,
    )

    b = name["balances"]
    balance_indexes = [UniqueConstraint(*ordered, name=short_name(f"uq_{b}"))]
    if d.serial:
        balance_indexes.append(ix(b, "serial", d.serial,
                                  *[k for k in d.identity if k != d.serial]))
    balances = Table(
        b, metadata,
        Column("id", Integer, primary_key=True),
        *dims(d.keys),
        Column("qty", Amount, nullable=False),
        Column("last_date", Date, nullable=True),
        *balance_indexes,
    )

    level = list(d.valuation_level) or [d.keys[0]]
    c = name["costs"]
    costs = Table(
        c, metadata,
        Column("id", Integer, primary_key=True),
        *dims(level),
        Column("qty", Amount, nullable=False),
        Column("value", Amount, nullable=False),
        Column("unit_cost", Amount, nullable=True),  # last known average, kept at qty 0
        Column("last_date", Date, nullable=True),
        # Set by the first movement that names one (per-item methods); NULL: the ledger's.
        Column("method", String(16), nullable=True),
        UniqueConstraint(*level, name=short_name(f"uq_{c}")),
    )

    ly = name["layers"]
    layers = Table(
        ly, metadata,
        Column("id", Integer, primary_key=True),
        *dims(level),
        Column("date", Date, nullable=False),
        Column("movement_id", Integer, nullable=True),
        Column("qty_in", Amount, nullable=False),
        Column("qty_left", Amount, nullable=False),
        Column("value_left", Amount, nullable=False),
        ix(ly, "open", *level, "date", "id"),
    )

    r = name["reservations"]
    reservations = Table(
        r, metadata,
        Column("id", Integer, primary_key=True),
        *dims(lead),
        Column("qty", Amount, nullable=False),
        Column("source_form", String(40), nullable=False),
        Column("source_record", Integer, nullable=False),
        Column("source_line", Integer, nullable=True),
        ix(r, "place", *lead),
        ix(r, "source", "source_form", "source_record"),
    )

    lk = name["links"]
    links = Table(
        lk, metadata,
        Column("input_id", Integer, ForeignKey(f"{m}.id"), nullable=False),
        Column("output_id", Integer, ForeignKey(f"{m}.id"), nullable=False),
        # Given at posting (True) or derived from the trace group (False).
        Column("explicit", Boolean, nullable=False),
        PrimaryKeyConstraint("output_id", "input_id", name=short_name(f"pk_{lk}")),
        ix(lk, "input", "input_id"),
    )

    closings = Table(
        name["closings"], metadata,
        Column("id", Integer, primary_key=True),
        Column("end_date", Date, nullable=False),
    )
    return LedgerTables(movements, balances, costs, layers, reservations, links, closings)
