"""Approvals: submitting records into their form's flow, acting on tasks, inboxes.

The flow engine (``engines.flows``) decides; this module keeps its state in
``loom_flow_instances`` (one row per submission round, the state as JSON, a version
so two approvers acting at once cannot both win) and mirrors the tasks into
``loom_tasks`` so every inbox is an indexed query. A record's ``approval`` column
follows its instance: running, approved, rejected, returned, withdrawn. Every action
is one transaction; ``on_approval_events`` is where later steps (ledger posting,
rules) receive what happened.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, insert, select, update

from engines.flows import (
    FlowDefinitionError,
    FlowError,
    act,
    compile_flow,
    expire,
    resubmit,
    start,
    state_from_dict,
    state_to_dict,
)
from engines.forms.fieldtypes import FieldError, coerce_value
from engines.forms.logic import describe
from runtime.auth.actors import SYSTEM, Actor
from runtime.auth.permissions import require
from runtime.services import clock
from runtime.services.apps import open_form
from runtime.services.audit import append_audit
from runtime.services.cancelling import reverse_document
from runtime.services.errors import Conflict, Forbidden, Invalid, NotFound
from runtime.services.firing import on_flow_events, on_record_event
from runtime.services.formlogic import environment, linked_record
from runtime.services.posting import post_document
from runtime.services.recordio import fetch_record, read_records
from runtime.storage import definitions, platform

EDITABLE = ("draft", "returned", "withdrawn", "rejected")
instances, tasks = platform.flow_instances, platform.tasks
_ERRORS = {"forbidden": Forbidden, "conflict": Conflict}


def _error(error: FlowError):
    kind = _ERRORS.get(error.kind)
    return kind(str(error)) if kind else Invalid([{"field": None, "message": str(error)}])


# ---- which flow, compiled once per version ------------------------------------------

def flow_of_form(conn, schema, form: str) -> tuple[str, int, dict] | None:
    """(key, version, definition) of the live flow attached to ``form``."""
    cache = schema.cache.setdefault("flows", {})
    if form not in cache:
        found = None
        for (kind, key), body in sorted(definitions.current(conn, schema.key).items()):
            if kind == "flow" and body.get("form") == form:
                version = definitions.history(conn, schema.key, "flow", key)[-1]["version"]
                found = (key, version, body)
                break
        cache[form] = found
    return cache[form]


def compiled_flow(conn, schema, key: str, version: int):
    """The compiled flow of one definition version (instances finish on theirs),
    cached with the app's schema so it goes when the app changes."""
    compiled = schema.cache.setdefault("compiled_flows", {})
    cache_key = (key, version)
    if cache_key not in compiled:
        body = next((h["body"] for h in definitions.history(conn, schema.key, "flow", key)
                     if h["version"] == version), None)
        if body is None:
            raise NotFound(f"flow '{key}' version {version} is missing")
        forms = {k: ft.form for k, ft in schema.forms.items()}
        try:
            compiled[cache_key] = compile_flow(body, describe(forms[body["form"]], forms),
                                               version=version)
        except FlowDefinitionError as error:
            raise Invalid([{"field": f"flows/{key}.json#{p}", "message": m}
                           for p, m in error.problems]) from None
    return compiled[cache_key]


# ---- people -------------------------------------------------------------------------

def _names(conn) -> dict:
    users = platform.users
    return dict(conn.execute(select(users.c.id, users.c.display_name)).all())


def _submitter(conn, actor: Actor) -> dict:
    department = None
    if actor.department_id is not None:
        department = conn.execute(select(platform.departments.c.name).where(
            platform.departments.c.id == actor.department_id)).scalar()
    name = _names(conn).get(actor.id, actor.username)
    return {"id": actor.id, "name": name, "department": department,
            "roles": sorted(r for _, r in actor.roles)}


