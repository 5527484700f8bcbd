"""One movement as a posting takes it: read from a caller's mapping and checked.

A movement mapping holds every dimension key (missing or ``None``: not given) plus
``qty`` (signed), ``date`` and the optional keys of ``MOVEMENT_KEYS``. Mistakes here
are a caller's (forms validate what people type), so they raise ``ValueError``
naming the key and what it takes.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engines.ledgers.valuation import round_value

MOVEMENT_KEYS = ("qty", "date", "unit_value", "line", "trace_group", "ref", "cost_from",
                 "reserved_by", "valuation_method")
METHODS = ("moving_average", "fifo")


@dataclass
class Move:
    """A movement ready to post: stored dimension values in definition order."""

    key: tuple
    qty: Decimal
    date: object
    line: int | None = None
    group: str | None = None
    ref: str | None = None
    fixed_value: Decimal | None = None
    cost_from: object = None  # a ref in the same posting or a movement id
    reversal_of: int | None = None
    prefer_layer: int | None = None
    reserved_by: tuple | None = None
    method: str | None = None  # the item's valuation method, when it has its own
    id: int | None = None
    value: Decimal | None = None


def read_movement(ledger, movement: Mapping, source) -> Move:
    """Check one movement mapping and turn it into a ``Move``; ValueError names the
    mistake (these are programming errors: forms validate what people type)."""
    d = ledger.definition
    unknown = movement.keys() - _allowed(d.keys)
    if unknown:
        raise ValueError(f"unknown movement keys {sorted(unknown)}; a movement has the "
                         f"dimensions {list(d.keys)} and {list(MOVEMENT_KEYS)}")
    key = tuple(dim.stored(movement.get(dim.key)) for dim in d.dimensions)
    qty = number(movement.get("qty"), "qty")
    if qty == 0:
        raise ValueError("qty must not be 0")
    if qty != qty.quantize(d.qty_step):
        raise ValueError(f"qty {qty} has more than {d.qty_precision} decimals")
    date = movement.get("date")
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise ValueError(f"date must be a datetime.date, not {date!r}")
    fixed = None
    if movement.get("unit_value") is not None:
        if not d.valued or qty < 0:
            raise ValueError("unit_value is the cost of an incoming movement of a valued "
                             "ledger; outgoing movements are costed by the valuation method")
        unit = number(movement["unit_value"], "unit_value")
        if unit < 0:
            raise ValueError(f"unit_value {unit} is below zero; a cost is 0 or more")
        fixed = round_value(d, qty * unit)
    cost_from = movement.get("cost_from")
    if cost_from is not None and (qty < 0 or not d.valued or fixed is not None):
        raise ValueError("cost_from is for an incoming movement of a valued ledger that "
                         "has no unit_value")
    reserved_by = movement.get("reserved_by", (source.form, source.record))
    method = movement.get("valuation_method")
    if method is not None and (method not in METHODS or not d.valued):
        raise ValueError(f"valuation_method is one of {', '.join(METHODS)}, for a valued "
                         f"ledger; not {method!r}")
    return Move(key, qty, date, line=movement.get("line", source.line), method=method,
                group=movement.get("trace_group"), ref=movement.get("ref"),
                fixed_value=fixed, cost_from=cost_from,
                reserved_by=tuple(reserved_by)[:2] if reserved_by is not None else None)


@functools.cache
def _allowed(dimensions: tuple) -> frozenset:
    return frozenset(dimensions + MOVEMENT_KEYS)


def number(value, name: str) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return value
    try:
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return result
