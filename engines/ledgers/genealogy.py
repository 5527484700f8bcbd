"""Lot and serial genealogy: which inputs an output was made from, and where it went.

Edges are kept in the links table, input movement -> output movement. An output
movement (positive) of a trace group comes from every input movement (negative) of
the same group, unless the posting that made it gave explicit links, which then are
its only inputs. The edges of a group are written when either side is posted, so a
trace is one recursive query (SQLite and PostgreSQL alike) over links and movements:

* backward from a lot: the movements that brought it in -> their inputs (links) ->
  the movements that brought *those* lots in -> ...
* forward from a lot: the movements that took it out -> the outputs they went into
  (links) -> the movements that took *those* lots out -> ...

Reversed movements and reversals take no part in a trace.
"""

from __future__ import annotations

import datetime as dt
import functools
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import (
    Float,
    Integer,
    Numeric,
    String,
    and_,
    bindparam,
    cast,
    exists,
    null,
    or_,
    select,
    text,
    type_coerce,
)

from engines.ledgers.bulk import keyed
from engines.ledgers.tables import Ledger

CHUNK = 10_000


@dataclass(slots=True)  # thousands per trace: slots make them cheap to build
class TraceNode:
    """One movement of a trace: what (item, lot / serial), where, how much, which document."""

    id: int
    dims: dict
    qty: Decimal
    date: object
    source: tuple  # (form, record, line)
    trace_group: str | None


@dataclass
class Trace:
    """Movements (``nodes``) and which fed which (``edges``, (from, to) ids in the
    direction material flowed); ``roots`` are the movements the walk started from."""

    direction: str
    roots: list[int]
    identity: tuple[str, ...]  # the dimensions naming what a unit is (item, lot, serial)
    nodes: dict[int, TraceNode] = field(default_factory=dict)
    edges: set[tuple[int, int]] = field(default_factory=set)

    def identities(self) -> set[tuple]:
        """The (item, lot, serial) values reached, None where not given."""
        return {tuple(n.dims[k] for k in self.identity) for n in self.nodes.values()}

    def documents(self) -> set[tuple]:
        return {n.source[:2] for n in self.nodes.values()}

    def as_json(self) -> dict:
        return {
            "direction": self.direction,
            "roots": self.roots,
            "nodes": [{"id": n.id, **n.dims, "qty": format(n.qty.normalize(), "f"),
                       "date": n.date.isoformat(),
                       "source": {"form": n.source[0], "record": n.source[1],
                                  "line": n.source[2]},
                       "trace_group": n.trace_group} for n in self.nodes.values()],
            "edges": [{"from": a, "to": b} for a, b in sorted(self.edges)],
        }


def trace(conn, ledger: Ledger, *, lot: str | None = None, serial: str | None = None,
          item=None, direction: str = "backward") -> Trace:
    """The genealogy of a lot or serial (of ``item``, or of every item using that
    code): ``backward`` to what it was made from, ``forward`` to where it went."""
    d = ledger.definition
    if direction not in ("backward", "forward"):
        raise ValueError("direction is 'backward' or 'forward'")
    wanted = {}
    if lot is not None:
        if not d.lot:
            raise ValueError(f"ledger {d.key} has no lot dimension")
        wanted[d.lot] = lot
    if serial is not None:
        if not d.serial:
            raise ValueError(f"ledger {d.key} has no serial dimension")
        wanted[d.serial] = serial
    if not wanted:
        raise ValueError("trace needs lot= or serial=")
    if item is not None:
        if not d.item:
            raise ValueError(f"ledger {d.key} has no item dimension")
        wanted[d.item] = item
    walk = _walk(ledger.tables, d.identity, tuple(sorted(wanted)), direction)
    with _without_jit(conn):
        rows = conn.execute(walk, {f"want_{k}": v for k, v in wanted.items()}).all()
    rows = [tuple(r) for r in rows]
    result = Trace(direction, sorted({moved for moved, _, parent in rows if parent is None}),
                   d.identity)
    reached = set()
    for moved, via, parent in rows:
        reached.add(moved)
        if parent is None:
            continue
        reached.add(via)
        # Backward: `moved` brought in the lot that `via` consumed into `parent`.
        # Forward: `parent` went into `via`, whose lot `moved` later took out.
        if direction == "backward":
            result.edges.add((via, parent))
            if moved is not None:
                result.edges.add((moved, via))
        else:
            result.edges.add((parent, via))
            if moved is not None:
                result.edges.add((via, moved))
    reached.discard(None)
    result.nodes = _nodes(conn, ledger, reached)
    return result


