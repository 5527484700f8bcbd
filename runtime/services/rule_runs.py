"""Rules from outside the write path: checking rule text, dry runs, the run log,
inbound webhooks and scheduled firings — each a service with its own transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from engines.rules import Interval, RuleError, Schedule, compile_rules
from runtime.auth.actors import SYSTEM, Actor
from runtime.auth.permissions import require_admin
from runtime.services.apps import app_schema, open_form
from runtime.services.errors import Forbidden, Invalid, NotFound
from runtime.services.firing import (
    Firing,
    balance_values,
    record_values,
    rule_paths,
    run_rule,
)
from runtime.services.ledgers import ledger_of
from runtime.services.recordio import fetch_record, read_records
from runtime.services.rulebook import check_source, rulebook, trigger_text
from runtime.storage import platform


class _DryRun(Exception):
    """Raised at the end of a dry run to roll its transaction back."""


def check(store, actor: Actor, app: str, source, filename="rules.rule") -> dict:
    """Problems of rule text against the app: ``{"errors": [...], "warnings": [...]}``."""
    if not isinstance(source, str):
        raise Invalid([{"field": "source", "message": "send the rule text as "
                        '{"source": "rule \\"name\\" when ... then ..."}'}])
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        require_admin(actor, "check rules")
        problems = check_source(conn, schema, source, str(filename or "rules.rule"))
    return {"errors": [p for p in problems if p["severity"] == "error"],
            "warnings": [p for p in problems if p["severity"] == "warning"]}


def list_rules(store, actor: Actor, app: str) -> list[dict]:
    with store.read() as conn:
        schema = app_schema(store, conn, actor, app)
        require_admin(actor, "see the rules")
        return [{"name": r.name, "file": r.filename, "order": r.order,
                 "trigger": trigger_text(r), "line": r.at.line}
                for r in rulebook(conn, schema).rules]


def dry_run(store, actor: Actor, app: str, data) -> dict:
    """What a rule would do for a chosen record (or balance row, or payload), without
    doing it: the rule runs in a transaction that is rolled back, so nothing is written
    and nothing queued is ever sent.

    ``data``: ``{"rule": name}`` (an installed rule) or ``{"source": text}`` (its first
    rule, or the one named by ``rule``); ``"record": id`` for a record rule,
    ``"balance": {dimension: value}`` for a balance rule, ``"payload": {...}`` for a
    webhook rule."""
    if not isinstance(data, dict):
        raise Invalid([{"field": None, "message": 'send {"rule": name, "record": id}'}])
    result = {}
    try:
        with store.write() as conn:
            schema = app_schema(store, conn, actor, app)
            require_admin(actor, "dry-run rules")
            rule = _chosen_rule(conn, schema, data)
            firing = _firing(store, conn, actor, schema, rule, data)
            outcome = run_rule(conn, schema, actor, rule, firing, dry_run=True)
            result = {"rule": rule.name, "trigger": outcome.trigger,
                      "subject": outcome.subject, "condition": outcome.condition,
                      "runs": outcome.outcome in ("ran", "else"), "branch": outcome.outcome,
                      "detail": outcome.detail, "actions": outcome.actions,
                      "edge_triggered": rule.edge_triggered}
            raise _DryRun
    except _DryRun:
        pass
    return result


def _chosen_rule(conn, schema, data):
    name = data.get("rule")
    if data.get("source") is not None:
        if not isinstance(data["source"], str):
            raise Invalid([{"field": "source", "message": "the rule text must be a string"}])
        try:
            rules = compile_rules(data["source"], rulebook(conn, schema).catalog,
                                  "dry-run.rule")
        except RuleError as error:
            raise Invalid([{"field": "source", **p.as_dict()} for p in error.problems]) \
                from None
        found = [r for r in rules if name is None or r.name == name]
    else:
        found = [r for r in rulebook(conn, schema).rules if r.name == name]
    if not found:
        raise NotFound(f"no rule named '{name}'; GET /api/v1/apps/{schema.key}/rules "
                       "lists them" if name else "the source has no rule")
    return found[0]


def _firing(store, conn, actor, schema, rule, data) -> Firing:
    kind = rule.trigger.kind
    if kind in ("record", "field_changed", "flow"):
        record_id = data.get("record")
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise Invalid([{"field": "record", "message": f"give the id of a "
                            f"'{rule.trigger.form}' record to run the rule against"}])
        _, ft = open_form(store, conn, actor, schema.key, rule.trigger.form)
        row = fetch_record(conn, actor, ft, {"all"}, record_id)
        current = read_records(conn, ft, [row])[0]
        values = record_values(conn, schema, ft, current, rule_paths(schema, rule))
        values.setdefault("old", dict(values))
        return Firing(values, f"{ft.form.key}/{record_id}", ft.form.key, record_id, current)
    if kind == "balance":
        return _balance_firing(conn, schema, rule, data.get("balance"))
    if kind == "webhook":
        _require_object(data.get("payload") or {}, "payload")
        payload = numbers(data.get("payload") or {})
        return Firing({"payload": payload}, None, source=data.get("payload") or {})
    return Firing({}, None)


def _balance_firing(conn, schema, rule, dims) -> Firing:
    ledger = ledger_of(conn, schema, rule.trigger.ledger)
    if not isinstance(dims, dict) or not dims:
        raise Invalid([{"field": "balance", "message": "name the balance row by its "
                        f"dimensions, e.g. {{\"{ledger.definition.keys[0]}\": 1}}"}])
    b = ledger.tables.balances
    unknown = set(dims) - set(ledger.definition.keys)
    if unknown:
        raise Invalid([{"field": "balance", "message": f"ledger '{ledger.definition.key}' "
                        f"has no dimension {', '.join(sorted(unknown))}"}])
    for dim in ledger.definition.dimensions:
        value = dims.get(dim.key)
        if dim.key in dims and dim.kind == "ref" and (not isinstance(value, int)
                                                      or isinstance(value, bool)):
            raise Invalid([{"field": f"balance.{dim.key}", "message": "give the id of the "
                            "record (a whole number)"}])
        if dim.key in dims and dim.kind != "ref" and not isinstance(value, str):
            raise Invalid([{"field": f"balance.{dim.key}", "message": "give the text"}])
    row = conn.execute(select(b).where(*[b.c[k] == v for k, v in dims.items()])).mappings() \
        .first()
    if row is None:
        raise NotFound("no balance row with those dimension values")
    paths = rule_paths(schema, rule)
    values = balance_values(conn, schema, ledger, row, row["qty"], paths)
    values["old"] = dict(values)
    subject = ledger.definition.key + "/" + ",".join(
        f"{k}={row[k]}" for k in ledger.definition.keys)
    return Firing(values, subject)


def _require_object(payload, field) -> None:
    if not isinstance(payload, dict):
        raise Invalid([{"field": field, "message": "a webhook payload is a JSON object, "
                        'e.g. {"order_no": "PO-1", "qty": 5}'}])


def numbers(value):
    """JSON numbers as the expression language's numbers (Decimal)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers(v) for v in value]
    return value