def _resolver(conn, app: str, submitter_department: int | None):
    users, roles, depts = platform.users, platform.user_roles, platform.departments

    def resolve(spec, context):
        if "role" in spec:
            return list(conn.execute(select(roles.c.user_id).join(
                users, users.c.id == roles.c.user_id).where(
                roles.c.app == app, roles.c.role == spec["role"], users.c.active)
                .order_by(roles.c.user_id)).scalars())
        if "department_head" in spec:
            department = submitter_department
            for _ in range(int(spec["department_head"]) - 1):
                if department is None:
                    break
                department = conn.execute(select(depts.c.parent_id).where(
                    depts.c.id == department)).scalar()
            head = conn.execute(select(depts.c.head_user_id).where(
                depts.c.id == department)).scalar() if department is not None else None
            return [head] if head else []
        if "department" in spec:
            head = conn.execute(select(depts.c.head_user_id).where(
                depts.c.id == spec["department"])).scalar()
            return [head] if head else []
        if spec.get("admin"):
            return list(conn.execute(select(users.c.id).where(users.c.is_admin, users.c.active)
                                     .order_by(users.c.id)).scalars())
        return []

    return resolve


def _snapshot(conn, schema, ft, record: dict) -> dict:
    """The record as the flow's conditions see it: Python values, linked records."""
    snapshot = {"id": record["id"]}
    for f in ft.form.fields:
        value = record.get(f.key)
        if f.type == "subtable":
            snapshot[f.key] = [{c.key: _python(c, line.get(c.key)) for c in f.fields}
                               for line in value or []]
        elif f.type == "relation":
            snapshot[f.key] = linked_record(conn, schema, f.target, value, set())
        else:
            snapshot[f.key] = _python(f, value)
    return snapshot


def _python(field, value):
    try:
        return coerce_value(field, value)
    except FieldError:
        return value


# ---- keeping rows in step with the engine's state -----------------------------------

def _when(text):
    return dt.datetime.fromisoformat(text) if text else None


def _sync(conn, instance_id: int, app: str, form: str, record_id: int, state) -> None:
    """Mirror the state's tasks into loom_tasks and its status onto the record."""
    existing = {row.task_no: row.id for row in conn.execute(
        select(tasks.c.id, tasks.c.task_no).where(tasks.c.instance_id == instance_id))}
    for task in state.tasks:
        values = {"node_id": task.node_id, "assignee": task.assignee, "kind": task.kind,
                  "status": task.status, "outcome": task.outcome,
                  "created_at": _when(task.created_at), "due_at": _when(task.due_at),
                  "handled_at": _when(task.handled_at)}
        if task.id in existing:
            conn.execute(update(tasks).where(tasks.c.id == existing[task.id]), values)
        else:
            conn.execute(insert(tasks), {"instance_id": instance_id, "task_no": task.id,
                                         "app": app, "form": form, "record_id": record_id,
                                         **values})


def _set_approval(conn, ft, record_id: int, status: str) -> None:
    conn.execute(update(ft.table).where(ft.table.c.id == record_id), {"_approval": status})


# ---- submitting ---------------------------------------------------------------------

def submit_record(store, actor: Actor, app: str, form: str, record_id: int,
                  comment: str | None = None) -> dict:
    """Send a record into its form's approval flow (or mark it submitted when the form
    has none). A returned record goes back into the same instance, re-routed."""
    with store.write() as conn:
        schema, ft = open_form(store, conn, actor, app, form)
        return submit_in(conn, actor, schema, ft, record_id, comment)


