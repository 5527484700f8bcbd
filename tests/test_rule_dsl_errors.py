"""Every kind of mistake in a rule file gives a message that says what is wrong, with
its line and column (and the source line with a caret): one table row per kind."""

from __future__ import annotations

import pytest

from engines.rules import RuleError, check_rules, compile_rules, parse_rules
from tests.test_rule_dsl import CATALOG

# (kind of mistake, rule file, line, column, message)
MISTAKES = [
    ('syntax: stray token',
     'rule "r"\nwhen orders created\nthen create purchase_requests {qty: 1 : 2}',
     3, 39,
     "':' is not expected here; expected ',' or '}'"),
    ('syntax: unclosed text',
     'rule "r"\nwhen orders created\nthen notify role "finance" title "oops',
     3, 34,
     'this text has no closing ": end it with "'),
    ('syntax: bad character',
     'rule "r"\nwhen orders created\nthen set amount = 1 @ 2',
     3, 21,
     "'@' cannot be used here"),
    ('syntax: name not quoted',
     'rule low_stock\nwhen orders created\nthen reverse stock',
     1, 6,
     '\'low_stock\' is not expected here; write text in quotes here, e.g. "low stock"'),
    ('syntax: text before the first rule',
     'hello\nrule "r" when orders created then reverse stock',
     1, 1,
     '\'hello\' is not expected here; each rule starts with rule "<name>"'),
    ('syntax: file ends early',
     'rule "r"\nwhen orders created\nthen',
     3, 5,
     'the file ends too early; an action should come here (set, create, update, post, '
     'reverse, start flow, notify, report, call webhook)'),
    ('syntax: missing paren',
     'rule "r"\nwhen orders created\nthen set amount = ROUND(amount, 2\n     reverse stock',
     4, 6,
     "a ')' is missing before 'reverse': every '(' needs a matching ')'"),
    ('syntax: keyword out of place',
     'rule "r"\nwhen orders created\nthen notify role "finance" body "b"',
     3, 28,
     "'body' is not expected here; expected ',', 'by' or 'title'"),
    ('syntax: unfinished expression',
     'rule "r"\nwhen orders created\nif amount >\nthen reverse stock',
     4, 1,
     "the expression before 'then' is not finished: it ends with an operator"),
    ('syntax: then twice',
     'rule "r"\nwhen orders created\nthen reverse stock\nthen reverse stock',
     4, 1,
     "'then' is given twice: this rule's actions have already begun"),
    ('missing then',
     'rule "r"\nwhen orders created\nif amount > 1\nnotify role "finance" title "x"',
     4, 1,
     "'then' is missing before 'notify': write then before the first action"),
    ('missing then without condition',
     'rule "r"\nwhen orders created\n  set urgent = TRUE',
     3, 3,
     "'then' is missing before 'set': write then before the first action"),
    ('misspelt then',
     'rule "r"\nwhen orders created\nif amount > 1\nthne reverse stock',
     4, 1,
     "'thne' is not expected here — did you mean 'then'? Write 'then' and the actions"),
    ('missing trigger',
     'rule "r"\nthen reverse stock',
     2, 1,
     "'then' is not expected here; a rule needs a trigger here: when <form> "
     'created|updated|deleted|submitted, when <form>.<field> changed, when <form> flow '
     'approved, when <ledger>.balance changed, when webhook "<name>", every "<cron>" or '
     'every 15 minutes'),
    ('unknown trigger word',
     'rule "r"\nwhenever orders created\nthen reverse stock',
     2, 1,
     "'whenever' is not expected here — did you mean 'when'? A rule needs a trigger here: "
     'when <form> created|updated|deleted|submitted, when <form>.<field> changed, when '
     '<form> flow approved, when <ledger>.balance changed, when webhook "<name>", every '
     '"<cron>" or every 15 minutes'),
    ('unknown record event',
     'rule "r"\nwhen orders modified\nthen reverse stock',
     2, 13,
     "unknown event 'modified' — a form's events are created, updated, deleted or "
     'submitted; see also when orders.<field> changed and when orders flow approved'),
    ('unknown flow event',
     'rule "r"\nwhen orders flow aproved\nthen reverse stock',
     2, 18,
     "unknown flow event 'aproved' — did you mean 'approved'? Write when orders flow "
     'approved, rejected, returned, withdrawn or completed, or when orders flow node '
     '"<id>" reached'),
    ('syntax: changed misspelt',
     'rule "r"\nwhen orders.status chaged\nthen reverse stock',
     2, 20,
     "'chaged' is not expected here — did you mean 'changed'? Write 'changed' after the "
     'field, e.g. when orders.status changed'),
    ('unknown interval unit',
     'rule "r"\nevery 2 weeks\nthen notify role "finance" title "x"',
     2, 9,
     "unknown unit 'weeks' — write every 15 minutes, every 2 hours or every 1 day"),
    ('zero interval',
     'rule "r"\nevery 0 minutes\nthen notify role "finance" title "x"',
     2, 7,
     'the interval must be 1 or more'),
    ('cron: field count',
     'rule "r"\nevery "0 8 1 *"\nthen notify role "finance" title "x"',
     2, 8,
     'a schedule has 5 fields — minute hour day-of-month month day-of-week — but this one '
     'has 4; e.g. "0 8 1 * *" (08:00 on the 1st of every month)'),
    ('cron: out of range',
     'rule "r"\nevery "0 24 * * *"\nthen notify role "finance" title "x"',
     2, 10,
     'the hour goes from 0 to 23, so 24 is out of range'),
    ('cron: bad word',
     'rule "r"\nevery "0 8 * FOO *"\nthen notify role "finance" title "x"',
     2, 14,
     "'FOO' is not a valid month: use a number from 1 to 12 or a name (JAN, FEB, MAR, APR, "
     'MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC)'),
    ('cron: backwards range',
     'rule "r"\nevery "0 18-9 * * *"\nthen notify role "finance" title "x"',
     2, 10,
     'the range 18-9 runs backwards: write the smaller value first'),
    ('cron: step zero',
     'rule "r"\nevery "*/0 * * * *"\nthen notify role "finance" title "x"',
     2, 8,
     "a step of 0 in '*/0' never moves on: use /1 or more"),
    ('cron: day of month and week',
     'rule "r"\nevery "0 8 1 * MON"\nthen notify role "finance" title "x"',
     2, 16,
     'give a day of month or a day of week, not both (write * for one of them); use two '
     'rules to run on both'),
    ('unknown action',
     'rule "r"\nwhen orders created\nthen sned role "finance"',
     3, 6,
     "unknown action 'sned' — an action is one of: set, create, update, post, reverse, "
     'start flow, notify, report, call webhook'),
    ('unknown action after another',
     'rule "r"\nwhen orders created\nthen reverse stock\n     emial role "finance"',
     4, 6,
     "unknown action 'emial' — an action is one of: set, create, update, post, reverse, "
     'start flow, notify, report, call webhook'),
    ('unknown action after a value',
     'rule "r"\nwhen orders created\nthen set urgent = TRUE\n     crate purchase_requests '
     '{qty: 1}',
     4, 6,
     "unknown action 'crate' — did you mean 'create'? An action is one of: set, create, "
     'update, post, reverse, start flow, notify, report, call webhook'),
    ('unknown form',
     'rule "r"\nwhen orders created\nthen create purchse_requests {qty: 1}',
     3, 13,
     "unknown form 'purchse_requests' — did you mean 'purchase_requests'?"),
    ('unknown trigger form',
     'rule "r"\nwhen order created\nthen reverse stock',
     2, 6,
     "unknown form 'order' — did you mean 'orders'?"),
    ('unknown field in trigger',
     'rule "r"\nwhen orders.stauts changed\nthen reverse stock',
     2, 13,
     "form 'orders' has no field 'stauts' — did you mean 'status'?"),
    ('unknown field in values',
     'rule "r"\nwhen orders created\nthen create purchase_requests {qtty: 1}',
     3, 32,
     "form 'purchase_requests' has no field 'qtty' — did you mean 'qty'?"),
    ('unknown field in set',
     'rule "r"\nwhen orders created\nthen set amont = 1',
     3, 10,
     "form 'orders' has no field 'amont' — did you mean 'amount'?"),
    ('unknown ledger',
     'rule "r"\nwhen stok.balance changed\nthen notify role "finance" title "x"',
     2, 6,
     "unknown ledger 'stok' — did you mean 'stock'?"),
    ('unknown flow',
     'rule "r"\nwhen orders created\nthen start flow "order_aproval"',
     3, 17,
     "unknown flow 'order_aproval' — did you mean 'order_approval'?"),
    ('flow of another form',
     'rule "r"\nwhen purchase_requests created\nthen start flow "order_approval"',
     3, 17,
     "flow 'order_approval' is for form 'orders', but this rule fires for a record of "
     "'purchase_requests'"),
    ('unknown flow node',
     'rule "r"\nwhen orders flow node "finanse" reached\nthen reverse stock',
     2, 23,
     "unknown flow node 'finanse' in the flows of form 'orders' — did you mean 'finance'?"),
    ('form without flow',
     'rule "r"\nwhen materials flow approved\nthen reverse stock',
     2, 6,
     "form 'materials' has no approval flow, so it has no flow events"),
    ('unknown role',
     'rule "r"\nwhen orders created\nthen notify role "purchasng" title "x"',
     3, 18,
     "unknown role 'purchasng' — did you mean 'purchasing'?"),
    ('unknown user',
     'rule "r"\nwhen orders created\nthen notify user "zhan" title "x"',
     3, 18,
     "unknown user 'zhan' — did you mean 'zhang'?"),
    ('unknown department',
     'rule "r"\nwhen orders created\nthen notify department "warehose" title "x"',
     3, 24,
     "unknown department 'warehose' — did you mean 'warehouse'?"),
    ('unknown recipient kind',
     'rule "r"\nwhen orders created\nthen notify rol "finance" title "x"',
     3, 13,
     "unknown recipient 'rol' — did you mean 'role'? Write user, role or department and a "
     'name in quotes, e.g. role "purchasing"'),
    ('unknown channel',
     'rule "r"\nwhen orders created\nthen notify role "finance" by emial title "x"',
     3, 31,
     "unknown channel 'emial' — did you mean 'email'? Use inapp, email, webhook, dingtalk "
     'or wecom'),
    ('report channel',
     'rule "r"\nevery 1 day\nthen report stale_materials to role "finance" by dingtalk',
     3, 50,
     'a report cannot be sent by dingtalk: use email'),
    ('unknown report',
     'rule "r"\nevery 1 day\nthen report stale_material to role "finance"',
     3, 13,
     "unknown report 'stale_material' — did you mean 'stale_materials'?"),
    ('unknown webhook',
     'rule "r"\nwhen webhook "erp_ordr"\nthen notify role "finance" title "x"',
     2, 14,
     "unknown webhook 'erp_ordr' — did you mean 'erp_order'?"),
    ('bad url',
     'rule "r"\nwhen orders created\nthen call webhook "erp.example.com/hook"',
     3, 19,
     "'erp.example.com/hook' is not a web address: write it in full, e.g. "
     '"https://erp.example.com/hooks/stock"'),
    ('expression: condition syntax',
     'rule "r"\nwhen orders created\nif amount >> 1\nthen reverse stock',
     3, 12,
     "'>' is not expected here"),
    ('expression: condition unknown field',
     'rule "r"\nwhen orders created\nif amout > 1\nthen reverse stock',
     3, 4,
     "unknown field 'amout' — did you mean 'amount'?"),
    ('expression: condition not boolean',
     'rule "r"\nwhen orders created\nif status & "x"\nthen reverse stock',
     3, 4,
     'this condition must give TRUE or FALSE, but it gives text'),
    ('expression: unknown function',
     'rule "r"\nwhen orders created\nif ROUDN(amount, 2) > 1\nthen reverse stock',
     3, 4,
     "unknown function 'ROUDN' — did you mean 'ROUND'?"),
    ('syntax: value missing in braces',
     'rule "r"\nwhen orders created\nthen create purchase_requests {qty: amount +}',
     3, 45,
     "a value is missing before '}': write an expression, e.g. qty * 2"),
    ('expression: value type',
     'rule "r"\nwhen orders created\nthen create purchase_requests {qty: "many"}',
     3, 37,
     "'qty' holds a number, but this value gives text"),
    ('expression: changed to',
     'rule "r"\nwhen orders.due changed to "tomorrow"\nthen reverse stock',
     2, 28,
     "'due' holds a date, but this value gives text"),
    ('expression: where',
     'rule "r"\nwhen orders created\nthen update purchase_requests where qty > '
     'trigger.amout set {qty: 1}',
     3, 51,
     "'trigger' has no field 'amout' — did you mean 'amount'?"),
    ('expression: template',
     'rule "r"\nwhen orders created\nthen notify role "finance" title "金额 {amount * }"',
     3, 47,
     'a value is missing here: the expression ends after an operator'),
    ('expression: template unknown field',
     'rule "r"\nwhen orders created\nthen notify role "finance"\n     title "x"\n     body '
     '"金额 {amont}"',
     5, 16,
     "unknown field 'amont' — did you mean 'amount'?"),
    ('expression: fullwidth comma',
     'rule "r"\nwhen orders created\nthen set amount = ROUND(amount， 2)',
     3, 31,
     "use ',' (a half-width comma) instead of '，'"),
    ('template: unclosed placeholder',
     'rule "r"\nwhen orders created\nthen notify role "finance" title "金额 {amount"',
     3, 38,
     "this '{' has no closing '}': end the placeholder with '}', or write {{ for a '{' in "
     'the text'),
    ('template: lone brace',
     'rule "r"\nwhen orders created\nthen notify role "finance" title "金额 }"',
     3, 38,
     "a '}' without a '{' before it: write }} for a '}' in the text"),
    ('template: empty placeholder',
     'rule "r"\nwhen orders created\nthen notify role "finance" title "金额 { }"',
     3, 38,
     'an empty placeholder: write an expression between the braces, e.g. {qty}'),
    ('duplicate rule names',
     'rule "r"\nwhen orders created\nthen reverse stock\n\nrule "r"\nwhen orders '
     'deleted\nthen reverse stock',
     5, 6,
     "a rule named 'r' is already defined on line 1: give each rule its own name"),
    ('duplicate option',
     'rule "r" order 1\norder 2\nwhen orders created\nthen reverse stock',
     2, 1,
     "'order' is given twice for this rule"),
    ('duplicate value',
     'rule "r"\nwhen orders created\nthen create purchase_requests {qty: 1, qty: 2}',
     3, 40,
     "'qty' is given twice"),
    ('empty rule name',
     'rule ""\nwhen orders created\nthen reverse stock',
     1, 6,
     'a rule needs a name: write it between the quotes'),
    ('set without record',
     'rule "r"\nevery 1 hour\nthen set amount = 1',
     3, 6,
     'set changes the record that fired the rule, and a scheduled rule has no record — use '
     'create or update to change records'),
    ('set after delete',
     'rule "r"\nwhen orders deleted\nthen set amount = 1',
     3, 6,
     'set changes the record that fired the rule, but the record was deleted'),
    ('start flow without record',
     'rule "r"\nwhen stock.balance changed\nthen start flow "order_approval"',
     3, 6,
     'start flow starts a flow for the record that fired the rule, and a balance rule has '
     'no record'),
    ('read-only field',
     'rule "r"\nwhen orders created\nthen set total = 1',
     3, 10,
     "'total' cannot be set: it is computed from its formula"),
    ('post without qty',
     'rule "r"\nwhen orders created\nthen post stock {material: material}',
     3, 6,
     'post needs the quantity: add qty: <expression> inside the braces'),
]


