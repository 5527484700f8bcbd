"""Checks of a whole app: each document against its schema, then references between them.

An app is a mapping of relative path -> parsed document, the same shape whether it
came from a folder (``app.json``, ``forms/*.json``) or a bundle file. Problems come
back as ``(path, json_pointer, message)``; callers turn them into ``file:line:col``
(``loom check``) or into 422 errors (the API).
"""

from __future__ import annotations

import difflib

from engines.expr import ExpressionError, compile_expression
from engines.flows import validate_flow
from engines.forms.autonumber import PatternError, parse_pattern
from engines.forms.definition import SYSTEM_KEYS, parse_form
from engines.forms.logic import LogicError, compile_logic, describe
from engines.schema import validate

APP_FILE = "app.json"


def kind_of(path: str) -> str | None:
    if path == APP_FILE:
        return "app"
    if path.startswith("forms/") and path.endswith(".json"):
        return "form"
    if path.startswith("flows/") and path.endswith(".json"):
        return "flow"
    if path.startswith("ledgers/") and path.endswith(".json"):
        return "ledger"
    if path.startswith("reports/") and path.endswith(".json"):
        return "report"
    if path.startswith("dashboards/") and path.endswith(".json"):
        return "dashboard"
    if path.startswith("rules/") and path.endswith(".rule"):
        return "rule"
    if path.startswith("prints/") and path.endswith(".html.j2"):
        return "print"
    return None


def suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" — did you mean '{close[0]}'?" if close else ""


def check_app(documents: dict[str, object], *, rules: bool = True) -> list[tuple[str, str, str]]:
    """Every problem of the app's documents. Rule files' problems come as ``(path, "",
    "line L, column C: message")``; ``rules=False`` leaves them out for a caller that
    reports them itself with ``check_rule_files`` (``loom check``: file:line:col)."""
    problems = []
    for path, doc in sorted(documents.items()):
        kind = kind_of(path)
        if kind is None:
            problems.append((path, "", "unknown kind of definition file; forms go in forms/"
                             "<key>.json, flows in flows/<key>.json, ledgers, reports and "
                             "dashboards in ledgers/, reports/, dashboards/, rules in "
                             "rules/<name>.rule, print templates in prints/<key>.html.j2 and "
                             "the app in app.json"))
            continue
        if kind in ("rule", "print"):
            if not isinstance(doc, str):
                problems.append((path, "", f"a {kind} file holds text (a string)"))
            continue
        problems += [(path, pointer, message) for pointer, message in validate(kind, doc)]
    if APP_FILE not in documents:
        problems.append((APP_FILE, "", "app.json is missing: every app needs one with at "
                         "least a key and a name"))
    if problems:  # references are only meaningful in well-formed documents
        return problems
    forms = {doc["key"]: (path, doc) for path, doc in documents.items() if kind_of(path) == "form"}
    for path, doc in documents.items():
        if kind_of(path) == "form":
            expected = f"forms/{doc['key']}.json"
            if path != expected and not path.startswith("<"):
                problems.append((path, "/key", f"form key '{doc['key']}' does not match its "
                                 f"file name; rename the file to {expected}"))
            problems += [(path, p, m) for p, m in check_form(
                doc, {k: d for k, (_, d) in forms.items()})]
    dashboards = {doc["key"] for path, doc in documents.items() if kind_of(path) == "dashboard"}
    problems += [(APP_FILE, p, m) for p, m in check_app_document(documents[APP_FILE], set(forms),
                                                                 dashboards)]
    roles = [r["key"] for r in documents[APP_FILE].get("roles", [])]
    form_docs = {k: d for k, (_, d) in forms.items()}
    problems += [(APP_FILE, p, m) for p, m in check_field_grants(documents[APP_FILE],
                                                                 form_docs)]
    ledgers = {}
    for path, doc in documents.items():
        if kind_of(path) == "flow":
            problems += [(path, p, m) for p, m in check_flow(doc, form_docs, roles)]
        if kind_of(path) == "ledger":
            ledgers[doc["key"]] = doc
            problems += [(path, p, m) for p, m in check_tracking(doc, form_docs)]
            for i, dim in enumerate(doc["dimensions"]):
                target = dim.get("target")
                if target and target not in form_docs:
                    problems.append((path, f"/dimensions/{i}/target", f"dimension "
                                     f"'{dim['key']}' points to form '{target}', which this "
                                     f"app does not have{suggest(target, form_docs)}"))
    for path, doc in documents.items():
        if kind_of(path) == "form":
            problems += [(path, p, m) for p, m in check_posting(doc, ledgers)]
    problems += check_reports(documents, form_docs, ledgers)
    problems += check_prints(documents, form_docs)
    if rules and not problems:
        problems += [(path, "", f"line {p.line}, column {p.column}: {p.message}")
                     for path, p in check_rule_files(documents)]
    return problems


