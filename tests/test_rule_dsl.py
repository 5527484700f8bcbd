"""The rule DSL as a library: reading every trigger and action, the scopes expressions
are compiled in, templates, schedules, edge-triggering flags, circles, and the data
form of rules."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import engines.forms.functions  # noqa: F401  (COUNT_RECORDS, LOOKUP, USER in FUNCTIONS)
from engines.expr import ErrorValue
from engines.forms.definition import parse_form
from engines.forms.logic import describe
from engines.rules import (
    BalanceChanged,
    Catalog,
    CreateRecord,
    Notify,
    RecordEvent,
    RuleError,
    Schedule,
    check_rules,
    compile_rules,
    cron_fields,
    find_circles,
    format_rules,
    parse_rules,
    rule_from_data,
    rule_to_data,
)

ROOT = Path(__file__).resolve().parents[1]

DESIGN_EXAMPLE = "\n".join([
    'rule "低库存预警"',
    "when stock.balance changed",
    "if qty < material.safety_stock",
    'then notify role "purchasing" title "低库存: {material.name}" '
    'body "当前 {qty}, 安全库存 {material.safety_stock}"',
    "     create purchase_requests {material: material, qty: material.safety_stock * 2 - qty}",
    "",
    'rule "呆滞料月报"',
    'every "0 8 1 * *"',
    'then report stale_materials to role "warehouse_manager", role "finance" by email',
    "",
])

MATERIALS = {"code": "text", "name": "text", "safety_stock": "number", "active": "checkbox"}
CATALOG = {
    "forms": {
        "materials": MATERIALS,
        "purchase_requests": {"material": {"type": "relation", "fields": MATERIALS},
                              "qty": "number", "status": "select", "note": "textarea"},
        "orders": {"number": "autonumber", "amount": "money", "status": "select",
                   "applicant": "user", "due": "date", "urgent": "checkbox",
                   "total": {"type": "formula", "result": "number"},
                   "material": {"type": "relation", "fields": MATERIALS},
                   "lines": {"type": "subtable", "fields": {"qty": "number"}}},
    },
    "ledgers": {"stock": {"dimensions": {"material": {"type": "relation", "form": "materials"},
                                         "warehouse": "number", "lot": "text"},
                          "measures": ["qty", "value"]}},
    "flows": {"order_approval": {"form": "orders", "nodes": ["manager", "finance"]}},
    "roles": ["purchasing", "warehouse_manager", "finance", "sales_manager"],
    "departments": ["warehouse"],
    "users": ["zhang"],
    "reports": ["stale_materials"],
    "webhooks": {"erp_order": {"order_no": "text", "qty": "number"}},
}


def one(text: str, catalog=CATALOG):
    (rule,) = compile_rules(text, catalog)
    return rule


# ---- the design's example ---------------------------------------------------------

def test_design_example_reads_checks_and_formats_back_to_itself():
    rules = compile_rules(DESIGN_EXAMPLE, CATALOG, "stock.rule")
    low, monthly = rules
    assert low.name == "低库存预警" and monthly.name == "呆滞料月报"
    assert low.trigger == BalanceChanged("stock")
    assert isinstance(monthly.trigger, Schedule) and monthly.trigger.cron == "0 8 1 * *"
    notify, create = low.actions
    assert isinstance(notify, Notify) and isinstance(create, CreateRecord)
    assert notify.channels == ("inapp",)
    assert [r.name for r in monthly.actions[0].recipients] == ["warehouse_manager", "finance"]
    assert format_rules(rules) == DESIGN_EXAMPLE
    assert low.filename == "stock.rule"
    assert (low.at.line, low.name_at.column, low.condition.at.line) == (1, 6, 3)


def test_design_example_condition_values_and_templates_evaluate():
    low = compile_rules(DESIGN_EXAMPLE, CATALOG)[0]
    row = {"material": {"name": "M6 螺栓", "safety_stock": Decimal(100)}, "warehouse": 1,
           "lot": "", "qty": Decimal(40), "value": Decimal(0)}
    assert low.condition.evaluate(row) is True
    assert low.condition.evaluate({**row, "qty": Decimal(100)}) is False
    notify, create = low.actions
    assert notify.title.render(row) == "低库存: M6 螺栓"
    assert notify.body.render(row) == "当前 40, 安全库存 100"
    qty = dict((v.field, v.value) for v in create.values)["qty"]
    assert qty.evaluate(row) == Decimal(160)


# ---- triggers ---------------------------------------------------------------------

TRIGGERS = [
    ("when orders created", {"kind": "record", "form": "orders", "event": "created"}),
    ("WHEN orders Updated", {"kind": "record", "form": "orders", "event": "updated"}),
    ("when orders deleted", {"kind": "record", "form": "orders", "event": "deleted"}),
    ("when orders submitted", {"kind": "record", "form": "orders", "event": "submitted"}),
    ("when orders.status changed",
     {"kind": "field_changed", "form": "orders", "field": "status", "to": None}),
    ('when orders.status changed to "approved"',
     {"kind": "field_changed", "form": "orders", "field": "status", "to": '"approved"'}),
    ("when orders flow approved", {"kind": "flow", "form": "orders", "event": "approved",
                                   "node": None}),
    ("when orders flow withdrawn", {"kind": "flow", "form": "orders", "event": "withdrawn",
                                    "node": None}),
    ('when orders flow node "finance" reached',
     {"kind": "flow", "form": "orders", "event": "reached", "node": "finance"}),
    ("when stock.balance changed", {"kind": "balance", "ledger": "stock"}),
    ('every "*/15 8-18 * * MON-FRI"', {"kind": "cron", "cron": "*/15 8-18 * * MON-FRI"}),
    ("every 15 minutes", {"kind": "interval", "every": 15, "unit": "minutes"}),
    ("every 1 hour", {"kind": "interval", "every": 1, "unit": "hours"}),
    ('when webhook "erp_order"', {"kind": "webhook", "name": "erp_order"}),
]


@pytest.mark.parametrize(("trigger", "data"), TRIGGERS, ids=[t for t, _ in TRIGGERS])
def test_every_trigger_is_read(trigger, data):
    rule = one(f'rule "r"\n{trigger}\nthen notify role "finance" title "x"')
    assert rule_to_data(rule)["trigger"] == data


def test_interval_units_are_read_singular_or_plural_and_written_canonically():
    rules = parse_rules('rule "a" every 1 Day then notify role "x" title "t"\n'
                        'rule "b" every 15 minute then notify role "x" title "t"')
    assert [(r.trigger.every, r.trigger.unit, r.trigger.seconds) for r in rules] == [
        (1, "days", 86400), (15, "minutes", 900)]
    assert [line for line in format_rules(rules).splitlines() if line.startswith("every")] == [
        "every 1 day", "every 15 minutes"]


# ---- actions ----------------------------------------------------------------------

ACTIONS = [
    ("set amount = amount * 2, status = \"big\"",
     {"action": "set", "values": [["amount", "amount * 2"], ["status", '"big"']]}),
    ("create purchase_requests {material: material, qty: 5,}",
     {"action": "create", "form": "purchase_requests",
      "values": [["material", "material"], ["qty", "5"]]}),
    ("create purchase_requests {}", {"action": "create", "form": "purchase_requests",
                                     "values": []}),
    ('update purchase_requests where material.code = trigger.material.code and status = "open"'
     ' set {qty: qty + trigger.amount}',
     {"action": "update", "form": "purchase_requests",
      "where": 'material.code = trigger.material.code and status = "open"',
      "values": [["qty", "qty + trigger.amount"]]}),
    ("post stock {material: material, warehouse: 1, qty: -amount}",
     {"action": "post", "ledger": "stock",
      "values": [["material", "material"], ["warehouse", "1"], ["qty", "-amount"]]}),
    ("reverse stock", {"action": "reverse", "ledger": "stock"}),
    ('start flow "order_approval"', {"action": "start flow", "flow": "order_approval"}),
    ('notify user applicant, role "finance", department "warehouse", user "zhang" '
     'by email, dingtalk title "订单 {number}" body "金额 {amount}"',
     {"action": "notify",
      "recipients": [{"kind": "user", "expr": "applicant"}, {"kind": "role", "name": "finance"},
                     {"kind": "department", "name": "warehouse"},
                     {"kind": "user", "name": "zhang"}],
      "channels": ["email", "dingtalk"], "title": "订单 {number}", "body": "金额 {amount}"}),
    ('notify role "finance" title "x"',
     {"action": "notify", "recipients": [{"kind": "role", "name": "finance"}],
      "channels": ["inapp"], "title": "x", "body": None}),
    ('report stale_materials to role "finance"',
     {"action": "report", "report": "stale_materials",
      "recipients": [{"kind": "role", "name": "finance"}], "channels": ["email"]}),
    ('call webhook "https://erp.example.com/hook" payload {no: number, amount: amount}',
     {"action": "call webhook", "url": "https://erp.example.com/hook",
      "payload": [["no", "number"], ["amount", "amount"]]}),
    ('call webhook "https://erp.example.com/hook"',
     {"action": "call webhook", "url": "https://erp.example.com/hook", "payload": None}),
]


@pytest.mark.parametrize(("action", "data"), ACTIONS, ids=[a.split()[0] for a, _ in ACTIONS])
def test_every_action_is_read_checked_and_compiled(action, data):
    rule = one(f'rule "r"\nwhen orders updated\nthen {action}')
    assert rule_to_data(rule)["then"] == [data]
    assert all(expr.compiled is not None for expr in rule.expressions())


def test_else_actions_order_disabled_and_several_actions():
    rule = one('''rule "r" order -5 disabled
        when orders updated
        if amount > 10000
        then set urgent = TRUE
             notify role "sales_manager" title "大额 {amount}"
        else set urgent = FALSE''')
    assert (rule.order, rule.enabled) == (-5, False)
    assert [a.word for a in rule.actions] == ["set", "notify"]
    assert [a.word for a in rule.else_actions] == ["set"]


# ---- reading expressions ----------------------------------------------------------

def test_multi_line_condition_with_comments_keeps_positions():
    text = ('rule "r"  # a comment\n'
            'when orders created\n'
            'if amount > 10   # big\n'
            '   and status = "open"\n'
            'then set urgent = TRUE\n')
    rule = one(text)
    assert rule.condition.source == 'amount > 10\n   and status = "open"'
    assert rule.condition.evaluate({"amount": 20, "status": "OPEN"}) is True
    (problem,) = check_rules(text.replace('status = "open"', "statu = 1"), CATALOG)
    assert (problem.line, problem.column) == (4, 8)
    assert "unknown field 'statu' — did you mean 'status'?" in problem.message


def test_fields_named_like_keywords_can_be_used_in_expressions():
    catalog = {"forms": {"docs": {"title": "text", "set": "number", "order": "number",
                                  "then": "number"}}}
    rule = one('rule "r" when docs created if title = "x" and order > 1 and IF(then, 1, 0) '
               'then set set = set + order, title = title & "!"', catalog)
    assert rule.condition.source == 'title = "x" and order > 1 and IF(then, 1, 0)'
    assert [v.value.source for v in rule.actions[0].assignments] == ["set + order",
                                                                      'title & "!"']


def test_text_with_quotes_in_names_templates_and_expressions():
    rule = one('''rule 'it''s "big"' when orders created
        then notify role "finance" title "{IF(urgent, '加急', ""普通"")} ""订单"" {{x}}"''')
    assert rule.name == 'it\'s "big"'
    title = rule.actions[0].title
    assert title.text == '{IF(urgent, \'加急\', "普通")} "订单" {{x}}'
    assert title.render({"urgent": True}) == '加急 "订单" {x}'
    assert format_rules([rule]).startswith('rule "it\'s ""big"""\n')


