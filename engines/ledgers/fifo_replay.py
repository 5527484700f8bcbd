"""FIFO after a back-dated posting: replay the valuation key's history in (date, id)
order and correct what it changes.

A FIFO cost is decided by what was in stock, in receipt order, when stock went out.
A receipt dated before later issues would have been taken by them; an issue dated
before later receipts could not have taken those. So the whole history of the key is
valued again from its first movement — receipts make layers, issues take the oldest,
transfers within the key carry their layers' dates along, a reversed receipt takes
its own layer first — and every movement whose value differs gets a revaluation row
(qty 0, ``corrects`` naming it), never an edit. The key's open layers are then the
replay's. A transfer whose cost changed carries the change into the key it went to.

The cost is a read of every movement of the key, paid only by back-dated postings.
"""

from __future__ import annotations

import bisect
import itertools
from decimal import Decimal

from sqlalchemy import delete, func, select

from engines.ledgers.history import matching
from engines.ledgers.movement import Move
from engines.ledgers.valuation import (
    Layer,
    Slice,
    Valued,
    average_in,
    fifo_take,
    round_value,
    scaled,
)

ZERO = Decimal(0)


def replay_key(batch, vk, cost, pending: Move | None = None, known: dict | None = None):
    """Value every movement at ``vk`` again by FIFO (with ``pending``, not yet written,
    at its place: after everything on its date). ``known`` maps movement id -> (value,
    qty) of outgoing movements elsewhere whose values changed (sources of transfers in).
    Appends revaluation rows, resets the key's cost and layers, returns the ids of
    outgoing movements whose values changed (for the keys their transfers went to)."""
    known = dict(known or {})
    rows = _history(batch, vk)
    if pending is not None:
        cut = next((i for i, r in enumerate(rows) if r["date"] > pending.date), len(rows))
        rows.insert(cut, _as_row(batch, pending))
    layers, slices_of, changed = [], {}, []
    order = itertools.count()
    qty = value = ZERO
    unit = None
    for row in rows:
        new, slices = _value(batch, row, layers, slices_of, known, qty, value, unit, order)
        if row["qty"] < 0:
            slices_of[row["id"]] = slices
        if pending is not None and row["id"] == pending.id:
            pending.value = new
            batch.valued[pending.id] = (Valued(new, slices), pending.qty)
        elif new != row["value"]:
            _revalue(batch, row, new)
            if row["qty"] < 0:
                changed.append(row["id"])
                known[row["id"]] = (new, row["qty"])
        qty += row["qty"]
        value += new
        if qty > 0:
            unit = value / qty
    _reset_layers(batch, vk, layers)
    cost.qty, cost.value = qty, value
    cost.unit_cost = unit if unit is not None else cost.unit_cost
    cost.last_date = max(r["date"] for r in rows)
    cost.dirty = True
    return changed, known


def _value(batch, row, layers, slices_of, known, qty, value, unit, order):
    """(value, slices taken) of one movement in the replay; adds or takes layers."""
    d = batch.d
    if row["qty"] < 0:
        # Outgoing stock is always costed by the method; a reversed receipt (its
        # reversal_of) takes back its own layer first.
        taken = fifo_take(d, layers, -row["qty"], row["reversal_of"])
        return -taken.value, taken.slices
    pieces = None
    if row["valued_by"] == "fixed":
        new = row["value"]
    elif row["valued_by"] == "from":
        source = row["cost_from"]
        if source in known:
            source_value, source_qty = known[source]
            new = scaled(d, -source_value, -source_qty, row["qty"])
        else:
            new = row["value"]
        # A transfer within the key brings its layers' receipt dates along.
        taken = slices_of.get(source)
        if taken and sum((s.qty for s in taken), ZERO) == row["qty"]:
            pieces = _shared_out(d, taken, new)
    else:
        new = average_in(d, qty, value, unit, row["qty"])
    for piece in pieces or [Slice(row["qty"], new, row["date"])]:
        bisect.insort(layers, Layer(None, piece.date, row["id"], piece.qty, piece.qty,
                                    piece.value, (piece.date, next(order))),
                      key=lambda layer: layer.order)
    return new, []


def _shared_out(d, slices, total_value) -> list[Slice]:
    """The slices a transfer took, their values made to add up to ``total_value``."""
    if sum((s.value for s in slices), ZERO) == total_value:
        return slices
    qty = sum((s.qty for s in slices), ZERO)
    out, left = [], total_value
    for i, s in enumerate(slices):
        part = left if i == len(slices) - 1 else round_value(d, total_value * s.qty / qty)
        out.append(Slice(s.qty, part, s.date))
        left -= part
    return out


def _history(batch, vk) -> list[dict]:
    """Every movement at ``vk`` (not revaluation rows), in (date, id) order, with its
    effective value."""
    m = batch.t.movements
    fix = m.alias("fix")
    correction = (select(func.coalesce(func.sum(fix.c.value), 0))
                  .where(fix.c.corrects == m.c.id).scalar_subquery())
    rows = batch.conn.execute(
        select(m.c.id, m.c.date, m.c.qty, m.c.valued_by, m.c.cost_from, m.c.reversal_of,
               (m.c.value + correction).label("value"))
        .where(matching(m, batch.d.valuation_level, vk), m.c.corrects.is_(None),
               m.c.qty != 0)
        .order_by(m.c.date, m.c.id)).mappings().all()
    return [{**r, "qty": batch.exact(r["qty"]), "value": batch.exact(r["value"], "value")}
            for r in rows]


def _as_row(batch, m: Move) -> dict:
    kind = "fixed" if m.fixed_value is not None else "from" if m.cost_from is not None \
        else "method"
    return {"id": m.id, "date": m.date, "qty": m.qty, "valued_by": kind,
            "cost_from": m.cost_from, "reversal_of": m.reversal_of,
            "value": m.fixed_value if m.fixed_value is not None else ZERO}


def _revalue(batch, row, new) -> None:
    key = _key_of(batch, row["id"])
    fix = Move(key, ZERO, row["date"], id=batch.take_ids(1)[0], value=new - row["value"])
    batch.pending.append(batch.row(fix, corrects=row["id"], valued_by="revaluation"))
    batch.valued.pop(row["id"], None)


def _key_of(batch, movement_id) -> tuple:
    m = batch.t.movements
    row = batch.conn.execute(select(*(m.c[k] for k in batch.d.keys))
                             .where(m.c.id == movement_id)).one()
    return tuple(row)


def _reset_layers(batch, vk, layers) -> None:
    """The key's layers become the replay's open ones (layers are state, rebuilt; the
    movements are the record and are never touched)."""
    ly = batch.t.layers
    batch.conn.execute(delete(ly).where(matching(ly, batch.d.valuation_level, vk)))
    batch.consumed = [(k, x) for k, x in batch.consumed if k != vk]
    for layer in layers:
        layer.id, layer.dirty = None, True
    batch.layers[vk] = layers
