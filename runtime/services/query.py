"""Listing records: filters on fields (also through relations and into subtables),
sort, paging and a total count — one SQL query for the page, one for the count, with
the actor's row permission inside both.

A filter is ``(path, op, value)``: ``("qty", "gte", "5")``, ``("supplier.name",
"contains", "华")``, ``("lines.material.code", "eq", "M-001")``. Through a relation
the condition must hold for the related record; through a subtable, for at least one
line. Values arrive as text (query strings) and are read with the field's own type.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Text, and_, cast, exists, func, not_, or_, select

from engines.forms.definition import parse_field
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.schema.check import suggest
from runtime.auth.actors import Actor
from runtime.auth.permissions import field_rules, require, row_filter
from runtime.services.apps import open_form
from runtime.services.errors import Invalid
from runtime.services.recordio import read_records
from runtime.storage.store import Store

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "startswith", "in", "empty")
SYSTEM_SORT = {"id": "id", "version": "_version", "created_at": "_created_at",
               "updated_at": "_updated_at", "created_by": "_created_by",
               "updated_by": "_updated_by", "approval": "_approval"}
# How filter values on the record's own columns are read.
SYSTEM_FIELDS = {key: parse_field({"key": key, "type": kind}) for key, kind in (
    ("id", "relation"), ("created_by", "user"), ("updated_by", "user"), ("version", "number"),
    ("created_at", "datetime"), ("updated_at", "datetime"), ("approval", "text"))}
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Filter:
    path: str
    op: str
    value: str


def parse_filters(args) -> list[Filter]:
    """``field__op=value`` query arguments (``field=value`` means eq)."""
    filters = []
    for name, value in args:
        path, _, op = name.partition("__")
        filters.append(Filter(path, op or "eq", value))
    return filters


def search_condition(ft, text: str):
    """Every word of ``text`` appears in one of the form's title fields (or, without a
    title, its first text field) — what a person types into a search box or picker."""
    keys = [k for k in ft.form.title if k in ft.columns] or [
        f.key for f, _ in ft.fields_with_columns() if f.type in ("text", "autonumber")][:1]
    words = text.split()
    if not keys or not words:
        return None
    conditions = []
    for word in words:
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(*(func.lower(cast(ft.columns[k], Text)).like(
            f"%{escaped}%", escape="\\") for k in keys)))
    return and_(*conditions)


def list_records(store: Store, actor: Actor, app: str, form: str, *, filters=(),
                 sort: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0,
                 search: str | None = None, totals=()) -> dict:
    """A page of records, the total count and, for the numeric fields named in
    ``totals``, their sums over every matching record (not just the page)."""
    errors = []
    if not 0 < limit <= MAX_LIMIT:
        errors.append({"field": "limit", "message": f"limit must be 1 to {MAX_LIMIT}"})
    if offset < 0:
        errors.append({"field": "offset", "message": "offset cannot be negative"})
    with store.read() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = require(actor, schema, form, "read")
        rules = field_rules(actor, schema, form)
        table = ft.table
        conditions = [row_filter(actor, ft, granted)]
        for flt in filters:
            if flt.path.split(".")[0] in rules.hidden:  # filtering would reveal it
                errors.append({"field": flt.path, "message": "no such field to filter on"})
                continue
            try:
                conditions.append(_condition(schema, ft, table, flt.path.split("."), flt))
            except _FilterError as error:
                errors.append({"field": flt.path, "message": str(error)})
        if search and search.strip():
            found = search_condition(ft, search)
            if found is not None:
                conditions.append(found)
        order = _order_by(ft, sort, errors)
        for key in (sort or "").replace("-", "").replace("+", "").split(","):
            if key.strip() in rules.hidden:
                errors.append({"field": "sort", "message": f"cannot sort by '{key.strip()}'"})
        errors += [{"field": "totals", "message": f"'{k}' is not a numeric field of this form"}
                   for k in totals if k in rules.hidden]
        summed = _summed(ft, [k for k in totals if k not in rules.hidden], errors)
        if errors:
            raise Invalid(errors)
        where = and_(*conditions)
        found = conn.execute(select(func.count(), *(func.sum(c) for _, c in summed))
                             .select_from(table).where(where)).one()
        rows = conn.execute(select(table).where(where).order_by(*order)
                            .limit(limit).offset(offset)).mappings().all()
        result = {"records": [rules.visible(r) for r in read_records(conn, ft, rows)],
                  "total": found[0], "limit": limit, "offset": offset}
        if summed:
            result["totals"] = {f.key: _number(f, value)
                                for (f, _), value in zip(summed, found[1:], strict=True)}
        return result


SUMMABLE = ("number", "money", "percent", "rollup")


def _summed(ft, keys, errors: list) -> list:
    """(field, column) of each field to total; a field that cannot be summed is an error."""
    out = []
    for key in keys:
        field = ft.form.field(key)
        if field is None or key not in ft.columns or not (
                field.type in SUMMABLE or field.type == "formula"
                and field.get("result", "number") in ("number", "money", "percent")):
            numeric = [f.key for f in ft.form.scalar_fields if f.type in SUMMABLE]
            errors.append({"field": "totals", "message": f"'{key}' is not a numeric field of "
                           f"this form{suggest(key, numeric)}; numeric fields: "
                           f"{', '.join(numeric) or 'none'}"})
        else:
            out.append((field, ft.columns[key]))
    return out


def _number(field, value):
    """A SQL sum at the field's precision (SQLite sums doubles)."""
    if value is None:
        return 0
    places = field.get("precision", 2 if field.type == "money" else 6)
    number = round(float(value), places)
    return int(number) if number.is_integer() else number


