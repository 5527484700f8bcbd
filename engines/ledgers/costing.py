"""Costing movements inside a posting: the valuation method applied to a ``Batch``.

In date order a movement is valued from the batch's cost state (moving average, or
FIFO layers). A back-dated movement under moving average is valued as of its date
from the movements table, and every later movement valued by the method is valued
again: the differences are appended as revaluation rows (qty 0, ``corrects`` naming
the movement), never written over, and followed through transfers into other
valuation keys.
"""

from __future__ import annotations

import bisect
import itertools
from decimal import Decimal

from engines.ledgers import fifo_replay, history
from engines.ledgers.movement import Move
from engines.ledgers.valuation import (
    Cost,
    Layer,
    Valued,
    average_in,
    average_out,
    fifo_take,
    recompute_average,
    scaled,
)

ZERO = Decimal(0)
_LATER = itertools.count(1 << 60)  # sort position of layers not yet written


def source_value(batch, m: Move):
    """(Valued, qty) of the movement an inbound takes its cost from."""
    if m.cost_from in batch.valued:
        return batch.valued[m.cost_from]
    found = history.effective_values(batch.conn, batch.ledger, [m.cost_from])
    if m.cost_from not in found or found[m.cost_from][1] >= 0:
        raise ValueError(f"cost_from {m.cost_from} names no outgoing movement of ledger "
                         f"{batch.d.key}")
    value, qty = found[m.cost_from]
    return Valued(value), qty


def own_value(batch, m: Move, qty, value, unit_cost) -> Valued:
    """Value of ``m`` by the moving average of (qty, value), or as given / taken over."""
    if m.qty < 0:
        return Valued(average_out(batch.d, qty, value, m.qty))
    if m.fixed_value is not None:
        return Valued(m.fixed_value)
    if m.cost_from is not None:
        source, source_qty = source_value(batch, m)
        slices = source.slices if m.qty == -source_qty else []
        return Valued(scaled(batch.d, -source.value, -source_qty, m.qty), slices)
    return Valued(average_in(batch.d, qty, value, unit_cost, m.qty))


def value_in_order(batch, m: Move, vk, cost: Cost):
    """Value ``m``, posted after everything at its valuation key, from the batch's state."""
    if m.qty < 0 and cost.method == "fifo":
        before = list(batch.layers[vk])
        taken = fifo_take(batch.d, batch.layers[vk], -m.qty, m.prefer_layer)
        batch.consumed += [(vk, x) for x in before if x.qty_left <= 0]
        valued = Valued(-taken.value, taken.slices)
    else:
        valued = own_value(batch, m, cost.qty, cost.value, cost.unit_cost)
    if m.qty > 0 and cost.method == "fifo":
        parts = [(s.qty, s.value, s.date) for s in valued.slices] or \
            [(m.qty, valued.value, m.date)]
        for qty, value, date in parts:
            bisect.insort(batch.layers[vk], Layer(None, date, m.id, qty, qty, value,
                                                 (date, next(_LATER)), dirty=True),
                          key=lambda layer: layer.order)
    m.value = valued.value
    batch.valued[m.id] = (valued, m.qty)
    cost.qty += m.qty
    cost.value += m.value
    touch(cost, m.date)


def touch(cost: Cost, date):
    """Note a change to a valuation key: its average, its last date, to be written."""
    if cost.qty > 0:
        cost.unit_cost = cost.value / cost.qty
    cost.last_date = max(cost.last_date or date, date)
    cost.dirty = True


