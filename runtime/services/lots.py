"""Lots and serials in postings from forms: which an item must carry (the ledger's
``tracking``, expressions over the item's record), and which an outgoing line takes
when it names none (oldest first, by ``engines.ledgers.allocate_fifo``); and the
item's own valuation method (the ledger's ``valuation.item_method``)."""

from __future__ import annotations

from engines.expr import ExpressionError, compile_expression
from engines.forms.logic import describe
from engines.ledgers import LedgerError, allocate_fifo
from engines.ledgers.movement import METHODS
from runtime.services.errors import Invalid
from runtime.services.ledgers import dimension_targets
from runtime.services.recordio import read_records

NEEDS_ZH = {"lot": "按批次管理, 入库必须填写批号", "serial": "按序列号管理, 入库必须填写序列号"}


def _tracking(conn, schema, ledger):
    """(item form tables, {"lot" | "serial" | "method": compiled expression}) or None."""
    cache = schema.cache.setdefault("tracking", {})
    key = ledger.definition.key
    if key not in cache:
        spec = dict(ledger.definition.raw.get("tracking", {}))
        method = (ledger.definition.raw.get("valuation") or {}).get("item_method")
        if method:
            spec["method"] = method
        target = dimension_targets(conn, schema, key).get(ledger.definition.item)
        ft = schema.form(target) if spec and target else None
        if ft is None:
            cache[key] = None
        else:
            forms = {k: other.form for k, other in schema.forms.items()}
            scope = describe(ft.form, forms)
            try:
                cache[key] = (ft, {role: compile_expression(
                    source, scope, expect="text" if role == "method" else "boolean")
                    for role, source in spec.items()})
            except ExpressionError as error:
                raise Invalid([{"field": f"ledgers/{key}#/tracking",
                                "message": str(error)}]) from None
    return cache[key]


class Tracking:
    """What each item of one posting needs, read once per item."""

    def __init__(self, conn, schema, ledger, env):
        self.conn, self.ledger, self.env = conn, ledger, env
        self.spec = _tracking(conn, schema, ledger)
        self.known = {}

    def _read(self, item) -> dict:
        if item not in self.known:
            ft, exprs = self.spec
            row = self.conn.execute(ft.statement("by_id"), {"rid": item}).mappings().first()
            found = {}
            if row is not None:
                record = read_records(self.conn, ft, [row])[0]
                values = {f.key: record.get(f.key) for f, _ in ft.fields_with_columns()}
                found = {role: expr.evaluate(values, self.env) for role, expr in exprs.items()}
            self.known[item] = found
        return self.known[item]

    def needs(self, item) -> set[str]:
        if self.spec is None or not item:
            return set()
        return {role for role in ("lot", "serial") if self._read(item).get(role) is True}

    def method(self, item) -> str | None:
        """The item's valuation method, or None for the ledger's."""
        if self.spec is None or not item or "method" not in self.spec[1]:
            return None
        method = self._read(item).get("method")
        if method in (None, ""):
            return None
        if method not in METHODS:
            raise Invalid([{"field": f"ledgers/{self.ledger.definition.key}#/valuation/"
                            "item_method", "message": f"gave {method!r} for item {item}; "
                            f"it must give one of {', '.join(METHODS)} or nothing"}])
        return method


def place_lots(conn, schema, ledger, movements: list[dict], env, wording, *,
               paths: list[str], reserved_by=None) -> list[dict]:
    """Check that incoming tracked stock names its lot / serial and split outgoing lines
    that name none over the oldest lots. ``paths[i]`` is where movement i came from
    (``lines[2]``) for error messages. Returns the movements to post."""
    d = ledger.definition
    tracking = Tracking(conn, schema, ledger, env)
    if d.item and tracking.spec is not None:
        for movement in movements:
            method = tracking.method(movement.get(d.item))
            if method:
                movement["valuation_method"] = method
    codes = [c for c in (d.lot, d.serial) if c]
    if not codes:
        return movements
    out = []
    for movement, path in zip(movements, paths, strict=True):
        needs = tracking.needs(movement.get(d.item)) if d.item else set()
        if movement["qty"] > 0:
            for role in needs:
                if not movement.get(getattr(d, role)):
                    what = f"{wording.labels.get(d.item, d.item)} " \
                        f"{wording.display(d.item, movement.get(d.item))}"
                    raise Invalid([{"field": f"{path}.{getattr(d, role)}" if path else None,
                                    "message": f"{what} {NEEDS_ZH[role]}"}])
            out.append(movement)
            continue
        blank = [c for c in codes if not movement.get(c)]
        if not blank or (tracking.spec is not None and not needs & {"lot", "serial"}):
            out.append(movement)
            continue
        given = {k: movement.get(k) for k in d.keys if movement.get(k) is not None}
        try:
            pieces = allocate_fifo(conn, ledger, given, -movement["qty"],
                                   reserved_by=reserved_by, wording=wording)
        except LedgerError as error:
            raise Invalid([{"field": f"{path}.qty" if path else None,
                            "message": error.message}]) from None
        for piece in pieces:
            out.append({**movement, **{k: piece[k] for k in d.keys}, "qty": -piece["qty"]})
    return out