@contextmanager
def _without_jit(conn):
    """PostgreSQL cannot size a recursive walk: it guesses a cost thousands of times too
    high and JIT-compiles the query, which takes longer (0.7 s) than running it (15 ms).
    Turn JIT off for the walk, within the caller's transaction, and back as it was."""
    if conn.dialect.name != "postgresql":
        yield
        return
    before = conn.execute(text("SELECT current_setting('jit'), "
                               "set_config('jit', 'off', true)")).first()[0]
    yield  # on an error the transaction is rolled back, and the setting with it
    conn.execute(text("SELECT set_config('jit', :before, true)"), {"before": before})


def _not_reversed(tables, movement):
    reversal = tables.movements.alias()
    return ~exists().where(reversal.c.reversal_of == movement.c.id)


def _live(tables, movement):
    """Neither a reversal nor reversed. (Revaluation rows have qty 0, which no step of
    a walk takes; reversals carry no links, so a linked movement needs only the second
    test -- and a filter less keeps PostgreSQL from guessing the linked side tiny and
    scanning it first when its statistics are missing.)"""
    return and_(movement.c.reversal_of.is_(None), _not_reversed(tables, movement))


@functools.lru_cache(maxsize=256)
def _walk(tables, identity: tuple, names: tuple, direction: str):
    """The recursive query of a trace, built once per ledger and shape (building it
    costs more than running it); the wanted values are parameters ``want_<name>``."""
    backward = direction == "backward"

    def same_identity(a, b):
        return and_(*(a.c[k] == b.c[k] for k in identity))

    def inward(x):  # the movements that follow the walk from x
        return x.c.qty > 0 if backward else x.c.qty < 0

    start = tables.movements.alias("start")
    anchor = select(start.c.id.label("id"), cast(null(), Integer).label("via"),
                    cast(null(), Integer).label("parent")) \
        .where(*(start.c[k] == bindparam(f"want_{k}") for k in names), inward(start),
               _live(tables, start))
    walk = anchor.cte("walk", recursive=True)
    w = walk.alias("w")
    link, explicit = tables.links.alias("link"), tables.links.alias("explicit")
    via, nxt = tables.movements.alias("via"), tables.movements.alias("nxt")
    here, there = (link.c.output_id, link.c.input_id) if backward else \
        (link.c.input_id, link.c.output_id)
    step = select(nxt.c.id, via.c.id, w.c.id).select_from(
        w.join(link, here == w.c.id)
        .join(via, and_(via.c.id == there, _not_reversed(tables, via)))
        .outerjoin(nxt, and_(same_identity(nxt, via), inward(nxt), _live(tables, nxt)))
    ).where(or_(link.c.explicit, ~exists().where(explicit.c.output_id == link.c.output_id,
                                                  explicit.c.explicit)))
    walk = walk.union(step)
    # The movements themselves come in a second query: joined here, PostgreSQL misjudges
    # the size of the walk and merge-joins the whole movements table.
    return select(walk.c.id, walk.c.via, walk.c.parent)