def check_reports(documents: dict, forms: dict[str, dict],
                  ledgers: dict[str, dict]) -> list[tuple[str, str, str]]:
    """Reports compile against the app's forms and ledgers (fields, relations, types,
    expressions); dashboards place reports that exist and fill their parameters."""
    from engines.reports import ReportError, compile_dataset, parse_dashboard, parse_report
    from engines.reports.documents import DocumentSources

    sources = DocumentSources(documents[APP_FILE]["key"], forms, ledgers)
    problems, reports = [], {}
    for path, doc in sorted(documents.items()):
        if kind_of(path) not in ("report", "dashboard"):
            continue
        expected = f"{kind_of(path)}s/{doc['key']}.json"
        if path != expected and not path.startswith("<"):
            problems.append((path, "/key", f"{kind_of(path)} key '{doc['key']}' does not "
                             f"match its file name; rename the file to {expected}"))
        if kind_of(path) == "report":
            try:
                reports[doc["key"]] = parse_report(doc)
                compile_dataset(reports[doc["key"]], sources)
            except ReportError as error:
                problems += [(path, pointer, message) for pointer, message in error.problems]
    for path, doc in sorted(documents.items()):
        if kind_of(path) == "dashboard":
            try:
                parse_dashboard(doc, reports)
            except ReportError as error:
                # A report with problems of its own is reported once, on the report.
                broken = {f"/widgets/{i}/report" for i, w in enumerate(doc["widgets"])
                          if w["report"] not in reports
                          and f"reports/{w['report']}.json" in documents}
                problems += [(path, pointer, message) for pointer, message in error.problems
                             if pointer not in broken]
    return problems


def check_prints(documents: dict, forms: dict[str, dict]) -> list[tuple[str, str, str]]:
    """Print templates: the header names a form of the app; the template compiles."""
    from engines.printing import PrintError, parse_print

    problems = []
    for path, text in sorted(documents.items()):
        if kind_of(path) != "print" or not isinstance(text, str):
            continue
        key = path[len("prints/"):-len(".html.j2")]
        try:
            template = parse_print(key, text)
        except PrintError as error:
            problems.append((path, "", f"line {error.line or 1}: {error.message}"))
            continue
        if template.form not in forms:
            problems.append((path, "", f"line 1: prints form '{template.form}', which this "
                             f"app does not have{suggest(template.form, forms)}"))
    return problems


def check_rule_files(documents: dict[str, object], *, warnings: bool = False) -> list:
    """``(path, RuleProblem)`` of every rule file, checked against the app's forms,
    ledgers, flows and roles (errors; warnings too when asked)."""
    from engines.rules import check_rules
    from engines.rules.catalog import catalog_from_documents

    catalog = catalog_from_documents(documents)
    found = []
    for path, text in sorted(documents.items()):
        if kind_of(path) == "rule" and isinstance(text, str):
            found += [(path, p) for p in check_rules(text, catalog, path)
                      if warnings or p.severity == "error"]
    return found


def check_field_grants(app: dict, forms: dict[str, dict]) -> list[tuple[str, str]]:
    """``hidden`` / ``readonly`` name fields of the grant's forms: a misspelled field
    would leave the field it meant visible, so it is an error, not a no-op."""
    problems = []
    for i, grant in enumerate(app.get("permissions", [])):
        keys = forms if grant["forms"] == "*" else [k for k in grant["forms"] if k in forms]
        fields = {f["key"] for key in keys for f in forms[key]["fields"]}
        for kind in ("hidden", "readonly"):
            for j, name in enumerate(grant.get(kind, [])):
                if name not in fields:
                    problems.append((f"/permissions/{i}/{kind}/{j}", f"no field '{name}' in "
                                     f"the forms this grant covers{suggest(name, fields)}"))
    return problems


