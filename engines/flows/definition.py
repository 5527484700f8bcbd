"""A flow definition compiled once per version: the node tree flattened into a table
(``next_of`` says where the flow goes when a node is done), branch conditions and
expression approvers compiled with the one expression language.

The walk that compiles also finds the definition's problems, so ``validate_flow``
(``engines.flows.validation``) and ``compile_flow`` never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from engines.expr import (
    FUNCTIONS,
    Compiled,
    ExpressionError,
    compile_expression,
    register_function,
)
from engines.flows.calendar import WorkCalendar
from engines.schema import validate as validate_schema

PEOPLE_KEY = {"approver": "approvers", "handler": "handlers", "cc": "recipients"}
TASK_KIND = {"approver": "approver", "handler": "handler", "cc": "cc"}
# What conditions see of the submitter: ``id`` as the runtime gives user ids (numbers
# or text), the display name, and the name of their department.
SUBMITTER_FIELDS = {"id": "any", "name": "text", "department": "text"}
# A department field names its department's head (the caller's resolve finds them).
USER_FIELD_TYPES = ("user", "department")


def _has_role(env, role):
    submitter = (env or {}).get("submitter") or {}
    return str(role) in [str(r) for r in submitter.get("roles", ())]


# Flow conditions may also ask about the submitter's roles; the function lives in a
# registry of the flows' own, so forms and reports never see it.
FLOW_FUNCTIONS: dict = {}
register_function("HAS_ROLE", _has_role, signature="HAS_ROLE(role)", params=("text",),
                  needs_env=True, returns="boolean", registry=FLOW_FUNCTIONS,
                  summary="TRUE when the submitter has the role (flow conditions only)",
                  example='HAS_ROLE("buyer") → TRUE')
HAS_ROLE_CALL = re.compile(r"""\bHAS_ROLE\s*\(\s*(?:"([^"]*)"|'([^']*)')\s*\)""", re.I)
CALL = re.compile(r"([^\W\d]\w*)\s*\(")


class FlowDefinitionError(ValueError):
    """A definition that cannot run; ``problems`` are (JSON pointer, message)."""

    def __init__(self, key, problems: list[tuple[str, str]]):
        super().__init__(f"flow {key!r} has problems: "
                         + "; ".join(f"{p or '/'}: {m}" for p, m in problems))
        self.problems = problems


class Join(NamedTuple):
    """Where a parallel branch goes when it is done: the parallel node's join."""

    parallel: str
    branch: int


@dataclass(frozen=True, slots=True)
class Branch:
    index: int  # -1 for a condition's default branch
    sequence: str  # the name of its line of nodes in CompiledFlow.sequences
    label: str | None
    condition: Compiled | None
    first: str | None  # the branch's first node; None when it is empty
    pointer: str


@dataclass(frozen=True, slots=True)
class FieldAccess:
    visible: frozenset | None  # None: every field
    editable: frozenset


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    pointer: str
    label: str
    people: tuple[dict, ...] = ()  # approvers, handlers or cc recipients
    mode: str = "all"
    share_pct: float = 100
    fallback: str = "admin"
    time_limit: dict | None = None
    access: FieldAccess = FieldAccess(None, frozenset())
    branches: tuple[Branch, ...] = ()  # a condition's default comes last
    # (sequence, index) from the main line down to this node: who comes before whom
    ancestry: tuple[tuple[str, int], ...] = ()

    @property
    def kind(self) -> str | None:
        """The kind of task this node gives people, if any."""
        return TASK_KIND.get(self.type)


@dataclass(frozen=True)
class CompiledFlow:
    key: str
    form: str
    version: object
    label: str
    nodes: dict[str, Node]
    start: str  # the start node's id
    next_of: dict[str, object]  # node id -> next node id, a Join, or None (the end)
    sequences: dict[str, tuple[str, ...]]  # sequence name -> node ids in order
    subtree: dict[str, frozenset]  # node id -> itself and every node inside it
    expressions: dict[tuple[str, int], Compiled]  # (node id, person index) -> expr
    description: dict = field(repr=False)  # the fields conditions may name
    calendar: WorkCalendar = field(default_factory=WorkCalendar, repr=False)
    definition: dict = field(default_factory=dict, repr=False)

    def node_fields(self, node_id: str) -> FieldAccess:
        """What the assignee of a task at ``node_id`` sees and may edit."""
        return self.nodes[node_id].access

    def label_of(self, node_id: str) -> str:
        node = self.nodes.get(node_id)
        return f"'{node.label}'" if node and node.label != node_id else f"'{node_id}'"


def compile_flow(definition: dict, fields_description: Mapping, *, version=None,
                 calendar: WorkCalendar | None = None, functions=None) -> CompiledFlow:
    """Compile ``definition`` for the form described by ``fields_description`` (see
    ``engines.forms.logic.describe``); raise ``FlowDefinitionError`` listing every
    problem. ``version`` defaults to the definition's ``version``; the runtime keeps
    one compiled flow per version for the instances still running on it."""
    problems = validate_schema("flow", definition)
    if problems:
        raise FlowDefinitionError(definition.get("key") if isinstance(definition, dict)
                                  else None, problems)
    flow, problems = build(definition, fields_description, functions=functions,
                           calendar=calendar, version=version)
    if problems:
        raise FlowDefinitionError(definition["key"], problems)
    return flow