def test_template_renders_numbers_dates_blanks_and_errors():
    from datetime import date
    rule = one('rule "r" when orders created then notify role "finance" '
               'title "{amount}|{due}|{status}|{1 / (amount - amount)}|{urgent}"')
    title = rule.actions[0].title
    assert title.render({"amount": Decimal("1.50"), "due": date(2026, 11, 21),
                         "status": None, "urgent": True}) == "1.5|2026-11-21||#DIV/0!|1"


def test_problems_inside_placeholders_point_into_the_template():
    text = 'rule "r" when orders created\nthen notify role "finance" title "a ""b"" {amout}"'
    (problem,) = check_rules(text, CATALOG)
    assert (problem.line, problem.column) == (2, 44)
    assert problem.message == "unknown field 'amout' — did you mean 'amount'?"
    assert problem.context.endswith("\n" + " " * 43 + "^")


# ---- scopes -----------------------------------------------------------------------

def test_updated_and_changed_rules_see_old():
    rule = one('rule "r" when orders updated if amount > old.amount then set urgent = TRUE')
    assert rule.condition.evaluate({"amount": 5, "old": {"amount": 3}}) is True
    rule = one('rule "r" when orders.amount changed if old.amount = BLANK then set urgent = TRUE')
    assert rule.condition.compiled.references == frozenset({"old.amount"})
    problems = check_rules('rule "r" when orders created if old.amount > 1 then set urgent = '
                           'TRUE', CATALOG)
    assert [p.message for p in problems] == ["unknown field 'old'"]


