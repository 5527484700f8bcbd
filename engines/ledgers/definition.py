"""Ledger definitions as small read-only objects.

The JSON document (``engines/schema/ledger.schema.json``) is the source of truth;
``parse_ledger`` checks it against the schema and against itself (every dimension it
names exists, lots and serials are text, cost is kept at a level the constraint keeps
non-negative) and returns a ``LedgerDefinition``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal

from engines.schema import validate

DEFAULT_QTY_PRECISION = 6
DEFAULT_VALUE_PRECISION = 2
METHODS = ("moving_average", "fifo")


class DefinitionError(ValueError):
    """A ledger definition that cannot be used; ``problems`` are (JSON pointer, message)."""

    def __init__(self, key: str, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "; ".join(f"{pointer or '/'}: {message}" for pointer, message in problems)
        super().__init__(f"ledger {key!r}: {lines}")


@dataclass(frozen=True)
class Dimension:
    key: str
    kind: str  # "ref" (a record id) or "text" (a code)
    label: object = None

    @property
    def none(self):
        """The stored value meaning "not given": 0 for refs, "" for text.

        Not NULL, so one unique index covers every balance (NULLs never collide).
        """
        return 0 if self.kind == "ref" else ""

    def stored(self, value):
        """``value`` as stored; ValueError names a value of the wrong kind."""
        if value is None:
            return self.none
        if self.kind == "ref":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"dimension {self.key} takes a record id, not {value!r}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"dimension {self.key} takes text, not {value!r}")
        return value

    def shown(self, value):
        """A stored value as callers pass it: None for "not given"."""
        return None if value == self.none else value


@dataclass(frozen=True)
class LedgerDefinition:
    key: str
    dimensions: tuple[Dimension, ...]
    constraint: tuple[str, ...] = ()
    method: str | None = None  # None: quantities only, no valuation
    valuation_level: tuple[str, ...] = ()
    item: str | None = None
    lot: str | None = None
    serial: str | None = None
    qty_precision: int = DEFAULT_QTY_PRECISION
    value_precision: int = DEFAULT_VALUE_PRECISION
    label: object = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    def dimension(self, key: str) -> Dimension:
        for d in self.dimensions:
            if d.key == key:
                return d
        raise KeyError(key)

    def stored(self, dims: dict, allowed=None) -> dict:
        """Dimension values as stored, checked against ``allowed`` keys (default: all)."""
        allowed = self.keys if allowed is None else allowed
        unknown = [k for k in dims if k not in allowed]
        if unknown:
            raise ValueError(f"ledger {self.key} cannot be asked by {unknown}; use "
                             f"{list(allowed)}")
        return {k: self.dimension(k).stored(v) for k, v in dims.items()}

    @property
    def valued(self) -> bool:
        return self.method is not None

    @functools.cached_property
    def identity(self) -> tuple[str, ...]:
        """The dimensions that say *what* a unit is (item, lot, serial), not where it is."""
        return tuple(k for k in (self.item, self.lot, self.serial) if k)

    @functools.cached_property
    def places(self) -> tuple[str, ...]:
        """The dimensions that say *where* a unit is."""
        return tuple(k for k in self.keys if k not in self.identity)

    @functools.cached_property
    def qty_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.qty_precision)

    @functools.cached_property
    def value_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.value_precision)


def parse_ledger(document: dict) -> LedgerDefinition:
    """Check a ledger definition and build a ``LedgerDefinition``; raise ``DefinitionError``."""
    problems = validate("ledger", document)
    key = document.get("key", "?") if isinstance(document, dict) else "?"
    if problems:
        raise DefinitionError(key, problems)
    problems = _check_references(document)
    if problems:
        raise DefinitionError(key, problems)
    measures = document.get("measures", {})
    valuation = document.get("valuation")
    return LedgerDefinition(
        key=document["key"],
        dimensions=tuple(Dimension(d["key"], d["kind"], d.get("label", d["key"]))
                         for d in document["dimensions"]),
        constraint=tuple(document.get("constraint", ())),
        method=valuation["method"] if valuation else None,
        valuation_level=tuple(valuation["level"]) if valuation else (),
        item=document.get("item"),
        lot=document.get("lot"),
        serial=document.get("serial"),
        qty_precision=measures.get("qty", {}).get("precision", DEFAULT_QTY_PRECISION),
        value_precision=measures.get("value", {}).get("precision", DEFAULT_VALUE_PRECISION),
        label=document.get("label", document["key"]),
        raw=document,
    )


def _check_references(document: dict) -> list[tuple[str, str]]:
    problems = []
    kinds = {}
    for i, d in enumerate(document["dimensions"]):
        if d["key"] in kinds:
            problems.append((f"/dimensions/{i}/key", f"dimension '{d['key']}' is listed twice"))
        kinds[d["key"]] = d["kind"]
    known = ", ".join(kinds)
    for role in ("item", "lot", "serial"):
        name = document.get(role)
        if name is None:
            continue
        if name not in kinds:
            problems.append((f"/{role}", f"'{name}' is not a dimension; use one of {known}"))
        elif role != "item" and kinds[name] != "text":
            problems.append((f"/{role}", f"the {role} dimension '{name}' must be of kind text"))
    if document.get("lot") and document.get("lot") == document.get("serial"):
        problems.append(("/serial", "lot and serial must be different dimensions"))
    if (document.get("valuation") or {}).get("item_method") and not document.get("item"):
        problems.append(("/valuation/item_method", "the method is read from the item's "
                         "record; name the item dimension in \"item\""))
    for role in document.get("tracking", {}):
        if not document.get("item"):
            problems.append((f"/tracking/{role}", "tracking is read from the item's record; "
                             "name the item dimension in \"item\""))
        elif not document.get(role):
            problems.append((f"/tracking/{role}", f"tracking by {role} needs a {role} "
                             f"dimension; name it in \"{role}\""))
    constraint = document.get("constraint", [])
    for i, name in enumerate(constraint):
        if name not in kinds:
            problems.append((f"/constraint/{i}",
                             f"'{name}' is not a dimension; use one of {known}"))
    valuation = document.get("valuation")
    if valuation:
        for i, name in enumerate(valuation["level"]):
            if name not in kinds:
                problems.append((f"/valuation/level/{i}",
                                 f"'{name}' is not a dimension; use one of {known}"))
            elif name not in constraint:
                # Cost is divided by quantity: the quantity it is kept at must never go
                # below zero, which only the constraint guarantees.
                problems.append((f"/valuation/level/{i}",
                                 f"cost can only be kept by dimensions of the constraint; add "
                                 f"'{name}' to \"constraint\" or remove it here"))
    if "value" in document.get("measures", {}) and not valuation:
        problems.append(("/measures/value", "a value measure needs \"valuation\" "
                         "(method and level) to say how outgoing stock is costed"))
    return problems
