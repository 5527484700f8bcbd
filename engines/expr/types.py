"""The types an expression's values can have, and how form field types map onto them.

Scalar types are strings: number, text, boolean, date, datetime, blank (the BLANK
literal), record (a linked record) and any (not known before run time). A subtable
column, such as ``lines.amount``, is ``ListOf("number")``; a subtable itself
(``lines``) is ``ListOf("record")``.
"""

from __future__ import annotations

from dataclasses import dataclass

NUMBER = "number"
TEXT = "text"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "datetime"
BLANK = "blank"
RECORD = "record"
ANY = "any"

SCALARS = (NUMBER, TEXT, BOOLEAN, DATE, DATETIME, BLANK, ANY)


@dataclass(frozen=True)
class ListOf:
    """One value per line of a subtable."""

    item: str

    def __str__(self):
        return f"list of {self.item}"


# Form field types (see docs/definitions.md) -> the type of their value in expressions.
FIELD_TYPES = {
    "text": TEXT, "textarea": TEXT, "select": TEXT, "autonumber": TEXT, "barcode": TEXT,
    "user": TEXT, "department": TEXT,
    "number": NUMBER, "money": NUMBER, "percent": NUMBER, "rollup": NUMBER,
    "date": DATE, "datetime": DATETIME,
    "checkbox": BOOLEAN,
    "multiselect": ListOf(TEXT),
    "attachment": ANY, "location": ANY, "signature": ANY,
    # The value types themselves may be named too (e.g. for a formula's result).
    "boolean": BOOLEAN, "any": ANY,
}
CONTAINER_TYPES = ("relation", "subtable")


def a(type_) -> str:
    """``type_`` with an article, for messages: "a number", "text", "a date"."""
    if isinstance(type_, ListOf):
        return f"a list of {type_.item} values (one per line)"
    return {
        NUMBER: "a number", TEXT: "text", BOOLEAN: "TRUE/FALSE", DATE: "a date",
        DATETIME: "a date and time", BLANK: "blank", RECORD: "a linked record",
        ANY: "a value",
    }[type_]


def unite(types) -> str | ListOf:
    """The type of a value that is one of ``types`` (e.g. the branches of an IF)."""
    known = {t for t in types if t != BLANK}
    if not known:
        return BLANK
    if len(known) == 1:
        return known.pop()
    if known <= {DATE, DATETIME}:
        return DATETIME
    return ANY


def numeric(type_) -> bool:
    """Numbers, TRUE/FALSE and blank take part in arithmetic as numbers."""
    return type_ in (NUMBER, BOOLEAN, BLANK, ANY)


def datelike(type_) -> bool:
    return type_ in (DATE, DATETIME)
