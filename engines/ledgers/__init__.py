"""Movement ledgers: balances, non-negative constraints, FIFO, valuation, genealogy.

A ledger is defined in JSON (``engines/schema/ledger.schema.json``): its dimensions,
which of them the non-negative constraint applies to, how stock is valued. The
engine knows nothing of what the dimensions mean to the app; the app's template
names them. Every function takes a SQLAlchemy ``Connection`` inside the caller's
transaction, so it runs the same from the write path or from a plain script::

    from engines.ledgers import create_ledger_tables, post_movements, balance

    with engine.begin() as conn:
        stock = create_ledger_tables(conn, "demo", definition)
        post_movements(conn, stock, [{"item": 3, "site": 1, "lot": "B1", "qty": 10,
                                      "unit_value": "2.50", "date": date(2024, 1, 5)}],
                       source=("receipts", 1))
        balance(conn, stock, item=3)   # Decimal('10')

See docs/ledgers.md.
"""

from engines.ledgers.allocation import allocate_fifo
from engines.ledgers.definition import DefinitionError, Dimension, LedgerDefinition, parse_ledger
from engines.ledgers.errors import TEMPLATES, LedgerError, Wording
from engines.ledgers.genealogy import Trace, TraceNode, trace
from engines.ledgers.posting import (
    Source,
    close_period,
    closed_until,
    post_movements,
    reverse_source,
)
from engines.ledgers.queries import available, avg_cost, balance, reserved, value_balance
from engines.ledgers.reservations import release, reservations_of, reserve
from engines.ledgers.tables import (
    Ledger,
    LedgerTables,
    create_ledger_tables,
    ledger_tables,
    open_ledger,
)

__all__ = [
    "TEMPLATES", "DefinitionError", "Dimension", "Ledger", "LedgerDefinition", "LedgerError",
    "LedgerTables", "Source", "Trace", "TraceNode", "Wording", "allocate_fifo", "available",
    "avg_cost", "balance", "close_period", "closed_until", "create_ledger_tables",
    "ledger_tables", "open_ledger", "parse_ledger", "post_movements", "release", "reserve",
    "reservations_of", "reserved", "reverse_source", "trace", "value_balance",
]
