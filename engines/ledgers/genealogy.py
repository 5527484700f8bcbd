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

import functools
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Integer, and_, bindparam, cast, exists, null, or_, select

from engines.ledgers.tables import Ledger

CHUNK = 10_000


@dataclass(frozen=True)
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
    walk = _walk(ledger.tables, d.identity, d.keys, tuple(sorted(wanted)), direction)
    rows = conn.execute(walk, {f"want_{k}": v for k, v in wanted.items()}).all()
    result = Trace(direction, sorted({r.id for r in rows if r.parent is None}), d.identity)
    for r in rows:
        if r.parent is None:
            continue
        # Backward: r.id brought in the lot that r.via consumed into r.parent.
        # Forward: r.parent went into r.via, whose lot r.id later took out.
        if direction == "backward":
            result.edges.add((r.via, r.parent))
            if r.id is not None:
                result.edges.add((r.id, r.via))
        else:
            result.edges.add((r.parent, r.via))
            if r.id is not None:
                result.edges.add((r.via, r.id))
    result.nodes = _nodes(d, rows)
    return result


def _live(tables, movement):
    reversal = tables.movements.alias()
    return and_(movement.c.reversal_of.is_(None), movement.c.corrects.is_(None),
                ~exists().where(reversal.c.reversal_of == movement.c.id))


@functools.lru_cache(maxsize=256)
def _walk(tables, identity: tuple, keys: tuple, names: tuple, direction: str):
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
        .join(via, and_(via.c.id == there, _live(tables, via)))
        .outerjoin(nxt, and_(same_identity(nxt, via), inward(nxt), _live(tables, nxt)))
    ).where(or_(link.c.explicit, ~exists().where(explicit.c.output_id == link.c.output_id,
                                                  explicit.c.explicit)))
    walk = walk.union(step)
    # The movements reached come back with the walk (one round trip, no id list).
    node, via_node = tables.movements.alias("node"), tables.movements.alias("via_node")
    return select(walk.c.id, walk.c.via, walk.c.parent,
                  *_node_columns(node, keys, "n_"), *_node_columns(via_node, keys, "v_")) \
        .select_from(walk.outerjoin(node, node.c.id == walk.c.id)
                     .outerjoin(via_node, via_node.c.id == walk.c.via))


NODE_COLUMNS = ("qty", "date", "source_form", "source_record", "source_line", "trace_group")


def _node_columns(table, keys, prefix):
    return [table.c[name].label(prefix + name) for name in (*keys, *NODE_COLUMNS)]


def _nodes(d, rows) -> dict[int, TraceNode]:
    """The movements of the walk's rows (each row carries its movement and its via)."""
    keys, nones, step = d.keys, [d.dimension(k).none for k in d.keys], d.qty_step
    width = len(keys)
    nodes = {}
    for r in rows:
        for start, movement_id in ((3, r[0]), (3 + width + len(NODE_COLUMNS), r[1])):
            if movement_id is None or movement_id in nodes:
                continue
            values = r[start:start + width + len(NODE_COLUMNS)]
            qty, date, form, record, line, group = values[width:]
            nodes[movement_id] = TraceNode(
                movement_id, {k: (None if v == none else v)
                              for k, none, v in zip(keys, nones, values[:width], strict=True)},
                qty.quantize(step), date, (form, record, line), group)
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
