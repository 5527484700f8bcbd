"""validate_flow and compile_flow: every kind of mistake in a flow definition, with the
JSON pointer of where it is and a message that says how to fix it."""

from __future__ import annotations

import copy

import pytest

from engines.flows import FlowDefinitionError, compile_flow, validate_flow
from tests.test_flow_engine import RECEIPT_FIELDS, RECEIPT_FLOW

ROLES = {"supervisor": [10], "finance_director": [20], "warehouse_manager": [30],
         "empty_role": []}


def flow_with(*nodes):
    return {"key": "f", "form": "receipts", "nodes": [{"id": "start", "type": "start"}, *nodes]}


def person(node_id, *specs, **options):
    return {"id": node_id, "type": "approver", "approvers": list(specs), **options}


def branch(condition, *nodes):
    return {"condition": condition, "nodes": list(nodes)}


CASES = [
    # (what, definition, expected pointer, part of the message)
    ("duplicate ids",
     flow_with(person("a", {"user": 1}), person("a", {"user": 2})),
     "/nodes/2/id", "node id 'a' is used twice (also at /nodes/1)"),
    ("duplicate ids across branches",
     flow_with({"id": "c", "type": "condition", "branches": [
         branch("amount > 1", person("x", {"user": 1}))],
         "default": {"nodes": [person("x", {"user": 2})]}}),
     "/nodes/1/default/nodes/0/id", "node id 'x' is used twice"),
    ("condition without default",
     flow_with({"id": "c", "type": "condition", "branches": [branch("amount > 1")]}),
     "/nodes/1", "condition node 'c' has no default branch"),
    ("unknown field in a condition",
     flow_with({"id": "c", "type": "condition", "branches": [branch("amont > 1")],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "did you mean 'amount'"),
    ("a condition that is not TRUE/FALSE",
     flow_with({"id": "c", "type": "condition", "branches": [branch('supplier & "x"')],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "line 1, column 1: this condition must give TRUE or "
     "FALSE"),
    ("a condition that does not parse",
     flow_with({"id": "c", "type": "condition", "branches": [branch("amount >")],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "line 1, column"),
    ("unknown submitter property",
     flow_with({"id": "c", "type": "condition", "branches": [branch('submitter.salary > 1')],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "salary"),
    ("unknown role in a condition",
     flow_with({"id": "c", "type": "condition", "branches": [branch('HAS_ROLE("ceo")')],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "role 'ceo' is not a role of the app"),
    ("unreachable after an always-true branch",
     flow_with({"id": "c", "type": "condition", "branches": [
         branch("1 = 1"), branch("amount > 5", person("never", {"user": 1}))],
         "default": {"nodes": []}}),
     "/nodes/1/branches/1", "never taken: branch 1 before it is always TRUE"),
    ("unreachable default",
     flow_with({"id": "c", "type": "condition", "branches": [branch("TRUE")],
                "default": {"nodes": []}}),
     "/nodes/1/default", "the default branch is never taken"),
    ("a branch that can never be taken",
     flow_with({"id": "c", "type": "condition", "branches": [branch("1 > 2")],
                "default": {"nodes": []}}),
     "/nodes/1/branches/0/condition", "never TRUE"),
    ("a repeated condition",
     flow_with({"id": "c", "type": "condition", "branches": [
         branch("amount > 5"), branch("amount  >  5")], "default": {"nodes": []}}),
     "/nodes/1/branches/1/condition", "branch 1 has the same condition"),
    ("empty approvers",
     flow_with(person("a")),
     "/nodes/1/approvers", "nobody is named to approve at node 'a'"),
    ("empty cc",
     flow_with({"id": "k", "type": "cc", "recipients": []}),
     "/nodes/1/recipients", "nobody is named to be copied"),
    ("a static approver set that resolves to nobody",
     flow_with(person("a", {"role": "empty_role"})),
     "/nodes/1/approvers", "nobody is in 'empty_role'"),
    ("unknown role",
     flow_with(person("a", {"role": "ceo"})),
     "/nodes/1/approvers/0/role", "role 'ceo' is not a role of the app; the app's roles:"),
    ("unknown escalation role",
     flow_with(person("a", {"user": 1}, time_limit={
         "hours": 1, "on_expiry": "escalate", "escalate_to": {"role": "ceo"}})),
     "/nodes/1/time_limit/escalate_to/role", "role 'ceo' is not a role"),
    ("escalation to a field",
     flow_with(person("a", {"user": 1}, time_limit={
         "hours": 1, "on_expiry": "escalate", "escalate_to": {"field": "keeper"}})),
     "/nodes/1/time_limit/escalate_to", "escalate to a user, a role or a department head"),
    ("escalation without a target",
     flow_with(person("a", {"user": 1}, time_limit={"hours": 1, "on_expiry": "escalate"})),
     "/nodes/1/time_limit", "missing required property 'escalate_to'"),
    ("approver field that is not a user field",
     flow_with(person("a", {"field": "supplier"})),
     "/nodes/1/approvers/0/field", "'supplier' is not a user or department field of the form; "
     "such fields: keeper"),
    ("approver expression that does not compile",
     flow_with(person("a", {"expr": "IF(amount > 1, keeper"})),
     "/nodes/1/approvers/0/expr", "line 1"),
    ("unknown field in permissions",
     flow_with(person("a", {"user": 1}, fields={"visible": ["amount", "nope"]})),
     "/nodes/1/fields/visible/1", "'nope' is not a field of the form"),
    ("unknown subtable column in permissions",
     flow_with(person("a", {"user": 1}, fields={"editable": ["lines.weight"]})),
     "/nodes/1/fields/editable/0", "'lines.weight' is not a field"),
    ("editable but hidden",
     flow_with(person("a", {"user": 1}, fields={"visible": ["amount"], "editable": ["note"]})),
     "/nodes/1/fields/editable/0", "'note' is editable but not visible"),
    ("no start node",
     {"key": "f", "form": "receipts", "nodes": [person("a", {"user": 1})]},
     "/nodes", "a flow begins with its start node"),
    ("a second start node",
     flow_with({"id": "again", "type": "start"}),
     "/nodes/1", "the start node must be the first node"),
    ("share without a percentage",
     flow_with(person("a", {"user": 1}, {"user": 2}, mode="share")),
     "/nodes/1", "missing required property 'share_pct'"),
    ("an unknown mode",
     flow_with(person("a", {"user": 1}, mode="majority")),
     "/nodes/1/mode", "'majority' is not allowed for 'mode'; use one of 'any', 'all'"),
    ("an unknown approver kind",
     flow_with(person("a", {"group": "x"})),
     "/nodes/1/approvers/0", "needs 'user' or 'role' or 'department_head' or 'field' or 'expr'"),
    ("an unknown node type",
     flow_with({"id": "x", "type": "timer"}),
     "/nodes/1/type", "'timer' is not allowed for 'type'"),
    ("a misspelt property",
     flow_with(person("a", {"user": 1}, fallbak="admin")),
     "/nodes/1/fallbak", "unknown property 'fallbak'"),
    ("a parallel with one branch",
     flow_with({"id": "p", "type": "parallel", "branches": [{"nodes": []}]}),
     "/nodes/1/branches", "is too short"),
    ("a bad node id",
     flow_with(person("1st", {"user": 1})),
     "/nodes/1/id", "'1st' is not a valid key"),
]


@pytest.mark.parametrize("definition, pointer, message",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_validation_problem(definition, pointer, message):
    problems = validate_flow(definition, RECEIPT_FIELDS, ROLES)
    assert any(p == pointer and message in m for p, m in problems), problems


def test_the_mission_flow_is_valid():
    assert validate_flow(RECEIPT_FLOW, RECEIPT_FIELDS, ROLES) == []
    assert validate_flow(RECEIPT_FLOW, RECEIPT_FIELDS, list(ROLES)) == []


def test_roles_are_only_checked_when_given():
    definition = flow_with(person("a", {"role": "ceo"}))
    assert validate_flow(definition, RECEIPT_FIELDS) == []
    assert validate_flow(definition, RECEIPT_FIELDS, ["supervisor"]) != []


def test_nested_problems_carry_their_full_pointer():
    definition = flow_with({"id": "p", "type": "parallel", "branches": [
        {"nodes": [{"id": "c", "type": "condition",
                    "branches": [branch("amount > 1", person("x", {"role": "ceo"}))]}]},
        {"nodes": []}]})
    problems = validate_flow(definition, RECEIPT_FIELDS, ROLES)
    assert ("/nodes/1/branches/0/nodes/0", "condition node 'c' has no default branch: add "
            '"default": {"nodes": []} for records that match no condition') in problems
    assert any(p == "/nodes/1/branches/0/nodes/0/branches/0/nodes/0/approvers/0/role"
               for p, _ in problems)


def test_compile_flow_refuses_an_invalid_definition_with_every_problem():
    definition = copy.deepcopy(RECEIPT_FLOW)
    definition["nodes"][2]["branches"][0]["condition"] = "amont > 50000"
    del definition["nodes"][2]["default"]
    with pytest.raises(FlowDefinitionError) as error:
        compile_flow(definition, RECEIPT_FIELDS)
    pointers = [p for p, _ in error.value.problems]
    assert pointers == ["/nodes/2/branches/0/condition", "/nodes/2"]
    assert "flow 'receipt_approval' has problems" in str(error.value)


def test_compile_flow_checks_the_schema_first():
    with pytest.raises(FlowDefinitionError) as error:
        compile_flow({"key": "f", "nodes": []}, RECEIPT_FIELDS)
    assert error.value.problems == [("", "the document is missing required property 'form'")]


def test_a_column_is_editable_when_its_subtable_is_visible():
    definition = flow_with(person("a", {"user": 1},
                                  fields={"visible": ["lines"], "editable": ["lines.qty"]}))
    assert validate_flow(definition, RECEIPT_FIELDS, ROLES) == []


def test_conditions_see_the_submitter_even_beside_a_form_field_of_that_name():
    fields = {**RECEIPT_FIELDS, "submitter": "user"}
    definition = flow_with(
        {"id": "c", "type": "condition",
         "branches": [branch('submitter.department = "采购部"')], "default": {"nodes": []}},
        person("a", {"field": "submitter"}, fields={"visible": ["submitter"]}))
    assert validate_flow(definition, fields, ROLES) == []
