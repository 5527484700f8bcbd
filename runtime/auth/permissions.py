"""The one permission check: may this actor do this action on this form, and on which rows.

Grants come from the app definition (``permissions``: role x forms x actions x rows).
``row_filter`` returns a SQL condition that list, count, get, update and delete all
put inside their query, so a restricted user's list costs what an admin's does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, or_, select, true

from runtime.auth.actors import Actor
from runtime.services.errors import Forbidden, NotFound
from runtime.storage import platform

ACTIONS = ("read", "create", "update", "delete", "cancel")
_SCOPE_ORDER = {"own": 0, "department": 1, "all": 2}


def can_see_app(actor: Actor, app_schema) -> bool:
    return actor.is_admin or bool(actor.roles_in(app_schema.key))


def require_app(actor: Actor, app_schema) -> None:
    if not can_see_app(actor, app_schema):
        raise Forbidden(f"you have no role in app '{app_schema.key}'; ask an administrator "
                        "to grant you one")


def require_admin(actor: Actor, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only administrators may {what}")


def scopes(actor: Actor, app_schema, form: str, action: str) -> set[str]:
    """Row scopes ('all', 'department', 'own') the actor's roles grant for ``action``."""
    if actor.is_admin:
        return {"all"}
    roles = actor.roles_in(app_schema.key)
    granted = set()
    for grant in app_schema.definition.get("permissions", []):
        if grant["role"] in roles and action in grant["actions"] and (
                grant["forms"] == "*" or form in grant["forms"]):
            granted.add(grant.get("rows", "all"))
    return granted


def allowed(actor: Actor, app_schema, form: str, action: str) -> bool:
    return bool(scopes(actor, app_schema, form, action))


def require(actor: Actor, app_schema, form: str, action: str) -> set[str]:
    granted = scopes(actor, app_schema, form, action)
    if not granted:
        if action != "read" and scopes(actor, app_schema, form, "read"):
            raise Forbidden(f"you may not {action} records of form '{form}'")
        if not can_see_app(actor, app_schema):
            raise Forbidden(f"you have no role in app '{app_schema.key}'")
        raise Forbidden(f"you may not {action} records of form '{form}'")
    return granted


@dataclass(frozen=True)
class FieldRules:
    """Which fields of a form a user may not see, and may not change."""

    hidden: frozenset = frozenset()
    readonly: frozenset = frozenset()

    def visible(self, record: dict) -> dict:
        return {k: v for k, v in record.items() if k not in self.hidden} if self.hidden \
            else record


OPEN = FieldRules()


def field_rules(actor: Actor, app_schema, form: str) -> FieldRules:
    """A field is shown if any grant that reads the form shows it, and may be changed
    if any grant that creates or updates the form neither hides it nor makes it
    read-only: roles add up, as they do for actions."""
    if actor.is_admin:
        return OPEN
    roles = actor.roles_in(app_schema.key)
    reading, writing = [], []
    for grant in app_schema.definition.get("permissions", []):
        if grant["role"] not in roles or not (grant["forms"] == "*" or form in grant["forms"]):
            continue
        hidden = set(grant.get("hidden", ()))
        if "read" in grant["actions"]:
            reading.append(hidden)
        if {"create", "update"} & set(grant["actions"]):
            writing.append(hidden | set(grant.get("readonly", ())))
    hidden = frozenset(set.intersection(*reading)) if reading else frozenset()
    readonly = frozenset(set.intersection(*writing)) if writing else frozenset()
    if not hidden and not readonly:
        return OPEN
    return FieldRules(hidden, readonly | hidden)


def row_filter(actor: Actor, ft, granted: set[str], *, table=None):
    """SQL condition selecting the rows of form tables ``ft`` that ``granted`` scopes
    reach — and the records the actor has an approval task on, whatever the scope.
    ``table`` is ``ft.table`` or an alias of it (reports join a form to itself)."""
    table = ft.table if table is None else table
    if "all" in granted:
        return true()
    conditions = []
    if actor.id is not None:
        tasks = platform.tasks
        conditions.append(table.c.id.in_(select(tasks.c.record_id).where(
            tasks.c.assignee == actor.id, tasks.c.app == ft.app,
            tasks.c.form == ft.form.key)))
    if "department" in granted and actor.departments:
        conditions.append(table.c._dept.in_(sorted(actor.departments)))
    if ("own" in granted or "department" in granted) and actor.id is not None:
        conditions.append(table.c._created_by == actor.id)
    return or_(*conditions) if conditions else false()


def missing(form: str, record_id) -> NotFound:
    # The same answer whether the record does not exist or lies outside the actor's rows.
    return NotFound(f"form '{form}' has no record {record_id} (or you may not see it)")