def text_of(label, fallback: str) -> str:
    if isinstance(label, Mapping):
        return label.get("zh") or label.get("en") or next(iter(label.values()), fallback)
    return label or fallback


def describe_for_conditions(fields_description: Mapping) -> dict:
    """The form's fields plus ``submitter`` (id, name, department), which hides a form
    field of that name."""
    return {**fields_description,
            "submitter": {"type": "relation", "fields": SUBMITTER_FIELDS}}


def build(definition: dict, fields_description: Mapping, *, functions=None,
          calendar=None, version=None) -> tuple[CompiledFlow | None, list[tuple[str, str]]]:
    """Compile a schema-valid definition; return it with the problems found."""
    functions = {**(FUNCTIONS if functions is None else functions), **FLOW_FUNCTIONS}
    walk = _Walk(fields_description, functions)
    top = definition["nodes"]
    walk.sequence(top, "main", None, (), "/nodes")
    if not top or top[0]["type"] != "start":
        walk.problem("/nodes", "a flow begins with its start node (the submitter): add "
                     '{"id": "start", "type": "start"} as the first node')
    for pointer in walk.starts:
        if pointer != "/nodes/0":
            walk.problem(pointer, "the start node must be the first node of the main line, "
                         "and there is only one")
    if walk.problems:
        return None, walk.problems
    flow = CompiledFlow(
        key=definition["key"], form=definition["form"],
        version=definition.get("version") if version is None else version,
        label=text_of(definition.get("label"), definition["key"]),
        nodes=walk.nodes, start=top[0]["id"], next_of=walk.next_of,
        sequences=walk.sequences, subtree=walk.subtree, expressions=walk.expressions,
        description=walk.description, calendar=calendar or WorkCalendar(),
        definition=definition)
    return flow, []


