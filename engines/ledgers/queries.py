"""Balances, availability and cost, each one SQL aggregation.

Dimensions not named are summed over: ``balance(conn, stock, item=3)`` is the stock
of item 3 in every site, bin and lot. ``None`` for a dimension means "not given"
(e.g. ``lot=None``: the stock without a lot). ``as_of`` answers from the movements
(everything posted on or before that date) instead of the kept balances.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from engines.ledgers.tables import Ledger


def balance(conn, ledger: Ledger, *, as_of: dt.date | None = None, **dims) -> Decimal:
    """Quantity on hand (the sum over every dimension not given)."""
    d = ledger.definition
    where = d.stored(dims)
    if as_of is None:
        table, extra = ledger.tables.balances, []
    else:
        table = ledger.tables.movements
        extra = [table.c.date <= as_of]
    total = conn.execute(select(func.sum(table.c.qty)).where(
        *(table.c[k] == v for k, v in where.items()), *extra)).scalar()
    return _exact(total, d.qty_step)


def reserved(conn, ledger: Ledger, **dims) -> Decimal:
    """Quantity held by reservations under the constraint part of ``dims``."""
    d = ledger.definition
    where = {k: v for k, v in d.stored(dims).items() if k in d.constraint}
    r = ledger.tables.reservations
    total = conn.execute(select(func.sum(r.c.qty)).where(
        *(r.c[k] == v for k, v in where.items()))).scalar()
    return _exact(total, d.qty_step)


def available(conn, ledger: Ledger, **dims) -> Decimal:
    """On hand minus reserved. Reservations are kept at the constraint level, so with
    dimensions finer than it (a serial) the reservations of the whole constraint key
    count against the part asked about."""
    return balance(conn, ledger, **dims) - reserved(conn, ledger, **dims)


def value_balance(conn, ledger: Ledger, *, as_of: dt.date | None = None, **dims) -> Decimal:
    """Stock value, at the valuation level or coarser (cost is not kept finer)."""
    d = ledger.definition
    _require_valued(ledger)
    where = d.stored(dims, d.valuation_level)
    if as_of is None:
        table, extra = ledger.tables.costs, []
    else:
        table = ledger.tables.movements
        extra = [table.c.date <= as_of]
    total = conn.execute(select(func.sum(table.c.value)).where(
        *(table.c[k] == v for k, v in where.items()), *extra)).scalar()
    return _exact(total, d.value_step)


def avg_cost(conn, ledger: Ledger, **dims) -> Decimal | None:
    """Average cost per unit at the valuation level (or coarser): value / qty; with
    nothing in stock, the last average of that one valuation key; None if never valued."""
    d = ledger.definition
    _require_valued(ledger)
    where = d.stored(dims, d.valuation_level)
    c = ledger.tables.costs
    qty, value, count, unit = conn.execute(select(
        func.sum(c.c.qty), func.sum(c.c.value), func.count(), func.max(c.c.unit_cost)).where(
        *(c.c[k] == v for k, v in where.items()))).one()
    qty, value = _exact(qty, d.qty_step), _exact(value, d.value_step)
    step = d.value_step.scaleb(-4)
    if qty > 0:
        return (value / qty).quantize(step)
    if count == 1 and unit is not None:
        return Decimal(unit).quantize(step)
    return None


def _require_valued(ledger: Ledger):
    if not ledger.definition.valued:
        raise ValueError(f"ledger {ledger.definition.key} keeps no value: add \"valuation\" "
                         "to its definition")


def _exact(total, step: Decimal) -> Decimal:
    """A SQL sum rounded to the measure's precision (SQLite sums floating point)."""
    return Decimal(total or 0).quantize(step)
