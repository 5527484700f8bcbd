"""Posting movements, reversing documents and closing periods.

Everything here runs inside the caller's transaction and leaves it to the caller to
commit or roll back. Each call is all-or-nothing on its own (a savepoint): a refused
posting raises ``LedgerError`` and leaves nothing behind, so the caller may roll back
the whole transaction (the write path does) or carry on. On SQLite the transaction
must hold the write lock from its start (``BEGIN IMMEDIATE``: open the engine with
``runtime.storage.database.open_database`` and write through
``engine.execution_options(loom_write=True)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlalchemy import func, insert, select

from engines.ledgers import genealogy
from engines.ledgers.batch import Batch
from engines.ledgers.errors import LedgerError, Wording
from engines.ledgers.history import effective_values
from engines.ledgers.movement import Move, read_movement
from engines.ledgers.tables import Ledger


class Source(NamedTuple):
    """The document a movement comes from: form key, record id, optional line id."""

    form: str
    record: int
    line: int | None = None


def as_source(source) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, Mapping):
        return Source(source["form"], source["record"], source.get("line"))
    return Source(*source)


def post_movements(conn, ledger: Ledger, movements: Iterable[Mapping], *, source,
                   links: Iterable[tuple] = (), wording: Wording | None = None) -> list[int]:
    """Post ``movements`` of the document ``source`` (``Source`` or ``(form, record)``);
    return the new movement ids in the order given.

    Each movement is a mapping of every dimension key (a missing or ``None`` dimension
    means "not given") plus ``qty`` (signed), ``date``, and optionally ``unit_value``
    (cost per unit of an incoming movement), ``line``, ``trace_group``, ``ref`` (a name
    for ``links`` and ``cost_from``), ``cost_from`` (an incoming movement takes its cost
    from that outgoing one: transfers) and ``reserved_by`` (the ``(form, record)`` whose
    reservations an outgoing movement consumes; default ``source``, ``None`` for none).

    ``links`` are ``(input, output)`` pairs, each a ``ref`` of this posting or the id of
    a movement already posted: the output was made from that input. Outputs of a trace
    group without explicit links come from every input of the group.

    Raises ``LedgerError`` when a constrained balance would go negative (now, or at a
    later date for a back-dated posting), when a serial would be in two places, or when
    a date falls in a closed period; its message uses ``wording``.
    """
    source = as_source(source)
    moves = [read_movement(ledger, m, source) for m in movements]
    return _post(conn, ledger, moves, source, list(links), wording)


def reverse_source(conn, ledger: Ledger, source, *, date: dt.date | None = None,
                   wording: Wording | None = None) -> list[int]:
    """Post the exact reverse of every movement of document ``source`` not yet reversed,
    on the original dates (or on ``date``); return the new movement ids.

    Quantities are negated. A reversed outgoing movement comes back at the value it
    left with; a reversed incoming one leaves by the valuation method (FIFO takes its
    own receipt layer first). Movements are never edited or deleted.
    """
    source = as_source(source)
    m = ledger.tables.movements
    reversed_ids = select(m.c.reversal_of).where(
        m.c.source_form == source.form, m.c.source_record == source.record,
        m.c.reversal_of.is_not(None)).scalar_subquery()
    where = [m.c.source_form == source.form, m.c.source_record == source.record,
             m.c.reversal_of.is_(None), m.c.corrects.is_(None), m.c.id.not_in(reversed_ids)]
    if source.line is not None:
        where.append(m.c.source_line == source.line)
    rows = conn.execute(select(m).where(*where).order_by(m.c.id.desc())).mappings().all()
    if not rows:
        return []
    values = effective_values(conn, ledger, [r["id"] for r in rows]) \
        if ledger.definition.valued else {}
    keys = ledger.definition.keys
    moves = []
    for r in rows:
        fixed = -values[r["id"]][0] if r["qty"] < 0 and ledger.definition.valued else None
        moves.append(Move(tuple(r[k] for k in keys), -r["qty"], date or r["date"],
                          line=r["source_line"], fixed_value=fixed, reversal_of=r["id"],
                          prefer_layer=r["id"] if r["qty"] > 0 else None))
    return _post(conn, ledger, moves, source, [], wording)


def close_period(conn, ledger: Ledger, end_date: dt.date, *,
                 wording: Wording | None = None) -> None:
    """Close the ledger up to and including ``end_date``: no posting on or before it."""
    closed = closed_until(conn, ledger)
    if closed is not None and end_date <= closed:
        raise LedgerError("close_earlier", {"closed": closed, "date": end_date},
                          wording=wording)
    conn.execute(insert(ledger.tables.closings).values(end_date=end_date))


def closed_until(conn, ledger: Ledger) -> dt.date | None:
    c = ledger.tables.closings
    return conn.execute(select(func.max(c.c.end_date))).scalar()


# ---- posting ------------------------------------------------------------------------

def _post(conn, ledger: Ledger, moves: list[Move], source: Source, links, wording):
    if not moves:
        return []
    # A savepoint makes one call all-or-nothing, so a script may go on after a refusal.
    with conn.begin_nested():
        return _post_all(conn, ledger, moves, source, links, wording)


def _post_all(conn, ledger: Ledger, moves: list[Move], source: Source, links, wording):
    closed = closed_until(conn, ledger)
    first = min(m.date for m in moves)
    if closed is not None and first <= closed:
        raise LedgerError("closed", {"closed": closed, "date": first,
                                     "next_open": closed + dt.timedelta(days=1)},
                          wording=wording)
    batch = Batch(conn, ledger, (source.form, source.record), wording)
    ids = batch.take_ids(len(moves))
    refs = {}
    for m, new_id in zip(moves, ids, strict=True):
        m.id = new_id
        if m.ref is not None:
            if m.ref in refs:
                raise ValueError(f"ref {m.ref!r} is used twice in one posting")
            refs[m.ref] = m
    for m in moves:
        if isinstance(m.cost_from, str):
            origin = refs.get(m.cost_from)
            if origin is None or origin.id > m.id or origin.qty > 0:
                raise ValueError(f"cost_from {m.cost_from!r} must name an outgoing movement "
                                 "given earlier in the same posting")
            m.cost_from = origin.id
    batch.lock([m.key for m in moves])
    for m in moves:
        batch.apply(m)
    batch.flush()
    genealogy.record_links(conn, ledger, moves, {r: m.id for r, m in refs.items()}, links)
    return ids