def check_posting(doc: dict, ledgers: dict[str, dict]) -> list[tuple[str, str]]:
    """A form's ``posting`` names real ledgers, dimensions and subtables."""
    problems = []
    subtables = {f["key"] for f in doc["fields"] if f["type"] == "subtable"}
    for i, rule in enumerate(doc.get("posting", [])):
        ledger = ledgers.get(rule["ledger"])
        if ledger is None:
            problems.append((f"/posting/{i}/ledger", f"unknown ledger '{rule['ledger']}'"
                             f"{suggest(rule['ledger'], ledgers)}; add ledgers/"
                             f"{rule['ledger']}.json"))
            continue
        dims = {d["key"] for d in ledger["dimensions"]}
        for name in rule["dimensions"]:
            if name not in dims:
                problems.append((f"/posting/{i}/dimensions/{name}", f"ledger "
                                 f"'{rule['ledger']}' has no dimension '{name}'"
                                 f"{suggest(name, dims)}"))
        if rule.get("lines") and rule["lines"] not in subtables:
            problems.append((f"/posting/{i}/lines", f"'{rule['lines']}' is not a subtable of "
                             f"this form{suggest(rule['lines'], subtables)}"))
            continue
        for name in rule.get("transfer_to", {}):
            if name not in dims:
                problems.append((f"/posting/{i}/transfer_to/{name}", f"ledger "
                                 f"'{rule['ledger']}' has no dimension '{name}'"
                                 f"{suggest(name, dims)}"))
        problems += _check_posting_kind(rule, i, doc, ledger)
    return problems


def _check_posting_kind(rule: dict, i: int, doc: dict, ledger: dict) -> list[tuple[str, str]]:
    """What reserving, consuming and transferring need of the rule and the ledger."""
    problems, base = [], f"/posting/{i}"
    if rule.get("reserve"):
        if not ledger.get("constraint"):
            problems.append((f"{base}/reserve", f"ledger '{ledger['key']}' has no constraint, "
                             "so nothing can be held against its balances"))
        for name in ("consumes", "transfer_to"):
            if name in rule:
                problems.append((f"{base}/{name}", f"a reserving rule only holds stock; "
                                 f"remove \"{name}\" or \"reserve\""))
        if rule.get("sign", 1) != 1:
            problems.append((f"{base}/sign", "a reservation holds a positive quantity; "
                             "remove \"sign\""))
    if "transfer_to" in rule and rule.get("sign", 1) != -1:
        problems.append((f"{base}/sign", "a transfer takes stock from where \"dimensions\" "
                         "say: set \"sign\": -1"))
    if "consumes" in rule:
        fields = {f["key"]: f for f in doc["fields"]}
        if rule.get("lines"):
            line_fields = next(f for f in doc["fields"] if f["key"] == rule["lines"])["fields"]
            fields.update({f["key"]: f for f in line_fields})
        field = fields.get(rule["consumes"])
        if field is None or field["type"] != "relation":
            relations = [k for k, f in fields.items() if f["type"] == "relation"]
            problems.append((f"{base}/consumes", f"'{rule['consumes']}' is not a relation "
                             f"field of this form{suggest(rule['consumes'], relations)}"))
        if rule.get("sign", 1) != -1:
            problems.append((f"{base}/sign", "only outgoing stock consumes a reservation: "
                             "set \"sign\": -1"))
    return problems


def check_tracking(doc: dict, forms: dict[str, dict]) -> list[tuple[str, str]]:
    """A ledger's expressions over the item's record (``tracking``, the valuation's
    ``item_method``) read fields of the item dimension's target form."""
    exprs = {f"/tracking/{role}": (source, "boolean")
             for role, source in doc.get("tracking", {}).items()}
    if (doc.get("valuation") or {}).get("item_method"):
        exprs["/valuation/item_method"] = (doc["valuation"]["item_method"], "text")
    if not exprs:
        return []
    item = next((d for d in doc["dimensions"] if d["key"] == doc.get("item")), None)
    target = forms.get(item.get("target")) if item else None
    if target is None:
        return [(next(iter(exprs)), "this reads the item's record: give the item dimension "
                 "a \"target\" form")]
    parsed = {key: parse_form(d) for key, d in forms.items()}
    scope = describe(parsed[target["key"]], parsed)
    problems = []
    for pointer, (source, kind) in exprs.items():
        try:
            compile_expression(source, scope, expect=kind)
        except ExpressionError as error:
            problems.append((pointer, str(error)))
    return problems


def check_flow(doc: dict, forms: dict[str, dict], roles: list[str]) -> list[tuple[str, str]]:
    """A flow's form exists and its conditions, approvers and field permissions fit it."""
    if doc["form"] not in forms:
        return [("/form", f"flow '{doc['key']}' is for form '{doc['form']}', which this app "
                 f"does not have{suggest(doc['form'], forms)}")]
    parsed = {key: parse_form(d) for key, d in forms.items()}
    return validate_flow(doc, describe(parsed[doc["form"]], parsed), roles)


