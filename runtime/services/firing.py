"""Firing rules inside the write path: which rules an event fires, their conditions
(edge-triggered ones through flags), the chain of rules firing rules, the run log.

The write path calls ``on_record_event``, ``on_flow_events`` and ``on_balance_changes``
inside its transaction; webhooks and schedules call ``fire`` in a transaction of their
own. A failed action raises ``Invalid`` naming the rule and the action's line; the
caller's transaction then rolls back whole (docs/rules.md, "How rules run").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select

from engines.expr import ErrorValue
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.rules import MAX_CHAIN_DEPTH, Rule
from runtime.auth.actors import Actor
from runtime.services.errors import Invalid, ServiceError
from runtime.services.formlogic import environment, linked_record
from runtime.services.rulebook import condition_key, rulebook, trigger_text
from runtime.storage import platform

# The chain of (rule, subject) being run lives on the connection for the length of one
# firing: rule actions re-enter the write path (create_in / update_in), which fires
# rules again, and the chain must follow without threading it through every service.
CHAIN = "loom.rule_chain"


@dataclass
class Firing:
    """One event as a rule sees it: the subject's values for its expressions."""

    record: dict | None  # field key -> Python value (linked records as mappings)
    subject: str | None = None  # "issues/12", "stock/item=3": edge flags and re-entry
    form: str | None = None
    record_id: int | None = None
    source: object = None  # the record's JSON, or the balance row, or the payload


@dataclass
class Outcome:
    """What one rule did: for the run log, and shown by a dry run."""

    rule: str
    trigger: str
    subject: str | None
    outcome: str  # ran, else, skipped, quiet (condition FALSE, nothing to do)
    condition: bool | None = None
    detail: str | None = None
    actions: list = field(default_factory=list)


def _python(f, value):
    try:
        return coerce_value(f, value)
    except (FieldError, TypeError, ValueError):
        return value


def record_values(conn, schema, ft, record_json: dict, paths) -> dict:
    """The record as rule expressions see it: Python values by field key, and each
    relation the expressions walk (``material.name``) loaded as a mapping."""
    values = {"id": record_json.get("id")}
    for f in ft.form.scalar_fields:
        values[f.key] = _python(f, record_json.get(f.key))
    for sub in ft.form.subtables:
        values[sub.key] = [{"id": line.get("id"), **{f.key: _python(f, line.get(f.key))
                                                      for f in sub.fields}}
                           for line in record_json.get(sub.key) or []]
    for f in ft.form.scalar_fields:
        nested = {p.split(".", 1)[1] for p in paths if p.startswith(f.key + ".")}
        if f.type == "relation" and nested and values[f.key] is not None:
            values[f.key] = linked_record(conn, schema, f.target, values[f.key], nested)
    return values


def rule_paths(schema, rule: Rule) -> frozenset[str]:
    """Field paths of the firing record the rule's expressions use (``old.`` and
    ``trigger.`` unwrapped), computed once per rule and app version."""
    cache = schema.cache.setdefault("rule_paths", {})
    if rule.name not in cache:
        paths = set()
        for expr in rule.expressions():
            for path in expr.compiled.references if expr.compiled else ():
                head, _, rest = path.partition(".")
                paths.add(rest if head in ("old", "trigger") and rest else path)
        cache[rule.name] = frozenset(paths)
    return cache[rule.name]


# ---- events from the write path ---------------------------------------------------

def on_record_event(conn, schema, ft, event: str, after: dict | None, before: dict | None,
                    actor: Actor) -> bool:
    """A record was created, updated, deleted or submitted (``after`` / ``before`` are
    its JSON); fire the rules watching it, in order. True when some rule acted."""
    book = rulebook(conn, schema)
    form = ft.form.key
    if form not in book.watched_forms:
        if event == "deleted":
            _drop_flags(conn, schema.key, f"{form}/{before['id']}")
        return False
    rules = list(book.record.get((form, event), ()))
    if event in ("created", "updated") and form in book.changed:
        for rule in book.changed[form]:
            key = rule.trigger.field
            new = (after or {}).get(key)
            old = (before or {}).get(key)
            if (new not in (None, "", []) if event == "created" else new != old):
                rules.append(rule)
        rules.sort(key=lambda r: book.position[id(r)])  # keep the one explicit order
    current = after if after is not None else before
    if event == "updated" and all(before.get(f.key) == after.get(f.key)
                                  for f in ft.form.fields):
        rules = []  # saved without a different value: nothing was updated
    subject = f"{form}/{current['id']}"
    acted = False
    env = environment(conn, schema, actor)
    built: dict[frozenset, Firing] = {}  # rules reading the same paths share the values
    for rule in rules:
        paths = rule_paths(schema, rule)
        if paths not in built:
            values = record_values(conn, schema, ft, current, paths)
            if before is not None and event != "deleted" and "old" not in values:
                values["old"] = record_values(conn, schema, ft, before, paths)
            built[paths] = Firing(values, subject, form, current["id"], current)
        firing = built[paths]
        if rule.trigger.kind == "field_changed" and rule.trigger.to is not None:
            wanted = rule.trigger.to.evaluate(firing.record, env)
            if not _equal(firing.record.get(rule.trigger.field), wanted):
                continue
        value = NOT_EVALUATED
        if rule.condition is not None:
            # Evaluated here, without a call per rule: most rules of most writes stop at
            # a FALSE condition, and a write may meet a hundred rules.
            value = rule.condition.compiled.evaluate(firing.record, env)
            if value is not True and not isinstance(value, ErrorValue) \
                    and not rule.else_actions and not rule.edge_triggered:
                continue
        outcome = run_rule(conn, schema, actor, rule, firing, env=env, condition=value)
        if outcome.outcome in ("ran", "else"):
            acted = True
            if event != "deleted" and _may_change(rule):
                # The next rule sees the record as this one left it (a `set` changed it).
                current = _reread(conn, ft, current["id"]) or current
                built.clear()
    if event == "deleted":
        _drop_flags(conn, schema.key, subject)
    return acted