def submit_in(conn, actor: Actor, schema, ft, record_id: int, comment: str | None = None, *,
              flow_key: str | None = None) -> dict:
    """Submit inside the caller's transaction (``submit_record``; a rule's ``start flow``
    names the flow with ``flow_key``)."""
    app, form = schema.key, ft.form.key
    granted = require(actor, schema, form, "update")
    row = fetch_record(conn, actor, ft, granted, record_id)
    if row["_approval"] not in EDITABLE:
        raise Conflict(f"record {record_id} is already {row['_approval']}; only a draft, "
                       "returned, withdrawn or rejected record can be submitted")
    record = read_records(conn, ft, [row])[0]
    found = flow_of_form(conn, schema, form)
    if flow_key is not None:
        body = definitions.current(conn, app).get(("flow", flow_key))
        if body is None or body.get("form") != form:
            raise Invalid([{"field": None, "message": f"flow '{flow_key}' is not a flow "
                            f"of form '{form}'"}])
        version = definitions.history(conn, app, "flow", flow_key)[-1]["version"]
        found = (flow_key, version, body)
    now = clock.now()
    env = environment(conn, schema, actor)
    post_document(conn, schema, ft, record_id, "submit", env, actor=actor)
    if found is None:
        _set_approval(conn, ft, record_id, "submitted")
        append_audit(conn, actor, app, form, record_id, "submit", None, None)
        on_record_event(conn, schema, ft, "submitted", record, None, actor)
        return {"approval": "submitted", "instance": None, "tasks": []}
    key, version, _ = found
    snapshot = _snapshot(conn, schema, ft, record)
    resolve = _resolver(conn, app, actor.department_id)
    last = conn.execute(select(instances).where(
        instances.c.app == app, instances.c.form == form, instances.c.record_id == record_id)
        .order_by(instances.c.id.desc()).limit(1)).mappings().first()
    try:
        if last is not None and last["status"] == "returned":
            flow = compiled_flow(conn, schema, last["flow"], last["flow_version"])
            state, events = resubmit(flow, state_from_dict(last["state"]), snapshot,
                                     _submitter(conn, actor), resolve, now,
                                     snapshot_version=row["_version"], comment=comment)
            instance_id = last["id"]
            _save(conn, last, state)
        else:
            flow = compiled_flow(conn, schema, key, version)
            state, events = start(flow, snapshot, _submitter(conn, actor), resolve, now,
                                  snapshot_version=row["_version"], comment=comment)
            instance_id = conn.execute(insert(instances), {
                "app": app, "form": form, "record_id": record_id, "flow": key,
                "flow_version": version, "status": state.status,
                "state": state_to_dict(state), "version": 1, "submitter": actor.id,
                "started_at": now, "ended_at": _when(state.ended_at)}).inserted_primary_key[0]
    except FlowError as error:
        raise _error(error) from None
    _sync(conn, instance_id, app, form, record_id, state)
    _set_approval(conn, ft, record_id, state.status)
    append_audit(conn, actor, app, form, record_id, "submit", None, None)
    on_record_event(conn, schema, ft, "submitted", record, None, actor)
    on_approval_events(conn, schema, ft, record_id, events, actor)
    return _summary(instance_id, state)


def _save(conn, instance_row, state) -> None:
    result = conn.execute(
        update(instances).where(and_(instances.c.id == instance_row["id"],
                                     instances.c.version == instance_row["version"])),
        {"state": state_to_dict(state), "status": state.status,
         "version": instance_row["version"] + 1, "ended_at": _when(state.ended_at)})
    if result.rowcount != 1:
        raise Conflict("this approval was just handled by someone else; reload to see it")


def _summary(instance_id: int, state) -> dict:
    return {"approval": state.status, "instance": instance_id,
            "tasks": [t.to_dict() for t in state.open_tasks]}


def on_approval_events(conn, schema, ft, record_id: int, events, actor: Actor) -> None:
    """Where the rest of the write path hears of flow events: a final approval posts
    what the record posts ``on: approved``; an approval that ends without it, or sends
    the record back for edits, takes back what it posted on submit; then the rules of
    flow events run."""
    names = {event.name for event in events}
    if names & {"withdrawn", "returned", "rejected"}:
        reverse_document(conn, schema, ft, record_id, actor=actor)
    if "approved" in names:
        post_document(conn, schema, ft, record_id, "approved",
                      environment(conn, schema, actor), actor=actor)
    on_flow_events(conn, schema, ft, record_id, events, actor)


# ---- acting on tasks ----------------------------------------------------------------

