"""A result as a file: CSV (UTF-8 with a byte-order mark, so Excel reads Chinese) or
XLSX (openpyxl), with the same numbers the report shows — exact decimals in CSV,
numbers (not text) in XLSX, with the column's decimals as the cell format."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from engines.reports.result import Result

TOTAL = {"zh": "合计", "en": "Total"}


def _rows(result: Result, lang: str):
    rows = list(result.rows)
    if result.totals is not None:
        total = list(result.totals)
        dims = [i for i, c in enumerate(result.columns) if c.role == "dimension"]
        if dims and total[dims[0]] is None:
            total[dims[0]] = TOTAL.get(lang, TOTAL["en"])
        rows.append(total)
    return rows


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_csv(result: Result, *, lang: str = "zh") -> bytes:
    """The header (column titles in ``lang``) and every row, then the total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.title(lang) for c in result.columns])
    for row in _rows(result, lang):
        writer.writerow([_csv_value(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(result: Result, *, lang: str = "zh", title: str = "report") -> bytes:
    """One sheet: a bold header, the rows, the total row; numbers stay numbers."""
    book = Workbook()
    sheet = book.active
    sheet.title = _sheet_name(title)
    sheet.append([c.title(lang) for c in result.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in _rows(result, lang):
        sheet.append([_cell(v) for v in row])
    for index, column in enumerate(result.columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, min(40, len(column.title(lang)) * 2 + 4))
        number_format = _number_format(column)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    if result.totals is not None:
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value):
    # openpyxl writes Decimal as a number; keep integers integral.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _number_format(column) -> str | None:
    if column.percent:
        return "0.0%"
    if column.decimals is not None:
        return "#,##0" + ("." + "0" * column.decimals if column.decimals else "")
    if column.type == "date":
        return "yyyy-mm-dd"
    return None


def _sheet_name(title: str) -> str:
    cleaned = "".join(ch for ch in title if ch not in "[]:*?/\\")
    return (cleaned or "report")[:31]
