"""Fixtures: a real, fresh database per test — SQLite in a temporary folder, or a new
PostgreSQL schema when LOOM_TEST_DATABASE_URL is set (CI runs the suite both ways)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from runtime.app import create_app
from runtime.auth.actors import SYSTEM
from runtime.auth.users import add_user, create_token, grant_role
from runtime.services.templates import install_template
from runtime.storage.store import Store

PG_URL = os.environ.get("LOOM_TEST_DATABASE_URL")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "receipts"


def fresh_database_url(tmp_path: Path) -> tuple[str, callable]:
    """A URL of an empty database and a function that removes it."""
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'loom.db'}", lambda: None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


@pytest.fixture
def database_url(tmp_path):
    url, drop = fresh_database_url(tmp_path)
    yield url
    drop()


@pytest.fixture
def store(database_url, tmp_path):
    store = Store(database_url, files_dir=tmp_path / "files")
    yield store
    store.dispose()


@pytest.fixture
def installed(store):
    """The store with the example receipts app and its sample data installed."""
    install_template(store, SYSTEM, str(EXAMPLE), sample_data=True)
    return store


@pytest.fixture
def app(store, tmp_path):
    app = create_app({"TESTING": True, "LOOM_DATA": str(tmp_path / "data"),
                      "LOOM_STORE": store, "SECRET_KEY": "test"})
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def make_user(store, username, *, admin=False, roles=(), department_id=None) -> str:
    """Create a user and return an API token for them."""
    with store.write() as conn:
        user_id = add_user(conn, username, "password123", is_admin=admin,
                           department_id=department_id)
        for app_key, role in roles:
            grant_role(conn, user_id, app_key, role)
        return create_token(conn, user_id)


@pytest.fixture
def admin_headers(store):
    return {"Authorization": f"Bearer {make_user(store, 'admin', admin=True)}"}