def _instance_for_update(conn, instance_id: int):
    query = select(instances).where(instances.c.id == instance_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite's write lock is already held
    return conn.execute(query).mappings().one()


def act_on_task(store, actor: Actor, task_id: int, action: str, **options) -> dict:
    with store.write() as conn:
        task = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
        if task is None:
            raise NotFound(f"no task {task_id}")
        instance = _instance_for_update(conn, task["instance_id"])
        return _act(store, conn, actor, instance, task["task_no"], action, **options)


def withdraw_record(store, actor: Actor, app: str, form: str, record_id: int,
                    comment: str | None = None) -> dict:
    with store.write() as conn:
        instance = conn.execute(select(instances.c.id).where(
            instances.c.app == app, instances.c.form == form, instances.c.record_id == record_id)
            .order_by(instances.c.id.desc()).limit(1)).first()
        if instance is None:
            raise Conflict(f"record {record_id} is not in an approval")
        instance = _instance_for_update(conn, instance.id)
        return _act(store, conn, actor, instance, None, "withdraw", comment=comment)


def _act(store, conn, actor, instance, task_no, action, **options) -> dict:
    schema = store.app(conn, instance["app"])
    ft = schema.form(instance["form"])
    flow = compiled_flow(conn, schema, instance["flow"], instance["flow_version"])
    names = _names(conn)
    try:
        state, events = act(flow, state_from_dict(instance["state"]), task_no, action,
                            actor.id, clock.now(), name_of=lambda uid: names.get(uid, uid),
                            **{k: v for k, v in options.items() if v is not None})
    except (FlowError, TypeError) as error:
        if isinstance(error, TypeError):  # an option this action does not take
            raise Invalid([{"field": None, "message": f"{action}: {error}"}]) from None
        raise _error(error) from None
    _save(conn, instance, state)
    _sync(conn, instance["id"], instance["app"], instance["form"], instance["record_id"], state)
    _set_approval(conn, ft, instance["record_id"], state.status)
    append_audit(conn, actor, instance["app"], instance["form"], instance["record_id"],
                 action, None, None)
    on_approval_events(conn, schema, ft, instance["record_id"], events, actor)
    return _summary(instance["id"], state)


def expire_due(store, now: dt.datetime | None = None) -> int:
    """Apply time limits to every instance with an open task due by ``now`` (the
    scheduler calls this every minute); returns how many instances changed."""
    now = now or clock.now()
    with store.write() as conn:
        due = sorted(set(conn.execute(select(tasks.c.instance_id).where(
            tasks.c.status == "open", tasks.c.due_at.is_not(None), tasks.c.due_at <= now))
            .scalars()))
        changed = 0
        for instance_id in due:
            instance = _instance_for_update(conn, instance_id)
            schema = store.app(conn, instance["app"])
            flow = compiled_flow(conn, schema, instance["flow"], instance["flow_version"])
            record = schema.form(instance["form"])
            submitter_dept = None
            if instance["submitter"] is not None:
                submitter_dept = conn.execute(select(platform.users.c.department_id).where(
                    platform.users.c.id == instance["submitter"])).scalar()
            state, events = expire(flow, state_from_dict(instance["state"]), now,
                                   _resolver(conn, instance["app"], submitter_dept))
            if not events:
                continue
            _save(conn, instance, state)
            _sync(conn, instance_id, instance["app"], instance["form"], instance["record_id"],
                  state)
            _set_approval(conn, record, instance["record_id"], state.status)
            on_approval_events(conn, schema, record, instance["record_id"], events, SYSTEM)
            changed += 1
        return changed


# ---- reading ------------------------------------------------------------------------

BOXES = ("todo", "done", "cc", "started")


def list_tasks(store, actor: Actor, box: str = "todo", limit: int = 50,
               offset: int = 0, *, app: str | None = None, form: str | None = None) -> dict:
    """The actor's tasks in a box, newest first; ``app`` / ``form`` narrow them."""
    if box not in BOXES:
        raise Invalid([{"field": "box", "message": f"box is one of {', '.join(BOXES)}"}])
    with store.read() as conn:
        if box == "started":
            query = select(instances.c.id.label("instance_id"), instances.c.app,
                           instances.c.form, instances.c.record_id, instances.c.status,
                           instances.c.started_at.label("created_at")).where(
                instances.c.submitter == actor.id).order_by(instances.c.id.desc())
        else:
            condition = {"todo": and_(tasks.c.status == "open", tasks.c.kind != "cc"),
                         "done": tasks.c.status == "done",
                         "cc": tasks.c.kind == "cc"}[box]
            query = select(tasks.c.id, tasks.c.instance_id, tasks.c.app, tasks.c.form,
                           tasks.c.record_id, tasks.c.node_id, tasks.c.kind, tasks.c.status,
                           tasks.c.outcome, tasks.c.created_at, tasks.c.due_at,
                           tasks.c.handled_at).where(
                tasks.c.assignee == actor.id, condition).order_by(tasks.c.id.desc())
        table = instances if box == "started" else tasks
        if app:
            query = query.where(table.c.app == app)
        if form:
            query = query.where(table.c.form == form)
        rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return {"tasks": [{k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                           for k, v in row.items()} for row in rows]}


def record_steps(conn, app: str, form: str, record_id: int) -> list[dict]:
    """Every approval step of a record, all rounds, oldest first, with names."""
    names = _names(conn)
    steps = []
    for row in conn.execute(select(instances.c.id, instances.c.state).where(
            instances.c.app == app, instances.c.form == form, instances.c.record_id == record_id)
            .order_by(instances.c.id)):
        for step in row.state.get("steps", []):
            steps.append({**step, "instance": row.id,
                          "actor_name": names.get(step["actor"], "system")})
    return steps


def visible_to_approver(conn, actor: Actor, ft, record: dict) -> dict:
    """The record as an approver without a read grant of their own sees it: only the
    fields the node of their open task makes visible (all when the node says nothing)."""
    open_tasks = conn.execute(select(tasks.c.instance_id, tasks.c.node_id).where(
        tasks.c.app == ft.app, tasks.c.form == ft.form.key, tasks.c.record_id == record["id"],
        tasks.c.status == "open", tasks.c.assignee == actor.id)).all()
    if not open_tasks:
        return record
    instance = conn.execute(select(instances).where(
        instances.c.id == open_tasks[0].instance_id)).mappings().one()
    flow = compiled_flow(conn, ft.app_schema, instance["flow"], instance["flow_version"])
    visible = set()
    for task in open_tasks:
        access = flow.node_fields(task.node_id).visible
        if access is None:
            return record
        visible |= {name.split(".")[0] for name in access}
    keep = {"id", "version", "created_at", "created_by", "updated_at", "updated_by", "approval"}
    return {k: v for k, v in record.items() if k in keep or k in visible}


def has_open_task(conn, actor: Actor, ft, record_id) -> bool:
    return actor.id is not None and conn.execute(select(tasks.c.id).where(
        tasks.c.app == ft.app, tasks.c.form == ft.form.key, tasks.c.record_id == record_id,
        tasks.c.status == "open", tasks.c.assignee == actor.id).limit(1)).first() is not None


def check_edit(conn, actor: Actor, ft, row, patch) -> None:
    """A record in approval is read-only, except the fields the current node lets the
    actor (who holds an open task there) edit; an approved record is final."""
    status = row["_approval"]
    if status in EDITABLE or status == "draft":
        return
    if status != "running":
        raise Conflict(f"record {row['id']} is {status} and can no longer be changed")
    open_tasks = conn.execute(select(tasks.c.instance_id, tasks.c.node_id).where(
        tasks.c.app == ft.app, tasks.c.form == ft.form.key, tasks.c.record_id == row["id"],
        tasks.c.status == "open", tasks.c.assignee == actor.id)).all()
    if not open_tasks:
        raise Conflict(f"record {row['id']} is in approval and read-only; withdraw it or "
                       "wait for the approvers")
    instance = conn.execute(select(instances).where(
        instances.c.id == open_tasks[0].instance_id)).mappings().one()
    schema = ft.app_schema
    flow = compiled_flow(conn, schema, instance["flow"], instance["flow_version"])
    editable = set()
    for task in open_tasks:
        editable |= set(flow.node_fields(task.node_id).editable or ())
    given = {k for k in (patch or {}) if k not in ("version", "id")}
    refused = sorted(given - editable)
    if refused:
        allowed = ", ".join(sorted(editable)) or "nothing"
        raise Forbidden(f"at this step you may change only {allowed}; not "
                        f"{', '.join(refused)}")