class _FilterError(ValueError):
    pass


def filter_condition(schema, ft, flt: Filter):
    """The SQL condition of one filter on ``ft``'s records; ValueError says what is wrong."""
    return _condition(schema, ft, ft.table, flt.path.split("."), flt)


def _condition(schema, scope, table, parts: list[str], flt: Filter):
    """The SQL condition for ``parts`` (a field path) evaluated on ``table`` rows."""
    head, rest = parts[0], parts[1:]
    if flt.op not in OPERATORS:
        raise _FilterError(f"unknown operator '{flt.op}'{suggest(flt.op, OPERATORS)}; use "
                           f"one of {', '.join(OPERATORS)}")
    if head in SYSTEM_SORT and not rest and hasattr(scope, "form"):
        column = table.c[SYSTEM_SORT[head]]
        return _compare(column, SYSTEM_FIELDS[head], flt)
    subtables = getattr(scope, "subtables", {})
    if head in subtables:
        if not rest:
            raise _FilterError(f"name a field of subtable '{head}', e.g. {head}.<field>")
        sub = subtables[head]
        inner = _condition(schema, sub, sub.table, rest, flt)
        return exists(select(1).where(sub.table.c.parent_id == table.c.id, inner))
    column = scope.columns.get(head)
    fields = scope.form.fields if hasattr(scope, "form") else scope.field.fields
    field = next((f for f in fields if f.key == head), None)
    if column is None or field is None:
        known = set(scope.columns) | set(subtables)
        raise _FilterError(f"unknown field '{head}'{suggest(head, known)}")
    if not rest:
        return _compare(column, field, flt)
    if field.type != "relation":
        raise _FilterError(f"'{head}' is not a relation, so '{head}.{rest[0]}' means nothing")
    target = schema.form(field.target)
    if target is None:
        raise _FilterError(f"relation '{head}' points to a missing form '{field.target}'")
    alias = target.table.alias()
    inner = _condition(schema, _Aliased(target, alias), alias, rest, flt)
    return exists(select(1).where(alias.c.id == column, inner))


class _Aliased:
    """A form's tables seen through an alias, so a form can be joined to itself."""

    def __init__(self, ft, alias):
        self.form = ft.form
        self.subtables = ft.subtables
        self.columns = {key: alias.c[col.name] for key, col in ft.columns.items()}


def _typed(field, text: str):
    if not text.strip():
        raise _FilterError("needs a value; to find records without one use "
                           "<field>__empty=true")
    if field.type in ("text", "textarea", "select", "multiselect", "signature", "location"):
        return text
    try:
        return coerce_value(field, text)
    except FieldError as error:
        raise _FilterError(f"{text!r}: {error}") from None


def _compare(column, field, flt: Filter):
    op, text = flt.op, flt.value
    if op == "empty":
        wanted = text.strip().lower() not in ("0", "false", "no", "")
        is_empty = column.is_(None)
        if field is not None and field.type in ("text", "textarea"):
            is_empty = or_(column.is_(None), column == "")
        return is_empty if wanted else not_(is_empty)
    if op in ("contains", "startswith"):
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%" if op == "contains" else f"{escaped}%"
        return func.lower(cast(column, Text)).like(pattern.lower(), escape="\\")
    if op == "in":
        return column.in_([_typed(field, part.strip()) for part in text.split(",")
                           if part.strip()])
    value = _typed(field, text)
    return {"eq": column.__eq__, "ne": column.__ne__, "gt": column.__gt__,
            "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__}[op](value)


def _order_by(ft, sort: str | None, errors: list):
    order = []
    for part in (sort or "").split(","):
        part = part.strip()
        if not part:
            continue
        descending = part.startswith("-")
        key = part.lstrip("-+")
        if key in SYSTEM_SORT:
            column = ft.table.c[SYSTEM_SORT[key]]
        elif key in ft.columns:
            column = ft.columns[key]
        else:
            errors.append({"field": "sort", "message": f"cannot sort by '{key}': not a field "
                           f"of this form{suggest(key, set(ft.columns) | set(SYSTEM_SORT))}"})
            continue
        order.append(column.desc() if descending else column.asc())
    if not any(getattr(o, "element", None) is ft.table.c.id for o in order):
        order.append(ft.table.c.id.asc())  # a stable order makes paging exact
    return order