def test_balance_rules_see_dimensions_as_linked_records_and_measures():
    rule = one('rule "r" when stock.balance changed if qty < old.qty and value >= 0 and '
               'lot <> "" and material.active then notify role "finance" title "{warehouse}"')
    assert rule.condition.compiled.references >= {"material.active", "old.qty", "value"}
    (problem,) = check_rules('rule "r" when stock.balance changed if material.safty_stock > 0 '
                             'then notify role "finance" title "x"', CATALOG)
    assert problem.message == "'material' has no field 'safty_stock' — did you mean " \
                              "'safety_stock'?"


def test_update_sees_target_fields_and_the_firing_record_as_trigger():
    rule = one('rule "r" when orders updated then update purchase_requests '
               'where status = "open" and material.code = trigger.material.code '
               'set {qty: qty + trigger.amount, note: trigger.number}')
    where = rule.actions[0].where
    target = {"status": "open", "material": {"code": "M1"}, "qty": 1}
    firing = {"material": {"code": "M1"}, "amount": 3}
    assert where.evaluate({**target, "trigger": firing}) is True
    qty = rule.actions[0].values[0].value
    assert qty.evaluate({**target, "trigger": firing}) == 4


def test_webhook_rules_see_the_payload_and_scheduled_rules_see_no_record():
    rule = one('rule "r" when webhook "erp_order" if payload.qty > 0 then create '
               'purchase_requests {qty: payload.qty, note: payload.order_no}')
    assert rule.condition.evaluate({"payload": {"qty": 2}}) is True
    rule = one('rule "r" every "0 * * * *" if COUNT_RECORDS("orders", "status", "open") > 50 '
               'then notify role "finance" title "积压"')
    assert rule.subject is None
    (problem,) = check_rules('rule "r" every 1 hour if amount > 1 then notify role "finance" '
                             'title "x"', CATALOG)
    assert problem.message.startswith("unknown field 'amount' — a scheduled rule has no record")


