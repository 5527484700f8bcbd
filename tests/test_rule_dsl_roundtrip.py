"""The formatter and the parser agree: for generated rules, parsing the formatted text
gives the same rules back (compared in their data form), and formatting is stable."""

from __future__ import annotations

import functools
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engines.rules import (
    Assignment,
    BalanceChanged,
    CallWebhook,
    CreateRecord,
    Expr,
    FieldChanged,
    FlowEvent,
    Interval,
    Notify,
    PostMovement,
    Recipient,
    RecordEvent,
    ReverseMovements,
    Rule,
    Schedule,
    SendReport,
    SetFields,
    StartFlow,
    Template,
    UpdateRecords,
    WebhookReceived,
    format_rules,
    parse_rules,
    rule_to_data,
)
from engines.rules.lexicon import EXPRESSION_WORDS, KEYWORDS
from engines.rules.vocabulary import CHANNELS, FLOW_EVENTS, RECIPIENT_KINDS, RECORD_EVENTS

RESERVED = set(KEYWORDS) | EXPRESSION_WORDS
# Keys, some close to keywords (a key is never *equal* to one where it would be read so).
names = st.sampled_from([
    "a", "qty", "material", "safety_stock", "x1", "_x", "orders", "purchase_requests",
    "物料", "库存数量", "titles", "setting", "ordered", "flows", "balance_qty", "to_do",
    "rule_no", "then_", "webhooks", "byline", "e", "E1", "nodes", "IF_", "round",
])
assert not RESERVED & {n.lower() for n in names.elements}
# Any text at all: quotes, braces, '#', line breaks, CJK.
texts = st.text(max_size=16)

# ---- expressions (of the expression language, typed so that they check) -------------

numbers = st.sampled_from(["0", "12", "3.5", ".5", "1e3", "100"])
strings = st.text(max_size=8).map(lambda t: '"' + t.replace('"', '""') + '"') | \
    st.text(alphabet="ab '{}#", max_size=5).map(lambda t: "'" + t.replace("'", "''") + "'")
paths = st.lists(names, min_size=1, max_size=3).map(".".join)
# What an expression may name depends on the trigger: a record's fields, a webhook's
# payload, or (in a scheduled rule) nothing but functions. Atoms: (numbers, texts).
ATOMS = {
    "fields": (paths, paths),
    "payload": (names.map(lambda n: f"payload.{n}"),) * 2,
    "no record": (st.sampled_from(["DAY(TODAY())", 'LEN("abc")']),
                  st.sampled_from(['UPPER("x")', 'LEFT("abc", 1)'])),
}


def _numeric(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(" ".join),
        children.map(lambda e: f"({e}) ^ 2"),
        children.map(lambda e: f"({e})"),
        children.map(lambda e: f"-{e}"),
        children.map(lambda e: f"{e}%"),
        children.map(lambda e: f"ROUND({e}, 2)"),
        children.map(lambda e: f"ABS({e})"),
    )


def _logical(children):
    return st.one_of(
        st.tuples(children, st.sampled_from([" AND ", " or "]), children).map("".join),
        children.map(lambda e: f"NOT {e}"),
        children.map(lambda e: f"({e})"),
    )


@functools.cache
def expressions(scope: str):
    """Strategies for number, text, condition and any value expressions of ``scope``."""
    number_atoms, text_atoms = ATOMS[scope]
    number = st.recursive(numbers | number_atoms, _numeric, max_leaves=5)
    text = st.recursive(strings | text_atoms, lambda c: st.tuples(c, c).map(" & ".join)
                        | c.map(lambda e: f"UPPER({e})"), max_leaves=4)
    comparison = st.one_of(
        st.tuples(number, st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "!="]), number)
        .map(" ".join),
        st.tuples(text, text).map(" = ".join),
        st.tuples(number, st.lists(number, min_size=1, max_size=3))
        .map(lambda p: f"{p[0]} IN ({', '.join(p[1])})"),
        number_atoms,
    )
    condition = st.recursive(comparison, _logical, max_leaves=4)
    value = st.one_of(number, text, condition, st.tuples(condition, number, number)
                      .map(lambda p: f"IF({p[0]}, {p[1]}, {p[2]})"))
    return {"number": number, "text": text, "condition": condition, "value": value}


def value_list(e, min_size=0, required=()):
    return st.lists(st.tuples(names, e["value"].map(Expr)), min_size=min_size, max_size=3,
                    unique_by=lambda p: p[0]).map(
        lambda pairs: tuple(Assignment(k, v) for k, v in
                            [*pairs, *((r, Expr("1")) for r in required
                                       if r not in dict(pairs))]))


def templates(e):
    parts = st.lists(st.one_of(
        st.text(st.characters(exclude_characters="{}"), max_size=6),
        st.sampled_from(["{{", "}}"]),
        st.one_of(e["number"], e["text"]).map(lambda x: "{" + x + "}"),
    ), max_size=4)
    return parts.map(lambda p: Template("".join(p)))


# ---- triggers ---------------------------------------------------------------------