def run_log(store, actor: Actor, app: str, *, rule: str | None = None,
            limit: int = 100) -> list[dict]:
    runs = platform.rule_runs
    with store.read() as conn:
        app_schema(store, conn, actor, app)
        require_admin(actor, "read the rule log")
        query = select(runs).where(runs.c.app == app)
        if rule:
            query = query.where(runs.c.rule == rule)
        rows = conn.execute(query.order_by(runs.c.id.desc()).limit(max(1, min(limit, 1000)))) \
            .mappings().all()
    return [{**{k: v for k, v in r.items() if k != "app"}, "at": r["at"].isoformat()}
            for r in rows]


def deliveries(store, actor: Actor, app: str, *, limit: int = 100) -> list[dict]:
    """The app's newest outbox entries with every delivery attempt (administrators)."""
    from runtime.notify.outbox import delivery_log

    with store.read() as conn:
        app_schema(store, conn, actor, app)
        require_admin(actor, "read the delivery log")
        return delivery_log(conn, app, max(1, min(limit, 1000)))


# ---- inbound webhooks ---------------------------------------------------------------

def receive_webhook(store, app: str, name: str, raw: bytes, secret: str | None,
                    signature: str | None) -> dict:
    """``POST /apps/{app}/hooks/{name}``: check the shared secret (sent as is in
    ``X-Loom-Secret``, or as ``X-Loom-Signature: sha256=<HMAC of the body>``), then run
    the hook's rules in one transaction; any failure rolls it all back (422)."""
    with store.write() as conn:
        schema = store.app(conn, app)
        hooks = ((schema.definition.get("webhooks") or {}).get("inbound") or {}) \
            if schema else {}
        if name not in hooks:
            raise NotFound(f"app '{app}' has no inbound webhook '{name}'")
        key = hooks[name]["secret"].encode("utf-8")
        expected = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        if not ((secret and hmac.compare_digest(secret.encode("utf-8"), key))
                or (signature and hmac.compare_digest(signature, expected))):
            raise Forbidden("wrong or missing secret: send it in X-Loom-Secret, or sign the "
                            "body with X-Loom-Signature: sha256=<HMAC-SHA256 hex>")
        try:
            payload = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Invalid([{"field": None, "message": f"the body is not JSON: {error}"}]) \
                from None
        _require_object(payload, None)
        ran = []
        for rule in rulebook(conn, schema).webhook.get(name, ()):
            outcome = run_rule(conn, schema, SYSTEM, rule,
                               Firing({"payload": numbers(payload)}, None, source=payload))
            ran.append({"rule": rule.name, "outcome": outcome.outcome,
                        "actions": outcome.actions})
    return {"hook": name, "rules": ran}


# ---- schedules ----------------------------------------------------------------------

def slot_of(rule, now: dt.datetime) -> dt.datetime:
    """The firing a scheduled run at ``now`` belongs to: cron fires on the minute, an
    interval on a grid counted from 2000-01-01 (the scheduler starts it there)."""
    if isinstance(rule.trigger, Interval):
        seconds = rule.trigger.seconds
        since = int((now - EPOCH).total_seconds())
        return EPOCH + dt.timedelta(seconds=since - since % seconds)
    return now.replace(second=0, microsecond=0)


EPOCH = dt.datetime(2000, 1, 1)


def run_scheduled(store, app: str, name: str, now: dt.datetime, holder: str) -> str:
    """Run a scheduled rule for the firing ``now`` belongs to, unless another process
    took that firing: the firing's row is the lock (its primary key refuses a second
    one; on PostgreSQL a second taker waits for the first to commit, then skips, and
    takes it over if the first rolled back). Returns the outcome."""
    with store.write() as conn:
        schema = store.app(conn, app)
        rule = rulebook(conn, schema).named(name) if schema is not None else None
        if rule is None or not isinstance(rule.trigger, Schedule | Interval):
            return "gone"  # removed or changed since the job was set up
        try:
            with conn.begin_nested():
                conn.execute(insert(platform.rule_firings), {
                    "app": app, "rule": name, "slot": slot_of(rule, now), "holder": holder})
        except IntegrityError:
            return "taken"
        return run_rule(conn, schema, SYSTEM, rule, Firing({}, None)).outcome
