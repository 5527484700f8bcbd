"""BALANCE(), AVAILABLE() and AVG_COST() for validations and formulas, e.g.
``qty <= BALANCE("stock", material, warehouse)``: the dimensions in the ledger's order,
trailing ones left out to sum over them. What they read comes from ``env["ledgers"]``
(an object with ``balance(key, dims, available=False)``) that the runtime binds to the
current transaction; without it they answer #N/A."""

from __future__ import annotations

from engines.expr import register_function
from engines.expr.errors import ErrorValue


def _dims(values):
    return [v.get("id") if isinstance(v, dict) else v for v in values]


def balance(env, ledger, *dims):
    ledgers = (env or {}).get("ledgers")
    if ledgers is None:
        return ErrorValue("#N/A", "balances cannot be read here")
    return ledgers.balance(str(ledger), _dims(dims))


def available(env, ledger, *dims):
    ledgers = (env or {}).get("ledgers")
    if ledgers is None:
        return ErrorValue("#N/A", "balances cannot be read here")
    return ledgers.balance(str(ledger), _dims(dims), available=True)


register_function("BALANCE", balance, signature="BALANCE(ledger, dimension, ...)",
                  max_args=None, needs_env=True, returns="number",
                  summary="quantity on hand in a ledger for the given dimension values "
                          "(in the ledger's order; the rest are summed over)",
                  example='BALANCE("stock", material) → 120')
register_function("AVAILABLE", available, signature="AVAILABLE(ledger, dimension, ...)",
                  max_args=None, needs_env=True, returns="number",
                  summary="on hand minus reserved",
                  example='AVAILABLE("stock", material) → 100')


def average_cost(env, ledger, *dims):
    ledgers = (env or {}).get("ledgers")
    if ledgers is None:
        return ErrorValue("#N/A", "costs cannot be read here")
    return ledgers.avg_cost(str(ledger), _dims(dims))


register_function("AVG_COST", average_cost, signature="AVG_COST(ledger, dimension, ...)",
                  max_args=None, needs_env=True, returns="number",
                  summary="average cost per unit at the ledger's valuation level (value / "
                          "qty; the last average when nothing is in stock)",
                  example='AVG_COST("stock", material) → 2.5')
