"""FIFO allocation: which lots (and serials) an outgoing quantity takes, oldest first.

"Oldest" is the date a lot (of that item) was first received anywhere, then the lot
code; serials likewise, one unit each. The balances chosen are locked, so posting
the allocation in the same transaction cannot be refused for stock someone else
took in between.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from engines.ledgers.batch import Batch
from engines.ledgers.bulk import keyed
from engines.ledgers.errors import Wording
from engines.ledgers.movement import number
from engines.ledgers.posting import as_source
from engines.ledgers.tables import Ledger

ZERO = Decimal(0)
NEVER = dt.date.max


def allocate_fifo(conn, ledger: Ledger, item_dims: dict, qty, *, reserved_by=None,
                  wording: Wording | None = None) -> list[dict]:
    """Split ``qty`` (positive: the amount going out) over the balances matching
    ``item_dims`` (e.g. ``{"item": 3, "site": 1}``), oldest lot first; serial-tracked
    stock goes one serial per unit. Returns ``[{dimension: value, ..., "qty": q}]``
    with every dimension (None where not given), ready to post with ``-q``. Quantity
    reserved for other documents is not offered (``reserved_by``: the document whose
    own reservations may be used). Raises ``LedgerError`` if there is not enough."""
    d = ledger.definition
    qty = number(qty, "qty")
    if qty <= 0:
        raise ValueError("allocate a positive qty")
    wanted = d.stored(item_dims)
    owner = tuple(as_source(reserved_by))[:2] if reserved_by is not None else None
    batch = Batch(conn, ledger, owner or ("", 0), wording)
    b = ledger.tables.balances
    query = select(b).where(*(b.c[k] == v for k, v in wanted.items()),
                            b.c.qty > d.qty_step / 2).order_by(*batch.balance_order())
    if d.constraint:
        # Lock the way a posting does (whole constraint keys, in order), then read again.
        found = conn.execute(query).mappings().all()
        batch.lock_constraint({batch.ckey(tuple(r[k] for k in d.keys)) for r in found})
    else:
        batch.register(conn.execute(query.with_for_update()).mappings().all(), [])
    keys = [k for k, row in batch.rows.items() if row.qty > 0
            and all(k[d.keys.index(n)] == v for n, v in wanted.items())]
    room, held = {}, ZERO  # constraint key -> what other documents' reservations leave free
    for ck, total in batch.total.items():
        others = sum((r.qty for r in batch.reserved.get(ck, ()) if r.source != owner), ZERO)
        room[ck] = total - others
        held += others
    first_in = _first_receipts(conn, ledger, keys)
    lot_i = d.keys.index(d.lot) if d.lot else None
    serial_i = d.keys.index(d.serial) if d.serial else None

    def age(key):
        lot = key[lot_i] if lot_i is not None else ""
        serial = key[serial_i] if serial_i is not None else ""
        return (first_in.get(("lot", _lot_identity(d, key)), NEVER), lot,
                first_in.get(("serial", _serial_identity(d, key)), NEVER), serial, key)

    left, out = qty, []
    for key in sorted(keys, key=age):
        if left <= 0:
            break
        have = batch.rows[key].qty
        if d.constraint:
            have = min(have, room[batch.ckey(key)])
        take = min(left, have)
        if serial_i is not None and key[serial_i] != "":
            take = min(take, Decimal(1))
        if take <= 0:
            continue
        if d.constraint:
            room[batch.ckey(key)] -= take
        left -= take
        out.append({**{k: d.dimension(k).shown(v) for k, v in zip(d.keys, key, strict=True)},
                    "qty": take})
    if left > 0:
        got = qty - left
        raise batch.error("short_reserved" if held > 0 else "short", {
            "dims": wanted, "needs": qty, "available": got, "short": left, "reserved": held})
    return out


def _lot_identity(d, key):
    return tuple(key[d.keys.index(k)] for k in d.identity if k != d.serial)


def _serial_identity(d, key):
    return tuple(key[d.keys.index(k)] for k in d.identity if k != d.lot)


def _first_receipts(conn, ledger: Ledger, keys) -> dict:
    """("lot" | "serial", identity) -> the first date it came in, from the movements."""
    d, m = ledger.definition, ledger.tables.movements
    out = {}
    for kind, code, identity in (("lot", d.lot, _lot_identity), ("serial", d.serial,
                                                                 _serial_identity)):
        if not code:
            continue
        names = [k for k in d.identity if k != (d.serial if kind == "lot" else d.lot)]
        wanted = sorted({identity(d, k) for k in keys if k[d.keys.index(code)] != ""})
        cols = [m.c[k] for k in names]
        for start in range(0, len(wanted), 300):
            chunk = wanted[start:start + 300]
            source, condition = keyed(conn, m, names, chunk)
            for row in conn.execute(select(*cols, func.min(m.c.date)).select_from(source)
                                    .where(condition, m.c.qty > 0).group_by(*cols)):
                out[(kind, tuple(row[:-1]))] = row[-1]
    return out
