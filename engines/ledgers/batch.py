"""One posting's locked view of the balances it touches.

A posting first locks every balance, cost and layer row it will touch — in key
order, so two postings never wait on each other in a cycle — then applies its
movements one by one in memory, refusing the first that breaks a rule, and writes
everything back with a few ``executemany`` statements. On PostgreSQL the rows are
locked with ``SELECT ... FOR UPDATE``; where one balance row is not the whole story
(a constraint coarser than the balance rows, a serial that may sit in any place) a
transaction-scoped advisory lock on that key stands in for the rows that do not
exist yet. On SQLite the caller's ``BEGIN IMMEDIATE`` already holds the write lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, insert, select, text

from engines.ledgers import costing, history
from engines.ledgers.bulk import advisory_lock, insert_missing, select_keys, update_by_id
from engines.ledgers.errors import LedgerError
from engines.ledgers.movement import Move
from engines.ledgers.valuation import Cost, Layer

ZERO = Decimal(0)


@dataclass
class Balance:
    id: int
    qty: Decimal
    last_date: object
    dirty: bool = False


@dataclass
class Reservation:
    id: int
    source: tuple
    qty: Decimal
    dirty: bool = False


@dataclass
class Batch:
    conn: object
    ledger: object
    source: tuple
    wording: object = None
    rows: dict = field(default_factory=dict)       # full key -> Balance
    total: dict = field(default_factory=dict)      # constraint key -> qty
    last: dict = field(default_factory=dict)       # constraint key -> last date
    reserved: dict = field(default_factory=dict)   # constraint key -> [Reservation]
    serials: dict = field(default_factory=dict)    # (item, serial) -> {full key: qty}
    costs: dict = field(default_factory=dict)      # valuation key -> Cost
    layers: dict = field(default_factory=dict)     # valuation key -> [Layer]
    valued: dict = field(default_factory=dict)     # movement id -> (Valued, qty)
    pending: list = field(default_factory=list)    # movement rows to insert
    consumed: list = field(default_factory=list)   # FIFO layers emptied, to write back
    next_id: int | None = None

    def __post_init__(self):
        d = self.ledger.definition
        self.d, self.t = d, self.ledger.tables
        self.c_idx = [d.keys.index(k) for k in d.constraint]
        self.v_idx = [d.keys.index(k) for k in d.valuation_level]
        self.s_idx = [d.keys.index(k) for k in (d.item, d.serial) if k] if d.serial else []
        self.coarse = bool(d.constraint) and len(d.constraint) < len(d.keys)
        self.pg = self.conn.dialect.name == "postgresql"

    # ---- keys -------------------------------------------------------------------
    def ckey(self, key):
        return tuple(key[i] for i in self.c_idx) if self.c_idx else None

    def vkey(self, key):
        return tuple(key[i] for i in self.v_idx) if self.d.valued else None

    def skey(self, key):
        if not self.s_idx or key[self.s_idx[-1]] == "":
            return None
        return tuple(key[i] for i in self.s_idx)

    def dims(self, key, names=None) -> dict:
        return dict(zip(names or self.d.keys, key, strict=True))

    def unserial(self, key) -> dict:
        """Dimension values without the serial (messages about a serial name it once)."""
        return {k: v for k, v in self.dims(key).items() if k != self.d.serial}

    def error(self, code, details):
        return LedgerError(code, details, identity=self.d.identity, places=self.d.places,
                           wording=self.wording)

    def exact(self, amount, measure="qty") -> Decimal:
        """A stored amount at the measure's precision (SQLite stores floating point)."""
        step = self.d.qty_step if measure == "qty" else self.d.value_step
        return Decimal(amount).quantize(step)

    # ---- locking and loading ----------------------------------------------------
    def lock(self, keys) -> None:
        """Lock and load everything movements at these full keys touch, creating the
        balance and cost rows that do not exist yet (so there is a row to lock)."""
        keys = sorted(set(keys))
        ckeys = sorted({self.ckey(k) for k in keys}) if self.c_idx else []
        skeys = sorted({s for s in map(self.skey, keys) if s})
        if self.coarse:
            advisory_lock(self.conn, self.t.balances.name, "c", ckeys)
        advisory_lock(self.conn, self.t.balances.name, "s", skeys)
        self._load_balances(keys, ckeys)
        if skeys:
            self._load_serials(skeys)
        if ckeys and self.conn.execute(select(self.t.reservations.c.id).limit(1)).first():
            self._load_reservations(ckeys)
        if self.d.valued:
            self.load_costs(sorted({self.vkey(k) for k in keys}))

    def lock_constraint(self, ckeys) -> None:
        """Lock and load the balances and reservations under constraint keys, creating
        nothing (reserving and allocating only look at what is there)."""
        ckeys = sorted(set(ckeys))
        if self.coarse:
            advisory_lock(self.conn, self.t.balances.name, "c", ckeys)
        self.register(select_keys(self.conn, self.t.balances, self.d.constraint, ckeys,
                                  order=self.balance_order()), ckeys)
        if ckeys and self.conn.execute(select(self.t.reservations.c.id).limit(1)).first():
            self._load_reservations(ckeys)

    def balance_order(self):
        d, b = self.d, self.t.balances
        return [b.c[k] for k in list(d.constraint) + [k for k in d.keys if k not in d.constraint]]

    def _load_balances(self, keys, ckeys):
        b, d = self.t.balances, self.d
        order = self.balance_order()

        def load(wanted):
            if self.coarse:
                return select_keys(self.conn, b, d.constraint,
                                   sorted({self.ckey(k) for k in wanted}), order=order)
            return select_keys(self.conn, b, d.keys, wanted, order=order)

        found = load(keys)
        have = {tuple(r[k] for k in d.keys) for r in found}
        missing = [k for k in keys if k not in have]
        if missing:
            insert_missing(self.conn, b, [{**self.dims(k), "qty": ZERO} for k in missing])
            found += [r for r in load(missing) if tuple(r[k] for k in d.keys) not in have]
        self.register(found, ckeys)

    def register(self, found, ckeys):
        """Keep loaded balance rows (and their constraint totals) in memory."""
        d = self.d
        for ck in ckeys:
            self.total.setdefault(ck, ZERO)
        for r in found:
            key = tuple(r[k] for k in d.keys)
            if key in self.rows:
                continue
            qty = self.exact(r["qty"])
            self.rows[key] = Balance(r["id"], qty, r["last_date"])
            if self.c_idx:
                ck = self.ckey(key)
                self.total[ck] = self.total.get(ck, ZERO) + qty
                if r["last_date"] and (self.last.get(ck) is None or r["last_date"] > self.last[ck]):
                    self.last[ck] = r["last_date"]

    def _load_serials(self, skeys):
        b, d = self.t.balances, self.d
        names = [d.keys[i] for i in self.s_idx]
        for s in skeys:
            self.serials.setdefault(s, {})
        for r in select_keys(self.conn, b, names, skeys, where=[b.c.qty > d.qty_step / 2],
                             lock=False):
            key = tuple(r[k] for k in d.keys)
            self.serials[self.skey(key)][key] = self.exact(r["qty"])

    def _load_reservations(self, ckeys):
        r = self.t.reservations
        for row in select_keys(self.conn, r, self.d.constraint, ckeys, order=[r.c.id]):
            ck = tuple(row[k] for k in self.d.constraint)
            self.reserved.setdefault(ck, []).append(Reservation(
                row["id"], (row["source_form"], row["source_record"]), self.exact(row["qty"])))

    def load_costs(self, vkeys):
        c, level = self.t.costs, self.d.valuation_level
        vkeys = [v for v in vkeys if v not in self.costs]
        if not vkeys:
            return
        found = select_keys(self.conn, c, level, vkeys)
        have = {tuple(r[k] for k in level) for r in found}
        missing = [v for v in vkeys if v not in have]
        if missing:
            insert_missing(self.conn, c, [{**self.dims(v, level), "qty": ZERO, "value": ZERO}
                                          for v in missing])
            found += select_keys(self.conn, c, level, missing)
        for r in found:
            vk = tuple(r[k] for k in level)
            self.costs[vk] = Cost(r["id"], self.exact(r["qty"]), self.exact(r["value"], "value"),
                                  r["unit_cost"], r["last_date"], r["method"] or self.d.method)
            self.layers[vk] = []
        fifo = [v for v in vkeys if self.costs[v].method == "fifo"]
        if fifo:
            ly = self.t.layers
            for r in select_keys(self.conn, ly, level, fifo, where=[ly.c.qty_left > 0],
                                  order=[*(ly.c[k] for k in level), ly.c.date, ly.c.id]):
                vk = tuple(r[k] for k in level)
                self.layers[vk].append(Layer(
                    r["id"], r["date"], r["movement_id"], self.exact(r["qty_in"]),
                    self.exact(r["qty_left"]), self.exact(r["value_left"], "value"),
                    (r["date"], r["id"])))

    # ---- applying one movement --------------------------------------------------
    def apply(self, m: Move) -> None:
        ck, vk = self.ckey(m.key), self.vkey(m.key)
        cost = self.costs.get(vk)
        late = (ck is not None and self.last.get(ck) is not None and m.date < self.last[ck]) \
            or (cost is not None and cost.last_date is not None and m.date < cost.last_date)
        if self.s_idx:
            self._check_serial(m)
        if m.qty < 0 and ck is not None:
            self._check_available(m, ck)
            if late:
                self.flush()
                hit = history.first_negative(self.conn, self.ledger, ck, m.date, m.qty)
                if hit:
                    when, short, then = hit
                    raise self.error("short_on_date" if when == m.date else "short_later", {
                        "dims": self.dims(ck, self.d.constraint), "needs": -m.qty,
                        "date": m.date, "negative_date": when, "short": short,
                        "available": max(then, ZERO)})
        if self.d.valued:
            self._settle_method(m, cost)
            if late and cost.method == "moving_average":
                costing.value_back_dated(self, m, vk, cost)
            elif late:
                costing.value_back_dated_fifo(self, m, vk, cost)
            else:
                costing.value_in_order(self, m, vk, cost)
        row = self.rows[m.key]
        row.qty += m.qty
        row.last_date = max(row.last_date or m.date, m.date)
        row.dirty = True
        if ck is not None:
            self.total[ck] += m.qty
            self.last[ck] = max(self.last.get(ck) or m.date, m.date)
            self._consume_reservations(m, ck)
        sk = self.skey(m.key)
        if sk:
            stock = self.serials[sk]
            stock[m.key] = stock.get(m.key, ZERO) + m.qty
        self.pending.append(self.row(m))

    def _settle_method(self, m: Move, cost: Cost) -> None:
        """A movement naming its item's method sets it on a valuation key that has
        never moved; a key that has keeps its method (its layers or its average
        describe the stock on hand)."""
        if m.method is None or m.method == cost.method:
            return
        if cost.last_date is not None:
            raise self.error("method_fixed", {"dims": self.dims(m.key), "method": cost.method,
                                              "asked": m.method})
        cost.method, cost.dirty = m.method, True

    def row(self, m: Move, *, corrects=None, valued_by=None) -> dict:
        kind = valued_by or (None if not self.d.valued else "fixed" if m.fixed_value is not None
                             else "from" if m.cost_from is not None else "method")
        return {"id": m.id, **self.dims(m.key), "qty": m.qty, "value": m.value, "date": m.date,
                "source_form": self.source[0], "source_record": self.source[1],
                "source_line": m.line, "trace_group": m.group, "valued_by": kind,
                "cost_from": m.cost_from, "reversal_of": m.reversal_of, "corrects": corrects}

    def _check_serial(self, m: Move):
        sk = self.skey(m.key)
        if sk is None:
            return
        serial = sk[-1]
        if abs(m.qty) != 1:
            raise self.error("serial_one_unit", {"dims": self.unserial(m.key), "needs": m.qty,
                                                 "serial": serial})
        stock = self.serials[sk]
        if m.qty > 0:
            where = next((k for k, q in stock.items() if q > 0), None)
            if where is not None:
                raise self.error("serial_in_stock", {"dims": self.unserial(m.key),
                                                     "serial": serial,
                                                     "stocked_at": self.unserial(where)})
        elif stock.get(m.key, ZERO) < 1:
            raise self.error("short", {"dims": self.dims(m.key), "needs": 1, "available": 0,
                                       "short": 1})

    def _check_available(self, m: Move, ck):
        onhand = self.total[ck]
        others = sum((r.qty for r in self.reserved.get(ck, ()) if r.source != m.reserved_by),
                     ZERO)
        available = onhand - others
        if -m.qty > available:
            shown = max(available, ZERO)
            raise self.error("short_reserved" if others > 0 else "short", {
                "dims": self.dims(ck, self.d.constraint), "needs": -m.qty, "available": shown,
                "short": -m.qty - shown, "reserved": others})

    def _consume_reservations(self, m: Move, ck):
        if m.qty >= 0 or m.reserved_by is None:
            return
        left = -m.qty
        for r in self.reserved.get(ck, ()):
            if r.source == m.reserved_by and r.qty > 0 and left > 0:
                take = min(left, r.qty)
                r.qty -= take
                r.dirty = True
                left -= take

    # ---- writing back -----------------------------------------------------------
    def take_ids(self, n: int) -> list[int]:
        """Movement ids for ``n`` new rows, known before they are written (links, cost
        sources and revaluations refer to them)."""
        m = self.t.movements
        if self.pg:
            return sorted(self.conn.execute(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                     "FROM generate_series(1, :n)"), {"t": m.name, "n": n}).scalars())
        if self.next_id is None:  # SQLite: the write lock is held, max(id) is stable
            self.next_id = (self.conn.execute(select(func.max(m.c.id))).scalar() or 0) + 1
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def flush(self) -> None:
        t, conn = self.t, self.conn
        if self.pending:
            conn.execute(insert(t.movements), self.pending)
            self.pending = []
        update_by_id(conn, t.balances, [{"_id": r.id, "qty": r.qty, "last_date": r.last_date}
                                   for r in self.rows.values() if r.dirty])
        for r in self.rows.values():
            r.dirty = False
        update_by_id(conn, t.costs, [{"_id": c.id, "qty": c.qty, "value": c.value,
                                 "unit_cost": c.unit_cost, "last_date": c.last_date,
                                 "method": c.method} for c in self.costs.values() if c.dirty])
        for c in self.costs.values():
            c.dirty = False
        self._flush_layers()
        self._flush_reservations()

    def _flush_layers(self):
        ly = self.t.layers
        new, changed = [], []
        everything = [(vk, x) for vk, layers in self.layers.items() for x in layers]
        everything += [(vk, x) for vk, x in self.consumed]
        self.consumed = []
        for vk, layer in everything:
            if layer.id is None:
                new.append((vk, layer))
            elif layer.dirty:
                changed.append(layer)
        update_by_id(self.conn, ly, [{"_id": x.id, "qty_left": x.qty_left,
                                 "value_left": x.value_left} for x in changed])
        if new:
            level = self.d.valuation_level
            rows = [{**self.dims(vk, level), "date": x.date, "movement_id": x.movement_id,
                     "qty_in": x.qty_in, "qty_left": x.qty_left, "value_left": x.value_left}
                    for vk, x in new]
            ids = self.conn.execute(insert(ly).returning(ly.c.id, sort_by_parameter_order=True),
                                    rows).scalars().all()
            for (_, layer), new_id in zip(new, ids, strict=True):
                layer.id = new_id
        for _, layer in everything:
            layer.dirty = False

    def _flush_reservations(self):
        r = self.t.reservations
        for ck, held in self.reserved.items():
            done = [x.id for x in held if x.dirty and x.qty <= 0]
            if done:
                self.conn.execute(r.delete().where(r.c.id.in_(done)))
            update_by_id(self.conn, r, [{"_id": x.id, "qty": x.qty} for x in held
                                   if x.dirty and x.qty > 0])
            self.reserved[ck] = [x for x in held if x.qty > 0]
            for x in self.reserved[ck]:
                x.dirty = False