def _may_change(rule: Rule) -> bool:
    """Whether the rule's actions may have changed the record: any that writes (and
    may fire rules that write), as opposed to notify and call webhook, which queue."""
    return any(a.word not in ("notify", "call webhook")
               for a in (*rule.actions, *rule.else_actions))


def _reread(conn, ft, record_id: int) -> dict | None:
    from runtime.services.recordio import read_records  # the write path imports us

    row = conn.execute(ft.statement("by_id"), {"rid": record_id}).mappings().first()
    return read_records(conn, ft, [row])[0] if row is not None else None


def _equal(value, wanted) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()  # '=' ignores case for text
    if isinstance(value, dict):
        value = value.get("id")
    return value == wanted


def on_flow_events(conn, schema, ft, record_id: int, events, actor: Actor) -> None:
    book = rulebook(conn, schema)
    rules = book.flow.get(ft.form.key)
    if not rules:
        return
    current = _reread(conn, ft, record_id)
    for event in events:
        name = "reached" if event.name == "node_reached" else event.name
        node = event.data.get("node_id") if name == "reached" else None
        for rule in rules:
            t = rule.trigger
            if t.event != name or (node is not None and t.node != node):
                continue
            values = record_values(conn, schema, ft, current, rule_paths(schema, rule))
            run_rule(conn, schema, actor, rule, Firing(values, f"{ft.form.key}/{record_id}",
                                                       ft.form.key, record_id, current))


def on_balance_changes(conn, schema, ledger, changes, actor: Actor) -> None:
    """``changes``: (row after, qty before) of each balance row a posting changed, in
    the order first posted to."""
    rules = rulebook(conn, schema).balance.get(ledger.definition.key)
    if not rules:
        return
    env = environment(conn, schema, actor)
    for row, old_qty in changes:
        dims = {d.key: row[d.key] for d in ledger.definition.dimensions}
        subject = ledger.definition.key + "/" + ",".join(f"{k}={v}" for k, v in dims.items())
        for rule in rules:
            paths = rule_paths(schema, rule)
            values = balance_values(conn, schema, ledger, row, row["qty"], paths)
            values.setdefault("old", balance_values(conn, schema, ledger, row, old_qty, paths))
            run_rule(conn, schema, actor, rule, Firing(values, subject, source=_plain(values)),
                     env=env)


def balance_values(conn, schema, ledger, row, qty, paths) -> dict:
    """A balance row as rule expressions see it: a dimension pointing at a form's
    records is that record (``item.safety_stock``); "not given" is blank."""
    values = {"qty": qty, "value": None}
    dims = rulebook(conn, schema).catalog.ledgers[ledger.definition.key]["dimensions"]
    for key, kind in dims.items():
        value = row[key]
        nested = {p.split(".", 1)[1] for p in paths if p.startswith(key + ".")}
        if isinstance(kind, dict) and value:
            value = linked_record(conn, schema, kind["form"], value, nested)
        values[key] = value if value not in (0, "") else None
    return values


def _plain(values: dict) -> dict:
    return {k: (v.get("id") if isinstance(v, dict) else v) for k, v in values.items()
            if k != "old"}


# ---- running one rule ---------------------------------------------------------------

QUIET = Outcome("", "", None, "quiet", False)  # shared: never changed, never logged


NOT_EVALUATED = object()


