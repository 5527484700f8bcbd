"""Ledger posting from forms: what a record posts (its form's ``posting``), when it is
submitted or approved, inside the same transaction; balances for BALANCE() and the API.

A posting rule names a ledger, the moment (``submit`` or ``approved``), optionally a
subtable (one movement per line), and expressions for the quantity, the dimensions,
the unit value and the date. Expressions in a line rule see the line's fields and the
record's; relations give the linked record's id.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from engines.expr import ErrorValue, ExpressionError, compile_expression
from engines.forms.definition import Field, label_text
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.forms.logic import describe
from engines.ledgers import (
    LedgerError,
    Wording,
    post_movements,
    reverse_source,
    trace,
)
from runtime.services import clock
from runtime.services.errors import Invalid
from runtime.services.ledgers import LedgerAccess, dimension_targets, ledger_of
from runtime.services.recordio import read_records, record_titles

SHORT_ZH = {"short": "{what} 在 {where} 库存不足: 需要 {needs}, 可用 {available}"}


def _rules(conn, schema, ft) -> list:
    """The form's posting rules with their expressions compiled (once per version)."""
    if "posting" not in ft.cache:
        forms = {k: other.form for k, other in schema.forms.items()}
        described = describe(ft.form, forms)
        compiled, problems = [], []
        for i, rule in enumerate(ft.form.raw.get("posting", [])):
            scope = dict(described)
            if rule.get("lines"):
                scope.update(described[rule["lines"]]["fields"])
            exprs = {}
            parts = {"qty": rule["qty"], "unit_value": rule.get("unit_value"),
                     "date": rule.get("date"), "trace_group": rule.get("trace_group"),
                     "when": rule.get("when"),
                     **{f"dim:{k}": v for k, v in rule["dimensions"].items()}}
            for name, source in parts.items():
                if source is None:
                    continue
                try:
                    exprs[name] = compile_expression(source, scope)
                except ExpressionError as error:
                    problems.append({"field": f"definition#/posting/{i}/{name}",
                                     "message": str(error)})
            compiled.append((rule, exprs))
        if problems:
            raise Invalid(problems)
        ft.cache["posting"] = compiled
    return ft.cache["posting"]


def _value(expr, record, env):
    value = expr.evaluate(record, env)
    if isinstance(value, ErrorValue):
        raise Invalid([{"field": None, "message": f"a posting expression gave {value.code} "
                        f"({expr.source}): {value.message}"}])
    return value.get("id") if isinstance(value, dict) else value


def _wording(conn, schema, ledger, lang: str = "zh") -> Wording:
    labels, targets = {}, {}
    forms = dimension_targets(conn, schema, ledger.definition.key)
    for dim in ledger.definition.dimensions:
        labels[dim.key] = label_text(dim.label, lang) or dim.key
        if dim.key in forms and schema.form(forms[dim.key]):
            targets[dim.key] = schema.form(forms[dim.key])

    def display(key, value):
        ft = targets.get(key)
        if ft is None or not isinstance(value, int):
            return value
        title = [k for k in ft.form.title if k in ft.columns][:1] or \
            [f.key for f, _ in ft.fields_with_columns()[:1]]
        found = conn.execute(select(ft.columns[title[0]]).where(ft.table.c.id == value)).scalar()
        return found if found is not None else value

    return Wording(labels=labels, display=display, place_separator="/", templates=SHORT_ZH,
                   anywhere="库存")


def post_document(conn, schema, ft, record_id: int, moment: str, env: dict, *,
                  actor=None) -> int:
    """Post what the record posts at ``moment``; returns the number of movements.
    ``balance changed`` rules of each ledger then run, once per balance row changed."""
    rules = [r for r in _rules(conn, schema, ft) if r[0]["on"] == moment]
    if not rules:
        return 0
    row = conn.execute(ft.statement("by_id"), {"rid": record_id}).mappings().one()
    record_json = read_records(conn, ft, [row])[0]
    header = {f.key: row[c.name] for f, c in ft.fields_with_columns()}
    env = {**env, "ledgers": LedgerAccess(conn, schema)}
    count = 0
    posted: dict[str, list[int]] = {}
    for rule, exprs in rules:
        ledger = ledger_of(conn, schema, rule["ledger"])
        scopes = [(header, None)]
        if rule.get("lines"):
            sub = ft.subtables[rule["lines"]]
            scopes = []
            for line in record_json.get(rule["lines"], []):
                merged = dict(header)
                for f, _ in sub.fields_with_columns():
                    merged[f.key] = _python(f, line.get(f.key))
                scopes.append((merged, line["id"]))
        movements = []
        for record, line_id in scopes:
            if "when" in exprs and _value(exprs["when"], record, env) is not True:
                continue
            qty = Decimal(str(_value(exprs["qty"], record, env) or 0))
            if not qty:
                continue
            movement = {name[4:]: _value(e, record, env) for name, e in exprs.items()
                        if name.startswith("dim:")}
            movement["qty"] = qty * rule.get("sign", 1)
            movement["date"] = _value(exprs["date"], record, env) if "date" in exprs \
                else clock.today()
            if "unit_value" in exprs:
                movement["unit_value"] = _value(exprs["unit_value"], record, env)
            if "trace_group" in exprs:
                movement["trace_group"] = _value(exprs["trace_group"], record, env)
            if line_id is not None:
                movement["line"] = line_id
            movements.append(movement)
        if not movements:
            continue
        try:
            ids = post_movements(conn, ledger, movements, source=(ft.form.key, record_id),
                                 wording=_wording(conn, schema, ledger))
        except LedgerError as error:
            raise Invalid([{"field": rule.get("lines"), "message": error.message}]) from None
        count += len(movements)
        posted.setdefault(rule["ledger"], []).extend(ids)
    for key, ids in posted.items():
        _balances_changed(conn, schema, ledger_of(conn, schema, key), ids, actor)
    return count