def test_values_are_checked_against_their_fields_types():
    problems = check_rules('rule "r" when orders updated then set due = amount, urgent = 1, '
                           'status = due, material = material, lines = lines, amount = "x"',
                           CATALOG)
    assert [(p.column, p.message) for p in problems] == [
        (45, "'due' holds a date, but this value gives a number"),
        (124, "'amount' holds a number, but this value gives text"),
    ]


def test_without_a_catalog_names_are_not_checked_but_expressions_are_compiled():
    rule = parse_rules('rule "r" when anything created if whatever.x > 1 then create '
                       'other {a: ROUND(b, 2)}')[0]
    assert rule.condition.evaluate({"whatever": {"x": 2}}) is True
    assert rule.actions[0].values[0].value.evaluate({"b": Decimal("1.234")}) == Decimal("1.23")


def test_a_partial_catalog_checks_only_what_it_knows():
    assert check_rules('rule "r" when orders created then notify role "anyone" title "{x}"',
                       {"forms": {"orders": {"x": "text"}}}) == []


def test_catalog_from_real_form_definitions():
    folder = ROOT / "examples" / "receipts" / "forms"
    forms = {f.key: f for f in (parse_form(json.loads(p.read_text("utf-8")))
                                for p in sorted(folder.glob("*.json")))}
    catalog = Catalog(forms={key: describe(form, forms) for key, form in forms.items()})
    rule = compile_rules('rule "r" when receipts created if supplier.name <> "" '
                         'then notify role "x" title "{supplier.name}"', catalog)[0]
    assert rule.condition.compiled.references == frozenset({"supplier.name"})
    with pytest.raises(ValueError, match="unknown catalog entries"):
        Catalog.of({"form": {}})


