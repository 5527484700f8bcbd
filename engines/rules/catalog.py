"""What a rule may name: the app's forms (with their fields), ledgers, flows, roles,
users, departments, reports and inbound webhooks — as neutral data the runtime builds
from the app's definitions. Anything left as ``None`` is not known and not checked.

    {"forms": {"materials": {"name": "text", "safety_stock": "number"},
               "purchase_requests": {"material": {"type": "relation", "fields": {...}},
                                     "qty": "number"}},
     "ledgers": {"stock": {"dimensions": {"material": {"type": "relation",
                                                        "form": "materials"},
                                          "lot": "text"},
                           "measures": ["qty", "value"]}},
     "flows": {"po_approval": {"form": "purchase_orders", "nodes": ["manager", "finance"]}},
     "roles": ["purchasing", "finance"], "departments": ["warehouse"], "users": ["zhang"],
     "reports": ["stale_materials"],
     "webhooks": {"erp_order": {"order_no": "text", "qty": "number"}}}

A form's fields are described as ``engines.forms.logic.describe`` gives them. A ledger
dimension is ``"text"``, ``"number"`` (a record id), ``"any"``, or a relation to a form
(``{"type": "relation", "form": "materials"}``), which expressions then see as that
form's record (``material.safety_stock``). A webhook maps to the description of its
JSON payload's fields (or ``None``: any field).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

MEASURES = ("qty",)


@dataclass(frozen=True)
class Catalog:
    forms: Mapping[str, Mapping] | None = None
    ledgers: Mapping[str, Mapping] | None = None
    flows: Mapping[str, Mapping | None] | None = None
    roles: Collection[str] | None = None
    users: Collection[str] | None = None
    departments: Collection[str] | None = None
    reports: Collection[str] | None = None
    webhooks: Mapping[str, Mapping | None] | None = None
    functions: Mapping | None = None  # the expression function registry (default FUNCTIONS)

    @classmethod
    def of(cls, data: Catalog | Mapping | None) -> Catalog:
        """``data`` as a Catalog: a Catalog, a mapping with the same keys, or None."""
        if data is None:
            return cls()
        if isinstance(data, Catalog):
            return data
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown catalog entries {sorted(unknown)}; use "
                             f"{sorted(cls.__dataclass_fields__)}")
        values = dict(data)
        for key in ("flows", "webhooks"):
            if isinstance(values.get(key), Collection) and not isinstance(values[key], Mapping):
                values[key] = {name: None for name in values[key]}
        return cls(**values)

    # ---- what expressions see ---------------------------------------------------------

    def form_fields(self, form: str) -> Mapping | None:
        """The description of ``form``'s fields; None when not known."""
        if self.forms is None:
            return None
        return self.forms.get(form)

    def ledger_fields(self, ledger: str) -> dict | None:
        """A balance row of ``ledger`` as fields: its dimensions, then its measures."""
        if self.ledgers is None or ledger not in self.ledgers:
            return None
        spec = self.ledgers[ledger] or {}
        dimensions = spec.get("dimensions", {})
        if not isinstance(dimensions, Mapping):
            dimensions = {name: "any" for name in dimensions}
        fields = {}
        for key, kind in dimensions.items():
            if isinstance(kind, Mapping) and kind.get("type") == "relation":
                target = kind.get("form")
                nested = self.form_fields(target) if target else None
                fields[key] = {"type": "relation", **({"fields": nested} if nested else {})}
            elif kind in ("ref", "number"):
                fields[key] = "number"
            else:
                fields[key] = kind if isinstance(kind, str | Mapping) else "any"
        for measure in spec.get("measures", MEASURES):
            fields[measure] = "number"
        return fields

    def flow_form(self, flow: str) -> str | None:
        entry = (self.flows or {}).get(flow)
        return entry.get("form") if isinstance(entry, Mapping) else None

    def flow_nodes(self, form: str) -> list[str] | None:
        """Node ids of the flows of ``form``; None when the flows do not say."""
        if self.flows is None:
            return None
        nodes, known = [], False
        for entry in self.flows.values():
            if isinstance(entry, Mapping) and entry.get("form") == form and "nodes" in entry:
                known = True
                nodes.extend(entry["nodes"])
        return nodes if known else None

    def forms_with_flows(self) -> set[str] | None:
        if self.flows is None:
            return None
        forms = {e.get("form") for e in self.flows.values() if isinstance(e, Mapping)}
        if any(not isinstance(e, Mapping) or "form" not in e for e in self.flows.values()):
            return None  # some flow does not say its form: cannot tell
        return forms


def with_extra(fields: Mapping | None, name: str, extra: Mapping) -> Mapping | None:
    """``fields`` plus ``name`` (e.g. ``old``), unless a field is named so already."""
    if fields is None or name in fields:
        return fields
    return {**fields, name: extra}


def relation(fields: Mapping | None) -> dict:
    return {"type": "relation", **({"fields": fields} if fields is not None else {})}



def catalog_from_documents(documents: Mapping[str, object]) -> Catalog:
    """The catalog of an app given as its documents (``{"app.json": ..., "forms/x.json":
    ..., "ledgers/y.json": ..., "flows/z.json": ...}``), as ``loom check``, an install
    and the runtime see it. Users and departments are data, not definitions: they are
    left unchecked (``None``). Reports are the app's ``reports/*.json``; with none, a
    ``report`` action is refused with a message saying so."""
    # Imported here: the catalog module stays a plain description for other callers.
    import engines.forms.functions  # noqa: F401  (COUNT_RECORDS, LOOKUP register here)
    import engines.ledgers.functions  # noqa: F401  (BALANCE, AVAILABLE)
    from engines.expr import FUNCTIONS
    from engines.forms.definition import parse_form
    from engines.forms.logic import describe

    def kind(path: str) -> str:
        return path.split("/", 1)[0] if "/" in path else path

    app = documents.get("app.json") or {}
    forms = {doc["key"]: parse_form(doc) for path, doc in documents.items()
             if kind(path) == "forms"}
    # Every record has its id: a rule names the record itself by it (``{material: id}``).
    described = {key: {"id": "number", **describe(form, forms)} for key, form in forms.items()}
    ledgers = {}
    for path, doc in documents.items():
        if kind(path) != "ledgers":
            continue
        dimensions = {}
        for dim in doc.get("dimensions", []):
            if dim.get("kind") == "ref" and dim.get("target"):
                dimensions[dim["key"]] = {"type": "relation", "form": dim["target"]}
            else:
                dimensions[dim["key"]] = "number" if dim.get("kind") == "ref" else "text"
        ledgers[doc["key"]] = {"dimensions": dimensions,
                               "measures": list(doc.get("measures") or MEASURES)}
    flows = {}
    for path, doc in documents.items():
        if kind(path) == "flows":
            flows[doc["key"]] = {"form": doc.get("form"), "nodes": _node_ids(doc.get("nodes"))}
    hooks = (app.get("webhooks") or {}).get("inbound") or {}
    return Catalog(forms=described, ledgers=ledgers, flows=flows,
                   roles=[r["key"] for r in app.get("roles", [])],
                   reports=[doc["key"] for path, doc in documents.items()
                            if kind(path) == "reports" and isinstance(doc, dict)],
                   webhooks={name: None for name in hooks}, functions=FUNCTIONS)


def _node_ids(nodes) -> list[str]:
    found = []
    for node in nodes or []:
        found.append(node.get("id"))
        for branch in node.get("branches", []):
            found += _node_ids(branch.get("nodes"))
        found += _node_ids((node.get("default") or {}).get("nodes"))
    return [n for n in found if n]
