"""Reservations: quantity held for a document, at the constraint level.

A reservation is taken only from what is available (on hand minus what other
documents hold). Outgoing movements of other documents cannot take reserved
quantity; an outgoing movement whose ``reserved_by`` is the holding document uses
the reservation up (releases it by the quantity moved). ``release`` cancels what a
document still holds.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, insert, select

from engines.ledgers.batch import Batch
from engines.ledgers.errors import Wording
from engines.ledgers.movement import number
from engines.ledgers.posting import as_source
from engines.ledgers.tables import Ledger

ZERO = Decimal(0)


def reserve(conn, ledger: Ledger, dims: dict, qty, *, source,
            wording: Wording | None = None) -> int:
    """Hold ``qty`` at ``dims`` (every constraint dimension, nothing else) for document
    ``source``; return the reservation id. Raises ``LedgerError`` when less is available."""
    d = ledger.definition
    if not d.constraint:
        raise ValueError(f"ledger {d.key} has no constraint, so nothing can be reserved")
    missing = [k for k in d.constraint if k not in dims]
    if missing:
        raise ValueError(f"a reservation names every constraint dimension; missing {missing}")
    stored = d.stored(dims, d.constraint)
    qty = number(qty, "qty")
    if qty <= 0:
        raise ValueError("a reservation holds a positive qty")
    source = as_source(source)
    batch = Batch(conn, ledger, (source.form, source.record), wording)
    ck = tuple(stored[k] for k in d.constraint)
    batch.lock_constraint([ck])
    held = sum((r.qty for r in batch.reserved.get(ck, ())), ZERO)
    available = batch.total[ck] - held
    if qty > available:
        shown = max(available, ZERO)
        raise batch.error("short_reserved" if held > 0 else "short", {
            "dims": stored, "needs": qty, "available": shown, "short": qty - shown,
            "reserved": held})
    r = ledger.tables.reservations
    return conn.execute(insert(r).values(
        **stored, qty=qty, source_form=source.form, source_record=source.record,
        source_line=source.line).returning(r.c.id)).scalar_one()


def release(conn, ledger: Ledger, source) -> Decimal:
    """Cancel the reservations of document ``source`` (of one line if it names one);
    return the quantity released."""
    source = as_source(source)
    r = ledger.tables.reservations
    where = [r.c.source_form == source.form, r.c.source_record == source.record]
    if source.line is not None:
        where.append(r.c.source_line == source.line)
    total = conn.execute(select(func.sum(r.c.qty)).where(*where)).scalar()
    conn.execute(r.delete().where(*where))
    return Decimal(total or 0).quantize(ledger.definition.qty_step)


def reservations_of(conn, ledger: Ledger, source) -> list[dict]:
    """What document ``source`` still holds: dimension values and qty per reservation."""
    source = as_source(source)
    r = ledger.tables.reservations
    rows = conn.execute(select(r).where(r.c.source_form == source.form,
                                        r.c.source_record == source.record)
                        .order_by(r.c.id)).mappings()
    d = ledger.definition
    return [{**{k: d.dimension(k).shown(row[k]) for k in d.constraint},
             "qty": row["qty"].quantize(d.qty_step), "line": row["source_line"],
             "id": row["id"]} for row in rows]
