"""The app's ledgers as the runtime opens them (once per app version), the reader
expressions use (``BALANCE()``, ``AVAILABLE()``, ``AVG_COST()``), and the app's own
words for ledger messages (labels and record codes instead of ids)."""

from __future__ import annotations

from sqlalchemy import select

from engines.expr import ErrorValue
from engines.forms.definition import label_text
from engines.ledgers import Wording, avg_cost, balance, open_ledger
from engines.ledgers import available as available_qty
from runtime.services.errors import NotFound
from runtime.storage import definitions

# The engine's messages in Chinese, placeholders as in engines.ledgers.TEMPLATES.
ZH_TEMPLATES = {
    "short": "{what} 在 {where} 库存不足: 需要 {needs}, 可用 {available}",
    "short_reserved": "{what} 在 {where} 库存不足: 需要 {needs}, 可用 {available} "
                      "(另有 {reserved} 已被其他单据预留)",
    "short_on_date": "{what} 在 {where} 于 {date} 库存不足: 需要 {needs}, 当日可用 {available}",
    "short_later": "{what} 在 {where}: 于 {date} 出库 {needs} 会使 {negative_date} 的结存为负 "
                   "(缺 {short}), 因为之后的单据已用掉这些库存; 请改在更晚的日期过账, "
                   "或先补足入库",
    "serial_in_stock": "{what} 序列号 {serial} 不能入库到 {where}: 它已在 {stocked_at} 的库存中, "
                       "一个序列号只能在一处",
    "serial_one_unit": "{what} 序列号 {serial}: 一个序列号就是一件, 数量必须是 1 或 -1, "
                       "不能是 {needs}",
    "closed": "{closed} 及之前的期间已结账: 不能在 {date} 过账; 请在 {next_open} 或之后过账",
    "close_earlier": "{closed} 及之前的期间已结账; 请选择更晚的结账日期",
    "method_fixed": "{what} 在 {where} 自第一笔出入库起按 {method} 计价, 不能改为 {asked}; "
                    "请保持物料的计价方法不变",
}


def ledger_of(conn, schema, key: str):
    ledgers = schema.cache.setdefault("ledgers", {})
    if key not in ledgers:
        body = definitions.current(conn, schema.key).get(("ledger", key))
        if body is None:
            raise NotFound(f"app '{schema.key}' has no ledger '{key}'")
        ledgers[key] = open_ledger(schema.key, body)
    return ledgers[key]


def ledgers_of_form(conn, schema, form: str) -> list:
    """The ledgers a form posts to or reserves in, in the order its rules name them."""
    ft = schema.form(form)
    keys = dict.fromkeys(rule["ledger"] for rule in ft.form.raw.get("posting", []))
    return [ledger_of(conn, schema, key) for key in keys]


class LedgerAccess:
    """What BALANCE() / AVAILABLE() / AVG_COST() read, inside the current transaction."""

    def __init__(self, conn, schema):
        self.conn, self.schema = conn, schema

    def _dims(self, key: str, values):
        try:
            ledger = ledger_of(self.conn, self.schema, key)
        except NotFound:
            return None, ErrorValue("#REF!", f"there is no ledger '{key}'")
        names = [d.key for d in ledger.definition.dimensions]
        return ledger, {name: value for name, value in zip(names, values, strict=False)
                        if value is not None}

    def balance(self, key: str, values, available: bool = False):
        ledger, dims = self._dims(key, values)
        if ledger is None:
            return dims
        reader = available_qty if available else balance
        return reader(self.conn, ledger, **dims)

    def avg_cost(self, key: str, values):
        ledger, dims = self._dims(key, values)
        if ledger is None:
            return dims
        if not ledger.definition.valued:
            return ErrorValue("#VALUE!", f"ledger '{key}' keeps no value")
        cost = avg_cost(self.conn, ledger, **dims)
        return ErrorValue("#N/A", "never valued") if cost is None else cost


def wording(conn, schema, ledger, lang: str = "zh") -> Wording:
    """Messages that name dimensions by label and records by their title field."""
    labels, targets = {}, {}
    forms = dimension_targets(conn, schema, ledger.definition.key)
    for dim in ledger.definition.dimensions:
        labels[dim.key] = label_text(dim.label, lang) or dim.key
        if dim.key in forms and schema.form(forms[dim.key]):
            targets[dim.key] = schema.form(forms[dim.key])

    def display(key, value):
        ft = targets.get(key)
        if ft is None or not isinstance(value, int):
            return value
        title = [k for k in ft.form.title if k in ft.columns][:1] or \
            [f.key for f, _ in ft.fields_with_columns()[:1]]
        found = conn.execute(select(ft.columns[title[0]]).where(ft.table.c.id == value)).scalar()
        return found if found is not None else value

    return Wording(labels=labels, display=display, place_separator="/",
                   templates=ZH_TEMPLATES if lang == "zh" else {},
                   anywhere="库存" if lang == "zh" else "stock")


def dimension_targets(conn, schema, key: str) -> dict[str, str]:
    """{dimension: form} of a ledger's dimensions that point to records of a form."""
    body = definitions.current(conn, schema.key).get(("ledger", key)) or {}
    return {d["key"]: d["target"] for d in body.get("dimensions", []) if d.get("target")}
