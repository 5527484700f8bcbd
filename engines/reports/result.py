"""What running a dataset gives: described columns and rows of plain values.

Numbers are ``Decimal`` (counts ``int``), dates ``date``; a bin or age dimension
gives its label. ``Result.to_json()`` is the ``{columns, rows}`` part of the report
API's answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from engines.forms.definition import label_text


@dataclass(frozen=True)
class Column:
    key: str
    label: object
    role: str  # "dimension", "measure" or the analysis that adds it ("abc", "forecast"...)
    type: str = "text"  # "text", "number", "integer", "date", "boolean"
    decimals: int | None = None
    percent: bool = False

    def title(self, lang: str = "zh") -> str:
        return label_text(self.label, lang) or self.key


@dataclass
class Result:
    columns: list[Column]
    rows: list[list]
    totals: list | None = None
    extra: dict = field(default_factory=dict)  # e.g. a pivot's layout

    def index(self, key: str) -> int:
        for i, column in enumerate(self.columns):
            if column.key == key:
                return i
        raise KeyError(f"no column '{key}'; the columns are "
                       f"{', '.join(c.key for c in self.columns)}")

    def column(self, key: str) -> list:
        i = self.index(key)
        return [row[i] for row in self.rows]

    def records(self) -> list[dict]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]

    def to_json(self, lang: str = "zh") -> dict:
        """JSON-ready: numbers as numbers (Decimals become int or float), dates as ISO text."""
        out = {"columns": [{"key": c.key, "label": c.title(lang), "role": c.role,
                            "type": c.type, **({"decimals": c.decimals}
                                               if c.decimals is not None else {}),
                            **({"percent": True} if c.percent else {})}
                           for c in self.columns],
               "rows": [[json_value(v) for v in row] for row in self.rows]}
        if self.totals is not None:
            out["totals"] = [json_value(v) for v in self.totals]
        return out


def json_value(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2 ** 53 \
            else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
