"""Ledger posting from forms: what a record posts (its form's ``posting``), when it is
submitted or approved, inside the same transaction.

A posting rule names a ledger, the moment (``submit`` or ``approved``), optionally a
subtable (one movement per line), and expressions for the quantity, the dimensions,
the unit value and the date. Expressions in a line rule see the line's fields and the
record's; relations give the linked record's id. A rule may instead ``reserve`` the
quantity, ``consume`` the reservations of a related document, or ``transfer_to`` other
dimensions (same lot, same cost). Cancelling a record reverses all of it
(``runtime/services/cancelling.py``).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from engines.expr import ErrorValue, ExpressionError, compile_expression
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.forms.logic import describe
from engines.ledgers import (
    LedgerError,
    allocate_fifo,
    post_movements,
    reserve,
    reverse_source,
)
from runtime.services import clock
from runtime.services.errors import Invalid
from runtime.services.ledgers import LedgerAccess, ledger_of, wording
from runtime.services.lots import place_lots
from runtime.services.recordio import read_records


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
                     "when": rule.get("when"), "consumes": rule.get("consumes"),
                     **{f"dim:{k}": v for k, v in rule["dimensions"].items()},
                     **{f"to:{k}": v for k, v in rule.get("transfer_to", {}).items()}}
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


def post_document(conn, schema, ft, record_id: int, moment: str, env: dict, *,
                  actor=None) -> int:
    """Post (or reserve) what the record posts at ``moment``; returns the number of
    movements and reservations made. ``balance changed`` rules of each ledger then run,
    once per balance row changed."""
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
        words = wording(conn, schema, ledger)
        movements, paths = _movements(ft, rule, exprs, header, record_json, env)
        if not movements:
            continue
        source = (ft.form.key, record_id)
        consumes = _consumed(ft, rule, movements)
        try:
            if rule.get("reserve"):
                count += _reserve(conn, ledger, movements, source, words)
                continue
            movements = place_lots(conn, schema, ledger, movements, env, words, paths=paths,
                                   reserved_by=consumes or source)
            if consumes:
                for m in movements:
                    m["reserved_by"] = consumes
            if "transfer_to" in rule:
                movements = _with_arrivals(ledger, movements)
            ids = post_movements(conn, ledger, movements, source=source, wording=words)
        except LedgerError as error:
            raise Invalid([{"field": rule.get("lines"), "message": error.message}]) from None
        count += len(movements)
        posted.setdefault(rule["ledger"], []).extend(ids)
    for key, ids in posted.items():
        balances_changed(conn, schema, ledger_of(conn, schema, key), ids, actor)
    return count


def _movements(ft, rule, exprs, header, record_json, env) -> tuple[list[dict], list[str]]:
    """One movement per line (or one for the record), with where each came from."""
    scopes = [(header, None, "")]
    if rule.get("lines"):
        sub = ft.subtables[rule["lines"]]
        scopes = []
        for n, line in enumerate(record_json.get(rule["lines"], [])):
            merged = dict(header)
            for f, _ in sub.fields_with_columns():
                merged[f.key] = _python(f, line.get(f.key))
            scopes.append((merged, line["id"], f"{rule['lines']}[{n}]"))
    movements, paths = [], []
    for record, line_id, path in scopes:
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
        for name in ("unit_value", "trace_group"):
            if name in exprs:
                movement[name] = _value(exprs[name], record, env)
        if "consumes" in exprs:
            movement["_consumes"] = _value(exprs["consumes"], record, env)
        if "transfer_to" in rule:
            movement["_to"] = {name[3:]: _value(e, record, env) for name, e in exprs.items()
                               if name.startswith("to:")}
        if line_id is not None:
            movement["line"] = line_id
        movements.append(movement)
        paths.append(path)
    return movements, paths


def _consumed(ft, rule, movements):
    """(form, record) whose reservations the rule's movements use up, or None. One
    document per posting: the first line that names one decides."""
    if "consumes" not in rule:
        return None
    ids = [m.pop("_consumes", None) for m in movements]
    named = next((i for i in ids if i), None)
    if named is None:
        return None
    field = ft.form.field(rule["consumes"])
    if field is None:
        lines = ft.form.field(rule["lines"])
        field = next(f for f in lines.fields if f.key == rule["consumes"])
    return (field.target, named)


def _reserve(conn, ledger, movements, source, words) -> int:
    """Hold each line's qty: where it is, or on the oldest lots when the line names
    fewer dimensions than the ledger's constraint."""
    d, count = ledger.definition, 0
    for m in movements:
        given = {k: m.get(k) for k in d.keys if m.get(k) is not None}
        pieces = [{**given, "qty": m["qty"]}] if all(k in given for k in d.constraint) \
            else allocate_fifo(conn, ledger, given, m["qty"], reserved_by=source, wording=words)
        for piece in pieces:
            reserve(conn, ledger, {k: piece.get(k) for k in d.constraint}, piece["qty"],
                    source=(*source, m.get("line")), wording=words)
            count += 1
    return count


def _with_arrivals(ledger, movements: list[dict]) -> list[dict]:
    """Each departure followed by its arrival where ``transfer_to`` says, at its cost."""
    out = []
    for n, m in enumerate(movements):
        to = m.pop("_to")
        departure = {**m, "ref": f"out{n}"}
        arrival = {**m, **to, "qty": -m["qty"]}
        arrival.pop("reserved_by", None)
        if ledger.definition.valued:
            arrival["cost_from"] = departure["ref"]
        out += [departure, arrival]
    return out


def balances_changed(conn, schema, ledger, movement_ids: list[int], actor) -> None:
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
                             wording=wording(conn, schema, ledger))
    except (LedgerError, ValueError) as error:
        raise Invalid([{"field": None, "message": getattr(error, "message", str(error))}]) \
            from None
    balances_changed(conn, schema, ledger, ids, actor)


def reverse_rule_movements(conn, schema, ledger_key: str, source, actor) -> int:
    """A rule's ``reverse``: undo what the record posted to the ledger."""
    ledger = ledger_of(conn, schema, ledger_key)
    try:
        ids = reverse_source(conn, ledger, source, wording=wording(conn, schema, ledger))
    except LedgerError as error:
        raise Invalid([{"field": None, "message": error.message}]) from None
    balances_changed(conn, schema, ledger, ids, actor)
    return len(ids)


def _python(field, value):
    try:
        return coerce_value(field, value)
    except FieldError:
        return value
