"""Server-rendered pages: login with CSRF, the app launcher, record lists, escaping."""

from __future__ import annotations

import re

from runtime.auth.actors import SYSTEM
from runtime.services.records import create_record
from tests.conftest import make_user


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def _login(client, username, password="password123", next_url=""):
    page = client.get("/login")
    return client.post(f"/login{next_url}", data={
        "username": username, "password": password, "csrf_token": _csrf(page.data)})


def test_login_home_records_logout(installed, client, store):
    make_user(store, "wang", roles=[("receipts", "viewer")])
    assert client.get("/").status_code == 302  # to the login page
    wrong = _login(client, "wang", "nope-nope")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    response = _login(client, "wang")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "收货示例" in home and "物料" in home
    page = client.get("/apps/receipts/forms/materials").get_data(as_text=True)
    assert "主控芯片" in page and "6 条记录" in page
    english = client.get("/apps/receipts/forms/materials?lang=en").get_data(as_text=True)
    assert "Materials" in english and "6 records" in english
    logout = client.post("/logout", data={"csrf_token": _csrf(client.get("/").data)})
    assert logout.status_code == 302
    assert client.get("/").status_code == 302


def test_login_needs_csrf_token(installed, client, store):
    make_user(store, "wang", roles=[("receipts", "viewer")])
    response = client.post("/login", data={"username": "wang", "password": "password123"})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_next_parameter_cannot_redirect_elsewhere(installed, client, store):
    make_user(store, "wang", roles=[("receipts", "viewer")])
    response = _login(client, "wang", next_url="?next=//evil.example/x")
    assert response.headers["Location"] == "/"


def test_values_and_labels_are_escaped(installed, client, store):
    create_record(installed, SYSTEM, "receipts", "materials",
                  {"code": "<script>alert(1)</script>", "name": "<b>x</b>"})
    make_user(store, "wang", roles=[("receipts", "viewer")])
    _login(client, "wang")
    page = client.get("/apps/receipts/forms/materials").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_pages_outside_permission_or_unknown_are_friendly(installed, client, store):
    make_user(store, "outsider")
    _login(client, "outsider")
    forbidden = client.get("/apps/receipts/forms/materials")
    assert forbidden.status_code == 403 and "no role" in forbidden.get_data(as_text=True)
    assert client.get("/apps/receipts/forms/nothing").status_code == 403  # no app, no hints
    make_user(store, "viewer", roles=[("receipts", "viewer")])
    _login(client, "viewer")
    missing = client.get("/apps/receipts/forms/nothing")
    assert missing.status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert "Traceback" not in missing.get_data(as_text=True)