def value_back_dated(batch, m: Move, vk, cost: Cost):
    """Moving average, posted before later movements: value it as of its date, then
    recompute every later method-valued movement (appending revaluation rows,
    never editing) and follow transfers into other valuation keys."""
    batch.flush()
    qty, value = history.state_before(batch.conn, batch.ledger, vk, m.date, None)
    unit = value / qty if qty > 0 else cost.unit_cost
    valued = own_value(batch, m, qty, value, unit)
    m.value = valued.value
    batch.valued[m.id] = (valued, m.qty)
    known = {m.id: (m.value, m.qty)}
    later = history.movements_after(batch.conn, batch.ledger, vk, m.date, None)
    unit = (value + m.value) / (qty + m.qty) if qty + m.qty > 0 else unit
    recompute(batch, vk, cost, qty + m.qty, value + m.value, unit, later, known, m.date)


def value_back_dated_fifo(batch, m: Move, vk, cost: Cost):
    """FIFO, posted before later movements: replay the key's history with ``m`` in its
    place (fifo_replay), then carry changed transfer costs into the keys they went to."""
    batch.flush()
    changed, known = fifo_replay.replay_key(batch, vk, cost, pending=m)
    follow_transfers(batch, vk, changed, known)


def follow_transfers(batch, vk, changed, known):
    """Value again the keys that transfers out of ``changed`` movements went to."""
    work = list(changed)
    while work:
        batch.flush()
        deps = history.dependents(batch.conn, batch.ledger, work)
        work = []
        for dep_vk in dict.fromkeys(tuple(dep[k] for k in batch.d.valuation_level)
                                    for dep in deps):
            if dep_vk == vk:
                continue  # replayed already
            batch.load_costs([dep_vk])
            dep_cost = batch.costs[dep_vk]
            if dep_cost.method == "fifo":
                more, known = fifo_replay.replay_key(batch, dep_vk, dep_cost, known=known)
                work += more
            else:
                first = min((d for d in deps if tuple(d[k] for k in batch.d.valuation_level)
                             == dep_vk), key=lambda d: (d["date"], d["id"]))
                q0, v0 = history.state_before(batch.conn, batch.ledger, dep_vk,
                                              first["date"], first["id"])
                tail = history.movements_after(batch.conn, batch.ledger, dep_vk,
                                               first["date"], first["id"] - 1)
                recompute(batch, dep_vk, dep_cost, q0, v0,
                          v0 / q0 if q0 > 0 else dep_cost.unit_cost, tail, known,
                          first["date"])


def recompute(batch, vk, cost, qty, value, unit, later, known, date):
    """Value ``later`` movements again from (qty, value) on; append a revaluation row
    for each that changes and follow the transfers that took their cost from one."""
    work = [(vk, cost, qty, value, unit, later)]
    while work:
        vk, cost, qty, value, unit, later = work.pop(0)
        changed, end_qty, end_value, end_unit = recompute_average(
            batch.d, qty, value, unit, later, known)
        by_id = {row["id"]: row for row in later}
        for mid, new in changed.items():
            row = by_id[mid]
            fix = Move(tuple(row[k] for k in batch.d.keys), ZERO, row["date"],
                       id=batch.take_ids(1)[0], value=new - row["value"])
            batch.pending.append(batch.row(fix, corrects=mid, valued_by="revaluation"))
            batch.valued.pop(mid, None)  # its cost, if asked again, is read back
        cost.qty, cost.value = end_qty, end_value
        cost.unit_cost = end_unit
        touch(cost, date)
        if not changed:
            continue
        batch.flush()
        for dep in history.dependents(batch.conn, batch.ledger, list(changed)):
            dep_vk = tuple(dep[k] for k in batch.d.valuation_level)
            if dep_vk == vk:
                continue  # already recomputed in order above
            batch.load_costs([dep_vk])
            q0, v0 = history.state_before(batch.conn, batch.ledger, dep_vk, dep["date"],
                                          dep["id"])
            dep_cost = batch.costs[dep_vk]
            tail = history.movements_after(batch.conn, batch.ledger, dep_vk, dep["date"],
                                           dep["id"] - 1)
            work.append((dep_vk, dep_cost, q0, v0,
                         v0 / q0 if q0 > 0 else dep_cost.unit_cost, tail))