def check_form(doc: dict, forms: dict[str, dict]) -> list[tuple[str, str]]:
    """References of one form: duplicate and reserved keys, relation targets and fills,
    barcodes, title, layout. ``forms`` holds every form of the app by key (this one too)."""
    forms = {**forms, doc["key"]: doc}
    problems = []
    problems += _check_fields(doc["fields"], "/fields", forms, top=True, form_key=doc["key"])
    keys = {f["key"] for f in doc["fields"]}
    scalar = {f["key"] for f in doc["fields"] if f["type"] != "subtable"}
    for i, key in enumerate(doc.get("title", [])):
        if key not in scalar:
            problems.append((f"/title/{i}", f"title field '{key}' is not a field of this "
                             f"form{suggest(key, scalar)}"))
    if not problems:  # expressions are checked against well-formed fields only
        problems += _check_expressions(doc, forms)
    for b, block in enumerate(doc.get("layout", [])):
        for i, key in enumerate(block["fields"]):
            if key not in keys:
                problems.append((f"/layout/{b}/fields/{i}", f"layout names unknown field "
                                 f"'{key}'{suggest(key, keys)}"))
    return problems


def _check_expressions(doc: dict, forms: dict[str, dict]) -> list[tuple[str, str]]:
    """Formulas, defaults, conditions and validations compile against the fields."""
    try:
        parsed = {key: parse_form(d) for key, d in forms.items()}
        compile_logic(parsed[doc["key"]], parsed)
    except LogicError as error:
        return error.problems
    return []


def _check_rollup(field, pointer, forms, form_key) -> list[tuple[str, str]]:
    source = forms.get(field["source"])
    if source is None:
        return [(f"{pointer}/source", f"rollup source '{field['source']}' is not a form of "
                 f"this app{suggest(field['source'], forms)}")]
    problems = []
    fields = {f["key"]: f for f in source["fields"]}
    via, of = field["via"], field.get("of")
    head, _, rest = via.partition(".")
    scope = fields
    if rest:
        sub = fields.get(head)
        scope = {f["key"]: f for f in sub["fields"]} if sub and sub["type"] == "subtable" \
            else {}
    relation = scope.get(rest or head)
    if relation is None or relation["type"] != "relation" or relation["target"] != form_key:
        problems.append((f"{pointer}/via", f"'{via}' must be a relation of '{field['source']}' "
                         f"pointing to this form ('{form_key}'), e.g. supplier or lines.material"))
    if field["aggregate"] != "count":
        if of is None:
            problems.append((f"{pointer}/of", f"{field['aggregate']} needs 'of': the number "
                             "field to aggregate, e.g. lines.qty"))
        else:
            of_head, _, of_rest = of.partition(".")
            target = scope if of_rest and of_head == head else fields
            measured = target.get(of_rest or of_head) if (of_rest and of_head == head) or \
                not of_rest else None
            numeric = ("number", "money", "percent", "rollup", "formula")
            if measured is None or measured["type"] not in numeric:
                problems.append((f"{pointer}/of", f"'{of}' must be a number field of "
                                 f"'{field['source']}' in the same place as '{via}'"))
    for name in field.get("where", {}):
        path = name.partition("__")[0].split(".")[0]
        if path not in fields:
            problems.append((f"{pointer}/where", f"'{name}' filters on unknown field "
                             f"'{path}'{suggest(path, fields)}"))
    return problems


