"""What stock is worth: moving average and FIFO layers, as plain arithmetic.

Values are rounded to the ledger's value precision (half up). Two rules keep the
value balance honest whatever the rounding: an outbound movement that takes the
last units of a valuation key takes all of its remaining value (so value is 0
whenever qty is 0), and a FIFO layer consumed to the end gives up all of its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from engines.ledgers.definition import LedgerDefinition

ZERO = Decimal(0)


@dataclass
class Cost:
    """The valuation state of one valuation key (a row of the costs table)."""

    id: int
    qty: Decimal
    value: Decimal
    unit_cost: Decimal | None  # the last average, kept when qty falls to 0
    last_date: object = None
    method: str = "moving_average"  # of this valuation key: the ledger's, or the item's
    dirty: bool = False

    def average(self) -> Decimal:
        if self.qty > 0:
            return self.value / self.qty
        return self.unit_cost or ZERO


@dataclass
class Layer:
    """A FIFO cost layer: what is left of one receipt at one valuation key."""

    id: int | None
    date: object
    movement_id: int | None
    qty_in: Decimal
    qty_left: Decimal
    value_left: Decimal
    order: tuple = ()  # (date, id or a later number for layers not yet written)
    dirty: bool = False


@dataclass
class Slice:
    """A part of an outbound movement's cost taken from one layer (kept so that a
    transfer's inbound can recreate the same layers at its own valuation key)."""

    qty: Decimal
    value: Decimal
    date: object


@dataclass
class Valued:
    value: Decimal
    slices: list[Slice] = field(default_factory=list)


def round_value(definition: LedgerDefinition, amount: Decimal) -> Decimal:
    return amount.quantize(definition.value_step, rounding=ROUND_HALF_UP)


def average_out(definition, have_qty: Decimal, have_value: Decimal, qty: Decimal) -> Decimal:
    """Value of an outbound ``qty`` (negative) at the moving average of what is there."""
    if have_qty + qty == 0:
        return -have_value
    return round_value(definition, qty * have_value / have_qty)


def average_in(definition, have_qty, have_value, unit_cost, qty) -> Decimal:
    """Value of an inbound ``qty`` that comes with no cost: at the current average."""
    unit = have_value / have_qty if have_qty > 0 else (unit_cost or ZERO)
    return round_value(definition, qty * unit)


def scaled(definition, value: Decimal, of_qty: Decimal, qty: Decimal) -> Decimal:
    """The part of ``value`` (for ``of_qty`` units) that belongs to ``qty`` units."""
    if abs(qty) == abs(of_qty):
        return value if (qty > 0) == (of_qty > 0) else -value
    return round_value(definition, value * qty / of_qty)


def fifo_take(definition, layers: list[Layer], qty: Decimal,
              prefer: int | None = None) -> Valued:
    """Consume ``qty`` (positive) from ``layers``, oldest first; ``prefer`` names a
    receipt whose own layer goes first (a reversed receipt takes back its own cost).
    Returns the (positive) value taken and its slices; emptied layers leave the list."""
    order = sorted(layers, key=lambda layer: (layer.movement_id != prefer or prefer is None,
                                              layer.order))
    taken, slices, left = ZERO, [], qty
    for layer in order:
        if left <= 0:
            break
        part = min(left, layer.qty_left)
        if part == layer.qty_left:
            value = layer.value_left
        else:
            value = round_value(definition, layer.value_left * part / layer.qty_left)
        layer.qty_left -= part
        layer.value_left -= value
        layer.dirty = True
        left -= part
        taken += value
        slices.append(Slice(part, value, layer.date))
    if left > 0:  # the constraint keeps layers and quantity equal; reaching here is a bug
        raise RuntimeError(f"FIFO layers hold {qty - left} but {qty} is going out")
    layers[:] = [layer for layer in layers if layer.qty_left > 0]
    return Valued(taken, slices)


def recompute_average(definition, start_qty, start_value, unit_cost, later, known):
    """Moving-average values of ``later`` movements after a back-dated posting.

    ``later`` are dicts (id, qty, value, valued_by, cost_from, cost_from_qty) in
    posting order with their current effective values; ``known`` maps movement id ->
    value for movements whose new value is already decided (the back-dated posting,
    corrected sources of transfers). Returns ({id: new value} for the movements whose
    value changes, end qty, end value, last unit cost).
    """
    qty, value, unit = start_qty, start_value, unit_cost
    changed = {}
    for row in later:
        current = row["value"]
        kind = row["valued_by"]
        if kind == "from" and row["cost_from"] in known:
            source_value, source_qty = known[row["cost_from"]]
            new = scaled(definition, -source_value, -source_qty, row["qty"])
        elif kind in ("fixed", "from"):
            new = current
        elif row["qty"] < 0:
            new = average_out(definition, qty, value, row["qty"])
        else:
            new = average_in(definition, qty, value, unit, row["qty"])
        if new != current:
            changed[row["id"]] = new
            known[row["id"]] = (new, row["qty"])
        qty += row["qty"]
        value += new
        if qty > 0:
            unit = value / qty
    return changed, qty, value, unit
