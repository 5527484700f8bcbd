"""The ``loom`` command: check, install, users and tokens, export / import, backup /
restore, and the demo server started as a real process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from runtime.cli import main
from tests.conftest import EXAMPLE

PG = os.environ.get("LOOM_TEST_DATABASE_URL")


def run(*args, env=None, input=None):
    result = CliRunner().invoke(main, list(args), env=env, input=input)
    return result


def _env(database_url, data):
    return {"LOOM_DATABASE_URL": database_url, "LOOM_DATA": str(data)}


def test_check_reports_file_line_column(tmp_path):
    app = tmp_path / "app"
    (app / "forms").mkdir(parents=True)
    (app / "app.json").write_text('{"key": "demo", "name": "演示", "forms": ["item"]}')
    (app / "forms" / "items.json").write_text(
        '{\n  "key": "items",\n  "label": "物料",\n  "fields": [\n'
        '    {"key": "qty", "type": "numbr"},\n'
        '    {"key": "sup", "type": "relation", "target": "supplier"}\n  ]\n}\n')
    result = run("check", str(app))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{app / 'forms' / 'items.json'}:5:28: 'numbr' is not allowed for 'type'" in lines[0]
    assert "use one of 'text'" in lines[0]

    (app / "forms" / "items.json").write_text(
        '{"key": "items", "label": "物料", "fields": [\n'
        ' {"key": "qty", "type": "number"},\n'
        ' {"key": "qty", "type": "relation", "target": "supplier"}]}\n')
    result = run("check", str(app))
    assert result.exit_code == 1
    assert f"{app / 'app.json'}:1:41: app lists form 'item' but there is no " \
           "forms/item.json — did you mean 'items'?" in result.output
    assert f"{app / 'forms' / 'items.json'}:3:10: duplicate field key 'qty'" in result.output
    assert f"{app / 'forms' / 'items.json'}:3:47: relation target 'supplier' is not a form" \
        in result.output

    (app / "forms" / "items.json").write_text('{"key": "items", "label": "x", "fields": [}')
    result = run("check", str(app))
    assert result.exit_code == 1 and ":1:43: invalid JSON" in result.output


def test_check_accepts_the_example_and_its_bundle(tmp_path, database_url):
    assert run("check", str(EXAMPLE)).exit_code == 0
    env = _env(database_url, tmp_path)
    assert run("install", str(EXAMPLE), env=env).exit_code == 0
    bundle = tmp_path / "receipts.loom.json"
    result = run("app", "export", "receipts", "-o", str(bundle), env=env)
    assert result.exit_code == 0, result.output
    assert run("check", str(bundle)).exit_code == 0
    data = json.loads(bundle.read_text())
    data["documents"]["forms/materials.json"]["fields"][0]["type"] = "txt"
    bundle.write_text(json.dumps(data, indent=2))
    result = run("check", str(bundle))
    assert result.exit_code == 1 and f"{bundle}:" in result.output and "'txt'" in result.output
    result = run("app", "import", str(bundle), env=env)
    assert result.exit_code == 1 and "nothing imported" in result.output


def test_export_import_moves_an_app_between_databases(tmp_path, database_url):
    from tests.conftest import fresh_database_url

    env = _env(database_url, tmp_path)
    assert run("install", "receipts", "--sample-data", env=env).exit_code == 0
    bundle = tmp_path / "b.loom.json"
    run("app", "export", "receipts", "-o", str(bundle), env=env)
    other_url, drop = fresh_database_url(tmp_path / "other")
    try:
        other = _env(other_url, tmp_path / "other")
        result = run("app", "import", str(bundle), env=other)
        assert result.exit_code == 0, result.output
        again = run("app", "import", str(bundle), env=other)
        assert again.exit_code == 0 and "0 schema change" in again.output
    finally:
        drop()


def test_users_tokens_and_api(tmp_path, database_url):
    env = _env(database_url, tmp_path)
    run("install", "receipts", env=env)
    result = run("user", "add", "wang", "--password", "s3cret-pass", "--role", "receipts:clerk",
                 env=env)
    assert result.exit_code == 0, result.output
    dup = run("user", "add", "wang", "--password", "s3cret-pass", env=env)
    assert dup.exit_code == 1 and "already exists" in dup.output
    short = run("user", "add", "li", "--password", "short", env=env)
    assert short.exit_code == 1 and "at least 8" in short.output
    bad_role = run("user", "add", "zhao", "--password", "s3cret-pass", "--role",
                   "receipts:boss", env=env)
    assert bad_role.exit_code == 1 and "has no role 'boss'" in bad_role.output
    assert run("department", "add", "工厂", env=env).exit_code == 0
    assert run("department", "add", "仓库", "--parent", "工厂", env=env).exit_code == 0
    orphan = run("department", "add", "x", "--parent", "nope", env=env)
    assert orphan.exit_code == 1 and "no department 'nope'" in orphan.output
    placed = run("user", "add", "zhou", "--password", "s3cret-pass", "--department", "仓库",
                 env=env)
    assert placed.exit_code == 0, placed.output
    token = run("token", "create", "wang", env=env)
    assert token.exit_code == 0 and token.output.startswith("loom_")
    missing = run("token", "create", "nobody", env=env)
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_backup_and_restore_commands(tmp_path, database_url):
    from tests.conftest import fresh_database_url

    env = _env(database_url, tmp_path)
    run("install", "receipts", "--sample-data", env=env)
    archive = tmp_path / "b.zip"
    result = run("backup", "-o", str(archive), env=env)
    assert result.exit_code == 0 and "Backup written" in result.output
    other_url, drop = fresh_database_url(tmp_path / "fresh")
    try:
        fresh = _env(other_url, tmp_path / "fresh")
        result = run("restore", str(archive), env=fresh)
        assert result.exit_code == 0, result.output
        again = run("restore", str(archive), env=fresh)
        assert again.exit_code == 1 and "not empty" in again.output
    finally:
        drop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_starts_serves_and_prints_login(tmp_path):
    data, port = tmp_path / "loom-data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    process = subprocess.Popen([sys.executable, "-m", "runtime.cli", "demo", "--data", str(data),
                                "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.time() + 60, None
        while time.time() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        assert page is not None and "登录".encode() in page
        password = (data / "admin-password.txt").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token", method="POST",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"})
        token = json.loads(urllib.request.urlopen(request, timeout=5).read())["token"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/apps/receipts/forms/receipts/records",
            headers={"Authorization": f"Bearer {token}"})
        assert json.loads(urllib.request.urlopen(request, timeout=5).read())["total"] == 3
        assert Path(data / "loom.db").exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/" in output and "admin /" in output


def test_serve_with_gunicorn_workers(tmp_path):
    data, port = tmp_path / "data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    assert run("install", "receipts", "--data", str(data), env={"LOOM_DATA": str(data)}) \
        .exit_code == 0
    process = subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--data", str(data),
                                "--port", str(port), "--workers", "2"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, document = time.time() + 60, None
        while time.time() < deadline:
            try:
                document = json.loads(urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2).read())
                break
            except OSError:
                time.sleep(0.3)
        assert document is not None and document["openapi"].startswith("3.")
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "gunicorn" in output.lower() or "Booting worker" in output
