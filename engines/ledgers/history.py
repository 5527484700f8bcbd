"""Questions about the past, answered from the movements table in SQL.

Postings are ordered by (date, id); a revaluation row (``corrects`` set) belongs to
the movement it corrects, so its position is that movement's. A back-dated posting
goes after everything already posted on its date.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, case, func, or_, select

from engines.ledgers.tables import Ledger

ZERO = Decimal(0)


def matching(table, keys, values):
    return and_(*(table.c[k] == v for k, v in zip(keys, values, strict=True)))


def first_negative(conn, ledger: Ledger, ckey: tuple, date, qty: Decimal):
    """If adding ``qty`` (negative) on ``date`` at constraint key ``ckey`` would make
    the running balance negative at that point or later: (first such date, shortfall,
    balance on ``date`` before it)."""
    m = ledger.tables.movements
    where = matching(m, ledger.definition.constraint, ckey)
    base = _exact(ledger, conn.execute(select(func.coalesce(func.sum(m.c.qty), 0))
                                       .where(where, m.c.date <= date)).scalar_one(), "qty")
    # Half a step of tolerance: on SQLite the sums are floating point.
    tolerance = ledger.definition.qty_step / 2
    if base + qty < -tolerance:
        return date, -(base + qty), base
    running = select(m.c.date, func.sum(m.c.qty).over(order_by=(m.c.date, m.c.id))
                     .label("run")).where(where, m.c.date > date).subquery()
    row = conn.execute(select(running.c.date, running.c.run)
                       .where(running.c.run + (base + qty) < -tolerance)
                       .order_by(running.c.date).limit(1)).first()
    if row is None:
        return None
    return row.date, -(Decimal(row.run) + base + qty), base


def _position(m):
    return func.coalesce(m.c.corrects, m.c.id)


def state_before(conn, ledger: Ledger, vkey: tuple, date, movement_id: int | None):
    """(qty, value) at valuation key ``vkey`` just before position (date, movement_id);
    ``movement_id`` None means after everything on ``date``."""
    m = ledger.tables.movements
    where = [matching(m, ledger.definition.valuation_level, vkey)]
    if movement_id is None:
        where.append(m.c.date <= date)
    else:
        where.append(or_(m.c.date < date, and_(m.c.date == date, _position(m) < movement_id)))
    row = conn.execute(select(func.coalesce(func.sum(m.c.qty), 0),
                              func.coalesce(func.sum(m.c.value), 0)).where(*where)).one()
    return _exact(ledger, row[0], "qty"), _exact(ledger, row[1], "value")


def movements_after(conn, ledger: Ledger, vkey: tuple, date, movement_id: int | None):
    """The movements at ``vkey`` after position (date, movement_id), oldest first, each
    with its effective value (its own plus its revaluations)."""
    m = ledger.tables.movements
    fix = m.alias("fix")
    correction = (select(func.coalesce(func.sum(fix.c.value), 0))
                  .where(fix.c.corrects == m.c.id).scalar_subquery())
    where = [matching(m, ledger.definition.valuation_level, vkey), m.c.corrects.is_(None)]
    if movement_id is None:
        where.append(m.c.date > date)
    else:
        where.append(or_(m.c.date > date, and_(m.c.date == date, m.c.id > movement_id)))
    rows = conn.execute(select(m, (m.c.value + correction).label("effective"))
                        .where(*where).order_by(m.c.date, m.c.id)).mappings().all()
    out = []
    for row in rows:
        item = dict(row)
        item["value"] = _exact(ledger, row["effective"], "value")
        out.append(item)
    return out


def effective_values(conn, ledger: Ledger, ids) -> dict[int, tuple[Decimal, Decimal]]:
    """movement id -> (effective value, qty) for movements already posted."""
    if not ids:
        return {}
    m = ledger.tables.movements
    owner = case((m.c.corrects.is_(None), m.c.id), else_=m.c.corrects)
    value = func.sum(m.c.value)
    qty = func.sum(case((m.c.corrects.is_(None), m.c.qty), else_=0))
    rows = conn.execute(select(owner.label("owner"), value, qty)
                        .where(or_(m.c.id.in_(list(ids)), m.c.corrects.in_(list(ids))))
                        .group_by(owner)).all()
    return {row[0]: (_exact(ledger, row[1], "value"), _exact(ledger, row[2], "qty"))
            for row in rows}


def dependents(conn, ledger: Ledger, ids) -> list[dict]:
    """Movements whose cost was taken from one of ``ids`` (transfers in)."""
    if not ids:
        return []
    m = ledger.tables.movements
    return [dict(r) for r in conn.execute(
        select(m).where(m.c.cost_from.in_(list(ids)), m.c.corrects.is_(None))
        .order_by(m.c.date, m.c.id)).mappings()]


def _exact(ledger: Ledger, amount, measure: str) -> Decimal:
    """A sum from SQL rounded to the measure's precision (SQLite sums floats)."""
    d = ledger.definition
    step = d.qty_step if measure == "qty" else d.value_step
    return Decimal(amount or 0).quantize(step)
