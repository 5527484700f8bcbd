"""Who is acting: the user, their roles per app and their department subtree.

Services receive an ``Actor`` from their caller (the API, a web page, the CLI); the
engines never look it up themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from runtime.storage import platform


@dataclass(frozen=True)
class Actor:
    id: int | None
    username: str
    is_admin: bool = False
    roles: frozenset[tuple[str, str]] = frozenset()  # (app, role)
    department_id: int | None = None
    departments: frozenset[int] = frozenset()  # own department and every one below it

    def roles_in(self, app: str) -> set[str]:
        return {role for a, role in self.roles if a == app}


SYSTEM = Actor(id=None, username="system", is_admin=True)


def load_actor(conn, user_id: int) -> Actor | None:
    users = platform.users
    row = conn.execute(select(users).where(users.c.id == user_id, users.c.active)).mappings() \
        .first()
    if row is None:
        return None
    roles = conn.execute(select(platform.user_roles.c.app, platform.user_roles.c.role)
                         .where(platform.user_roles.c.user_id == user_id)).all()
    return Actor(id=row["id"], username=row["username"], is_admin=row["is_admin"],
                 roles=frozenset((a, r) for a, r in roles), department_id=row["department_id"],
                 departments=frozenset(department_subtree(conn, row["department_id"])))


def department_subtree(conn, root: int | None) -> set[int]:
    if root is None:
        return set()
    depts = platform.departments
    tree = select(depts.c.id).where(depts.c.id == root).cte("tree", recursive=True)
    tree = tree.union_all(select(depts.c.id).join(tree, depts.c.parent_id == tree.c.id))
    return set(conn.execute(select(tree.c.id)).scalars())
