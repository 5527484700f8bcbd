"""The app's ledgers as the runtime opens them (once per app version), and the
balance reader expressions use (``BALANCE()``, ``AVAILABLE()``)."""

from __future__ import annotations

from engines.expr import ErrorValue
from engines.ledgers import available as available_qty
from engines.ledgers import balance, open_ledger
from runtime.services.errors import NotFound
from runtime.storage import definitions


def ledger_of(conn, schema, key: str):
    ledgers = schema.cache.setdefault("ledgers", {})
    if key not in ledgers:
        body = definitions.current(conn, schema.key).get(("ledger", key))
        if body is None:
            raise NotFound(f"app '{schema.key}' has no ledger '{key}'")
        ledgers[key] = open_ledger(schema.key, body)
    return ledgers[key]


class LedgerAccess:
    """What BALANCE() / AVAILABLE() read, inside the current transaction."""

    def __init__(self, conn, schema):
        self.conn, self.schema = conn, schema

    def balance(self, key: str, values, available: bool = False):
        try:
            ledger = ledger_of(self.conn, self.schema, key)
        except NotFound:
            return ErrorValue("#REF!", f"there is no ledger '{key}'")
        names = [d.key for d in ledger.definition.dimensions]
        dims = {name: value for name, value in zip(names, values, strict=False)
                if value is not None}
        reader = available_qty if available else balance
        return reader(self.conn, ledger, **dims)




def dimension_targets(conn, schema, key: str) -> dict[str, str]:
    """{dimension: form} of a ledger's dimensions that point to records of a form."""
    body = definitions.current(conn, schema.key).get(("ledger", key)) or {}
    return {d["key"]: d["target"] for d in body.get("dimensions", []) if d.get("target")}