@pytest.mark.parametrize(("text", "line", "column", "message"),
                         [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistake_is_reported_where_it_is(text, line, column, message):
    (problem,) = check_rules(text, CATALOG, "stock.rule")
    assert (problem.line, problem.column, problem.message) == (line, column, message)
    assert str(problem) == f"stock.rule:{line}:{column}: {message}"
    source_line, caret = problem.context.split("\n")
    assert source_line == text.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"
    with pytest.raises(RuleError) as caught:
        compile_rules(text, CATALOG, "stock.rule")
    assert caught.value.problems == [problem]


SYNTAX_PREFIXES = ("syntax", "missing", "misspelt", "unknown action", "unknown trigger word")
SYNTAX = [m for m in MISTAKES if m[0].startswith(SYNTAX_PREFIXES)]


@pytest.mark.parametrize(("text", "line", "column", "message"),
                         [m[1:] for m in SYNTAX], ids=[m[0] for m in SYNTAX])
def test_syntax_mistakes_need_no_catalog(text, line, column, message):
    with pytest.raises(RuleError) as caught:
        parse_rules(text)
    assert (caught.value.line, caught.value.column, caught.value.message) == (line, column,
                                                                                message)


def test_every_problem_of_a_file_is_reported_at_once():
    """All but syntax errors: the rules of the table in one file give all their
    problems, each at its own place."""
    texts, expected, offset = [], [], 0
    for index, (kind, text, line, column, message) in enumerate(MISTAKES):
        if kind.startswith(SYNTAX_PREFIXES) or "rule name" in kind:
            continue
        texts.append(text.replace('rule "r"', f'rule "r{index}"'))
        expected.append((line + offset, column, message))
        offset += text.count("\n") + 1
    problems = check_rules("\n".join(texts), CATALOG)
    assert [(p.line, p.column, p.message) for p in problems] == expected


def test_only_the_first_syntax_error_is_reported():
    problems = check_rules('rule "a" whn x created then reverse stock\nrule b', CATALOG)
    assert [(p.line, p.column) for p in problems] == [(1, 10)]
