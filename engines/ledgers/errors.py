"""Refusals a person can act on, worded in the app's own words.

A ``LedgerError`` keeps what went wrong as data (``code`` and ``details``: the
dimension values, quantities, dates) and renders its message with a ``Wording`` the
caller passes in: the labels of the dimensions, how to display a stored value (record
id 3 -> "M-001") and, if wanted, message templates in the app's language. Without one,
messages are in plain English with the dimension keys as labels::

    item 3 at site 1 / bin 2 lot B1: short by 2 (needs 5, available 3)

and with ``Wording(labels={"item": "物料", "site": "", "bin": "", "lot": "批次"},
display=codes, place_separator="/", templates={"short": "{what} 在 {where} 库存不足:
需要 {needs}, 可用 {available}"})``::

    物料 M-001 在 WH1/A-01 批次 B1 库存不足: 需要 5, 可用 3
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

TEMPLATES = {
    "short": "{what} at {where}: short by {short} (needs {needs}, available {available})",
    "short_reserved": "{what} at {where}: short by {short} (needs {needs}, available "
                      "{available}; {reserved} more is reserved for other documents)",
    "short_on_date": "{what} at {where}: short by {short} on {date} (needs {needs}, "
                     "available {available} on that date)",
    "short_later": "{what} at {where}: taking {needs} on {date} would leave the balance "
                   "negative on {negative_date} (short by {short}), because later movements "
                   "already used that stock; post it later or receive the missing quantity "
                   "first",
    "serial_in_stock": "{what} serial {serial} cannot come in at {where}: it is already in "
                       "stock at {stocked_at}, and a serial can be in only one place",
    "serial_one_unit": "{what} serial {serial}: a serial number is exactly one unit, "
                       "so its movement must be 1 or -1, not {needs}",
    "closed": "the period up to {closed} is closed: nothing can be posted on {date}; "
              "post on {next_open} or later",
    "close_earlier": "the period up to {closed} is already closed; choose an end date "
                     "after it",
    "method_fixed": "{what} at {where} is valued by {method} since its first movement and "
                    "cannot switch to {asked}; keep the item's valuation method as it was",
}


@dataclass(frozen=True)
class Wording:
    """How the app names things in messages.

    ``labels``: dimension key -> label ("" shows the value alone); missing keys use
    the key itself. ``display(key, value)`` turns a stored value into what people see
    (a record id into a code). ``templates`` replace entries of ``TEMPLATES`` by code;
    placeholders are ``{what}`` (the item), ``{where}`` (places, then lot / serial),
    ``{needs}``, ``{available}``, ``{short}``, ``{reserved}``, ``{date}`` and the others
    each template names. ``anywhere`` stands for ``{where}`` when no place is named.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    display: Callable[[str, object], str] | None = None
    place_separator: str = " / "
    templates: Mapping[str, str] = field(default_factory=dict)
    anywhere: str = "any place"  # {where} when no place is named


ENGLISH = Wording()


class LedgerError(Exception):
    """A posting the ledger refuses. ``message`` is for people, ``code`` and ``details``
    for programs (``details["dims"]`` holds the stored dimension values)."""

    def __init__(self, code: str, details: dict, *, identity=(), places=(),
                 wording: Wording | None = None):
        self.code = code
        self.details = details
        self._identity = tuple(identity)
        self._places = tuple(places)
        self.message = self.render(wording or ENGLISH)
        super().__init__(self.message)

    def render(self, wording: Wording) -> str:
        """The message in ``wording``'s words."""
        template = wording.templates.get(self.code) or TEMPLATES[self.code]
        values = {k: _text(v) for k, v in self.details.items() if k != "dims"}
        dims = self.details.get("dims", {})
        values["what"], values["where"] = describe(dims, self._identity, self._places, wording)
        if "stocked_at" in self.details:
            values["stocked_at"] = describe(self.details["stocked_at"], self._identity,
                                            self._places, wording)[1]
        return template.format_map(_Blank(values))


def describe(dims: dict, identity, places, wording: Wording) -> tuple[str, str]:
    """(what, where) of a set of dimension values: "item 3", "site 1 / bin 2 lot B1"."""
    def part(key):
        value = dims.get(key)
        if value in (None, "", 0):
            return ""
        shown = wording.display(key, value) if wording.display else str(value)
        label = wording.labels.get(key, key)
        return f"{label} {shown}" if label else shown

    item, *extras = identity or (None,)
    what = part(item) if item else ""
    where = wording.place_separator.join(p for p in map(part, places) if p)
    tail = " ".join(p for p in map(part, extras) if p)
    where = " ".join(p for p in (where, tail) if p)
    return what or "balance", where or wording.anywhere


def _text(value) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


class _Blank(dict):
    """Leave an unknown placeholder visible instead of failing on a custom template."""

    def __missing__(self, key):
        return "{" + key + "}"