def run_rule(conn, schema, actor: Actor, rule: Rule, firing: Firing, *,
             dry_run: bool = False, env: dict | None = None,
             condition=NOT_EVALUATED) -> Outcome:
    """Evaluate ``rule`` for ``firing`` and run its actions (depth first: rules fired
    by an action run before the next action). ``dry_run`` records what the actions
    would do in the outcome; the caller rolls the transaction back. ``condition``: its
    value when the caller evaluated it already."""
    from runtime.services.rule_actions import run_action  # actions re-enter the write path

    env = env if env is not None else environment(conn, schema, actor)
    chain = conn.info.setdefault(CHAIN, [])
    if firing.subject is not None and chain and (rule.name, firing.subject) in chain:
        outcome = Outcome(rule.name, trigger_text(rule), firing.subject, "skipped",
                          detail="already running for this subject further up the chain")
        _log(conn, schema.key, outcome, 0)
        return outcome
    holds, detail = True, None
    if rule.condition is not None:
        value = condition if condition is not NOT_EVALUATED else \
            rule.condition.compiled.evaluate(firing.record, env)
        if isinstance(value, ErrorValue):
            detail = f"the condition gave {value.code}: {value.message}"
        holds = value is True
    actions = rule.actions if holds else rule.else_actions
    if rule.edge_triggered and firing.subject is not None:
        actions = _edge(conn, schema.key, rule, firing.subject, holds, dry_run)
    if not actions and detail is None and firing.subject is not None and not dry_run:
        return QUIET  # a FALSE condition of a record event: the common case, kept cheap
    outcome = Outcome(rule.name, trigger_text(rule), firing.subject, "quiet", holds, detail)
    if len(chain) >= MAX_CHAIN_DEPTH:
        names = " → ".join(f'"{name}"' for name, _ in chain + [(rule.name, None)])
        raise Invalid([{"field": f"rule:{rule.name}", "message": f"rules fired each other "
                        f"more than {MAX_CHAIN_DEPTH} deep: {names}; add a condition that "
                        "ends the chain"}])
    if not actions:
        # A FALSE condition of a record event is not a run (writes would flood the log);
        # a schedule or webhook firing, and a condition that failed, are logged.
        _log(conn, schema.key, outcome, 0)
        return outcome
    outcome.outcome = "ran" if holds else "else"
    started = time.perf_counter()
    chain.append((rule.name, firing.subject))
    try:
        for action in actions:
            try:
                outcome.actions.append(run_action(conn, schema, actor, rule, action, firing,
                                                  env, dry_run))
            except ServiceError as error:
                raise _failed(conn, schema.key, rule, action, firing, error) from None
    finally:
        chain.pop()
    _log(conn, schema.key, outcome, time.perf_counter() - started)
    return outcome


def _failed(conn, app: str, rule: Rule, action, firing: Firing, error: ServiceError):
    errors = error.errors if isinstance(error, Invalid) else [{"message": error.message}]
    if len(errors) == 1 and str(errors[0].get("field") or "").startswith("rule:"):
        text = f'rule "{rule.name}" → {errors[0]["message"]}'  # the inner rule said where
    else:
        where = [f"{e['field']}: " if e.get("field") else "" for e in errors]
        text = f'rule "{rule.name}", line {action.at.line} ({action.word}): ' + "; ".join(
            w + e["message"] for w, e in zip(where, errors, strict=True))
    failed = Invalid([{"field": f"rule:{rule.name}", "message": text}])
    outcome = Outcome(rule.name, trigger_text(rule), firing.subject, "failed", detail=text)
    # The transaction rolls back, taking any log row with it: the store writes this one
    # after the rollback (runtime.storage.store.Store.write).
    failed.after_rollback = [*getattr(error, "after_rollback", ()),
                             lambda conn2: _log(conn2, app, outcome, 0)]
    return failed


def _edge(conn, app: str, rule: Rule, subject: str, holds: bool, dry_run: bool):
    """The actions an edge-triggered rule runs now, updating its flag."""
    flags = platform.rule_flags
    key = {"app": app, "rule": rule.name, "condition": condition_key(rule),
           "subject": subject}
    where = [flags.c[k] == v for k, v in key.items()]
    was = conn.execute(select(flags.c.app).where(*where)).first() is not None
    if holds and not was:
        if not dry_run:
            conn.execute(insert(flags), key)
        return rule.actions
    if was and not holds:
        if not dry_run:
            conn.execute(delete(flags).where(*where))
        return rule.else_actions
    return ()


def _drop_flags(conn, app: str, subject: str) -> None:
    flags = platform.rule_flags
    conn.execute(delete(flags).where(flags.c.app == app, flags.c.subject == subject))


_LOG = insert(platform.rule_runs)


def _log(conn, app: str, outcome: Outcome, seconds: float) -> None:
    conn.execute(_LOG, {
        "app": app, "rule": outcome.rule, "trigger": outcome.trigger,
        "subject": outcome.subject, "outcome": outcome.outcome,
        "detail": outcome.detail, "duration_ms": round(seconds * 1000),
        "at": platform.utcnow()})
