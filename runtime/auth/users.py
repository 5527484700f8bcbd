"""Users, departments, role assignments and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from runtime.services.errors import Conflict, Invalid
from runtime.storage import platform

MIN_PASSWORD = 8


def add_user(conn, username: str, password: str, *, display_name: str | None = None,
             email: str | None = None, is_admin: bool = False,
             department_id: int | None = None) -> int:
    username = username.strip()
    if not username or len(username) > 80:
        raise Invalid([{"field": "username", "message": "username must be 1-80 characters"}])
    if len(password) < MIN_PASSWORD:
        raise Invalid([{"field": "password", "message":
                        f"password must be at least {MIN_PASSWORD} characters"}])
    try:
        with conn.begin_nested():
            return conn.execute(insert(platform.users).values(
                username=username, password_hash=generate_password_hash(password),
                display_name=display_name or username, email=email, is_admin=is_admin,
                department_id=department_id, active=True, created_at=platform.utcnow())
            ).inserted_primary_key[0]
    except IntegrityError:
        raise Conflict(f"user '{username}' already exists; choose another username") from None


def find_user(conn, username: str):
    return conn.execute(select(platform.users).where(platform.users.c.username == username)) \
        .mappings().first()


def set_password(conn, user_id: int, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid([{"field": "password", "message":
                        f"password must be at least {MIN_PASSWORD} characters"}])
    conn.execute(update(platform.users).where(platform.users.c.id == user_id)
                 .values(password_hash=generate_password_hash(password)))


def authenticate(conn, username: str, password: str) -> int | None:
    """The user's id if the password is right and the user active, else None."""
    row = find_user(conn, username)
    if row is None or not row["active"]:
        # Hash anyway so a wrong username takes as long as a wrong password.
        check_password_hash(generate_password_hash("x"), password)
        return None
    return row["id"] if check_password_hash(row["password_hash"], password) else None


def grant_role(conn, user_id: int, app: str, role: str) -> None:
    exists = conn.execute(select(platform.user_roles).where(
        platform.user_roles.c.user_id == user_id, platform.user_roles.c.app == app,
        platform.user_roles.c.role == role)).first()
    if exists is None:
        conn.execute(insert(platform.user_roles).values(user_id=user_id, app=app, role=role))


def revoke_role(conn, user_id: int, app: str, role: str) -> None:
    conn.execute(delete(platform.user_roles).where(
        platform.user_roles.c.user_id == user_id, platform.user_roles.c.app == app,
        platform.user_roles.c.role == role))


def add_department(conn, name: str, parent_id: int | None = None,
                   head_user_id: int | None = None) -> int:
    return conn.execute(insert(platform.departments).values(
        name=name, parent_id=parent_id, head_user_id=head_user_id)).inserted_primary_key[0]


def find_department(conn, name: str) -> int | None:
    return conn.execute(select(platform.departments.c.id)
                        .where(platform.departments.c.name == name)).scalar()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn, user_id: int, name: str = "api") -> str:
    """A new API token; only its hash is stored, so it is shown once."""
    token = "loom_" + secrets.token_urlsafe(32)
    conn.execute(insert(platform.tokens).values(user_id=user_id, name=name,
                                                token_hash=_hash_token(token),
                                                created_at=platform.utcnow()))
    return token


def user_for_token(conn, token: str) -> int | None:
    row = conn.execute(select(platform.tokens.c.id, platform.tokens.c.user_id)
                       .where(platform.tokens.c.token_hash == _hash_token(token))).first()
    return None if row is None else row.user_id
