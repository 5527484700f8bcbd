"""The outbox: messages queued in the transaction that decided them and sent after
it commits, so a rolled-back change sends nothing and a crash loses nothing.

``send_due`` is the sender (a scheduler job every 15 seconds, woken at once after a
commit that queued something, and callable at any time): it claims due entries (a
claim expires, so an entry claimed by a process that died is taken again), delivers
each through its channel, records the attempt in the delivery log, and on failure
schedules a retry with back-off — 1 minute, 5 minutes, 30 minutes, 2 hours, 12 hours —
after which the entry is marked failed. A webhook carries the entry's id
(``X-Loom-Delivery``) so a receiver can drop a repeat.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, insert, or_, select, update

from runtime.notify.channels import DeliveryFailed, deliver
from runtime.storage import platform
from runtime.storage.store import OUTBOX_QUEUED

log = logging.getLogger("loom.outbox")
outbox, deliveries = platform.outbox, platform.deliveries
BACKOFF = (60, 300, 1800, 7200, 43200)  # seconds before retry 1, 2, ... 5
CLAIM_SECONDS = 300
BATCH = 50


def queue(conn, app: str, rule: str | None, channel: str, target: str, message: dict) -> int:
    """Queue a message in the caller's transaction; returns its id."""
    conn.info[OUTBOX_QUEUED] = True  # the store wakes the sender once this commits
    now = platform.utcnow()
    return conn.execute(insert(outbox), {
        "app": app, "rule": rule, "channel": channel, "target": target, "message": message,
        "status": "pending", "attempts": 0, "next_at": now, "created_at": now,
    }).inserted_primary_key[0]


def send_due(store, now: dt.datetime | None = None, *, smtp_url: str | None = None) -> dict:
    """Deliver every due entry once; returns how many were sent, retried and failed."""
    now = now or platform.utcnow()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for entry in _claim(store, now):
        with store.read() as conn:
            app = store.app(conn, entry["app"])
        definition = app.definition if app is not None else {}
        try:
            status = deliver(entry, definition, smtp_url=smtp_url)
            error = None
        except DeliveryFailed as failure:
            status, error = failure.status, failure.message
        counts[_record(store, entry, now, status, error)] += 1
    return counts


def _claim(store, now: dt.datetime) -> list[dict]:
    claimed = []
    with store.write() as conn:
        rows = conn.execute(select(outbox).where(
            outbox.c.status == "pending", outbox.c.next_at <= now,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))
            .order_by(outbox.c.id).limit(BATCH)).mappings().all()
        until = now + dt.timedelta(seconds=CLAIM_SECONDS)
        for row in rows:
            # Conditional on the row being unclaimed still: another sender may have won.
            taken = conn.execute(update(outbox).where(and_(
                outbox.c.id == row["id"], outbox.c.status == "pending",
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))),
                {"claimed_until": until}).rowcount
            if taken:
                claimed.append(dict(row))
    return claimed


def _record(store, entry: dict, now: dt.datetime, status: int | None, error: str | None) -> str:
    attempt = entry["attempts"] + 1
    with store.write() as conn:
        conn.execute(insert(deliveries), {"outbox_id": entry["id"], "attempt": attempt,
                                          "at": now, "ok": error is None,
                                          "status_code": status, "error": error})
        values = {"attempts": attempt, "claimed_until": None, "last_error": error}
        if error is None:
            values |= {"status": "sent", "sent_at": now}
            outcome = "sent"
        elif attempt > len(BACKOFF):
            values |= {"status": "failed"}
            outcome = "failed"
            log.warning("outbox entry %s failed for good: %s", entry["id"], error)
        else:
            values |= {"next_at": now + dt.timedelta(seconds=BACKOFF[attempt - 1])}
            outcome = "retry"
        conn.execute(update(outbox).where(outbox.c.id == entry["id"]), values)
    return outcome


def delivery_log(conn, app: str, limit: int = 100) -> list[dict]:
    """The newest outbox entries of an app with their attempts (for the API)."""
    rows = conn.execute(select(outbox).where(outbox.c.app == app)
                        .order_by(outbox.c.id.desc()).limit(limit)).mappings().all()
    ids = [r["id"] for r in rows]
    attempts: dict[int, list] = {}
    if ids:
        for d in conn.execute(select(deliveries).where(deliveries.c.outbox_id.in_(ids))
                              .order_by(deliveries.c.id)).mappings():
            attempts.setdefault(d["outbox_id"], []).append(
                {"attempt": d["attempt"], "at": d["at"].isoformat(), "ok": d["ok"],
                 "status_code": d["status_code"], "error": d["error"]})
    return [{"id": r["id"], "rule": r["rule"], "channel": r["channel"], "target": r["target"],
             "status": r["status"], "attempts": r["attempts"],
             "next_at": r["next_at"].isoformat(), "created_at": r["created_at"].isoformat(),
             "sent_at": r["sent_at"].isoformat() if r["sent_at"] else None,
             "last_error": r["last_error"], "deliveries": attempts.get(r["id"], [])}
            for r in rows]