crons = st.tuples(
    st.sampled_from(["*", "0", "*/15", "5,35", "0-30/10"]),
    st.sampled_from(["*", "8", "9-17", "*/2"]),
    st.sampled_from(["*", "1", "1,15", "10-20"]),
    st.sampled_from(["*", "1", "JAN,jul", "3-9/2"]),
).flatmap(lambda f: st.sampled_from(["*", "MON-FRI", "0", "1,3,5", "7"] if f[2] == "*"
                                    else ["*"]).map(lambda dow: " ".join([*f, dow])))

triggers = st.one_of(
    st.builds(RecordEvent, names, st.sampled_from(sorted(RECORD_EVENTS))),
    st.builds(FieldChanged, names, names,
              st.none() | expressions("fields")["value"].map(Expr)),
    st.builds(FlowEvent, names, st.sampled_from(sorted(FLOW_EVENTS))),
    st.builds(lambda form, node: FlowEvent(form, "reached", node), names, texts),
    st.builds(BalanceChanged, names),
    st.builds(Schedule, crons),
    st.builds(Interval, st.integers(1, 10_000), st.sampled_from(["minutes", "hours", "days"])),
    st.builds(WebhookReceived, texts),
)

# ---- actions and rules ------------------------------------------------------------

urls = st.builds("{}://{}/{}".format, st.sampled_from(["http", "https"]),
                st.sampled_from(["erp.example.com", "10.0.0.5:8080", "oapi.dingtalk.com"]),
                st.text("abc123_%?=&.-/", max_size=12))


def recipients(e, scope):
    return st.lists(st.one_of(
        st.builds(Recipient, st.sampled_from(sorted(RECIPIENT_KINDS)), texts),
        # An expression that is just quoted text would be read back as a name.
        st.builds(lambda kind, x: Recipient(kind, None, Expr(x)),
                  st.sampled_from(sorted(RECIPIENT_KINDS)),
                  st.one_of(ATOMS[scope][1], e["text"].map(lambda x: f"UPPER({x})"))),
    ), min_size=1, max_size=3).map(tuple)


@functools.cache
def actions(scope: str, has_record: bool):
    e = expressions(scope)
    target = expressions("fields")  # update ... where / set: the updated records' fields
    common = st.one_of(
        st.builds(CreateRecord, names, value_list(e)),
        st.builds(UpdateRecords, names, target["condition"].map(Expr), value_list(target)),
        st.builds(PostMovement, names, value_list(e, required=("qty",))),
        st.builds(Notify, recipients(e, scope), templates(e), st.none() | templates(e),
                  st.lists(st.sampled_from(sorted(CHANNELS)), min_size=1, max_size=3,
                           unique=True).map(tuple)),
        st.builds(SendReport, names, recipients(e, scope)),
        st.builds(CallWebhook, urls, st.none() | value_list(e)),
    )
    if not has_record:
        return common
    return st.one_of(common, st.builds(SetFields, value_list(e, min_size=1)),
                     st.builds(ReverseMovements, names), st.builds(StartFlow, texts))


def _rule(trigger):
    deleted = isinstance(trigger, RecordEvent) and trigger.event == "deleted"
    has_record = isinstance(trigger, RecordEvent | FieldChanged | FlowEvent) and not deleted
    scope = {Schedule: "no record", Interval: "no record", WebhookReceived: "payload"}.get(
        type(trigger), "fields")
    kinds = actions(scope, has_record)
    return st.builds(
        Rule, name=st.just(""), trigger=st.just(trigger),
        actions=st.lists(kinds, min_size=1, max_size=3).map(tuple),
        else_actions=st.lists(kinds, max_size=2).map(tuple),
        condition=st.none() | expressions(scope)["condition"].map(Expr),
        order=st.integers(-1000, 1000), enabled=st.booleans())


rules_ = triggers.flatmap(_rule)
rule_names = st.lists(texts.filter(str.strip), min_size=3, max_size=3, unique=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules_, min_size=1, max_size=2), rule_names)
def test_parse_of_format_gives_the_rules_back(rules, names_):
    for rule, name in zip(rules, names_, strict=False):
        rule.name = name
    text = format_rules(rules)
    again = parse_rules(text)
    assert [rule_to_data(r) for r in again] == [rule_to_data(r) for r in rules], text
    assert format_rules(again) == text


CLAUSE = re.compile(r" *(rule|order|disabled|when|every|if|then|else|set|create|update|post"
                    r"|reverse|start|notify|report|call)\b")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules_, texts.filter(str.strip),
       st.sampled_from(["  ", "\n", "\n\n   ", " # note\n  ", "\t# 注释 'x' \"y\n"]))
def test_layout_and_comments_do_not_change_the_rules(rule, name, gap):
    rule.name = name
    lines = format_rules([rule]).splitlines()
    assume(all(CLAUSE.match(line) for line in lines))  # no line breaks inside quotes
    # Spread every clause out: a comment or line break after its keyword, and before
    # each action that starts a line.
    spread = "\n".join(gap + line.lstrip() if line.startswith(" ") else
                       gap.join(line.split(" ", 1)) for line in lines)
    again = parse_rules(spread)
    assert [rule_to_data(r) for r in again] == [rule_to_data(rule)], spread
