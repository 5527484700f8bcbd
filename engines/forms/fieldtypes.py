"""Field types: how a value of each type is read from input, checked and written out.

Each type is an entry in ``FIELD_TYPES``. ``storage`` names the kind of column that
holds it (``runtime/storage`` maps it to SQL); two types with the same storage share
a column when a field changes type, so a text -> select change converts in place.
``coerce`` turns JSON input (or a value read from another type, during a type
change) into the stored Python value, raising ``FieldError`` with a message a user
can act on. ``to_json`` is its inverse.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from engines.forms.definition import Field, label_text


class FieldError(ValueError):
    """A value does not fit its field; the message says how to fix it."""


@dataclass(frozen=True)
class FieldType:
    name: str
    storage: str
    coerce: Callable[[object, Field], object]
    to_json: Callable[[object], object] = lambda value: value


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# ---- text ---------------------------------------------------------------------------

def _text(value, field: Field):
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise FieldError(f"expected text, got {json.dumps(value, ensure_ascii=False)}")
    if isinstance(value, (int, float, Decimal)):
        value = _decimal_text(Decimal(str(value)))
    text = str(value)
    limit = field.get("max_length")
    if limit and len(text) > limit:
        raise FieldError(f"is {len(text)} characters long; at most {limit} allowed")
    return text


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- numbers ------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")


def _to_decimal(value) -> Decimal:
    if isinstance(value, bool):
        raise FieldError("expected a number, got true/false")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("，", ",")
        if not _NUMBER_TEXT.match(text) or text in ("", "+", "-", "."):
            raise FieldError(f"{value!r} is not a number")
        number = Decimal(text.replace(",", ""))
    else:
        raise FieldError(f"expected a number, got {json.dumps(value, ensure_ascii=False)}")
    if not number.is_finite():
        raise FieldError("must be a finite number")
    return number


def _number(value, field: Field, default_precision: int | None = None):
    number = _to_decimal(value)
    precision = field.get("precision", default_precision)
    if precision is not None:
        number = number.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    low, high = field.get("min"), field.get("max")
    if low is not None and number < Decimal(str(low)):
        raise FieldError(f"must be at least {low}, got {_decimal_text(number)}")
    if high is not None and number > Decimal(str(high)):
        raise FieldError(f"must be at most {high}, got {_decimal_text(number)}")
    return number


def _money(value, field: Field):
    return _number(value, field, default_precision=2)


def _percent(value, field: Field):
    # "15%" is 0.15, as in a spreadsheet; a bare number is taken as the fraction.
    if isinstance(value, str) and value.strip().endswith("%"):
        value = _to_decimal(value.strip()[:-1]) / 100
    return _number(value, field)


def _number_json(value):
    if value is None:
        return None
    value = Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


# ---- dates --------------------------------------------------------------------------

def _date(value, field: Field):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip().replace("/", "-").replace(".", "-")
        try:
            if "T" in text or " " in text:
                return dt.datetime.fromisoformat(text).date()
            return dt.date.fromisoformat(text if len(text) == 10 else _pad_date(text))
        except ValueError:
            pass
    raise FieldError(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-21")


def _pad_date(text: str) -> str:
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{int(parts[0]):04d}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return text


def _datetime(value, field: Field):
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(f"{value!r} is not a date and time; write it as "
                             "YYYY-MM-DDTHH:MM:SS, e.g. 2026-11-21T08:30:00") from None
    else:
        raise FieldError(f"expected a date and time, got {json.dumps(value, ensure_ascii=False)}")
    if moment.tzinfo is not None:
        # Stored as UTC without zone: the database types behave alike on SQLite and PostgreSQL.
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _iso(value):
    return None if value is None else value.isoformat()


# ---- choices ------------------------------------------------------------------------

def _option(value, field: Field) -> str:
    text = _text(value, field).strip()
    values = field.option_values()
    if text in values:
        return text
    for option in field.options:  # a label in any language picks its value (imports)
        if isinstance(option, dict) and "label" in option:
            labels = option["label"].values() if isinstance(option["label"], dict) else [
                option["label"]]
            if text in labels:
                return option["value"]
    raise FieldError(f"{text!r} is not one of the options: {', '.join(values)}")


def _select(value, field: Field):
    return _option(value, field)


def _multiselect(value, field: Field):
    if isinstance(value, str):
        value = [part for part in re.split(r"[,，;；]", value) if part.strip()]
    if not isinstance(value, list):
        raise FieldError("expected a list of options")
    chosen = []
    for item in value:
        option = _option(item, field)
        if option not in chosen:
            chosen.append(option)
    return chosen or None


_TRUE = {"true", "1", "yes", "y", "是", "对", "√", "on"}
_FALSE = {"false", "0", "no", "n", "否", "错", "×", "off"}


def _checkbox(value, field: Field):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FieldError(f"expected true or false, got {json.dumps(value, ensure_ascii=False)}")


# ---- references ---------------------------------------------------------------------

@dataclass(frozen=True)
class Lookup:
    """A reference given by field values (``{"code": "M-001"}``) instead of an id;
    the write path resolves it to the one record that matches."""

    match: tuple[tuple[str, object], ...]


def _reference(value, field: Field):
    # Existence is checked by the write path, which has the database.
    if isinstance(value, dict) and "id" not in value:
        if not value or not all(isinstance(k, str) for k in value):
            raise FieldError("expected a record id, or field values naming one record, "
                             'e.g. {"code": "M-001"}')
        return Lookup(tuple(sorted(value.items())))
    if isinstance(value, dict):
        value = value["id"]
    if isinstance(value, bool):
        raise FieldError("expected a record id")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise FieldError(f"expected a record id (a positive whole number), got "
                         f"{json.dumps(value, ensure_ascii=False, default=str)}")
    return value


# ---- structured ---------------------------------------------------------------------

def _location(value, field: Field):
    if isinstance(value, str):
        return {"address": value}
    if not isinstance(value, dict):
        raise FieldError('expected {"lat": .., "lng": .., "address": ..}')
    unknown = set(value) - {"lat", "lng", "address", "accuracy"}
    if unknown:
        raise FieldError(f"unknown location part(s): {', '.join(sorted(unknown))}")
    result = {}
    for part, low, high in (("lat", -90, 90), ("lng", -180, 180), ("accuracy", 0, 1e7)):
        if value.get(part) is not None:
            number = _to_decimal(value[part])
            if not low <= number <= high:
                raise FieldError(f"{part} must be between {low} and {high}")
            result[part] = float(number)
    if ("lat" in result) != ("lng" in result):
        raise FieldError("give both lat and lng, or neither")
    if value.get("address"):
        result["address"] = _text(value["address"], field)
    return result or None


@dataclass(frozen=True)
class FileRefs:
    """Files named by id; the write path checks them and stores their description."""

    ids: tuple[int, ...]


def _attachment(value, field: Field):
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("id")
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise FieldError("expected uploaded files: a list of file ids from "
                             "POST /api/v1/apps/{app}/files, e.g. [12, 13]")
        if item not in ids:
            ids.append(item)
    limit = field.get("max_files", 10)
    if len(ids) > limit:
        raise FieldError(f"has {len(ids)} files; at most {limit} allowed")
    return FileRefs(tuple(ids))


_SIGNATURE = re.compile(r"^data:image/(png|svg\+xml);base64,[A-Za-z0-9+/=]+$")


def _signature(value, field: Field):
    text = _text(value, field)
    if not _SIGNATURE.match(text):
        raise FieldError("expected a signature image as a data: URL (PNG or SVG)")
    if len(text) > 512 * 1024:
        raise FieldError("the signature image is larger than 512 KB")
    return text


FIELD_TYPES: dict[str, FieldType] = {t.name: t for t in (
    FieldType("text", "text", _text),
    FieldType("textarea", "text", _text),
    FieldType("number", "decimal", _number, _number_json),
    FieldType("money", "decimal", _money, _number_json),
    FieldType("percent", "decimal", _percent, _number_json),
    FieldType("date", "date", _date, _iso),
    FieldType("datetime", "datetime", _datetime, _iso),
    FieldType("select", "text", _select),
    FieldType("multiselect", "json", _multiselect),
    FieldType("checkbox", "bool", _checkbox),
    FieldType("user", "ref:user", _reference),
    FieldType("department", "ref:department", _reference),
    FieldType("relation", "ref:form", _reference),
    FieldType("location", "json", _location),
    FieldType("signature", "text", _signature),
    FieldType("autonumber", "text", _text),
    FieldType("attachment", "json", _attachment),
    FieldType("barcode", "text", _text),
    FieldType("rollup", "decimal", _number, _number_json),
)}

# Computed fields: never taken from input. A formula is stored (as its result type)
# only with "store": true; otherwise it is computed whenever a record is read.
COMPUTED = ("formula", "rollup")


def _result_type(field: Field) -> str:
    return field.get("result", "number") if field.type == "formula" else field.type


def storage_of(field: Field) -> str | None:
    """The column kind holding ``field`` (relations include their target); None for a
    formula computed on read, which has no column."""
    if field.type == "formula" and not field.get("store"):
        return None
    storage = FIELD_TYPES[_result_type(field)].storage
    return f"{storage}:{field.target}" if storage == "ref:form" else storage


def coerce_value(field: Field, value):
    """Input value -> stored value (``None`` for blank); raises ``FieldError``."""
    if _blank(value) or value == []:
        return None
    return FIELD_TYPES[_result_type(field)].coerce(value, field)


def value_to_json(field: Field, value):
    if value is None:
        return None
    return FIELD_TYPES[_result_type(field)].to_json(value)


def describe(field: Field, lang: str = "en") -> str:
    """How errors name a field: its label and key."""
    label = label_text(field.label, lang)
    return f"'{label}' ({field.key})" if label and label != field.key else f"'{field.key}'"