def _balances_changed(conn, schema, ledger, movement_ids: list[int], actor) -> None:
    """Fire ``balance changed`` rules for the balance rows ``movement_ids`` changed:
    each row as it is now, with its quantity before (now minus what was posted)."""
    from runtime.services.firing import on_balance_changes  # rules write records: cycle
    from runtime.services.rulebook import rulebook

    if actor is None or not movement_ids or \
            ledger.definition.key not in rulebook(conn, schema).balance:
        return
    m, b = ledger.tables.movements, ledger.tables.balances
    keys = ledger.definition.keys
    delta: dict[tuple, Decimal] = {}
    for row in conn.execute(select(m).where(m.c.id.in_(movement_ids)).order_by(m.c.id)) \
            .mappings():
        key = tuple(row[k] for k in keys)
        delta[key] = delta.get(key, Decimal(0)) + row["qty"]  # dict keeps first-posted order
    changes = []
    for key, moved in delta.items():
        row = conn.execute(select(b).where(*[b.c[k] == v for k, v in zip(keys, key,
                                                                          strict=True)])) \
            .mappings().first()
        if row is not None and moved:
            changes.append((row, row["qty"] - moved))
    on_balance_changes(conn, schema, ledger, changes, actor)


def post_rule_movement(conn, schema, ledger_key: str, movement: dict, source, actor) -> None:
    """A rule's ``post``: one movement, its balance rules fired like a document's."""
    ledger = ledger_of(conn, schema, ledger_key)
    movement = dict(movement)
    movement.setdefault("date", clock.today())
    value = movement.pop("value", None)
    if value is not None and movement.get("qty"):
        # A rule gives the movement's value; the ledger takes the cost of one unit.
        movement["unit_value"] = Decimal(str(value)) / Decimal(str(movement["qty"]))
    try:
        ids = post_movements(conn, ledger, [movement], source=source,
                             wording=_wording(conn, schema, ledger))
    except (LedgerError, ValueError) as error:
        raise Invalid([{"field": None, "message": getattr(error, "message", str(error))}]) \
            from None
    _balances_changed(conn, schema, ledger, ids, actor)


def reverse_rule_movements(conn, schema, ledger_key: str, source, actor) -> int:
    """A rule's ``reverse``: undo what the record posted to the ledger."""
    ledger = ledger_of(conn, schema, ledger_key)
    try:
        ids = reverse_source(conn, ledger, source, wording=_wording(conn, schema, ledger))
    except LedgerError as error:
        raise Invalid([{"field": None, "message": error.message}]) from None
    _balances_changed(conn, schema, ledger, ids, actor)
    return len(ids)


def _python(field, value):
    try:
        return coerce_value(field, value)
    except FieldError:
        return value


def balances(store, actor, app: str, key: str, filters: dict) -> dict:
    """Balance rows of a ledger matching dimension values (as text from a query)."""
    from runtime.services.apps import app_schema

    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        ledger = ledger_of(conn, schema, key)
        table = ledger.tables.balances
        names = [d.key for d in ledger.definition.dimensions]
        unknown = set(filters) - set(names)
        if unknown:
            raise Invalid([{"field": name, "message": f"ledger '{key}' has no dimension "
                            f"'{name}'; its dimensions: {', '.join(names)}"} for name in unknown])
        query = select(table)
        for name, value in filters.items():
            column = table.c[name]
            kind = next(d for d in ledger.definition.dimensions if d.key == name).kind
            if kind == "ref":
                if not value.isdigit():
                    raise Invalid([{"field": name, "message": "give the record id"}])
                value = int(value)
            query = query.where(column == value)
        rows = conn.execute(query.limit(1000)).mappings().all()
        titles = {}
        for dim, target in dimension_targets(conn, schema, key).items():
            if schema.form(target):
                titles[dim] = record_titles(conn, schema, Field("x", "relation", target=target),
                                            [r[dim] for r in rows])
        return {"balances": [_row_json(r, titles) for r in rows]}


def _row_json(row, titles) -> dict:
    out = {}
    for key, value in row.items():
        out[key] = float(value) if isinstance(value, Decimal) else value
        if key in titles and value in titles[key]:
            out[f"{key}_title"] = titles[key][value]
    return out


def trace_json(store, actor, app: str, key: str, *, lot=None, serial=None,
               direction="backward") -> dict:
    from runtime.services.apps import app_schema

    if direction not in ("backward", "forward"):
        raise Invalid([{"field": "direction", "message": "direction is backward or forward"}])
    if not lot and not serial:
        raise Invalid([{"field": "lot", "message": "give lot=... or serial=..."}])
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        ledger = ledger_of(conn, schema, key)
        result = trace(conn, ledger, lot=lot, serial=serial, direction=direction)
    return _jsonable(result)


def _jsonable(value):
    import dataclasses
    import datetime as dt

    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
