"""``validate_flow``: every problem of a flow definition, as (JSON pointer, message),
for the flow designer, ``loom check`` and the API's 422 answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engines.flows.definition import HAS_ROLE_CALL, PEOPLE_KEY, build, text_of
from engines.schema import validate as validate_schema


def validate_flow(definition, fields_description: Mapping,
                  roles: Iterable[str] | Mapping[str, Iterable] | None = None,
                  *, functions=None) -> list[tuple[str, str]]:
    """Problems of ``definition`` for the form described by ``fields_description``:
    its shape (the JSON Schema), duplicate node ids, a start node that is not first,
    conditions without a default branch, conditions that do not compile as TRUE/FALSE
    (unknown fields, wrong types), branches never taken, unknown fields in field
    permissions and user-field approvers, and nodes that name nobody.

    ``roles`` are the app's role keys; given, unknown roles are reported too. Given as
    a mapping of role key to members, a node whose approvers are all users and roles
    and who resolve to nobody is reported as well."""
    problems = validate_schema("flow", definition)
    if problems:
        return problems
    _, problems = build(definition, fields_description, functions=functions)
    if roles is not None:
        problems += _role_problems(definition["nodes"], "/nodes", roles)
    return problems


def _role_problems(nodes, pointer, roles) -> list[tuple[str, str]]:
    known = set(roles)
    problems = []

    def unknown(role, where):
        close = sorted(known)
        hint = f"; the app's roles: {', '.join(close)}" if close else "; the app has no roles yet"
        problems.append((where, f"role {role!r} is not a role of the app{hint}"))

    for i, node in enumerate(nodes):
        where = f"{pointer}/{i}"
        key = PEOPLE_KEY.get(node["type"])
        people = node.get(key, []) if key else []
        for j, spec in enumerate(people):
            if "role" in spec and spec["role"] not in known:
                unknown(spec["role"], f"{where}/{key}/{j}/role")
        escalate = node.get("time_limit", {}).get("escalate_to", {})
        if "role" in escalate and escalate["role"] not in known:
            unknown(escalate["role"], f"{where}/time_limit/escalate_to/role")
        if (isinstance(roles, Mapping) and node["type"] != "cc" and people
                and all("role" in spec and spec["role"] in known for spec in people)
                and not any(list(roles[spec["role"]]) for spec in people)):
            names = ", ".join(repr(spec["role"]) for spec in people)
            problems.append((f"{where}/{key}", f"nobody is in {names}, so nobody can act at "
                             f"node {text_of(node.get('label'), node['id'])!r}; add members "
                             "to the role or name other approvers"))
        for b, branch in enumerate(node.get("branches", ())):
            base = f"{where}/branches/{b}"
            for match in HAS_ROLE_CALL.finditer(branch.get("condition", "")):
                role = match.group(1) if match.group(1) is not None else match.group(2)
                if role not in known:
                    unknown(role, f"{base}/condition")
            problems += _role_problems(branch["nodes"], f"{base}/nodes", roles)
        if "default" in node:
            problems += _role_problems(node["default"]["nodes"], f"{where}/default/nodes", roles)
    return problems
