"""Taking back what a document posted: cancelling a submitted or approved record, and
undoing a submit-time posting when its approval ends without it (withdrawn, returned
for edits, rejected) so that submitting again does not post twice.

Both post the exact reverse of every movement the record made (dated today, so a
closed period stays closed; values as they left) and release what it reserved.
Posted movements are never edited or deleted.
"""

from __future__ import annotations

from sqlalchemy import update

from engines.ledgers import LedgerError, release, reverse_source
from runtime.auth.actors import Actor
from runtime.auth.permissions import require
from runtime.services import clock
from runtime.services.apps import open_form
from runtime.services.audit import append_audit
from runtime.services.errors import Conflict, Invalid
from runtime.services.ledgers import ledgers_of_form, wording
from runtime.services.posting import balances_changed
from runtime.services.recordio import fetch_record

CANCELLABLE = ("submitted", "approved")


def reverse_document(conn, schema, ft, record_id: int, *, actor=None) -> int:
    """Reverse the record's movements and release its reservations in every ledger its
    form posts to; returns the number of movements posted. A reversal that would
    take stock below zero (a receipt whose stock was issued since) is refused."""
    count = 0
    for ledger in ledgers_of_form(conn, schema, ft.form.key):
        words = wording(conn, schema, ledger)
        try:
            ids = reverse_source(conn, ledger, (ft.form.key, record_id), date=clock.today(),
                                 wording=words)
        except LedgerError as error:
            raise Invalid([{"field": None, "message": f"冲销失败: {error.message}"}]) from None
        count += len(ids)
        balances_changed(conn, schema, ledger, ids, actor)
        if ledger.definition.constraint:
            release(conn, ledger, (ft.form.key, record_id))
    return count


def cancel_record(store, actor: Actor, app: str, form: str, record_id: int,
                  comment: str | None = None) -> dict:
    """Cancel a submitted or approved record: reverse what it posted, mark it cancelled."""
    with store.write() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        granted = require(actor, schema, form, "cancel")
        row = fetch_record(conn, actor, ft, granted, record_id)
        if row["_approval"] not in CANCELLABLE:
            hint = "; withdraw it instead" if row["_approval"] == "running" else ""
            raise Conflict(f"record {record_id} is {row['_approval']}: only a submitted or "
                           f"approved record can be cancelled{hint}")
        reversed_count = reverse_document(conn, schema, ft, record_id, actor=actor)
        conn.execute(update(ft.table).where(ft.table.c.id == record_id),
                     {"_approval": "cancelled", "_version": row["_version"] + 1})
        append_audit(conn, actor, app, form, record_id, "cancel", None,
                     {"comment": comment, "reversed_movements": reversed_count})
    return {"approval": "cancelled", "reversed_movements": reversed_count}