def _check_fields(fields, base: str, forms: dict, top: bool,
                  form_key: str = "") -> list[tuple[str, str]]:
    problems, seen = [], {}
    form_keys = set(forms)
    by_key = {f["key"]: f for f in fields}
    for i, field in enumerate(fields):
        pointer = f"{base}/{i}"
        key = field["key"]
        if key in seen:
            problems.append((f"{pointer}/key", f"duplicate field key '{key}' (also field "
                             f"{seen[key] + 1}); every field needs its own key"))
        seen.setdefault(key, i)
        if key in SYSTEM_KEYS:
            problems.append((f"{pointer}/key", f"'{key}' is reserved for the record's own "
                             f"{key.replace('_', ' ')}; choose another key"))
        if field["type"] in ("relation", "barcode") and field["target"] not in form_keys:
            problems.append((f"{pointer}/target", f"relation target '{field['target']}' is "
                             f"not a form of this app{suggest(field['target'], form_keys)}"))
        if field["type"] == "subtable":
            if not top:
                problems.append((f"{pointer}/type", "a subtable cannot hold another subtable"))
            else:
                problems += _check_fields(field["fields"], f"{pointer}/fields", forms,
                                          top=False)
        target = forms.get(field.get("target")) if field["type"] in ("relation", "barcode") \
            else None
        if target is not None:
            problems += _check_lookup_fields(field, pointer, target, by_key)
        if field["type"] == "rollup":
            if not top:
                problems.append((f"{pointer}/type", "a rollup belongs to the form, not to "
                                 "subtable lines"))
            else:
                problems += _check_rollup(field, pointer, forms, form_key)
        if field["type"] == "autonumber":
            if not top:
                problems.append((f"{pointer}/type", "autonumbers belong to the form, not to "
                                 "subtable lines (lines are numbered already)"))
            try:
                parse_pattern(field["pattern"])
            except PatternError as error:
                problems.append((f"{pointer}/pattern", str(error)))
            dates = {f["key"] for f in fields if f["type"] in ("date", "datetime")}
            if "date_field" in field and field["date_field"] not in dates:
                problems.append((f"{pointer}/date_field", f"'{field['date_field']}' is not a "
                                 f"date field of this form{suggest(field['date_field'], dates)}"))
        low, high = field.get("min"), field.get("max")
        if low is not None and high is not None and low > high:
            problems.append((f"{pointer}/min", f"min {low} is greater than max {high}"))
        values = [o if isinstance(o, str) else o["value"] for o in field.get("options", [])]
        for j, value in enumerate(values):
            if value in values[:j]:
                problems.append((f"{pointer}/options/{j}", f"duplicate option '{value}'"))
    return problems


_COPYABLE = {"subtable", "attachment"}  # values a fill cannot copy


def _check_lookup_fields(field, pointer, target: dict, scope: dict) -> list[tuple[str, str]]:
    """A relation's ``fill`` and a barcode's ``match`` / ``relation`` name real fields."""
    problems = []
    remote = {f["key"]: f for f in target["fields"] if f["type"] not in _COPYABLE}
    for local, source in field.get("fill", {}).items():
        if local not in scope or local == field["key"]:
            problems.append((f"{pointer}/fill/{local}", f"fill copies into '{local}', which is "
                             f"not another field here{suggest(local, scope)}"))
        if source not in remote:
            problems.append((f"{pointer}/fill/{local}", f"form '{target['key']}' has no field "
                             f"'{source}' to copy{suggest(source, remote)}"))
    if field["type"] == "barcode":
        matches = field["match"] if isinstance(field["match"], list) else [field["match"]]
        for key in matches:
            if key not in remote:
                problems.append((f"{pointer}/match", f"form '{target['key']}' has no field "
                                 f"'{key}' to match codes against{suggest(key, remote)}"))
        relation = field.get("relation")
        if relation is not None:
            other = scope.get(relation)
            if other is None or other["type"] != "relation" or \
                    other.get("target") != field["target"]:
                problems.append((f"{pointer}/relation", f"'{relation}' must be a relation field "
                                 f"here pointing to '{field['target']}'"))
    return problems


def check_app_document(doc: dict, form_keys: set[str],
                       dashboards: set[str] = frozenset()) -> list[tuple[str, str]]:
    problems = []
    roles = {r["key"] for r in doc.get("roles", [])}
    for i, key in enumerate(doc.get("forms", [])):
        if key not in form_keys:
            problems.append((f"/forms/{i}", f"app lists form '{key}' but there is no "
                             f"forms/{key}.json{suggest(key, form_keys)}"))
    for i, rule in enumerate(doc.get("permissions", [])):
        if rule["role"] not in roles:
            problems.append((f"/permissions/{i}/role", f"unknown role '{rule['role']}'"
                             f"{suggest(rule['role'], roles)}; declare it under \"roles\""))
        if rule["forms"] != "*":
            for j, key in enumerate(rule["forms"]):
                if key not in form_keys:
                    problems.append((f"/permissions/{i}/forms/{j}", f"unknown form '{key}'"
                                     f"{suggest(key, form_keys)}"))

    def walk(items, base):
        for i, item in enumerate(items):
            if "form" in item and item["form"] not in form_keys:
                problems.append((f"{base}/{i}/form", f"menu names unknown form "
                                 f"'{item['form']}'{suggest(item['form'], form_keys)}"))
            if "dashboard" in item and item["dashboard"] not in dashboards:
                problems.append((f"{base}/{i}/dashboard", f"menu names unknown dashboard "
                                 f"'{item['dashboard']}'{suggest(item['dashboard'], dashboards)}"
                                 f"; add dashboards/{item['dashboard']}.json"))
            walk(item.get("items", []), f"{base}/{i}/items")

    walk(doc.get("menu", []), "/menu")
    return problems