def _nodes(conn, ledger: Ledger, ids) -> dict[int, TraceNode]:
    """The movements ``ids``, as trace nodes."""
    d, m = ledger.definition, ledger.tables.movements
    keys, nones, step = d.keys, [d.dimension(k).none for k in d.keys], d.qty_step
    source, condition = keyed(conn, m, ["id"], [(i,) for i in sorted(ids)])
    # A trace may return thousands of movements: on SQLite read qty and date as stored
    # (a float, an ISO string) and convert them once here, not through the column types.
    sqlite = conn.dialect.name == "sqlite"
    qty = type_coerce(m.c.qty, Float() if sqlite else Numeric())
    date = type_coerce(m.c.date, String()) if sqlite else m.c.date
    rows = conn.execute(select(m.c.id, *(m.c[k] for k in keys), qty, date, m.c.source_form,
                               m.c.source_record, m.c.source_line, m.c.trace_group)
                        .select_from(source).where(condition)).all()
    width = len(keys) + 1
    nodes = {}
    for r in rows:
        movement_id, qty, date, form, record, line, group = r[0], *r[width:]
        nodes[movement_id] = TraceNode(
            movement_id, {k: (None if v == none else v)
                          for k, none, v in zip(keys, nones, r[1:width], strict=True)},
            Decimal(repr(qty) if sqlite else qty).quantize(step),
            dt.date.fromisoformat(date) if sqlite else date, (form, record, line), group)
    return nodes


# ---- writing edges --------------------------------------------------------------------

def record_links(conn, ledger: Ledger, moves, refs: dict, explicit) -> None:
    """Write the edges of a posting: its explicit ``(input, output)`` links, and for
    each trace group it touches, input -> output for every pair with a new side."""
    t = ledger.tables
    m, lk = t.movements, t.links
    new = {mv.id: mv.qty for mv in moves}

    def resolve(x):
        if isinstance(x, str):
            if x not in refs:
                raise ValueError(f"link names ref {x!r}, which no movement of this posting has")
            return refs[x]
        return int(x)

    pairs = {(resolve(a), resolve(b)) for a, b in explicit}
    if pairs:
        qty = dict(new)
        others = sorted({x for p in pairs for x in p if x not in new})
        if others:
            qty.update(conn.execute(select(m.c.id, m.c.qty).where(m.c.id.in_(others))).all())
        for i, o in sorted(pairs):
            if qty.get(i, 0) >= 0 or qty.get(o, 0) <= 0:
                raise ValueError(f"link ({i}, {o}) must go from an outgoing (negative) "
                                 "movement to an incoming (positive) one")
        _dialect_insert(conn, lk, [{"input_id": i, "output_id": o, "explicit": True}
                                   for i, o in sorted(pairs)], update_explicit=True)
    linked_outputs = {o for _, o in pairs}
    groups = sorted({mv.group for mv in moves if mv.group})
    members = {}
    for start in range(0, len(groups), CHUNK):
        for mid, qty, group in conn.execute(select(m.c.id, m.c.qty, m.c.trace_group).where(
                m.c.trace_group.in_(groups[start:start + CHUNK]), m.c.reversal_of.is_(None),
                m.c.corrects.is_(None))):
            members.setdefault(group, []).append((mid, qty))
    outputs = sorted({mid for rows in members.values() for mid, qty in rows
                      if qty > 0 and mid not in new})
    for start in range(0, len(outputs), CHUNK):  # outputs already given explicit links
        linked_outputs.update(conn.execute(select(lk.c.output_id).where(
            lk.c.output_id.in_(outputs[start:start + CHUNK]), lk.c.explicit)).scalars())
    rows = []
    for group in groups:
        inputs = [i for i, q in members.get(group, ()) if q < 0]
        for o, q in members.get(group, ()):
            if q > 0 and o not in linked_outputs:
                rows += [{"input_id": i, "output_id": o, "explicit": False}
                         for i in inputs if i in new or o in new]
    if rows:
        conn.execute(lk.insert(), rows)


def _dialect_insert(conn, table, rows, *, update_explicit=False):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["output_id", "input_id"], set_={"explicit": True}) \
        if update_explicit else statement.on_conflict_do_nothing()
    conn.execute(statement, rows)
