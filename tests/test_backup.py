"""Backup -> restore into a fresh database reproduces everything, byte for byte of data."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from runtime.auth.actors import SYSTEM
from runtime.services.apps import put_form
from runtime.services.records import create_record, delete_record, update_record
from runtime.storage import platform
from runtime.storage.backup import RestoreRefused, _form_tables, backup, restore
from runtime.storage.store import Store
from tests.conftest import fresh_database_url, make_user


def _everything(store) -> dict:
    """Every row of every table, platform and form tables (hidden columns too)."""
    with store.read() as conn:
        tables = list(platform.metadata.sorted_tables) + [t for _, t in _form_tables(conn)]
        return {t.name: sorted((tuple(sorted(r.items())) for r in
                                conn.execute(select(t)).mappings()), key=repr)
                for t in tables}


def test_backup_restore_reproduces_every_row(installed, tmp_path):
    make_user(installed, "clerk", roles=[("receipts", "clerk")])
    record = create_record(installed, SYSTEM, "receipts", "suppliers",
                           {"code": "S-9", "name": "备份", "rating": "B"})
    update_record(installed, SYSTEM, "receipts", "suppliers", record["id"], {"phone": "1"})
    # A hidden column with data must survive too.
    with installed.read() as conn:
        form = copy.deepcopy(installed.app(conn, "receipts").form("suppliers").form.raw)
    form["fields"] = [f for f in form["fields"] if f["key"] != "phone"]
    put_form(installed, SYSTEM, "receipts", "suppliers", form)
    doomed = create_record(installed, SYSTEM, "receipts", "suppliers", {"code": "S-X", "name": "x"})
    delete_record(installed, SYSTEM, "receipts", "suppliers", doomed["id"])

    before = _everything(installed)
    archive = tmp_path / "backup.zip"
    manifest = backup(installed, archive)
    assert manifest["tables"]["loom_audit"] == len(before["loom_audit"]) > 0

    url, drop = fresh_database_url(tmp_path / "restored")
    (tmp_path / "restored").mkdir(exist_ok=True)
    target = Store(url)
    try:
        restore(target, archive)
        assert _everything(target) == before
        # The restored database works: new ids do not collide, migrations still apply.
        again = create_record(target, SYSTEM, "receipts", "suppliers", {"code": "S-N", "name": "n"})
        assert again["id"] > max(dict(r)["id"] for r in before["f_receipts_suppliers"])
        form["fields"].append({"key": "phone", "type": "text"})
        put_form(target, SYSTEM, "receipts", "suppliers", form)
        with target.read() as conn:
            ft = target.app(conn, "receipts").form("suppliers")
            phone = conn.execute(select(ft.columns["phone"]).where(
                ft.table.c.id == record["id"])).scalar()
        assert phone == "1"
        with pytest.raises(RestoreRefused, match="not empty"):
            restore(target, archive)
    finally:
        target.dispose()
        drop()


def test_restore_rejects_a_file_that_is_not_a_backup(store, tmp_path):
    import zipfile

    bogus = tmp_path / "x.zip"
    with zipfile.ZipFile(bogus, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(RestoreRefused, match="not a Loom backup"):
        restore(store, bogus)
