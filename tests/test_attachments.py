"""Attachments: upload, attach with size and type limits, download by permission, backup."""

from __future__ import annotations

import copy
import io

import pytest

from runtime.auth.actors import SYSTEM
from runtime.services.apps import put_form
from runtime.storage.backup import backup, restore
from runtime.storage.store import Store
from tests.conftest import fresh_database_url, make_user

BASE = "/api/v1/apps/receipts"


@pytest.fixture
def with_photos(installed):
    with installed.read() as conn:
        form = copy.deepcopy(installed.app(conn, "receipts").form("receipts").form.raw)
    form["fields"].append({"key": "photos", "type": "attachment", "label": "照片",
                           "accept": ["image/*", ".pdf"], "max_size_mb": 0.01,
                           "max_files": 2})
    put_form(installed, SYSTEM, "receipts", "receipts", form)
    return installed


def _upload(client, headers, name, data: bytes, mimetype="image/png"):
    return client.post(f"{BASE}/files", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name, mimetype)})


def _get(client, url, headers):
    """GET and close: a file response holds the file open until closed."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def _receipt(client, headers, **extra):
    return client.post(f"{BASE}/forms/receipts/records", headers=headers, json={
        "supplier": {"code": "S-001"}, "received_on": "2026-11-21",
        "lines": [{"material": {"code": "M-001"}, "qty": 1}], **extra})


def test_upload_attach_download(with_photos, client, admin_headers):
    uploaded = _upload(client, admin_headers, "../../etc/收货.png", b"\x89PNG" + b"x" * 100)
    assert uploaded.status_code == 201, uploaded.json
    assert uploaded.json["name"] == "收货.png" and uploaded.json["size"] == 104
    created = _receipt(client, admin_headers, photos=[uploaded.json["id"]])
    assert created.status_code == 201, created.json
    assert created.json["photos"] == [{"id": uploaded.json["id"], "name": "收货.png",
                                       "size": 104, "type": "image/png"}]
    download = _get(client, f"{BASE}/files/{uploaded.json['id']}", admin_headers)
    assert download.status_code == 200 and download.data == b"\x89PNG" + b"x" * 100
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in download.headers["Content-Disposition"]
    # Sending the record back unchanged keeps the files.
    again = client.patch(f"{BASE}/forms/receipts/records/{created.json['id']}",
                         headers=admin_headers, json={"photos": created.json["photos"]})
    assert again.status_code == 200 and again.json["photos"] == created.json["photos"]
    # The same file cannot be attached to a second record.
    second = _receipt(client, admin_headers, photos=[uploaded.json["id"]])
    assert second.status_code == 422 and "another record" in second.json["errors"][0]["message"]


def test_size_type_and_count_limits(with_photos, client, admin_headers):
    big = _upload(client, admin_headers, "big.png", b"x" * 20_000).json["id"]
    exe = _upload(client, admin_headers, "tool.exe", b"MZ", "application/x-msdownload").json["id"]
    pdf = _upload(client, admin_headers, "cert.PDF", b"%PDF", "application/pdf").json["id"]
    response = _receipt(client, admin_headers, photos=[big])
    assert "at most 0.01 MB" in response.json["errors"][0]["message"]
    response = _receipt(client, admin_headers, photos=[exe])
    assert "not an accepted type" in response.json["errors"][0]["message"]
    response = _receipt(client, admin_headers, photos=[pdf, big, exe])
    assert "at most 2 allowed" in response.json["errors"][0]["message"]
    response = _receipt(client, admin_headers, photos=[99999])
    assert "no uploaded file 99999" in response.json["errors"][0]["message"]
    assert _receipt(client, admin_headers, photos=[pdf]).status_code == 201
    missing = client.post(f"{BASE}/files", headers=admin_headers, data={})
    assert missing.status_code == 422


def test_download_follows_record_permissions(with_photos, client, store, admin_headers):
    alice = {"Authorization": f"Bearer {make_user(store, 'alice', roles=[('receipts', 'clerk')])}"}
    bob = {"Authorization": f"Bearer {make_user(store, 'bob', roles=[('receipts', 'clerk')])}"}
    viewer = {"Authorization": f"Bearer {make_user(store, 'v', roles=[('receipts', 'viewer')])}"}
    file_id = _upload(client, alice, "a.png", b"png").json["id"]
    assert _get(client, f"{BASE}/files/{file_id}", bob).status_code == 404  # not attached
    assert _get(client, f"{BASE}/files/{file_id}", alice).status_code == 200
    assert _upload(client, viewer, "v.png", b"png").status_code == 403  # may not write
    assert _receipt(client, alice, photos=[file_id]).status_code == 201
    assert _get(client, f"{BASE}/files/{file_id}", bob).status_code == 404  # own rows only
    assert _get(client, f"{BASE}/files/{file_id}", viewer).status_code == 200


def test_backup_carries_the_files(with_photos, client, admin_headers, tmp_path):
    file_id = _upload(client, admin_headers, "a.png", b"\x89PNG-data").json["id"]
    _receipt(client, admin_headers, photos=[file_id])
    archive = tmp_path / "b.zip"
    assert backup(with_photos, archive)["files"] == 1
    url, drop = fresh_database_url(tmp_path / "r")
    (tmp_path / "r").mkdir(exist_ok=True)
    target = Store(url, files_dir=tmp_path / "r" / "files")
    try:
        restore(target, archive)
        from runtime.services.attachments import open_download

        path, row = open_download(target, SYSTEM, "receipts", file_id)
        assert path.read_bytes() == b"\x89PNG-data" and row["name"] == "a.png"
    finally:
        target.dispose()
        drop()
