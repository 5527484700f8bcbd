"""Reading ledgers through the API: balance rows (now or as of a date), traces, and
the closing of periods. Every reader needs read access to the app; closing a period
is for administrators."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from engines.forms.definition import Field
from engines.ledgers import LedgerError, close_period, closed_until, trace
from runtime.auth.permissions import require_admin
from runtime.services.audit import append_audit
from runtime.services.errors import Invalid
from runtime.services.ledgers import dimension_targets, ledger_of, wording
from runtime.services.recordio import record_titles

MAX_ROWS = 1000


def balances(store, actor, app: str, key: str, filters: dict) -> dict:
    """Balance rows of a ledger matching dimension values (as text from a query);
    ``as_of=YYYY-MM-DD`` sums the movements up to and including that date instead."""
    from runtime.services.apps import app_schema

    filters = dict(filters)
    as_of = _date(filters.pop("as_of")) if "as_of" in filters else None
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        ledger = ledger_of(conn, schema, key)
        names = [d.key for d in ledger.definition.dimensions]
        unknown = set(filters) - set(names)
        if unknown:
            raise Invalid([{"field": name, "message": f"ledger '{key}' has no dimension "
                            f"'{name}'; its dimensions: {', '.join(names)}"} for name in unknown])
        if as_of is None:
            table = ledger.tables.balances
            query = select(table)
        else:
            table = ledger.tables.movements
            dims = [table.c[n] for n in names]
            measures = [func.sum(table.c.qty).label("qty")]
            if ledger.definition.valued:
                measures.append(func.sum(table.c.value).label("value"))
            query = select(*dims, *measures).where(table.c.date <= as_of).group_by(*dims) \
                .having(func.sum(table.c.qty) != 0).order_by(*dims)
        for name, value in filters.items():
            query = query.where(table.c[name] == _dimension_value(ledger, name, value))
        rows = conn.execute(query.limit(MAX_ROWS)).mappings().all()
        titles = {}
        for dim, target in dimension_targets(conn, schema, key).items():
            if schema.form(target):
                titles[dim] = record_titles(conn, schema, Field("x", "relation", target=target),
                                            [r[dim] for r in rows])
        return {"balances": [_row_json(ledger, r, titles) for r in rows],
                **({"as_of": as_of.isoformat()} if as_of else {})}


def _dimension_value(ledger, name: str, value: str):
    kind = ledger.definition.dimension(name).kind
    if kind == "ref":
        if not value.isdigit():
            raise Invalid([{"field": name, "message": "give the record id"}])
        return int(value)
    return value


def _date(text: str, field: str = "as_of") -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid([{"field": field, "message": f"'{text}' is not a date; "
                        "write it as YYYY-MM-DD"}]) from None


def _row_json(ledger, row, titles) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, (Decimal, float)):
            step = ledger.definition.value_step if key == "value" else ledger.definition.qty_step
            value = float(Decimal(value).quantize(step))
        out[key] = value
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


def closing(store, actor, app: str, key: str) -> dict:
    from runtime.services.apps import app_schema

    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        ledger = ledger_of(conn, schema, key)
        closed = closed_until(conn, ledger)
    return {"closed_until": closed.isoformat() if closed else None}


def close(store, actor, app: str, key: str, body: dict) -> dict:
    """Close the ledger's periods up to and including ``body["end_date"]``."""
    from runtime.services.apps import app_schema

    require_admin(actor, "close a ledger period")
    if not isinstance(body, dict) or not isinstance(body.get("end_date"), str):
        raise Invalid([{"field": "end_date", "message": "give the last day of the period to "
                        "close, as YYYY-MM-DD"}])
    end = _date(body["end_date"], "end_date")
    with store.write() as conn:
        schema = app_schema(store, conn, actor, app)
        ledger = ledger_of(conn, schema, key)
        try:
            close_period(conn, ledger, end, wording=wording(conn, schema, ledger))
        except LedgerError as error:
            raise Invalid([{"field": "end_date", "message": error.message}]) from None
        # Audited beside records: "form" ledger, record 0, what was closed in "after".
        append_audit(conn, actor, app, "ledger", 0, "close_period", None,
                     {"ledger": key, "end_date": end.isoformat()})
    return {"closed_until": end.isoformat()}


def _jsonable(value):
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
