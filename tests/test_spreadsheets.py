"""Import from and export to spreadsheets: matching headers, per-row errors,
all-or-nothing, upsert, and round trips that open in openpyxl with the same numbers."""

from __future__ import annotations

import io

import openpyxl

from tests.test_cli import run

BASE = "/api/v1/apps/receipts/forms/materials"


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import(client, headers, data, name="materials.xlsx", query=""):
    return client.post(f"{BASE}/import{query}", headers=headers,
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name)})


ROWS = [["物料编码", "物料名称", "单位", "安全库存", "默认供应商", "启用", "颜色"],
        ["N-1", "电阻 1k", "个", 100, "S-001", "是", "red"],
        ["N-2", "电阻 2k", "kg", "1,500", "S-002", "否", None],
        ["N-3", "电阻 3k", "pcs", "many", "S-404", "是", None],
        ["N-4", "电阻 4k", "m", 10, None, None, None]]


def _count(client, headers):
    return client.get(f"{BASE}/records", headers=headers).json["total"]


def test_preview_names_bad_rows_and_writes_nothing(installed, client, admin_headers):
    before = _count(client, admin_headers)
    preview = _import(client, admin_headers, _xlsx(ROWS), query="?dry_run=1")
    assert preview.status_code == 200, preview.json
    report = preview.json
    assert report["unmatched"] == ["颜色"]
    assert [(e["row"], e["column"]) for e in report["errors"]] == [
        (4, "安全库存"), (4, "默认供应商")]
    assert "'many' is not a number" in report["errors"][0]["message"]
    assert "no record of form 'suppliers' has code='S-404'" in report["errors"][1]["message"]
    committed = _import(client, admin_headers, _xlsx(ROWS))
    assert committed.status_code == 422 and committed.json["committed"] is False
    assert _count(client, admin_headers) == before  # all or nothing


def test_fixed_file_imports_and_reimport_upserts(installed, client, admin_headers):
    before = _count(client, admin_headers)
    fixed = [row[:] for row in ROWS]
    fixed[3][3], fixed[3][4] = 300, "S-003"
    first = _import(client, admin_headers, _xlsx(fixed), query="?key=code")
    assert first.status_code == 200 and first.json["created"] == 4, first.json
    assert _count(client, admin_headers) == before + 4
    record = client.get(f"{BASE}/records?code=N-2", headers=admin_headers).json["records"][0]
    assert (record["unit"], record["safety_stock"], record["active"]) == ("kg", 1500, False)
    fixed[1][3] = 250
    again = _import(client, admin_headers, _xlsx(fixed), query="?key=code")
    assert (again.json["created"], again.json["updated"]) == (0, 4)
    assert _count(client, admin_headers) == before + 4  # no duplicates
    n1 = client.get(f"{BASE}/records?code=N-1", headers=admin_headers).json["records"][0]
    assert n1["safety_stock"] == 250


def test_csv_in_gbk_and_export_round_trip(installed, client, admin_headers):
    csv_text = "物料编码,物料名称,单位\nC-1,螺母,个\n"
    response = _import(client, admin_headers, csv_text.encode("gb18030"), name="m.csv")
    assert response.status_code == 200 and response.json["created"] == 1, response.json
    exported = client.get(f"{BASE}/export?format=xlsx&sort=code", headers=admin_headers)
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("物料编码", "物料名称", "规格型号")
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code["M-001"][5] == 200 and by_code["M-001"][6] == 18.5  # numbers stay numbers
    assert by_code["M-001"][7] == "S-001"  # a relation by its code, importable again
    assert by_code["C-1"][3] == "个"
    csv_export = client.get(f"{BASE}/export?format=csv&category=passive", headers=admin_headers)
    lines = csv_export.data.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 3 and lines[1].startswith("M-002")
    # What was exported imports again onto the same records.
    reimport = _import(client, admin_headers, exported.data, query="?key=code")
    assert reimport.status_code == 200 and reimport.json["created"] == 0, reimport.json


def test_bad_files_are_clear_errors(installed, client, admin_headers):
    assert "import .xlsx or .csv" in _import(client, admin_headers, b"x", name="a.txt") \
        .json["errors"][0]["message"]
    assert "cannot read" in _import(client, admin_headers, b"not a zip", name="a.xlsx") \
        .json["errors"][0]["message"]
    assert "has no rows" in _import(client, admin_headers, b"", name="a.csv") \
        .json["errors"][0]["message"]


def test_cli_import_excel(tmp_path, database_url):
    env = {"LOOM_DATABASE_URL": database_url, "LOOM_DATA": str(tmp_path)}
    run("install", "receipts", "--sample-data", env=env)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(_xlsx(ROWS))
    result = run("import-excel", str(bad), "--form", "receipts.materials", env=env)
    assert result.exit_code == 1 and "row 4, column '安全库存'" in result.output
    assert "nothing imported" in result.output
    good = tmp_path / "good.xlsx"
    good.write_bytes(_xlsx([ROWS[0][:3], ["G-1", "垫圈", "个"]]))
    result = run("import-excel", str(good), "--form", "receipts.materials", env=env)
    assert result.exit_code == 0 and "created 1" in result.output, result.output