# ---- what the runtime reads -------------------------------------------------------

@pytest.mark.parametrize(("trigger", "condition", "edge", "subject"), [
    ("when orders updated", "amount > 1", True, "record"),
    ("when stock.balance changed", "qty < 0", True, "balance"),
    ("when stock.balance changed", None, False, "balance"),
    ("when orders created", "amount > 1", False, "record"),
    ("when orders.amount changed", "amount > 1", False, "record"),
    ("when orders flow approved", "amount > 1", False, "record"),
    ('every "0 8 * * *"', "DAY(TODAY()) = 1", False, None),
])
def test_edge_triggered_and_subject(trigger, condition, edge, subject):
    condition = f"if {condition}\n" if condition else ""
    rule = one(f'rule "r"\n{trigger}\n{condition}then notify role "finance" title "x"')
    assert (rule.edge_triggered, rule.subject) == (edge, subject)


def test_cron_fields_for_apscheduler():
    assert cron_fields("0 8 1 * *") == {"minute": "0", "hour": "8", "day": "1", "month": "*",
                                        "day_of_week": "*"}
    assert cron_fields("*/20 9-11 * JAN,jul 1-5") == {
        "minute": "0,20,40", "hour": "9,10,11", "day": "*", "month": "1,7",
        "day_of_week": "mon,tue,wed,thu,fri"}
    assert cron_fields("0 0 * * 0,7,6")["day_of_week"] == "sat,sun"


def test_circles_are_warnings_and_a_rules_own_set_is_not_one():
    text = '''rule "a" when orders updated then set amount = amount + 1
rule "b" when purchase_requests created
  then update purchase_requests where status = "x" set {note: "y"}
rule "c" when purchase_requests updated then create purchase_requests {qty: 1}
rule "d" disabled when orders created then create orders {amount: 1}
rule "e" when orders.status changed then set status = "x"
'''
    rules = compile_rules(text, CATALOG)  # warnings do not fail
    assert [[rules[i].name for i in circle] for circle in find_circles(rules)] == [
        ["b", "c", "b"]]
    (warning,) = check_rules(text, CATALOG)
    assert warning.severity == "warning" and (warning.line, warning.column) == (2, 6)
    assert str(warning).startswith("rules.rule:2:6: warning: rules may fire each other in a "
                                   "circle: 'b' → 'c' → 'b'")


def test_rule_error_lists_every_problem_as_file_line_column():
    with pytest.raises(RuleError) as caught:
        compile_rules('rule "r" when ordrs created then create purchase_request {}\n'
                      'rule "r" when orders created then notify role "x" by sms title "t"',
                      CATALOG, "app/orders.rule")
    assert str(caught.value).splitlines() == [
        "app/orders.rule:1:15: unknown form 'ordrs' — did you mean 'orders'?",
        "app/orders.rule:1:41: unknown form 'purchase_request' — did you mean "
        "'purchase_requests'?",
        "app/orders.rule:2:6: a rule named 'r' is already defined on line 1: give each rule "
        "its own name",
        "app/orders.rule:2:47: unknown role 'x'",
        "app/orders.rule:2:54: unknown channel 'sms' — use inapp, email, webhook, dingtalk or "
        "wecom",
    ]
    assert (caught.value.line, caught.value.column) == (1, 15)


def test_data_form_round_trips():
    rules = compile_rules(DESIGN_EXAMPLE, CATALOG)
    data = [rule_to_data(r) for r in rules]
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    again = [rule_from_data(d) for d in data]
    assert again == rules
    assert format_rules(again) == DESIGN_EXAMPLE


def test_error_values_are_not_raised_by_evaluate():
    rule = one('rule "r" when orders created if 1 / (amount - amount) > 0 then set urgent = '
               'TRUE')
    assert rule.condition.evaluate({"amount": 1}) == ErrorValue("#DIV/0!")


def test_record_event_trigger_equality_ignores_positions():
    a, b = parse_rules('rule "r" when orders created then reverse stock\n'
                       'rule "s"\n\n  when   orders   created then reverse stock')
    assert a.trigger == b.trigger == RecordEvent("orders", "created")