class _Walk:
    """One pass over the node tree, collecting nodes, links and problems."""

    def __init__(self, form_fields: Mapping, functions: dict):
        self.form_fields = form_fields
        self.description = describe_for_conditions(form_fields)
        self.functions = functions
        self.nodes: dict[str, Node] = {}
        self.next_of: dict[str, object] = {}
        self.sequences: dict[str, tuple[str, ...]] = {}
        self.subtree: dict[str, frozenset] = {}
        self.expressions: dict[tuple[str, int], Compiled] = {}
        self.problems: list[tuple[str, str]] = []
        self.starts: list[str] = []
        self.user_fields = {k for k, v in form_fields.items()
                            if (v if isinstance(v, str) else v.get("type")) in USER_FIELD_TYPES}

    def problem(self, pointer: str, message: str):
        self.problems.append((pointer, message))

    def sequence(self, nodes: list, name: str, continuation, ancestry, pointer) -> set:
        """Walk one line of nodes; return the ids of every node in it, nested too."""
        self.sequences[name] = tuple(n["id"] for n in nodes)
        inside = set()
        for i, raw in enumerate(nodes):
            after = nodes[i + 1]["id"] if i + 1 < len(nodes) else continuation
            inside |= self.node(raw, after, (*ancestry, (name, i)), f"{pointer}/{i}")
        return inside

    def node(self, raw: dict, after, ancestry, pointer) -> set:
        node_id, kind = raw["id"], raw["type"]
        if node_id in self.nodes:
            self.problem(f"{pointer}/id", f"node id {node_id!r} is used twice (also at "
                         f"{self.nodes[node_id].pointer}); every node needs its own id")
        if kind == "start":
            self.starts.append(pointer)
        self.next_of[node_id] = after
        inside = {node_id}
        branches = ()
        if kind == "condition":
            branches = self.conditions(raw, after, ancestry, pointer, inside)
        elif kind == "parallel":
            branches = tuple(
                self.branch(b, i, None, Join(node_id, i), ancestry, pointer, inside,
                            f"{pointer}/branches/{i}")
                for i, b in enumerate(raw["branches"]))
        people = tuple(raw.get(PEOPLE_KEY.get(kind, ""), ()))
        if kind in PEOPLE_KEY:
            self.people(node_id, kind, people, pointer)
        limit = raw.get("time_limit")
        if limit and "escalate_to" in limit and not {"user", "role", "department_head"} \
                & set(limit["escalate_to"]):
            self.problem(f"{pointer}/time_limit/escalate_to", "escalate to a user, a role or "
                         "a department head: the record is not at hand when a task expires")
        self.nodes.setdefault(node_id, Node(
            id=node_id, type=kind, pointer=pointer, label=text_of(raw.get("label"), node_id),
            people=people, mode=raw.get("mode", "all"), share_pct=raw.get("share_pct", 100),
            fallback=raw.get("fallback", "admin"), time_limit=limit,
            access=self.access(raw.get("fields"), pointer), branches=branches,
            ancestry=ancestry))
        self.subtree[node_id] = frozenset(inside)
        return inside

    def conditions(self, raw, after, ancestry, pointer, inside) -> tuple[Branch, ...]:
        branches, seen, always = [], {}, None
        for i, b in enumerate(raw["branches"]):
            where = f"{pointer}/branches/{i}"
            compiled = self.condition(b["condition"], f"{where}/condition")
            normal = " ".join(b["condition"].split()).lower()
            if always is not None:
                self.problem(where, f"this branch is never taken: branch {always + 1} "
                             "before it is always TRUE")
            elif normal in seen:
                self.problem(f"{where}/condition", f"this branch is never taken: branch "
                             f"{seen[normal] + 1} has the same condition")
            elif compiled is not None and _constant(compiled, self.functions) is not None:
                value = _constant(compiled, self.functions)
                if value is True:
                    always = i
                else:
                    self.problem(f"{where}/condition", "this branch is never taken: its "
                                 "condition is never TRUE")
            seen.setdefault(normal, i)
            branches.append(self.branch(b, i, compiled, after, ancestry, pointer, inside, where))
        if "default" not in raw:
            self.problem(pointer, f"condition node {raw['id']!r} has no default branch: add "
                         '"default": {"nodes": []} for records that match no condition')
        else:
            if always is not None:
                self.problem(f"{pointer}/default", f"the default branch is never taken: "
                             f"branch {always + 1} is always TRUE")
            branches.append(self.branch(raw["default"], -1, None, after, ancestry, pointer,
                                        inside, f"{pointer}/default"))
        return tuple(branches)

    def branch(self, raw, index, condition, after, ancestry, pointer, inside, where) -> Branch:
        name = f"{pointer}:{'default' if index < 0 else index}"
        nodes = raw["nodes"]
        inside |= self.sequence(nodes, name, after, ancestry, f"{where}/nodes")
        return Branch(index, name, raw.get("label"), condition,
                      nodes[0]["id"] if nodes else None, where)

    def condition(self, source: str, pointer: str) -> Compiled | None:
        try:
            return compile_expression(source, self.description, functions=self.functions,
                                      expect="boolean")
        except ExpressionError as error:
            for p in error.problems:
                self.problem(pointer, f"line {p.line}, column {p.column}: {p.message}")
            return None

    def people(self, node_id, kind, people, pointer):
        key = PEOPLE_KEY[kind]
        if not people:
            what = {"approver": "approve", "handler": "handle", "cc": "be copied"}[kind]
            self.problem(f"{pointer}/{key}", f"nobody is named to {what} at node "
                         f"{node_id!r}; add a user, role, department head, user field or "
                         "expression")
        for i, spec in enumerate(people):
            where = f"{pointer}/{key}/{i}"
            if "field" in spec and spec["field"] not in self.user_fields:
                known = ", ".join(sorted(self.user_fields)) or "none on this form"
                self.problem(f"{where}/field", f"{spec['field']!r} is not a user or "
                             f"department field of the form; such fields: {known}")
            if "expr" in spec:
                try:
                    self.expressions[(node_id, i)] = compile_expression(
                        spec["expr"], self.description, functions=self.functions)
                except ExpressionError as error:
                    for p in error.problems:
                        self.problem(f"{where}/expr",
                                     f"line {p.line}, column {p.column}: {p.message}")

    def access(self, raw, pointer) -> FieldAccess:
        if not raw:
            return FieldAccess(None, frozenset())
        for prop in ("visible", "editable"):
            for i, path in enumerate(raw.get(prop, ())):
                if not self.known_field(path):
                    self.problem(f"{pointer}/fields/{prop}/{i}", f"{path!r} is not a field "
                                 "of the form (use a field key, or subtable.column)")
        visible = raw.get("visible")
        editable = frozenset(raw.get("editable", ()))
        if visible is not None:
            for i, path in enumerate(raw.get("editable", ())):
                if path not in visible and path.partition(".")[0] not in visible:
                    self.problem(f"{pointer}/fields/editable/{i}", f"{path!r} is editable "
                                 "but not visible; add it to 'visible' too")
        return FieldAccess(None if visible is None else frozenset(visible), editable)

    def known_field(self, path: str) -> bool:
        head, _, column = path.partition(".")
        spec = self.form_fields.get(head)
        if spec is None:
            return False
        if not column:
            return True
        return isinstance(spec, Mapping) and spec.get("type") == "subtable" and (
            spec.get("fields") is None or column in spec["fields"])


def _constant(compiled: Compiled, functions: dict):
    """The value of a condition that names no field and calls nothing volatile."""
    if compiled.references:
        return None
    for name in CALL.findall(compiled.source):
        spec = functions.get(name.upper())
        if spec is None or spec.volatile:
            return None
    value = compiled.evaluate({})
    return value if isinstance(value, bool) else None
