"""Report definitions as small read-only objects.

The JSON document (``engines/schema/report.schema.json``) stays the source of truth;
``parse_report`` checks it against the schema and against itself (keys unique, every
key a sort, pivot, window or widget names exists) and returns a ``Report``. Whether
the fields exist is only known with the tables: ``compile_dataset`` checks that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engines.reports.sources import ReportError
from engines.schema import validate

AGGREGATES = ("sum", "count", "avg", "min", "max", "count_distinct")
WINDOWS = ("previous", "change", "moving_avg", "running_total", "share")
# Windows that walk along calendar periods need a date-bucket dimension.
PERIOD_WINDOWS = ("previous", "change", "moving_avg")
DEFAULT_THRESHOLDS = (Decimal("0.8"), Decimal("0.95"))


@dataclass(frozen=True)
class Parameter:
    key: str
    type: str
    target: str | None = None
    label: object = None
    required: bool = False
    multiple: bool = False
    default: object = None


@dataclass(frozen=True)
class Dimension:
    key: str
    label: object = None
    field: str | None = None
    expr: str | None = None
    bucket: str | None = None
    age: tuple = ()
    bins: tuple = ()
    labels: tuple = ()

    @property
    def edges(self) -> tuple:
        return self.age or self.bins


@dataclass(frozen=True)
class Measure:
    key: str
    label: object = None
    agg: str | None = None
    field: str | None = None
    expr: str | None = None
    where: str | None = None
    calc: str | None = None
    window: str | None = None
    of: str | None = None
    periods: int | None = None
    decimals: int | None = None
    percent: bool = False

    @property
    def kind(self) -> str:
        return "aggregate" if self.agg else "calc" if self.calc else "window"


@dataclass(frozen=True)
class Pivot:
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    subtotals: bool = True


@dataclass(frozen=True)
class Abc:
    measure: str
    thresholds: tuple = DEFAULT_THRESHOLDS
    classes: tuple[str, ...] = ("A", "B", "C")


@dataclass(frozen=True)
class Tree:
    parent: str
    child: str
    qty: str
    root: object
    quantity: object = 1
    max_depth: int = 20
    summary: str = "lines"
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Forecast:
    measure: str
    method: str
    periods: int = 3
    alpha: Decimal = Decimal("0.3")
    horizon: int = 3


@dataclass(frozen=True)
class Dataset:
    source: object  # "form", "form.subtable" or {"ledger": key, "part": ...}
    filters: tuple = ()
    dimensions: tuple[Dimension, ...] = ()
    measures: tuple[Measure, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()  # (key, descending)
    limit: int | None = None
    totals: bool = False
    pivot: Pivot | None = None
    abc: Abc | None = None
    tree: Tree | None = None
    forecast: Forecast | None = None

    def dimension(self, key: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.key == key), None)

    def measure(self, key: str) -> Measure | None:
        return next((m for m in self.measures if m.key == key), None)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions] + [m.key for m in self.measures]


@dataclass(frozen=True)
class Report:
    key: str
    dataset: Dataset
    parameters: dict[str, Parameter] = field(default_factory=dict)
    widget: dict = field(default_factory=dict)
    label: object = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


def parse_report(doc: dict) -> Report:
    """A ``Report`` from its JSON document; ``ReportError`` lists every problem."""
    problems = validate("report", doc)
    if problems:
        raise ReportError(problems)
    parameters = {key: Parameter(key, p["type"], p.get("target"), p.get("label", key),
                                 p.get("required", False), p.get("multiple", False),
                                 p.get("default"))
                  for key, p in doc.get("parameters", {}).items()}
    dataset = _dataset(doc["dataset"])
    report = Report(doc["key"], dataset, parameters, doc.get("widget", {}),
                    doc.get("label", doc["key"]), doc)
    problems = check_dataset(dataset, parameters) + _check_widget(report)
    if problems:
        raise ReportError(problems)
    return report


def parse_dataset(doc: dict, parameters: dict | None = None) -> Report:
    """A ``Report`` holding only a dataset (for callers that build datasets in code)."""
    return parse_report({"key": "dataset", "dataset": doc,
                         **({"parameters": parameters} if parameters else {})})


def _dataset(doc: dict) -> Dataset:
    sort = tuple((s.lstrip("+-"), s.startswith("-")) for s in doc.get("sort", ()))
    pivot = doc.get("pivot")
    abc = doc.get("abc")
    tree = doc.get("tree")
    forecast = doc.get("forecast")
    return Dataset(
        source=doc["source"],
        filters=tuple(doc.get("filters", ())),
        dimensions=tuple(Dimension(d["key"], d.get("label", d["key"]), d.get("field"),
                                   d.get("expr"), d.get("bucket"), tuple(d.get("age", ())),
                                   tuple(d.get("bins", ())), tuple(d.get("labels", ())))
                         for d in doc.get("dimensions", ())),
        measures=tuple(Measure(m["key"], m.get("label", m["key"]), m.get("agg"), m.get("field"),
                               m.get("expr"), m.get("where"), m.get("calc"), m.get("window"),
                               m.get("of"), m.get("periods"), m.get("decimals"),
                               bool(m.get("percent", False)))
                       for m in doc.get("measures", ())),
        sort=sort,
        limit=doc.get("limit"),
        totals=bool(doc.get("totals", False)),
        pivot=Pivot(tuple(pivot["rows"]), tuple(pivot["columns"]),
                    pivot.get("subtotals", True)) if pivot else None,
        abc=Abc(abc["measure"],
                tuple(_number(t) for t in abc.get("thresholds", DEFAULT_THRESHOLDS)),
                tuple(abc.get("classes", ("A", "B", "C")))) if abc else None,
        tree=Tree(tree["parent"], tree["child"], tree["qty"], tree["root"],
                  tree.get("quantity", 1), tree.get("max_depth", 20),
                  tree.get("summary", "lines"), tuple(tree.get("fields", ()))) if tree else None,
        forecast=Forecast(forecast["measure"], forecast["method"], forecast.get("periods", 3),
                          Decimal(str(forecast.get("alpha", "0.3"))),
                          forecast.get("horizon", 3)) if forecast else None,
    )


def _number(value):
    return value if isinstance(value, dict) else Decimal(str(value))


def check_dataset(ds: Dataset, parameters: dict) -> list[tuple[str, str]]:
    """Problems of a dataset that need no tables: keys, references between its parts."""
    problems = []
    base = "/dataset"
    seen = {}
    for kind, items in (("dimensions", ds.dimensions), ("measures", ds.measures)):
        for i, item in enumerate(items):
            if item.key in seen:
                problems.append((f"{base}/{kind}/{i}/key", f"the key '{item.key}' is already "
                                 f"used by {seen[item.key]}; give each dimension and measure "
                                 "its own key"))
            seen[item.key] = f"{kind[:-1]} {item.key}"
    for i, d in enumerate(ds.dimensions):
        where = f"{base}/dimensions/{i}"
        options = [name for name in ("bucket", "age", "bins") if getattr(d, name)]
        if len(options) > 1:
            problems.append((where, f"use one of {' / '.join(options)} on a dimension, not "
                             "several"))
        for name in ("age", "bins"):
            edges = getattr(d, name)
            if edges and list(edges) != sorted(edges):
                problems.append((f"{where}/{name}", "list the bin edges in ascending order"))
        if d.labels and len(d.labels) != len(d.edges) + 1:
            problems.append((f"{where}/labels", f"give {len(d.edges) + 1} labels: one more "
                             "than the edges (the last bin is above the last edge)"))
        if d.labels and not d.edges:
            problems.append((f"{where}/labels", "labels name bins: add 'age' or 'bins'"))
        if d.expr and options:
            problems.append((where, f"'{options[0]}' applies to a field; write the grouping "
                             "into the expression instead"))
    measures = {m.key: m for m in ds.measures}
    for i, m in enumerate(ds.measures):
        where = f"{base}/measures/{i}"
        if m.agg:
            if m.field and m.expr:
                problems.append((where, "give either 'field' or 'expr', not both"))
            if m.agg != "count" and not (m.field or m.expr):
                problems.append((where, f"'{m.agg}' needs a 'field' or an 'expr' to aggregate"))
        elif m.calc and (m.field or m.expr or m.where):
            problems.append((where, "a calculated measure takes only 'calc' (an expression "
                             "over other measures)"))
        if m.window:
            if not m.of or m.of not in measures or measures[m.of].window:
                problems.append((f"{where}/of", f"'{m.window}' needs 'of': the key of a "
                                 f"measure that is not itself a window{_known(measures)}"))
            if m.window in PERIOD_WINDOWS and not any(d.bucket for d in ds.dimensions):
                problems.append((where, f"'{m.window}' walks along calendar periods: add a "
                                 "dimension with a 'bucket' (e.g. month)"))
            if m.window == "moving_avg" and not m.periods:
                problems.append((f"{where}/periods", "moving_avg needs 'periods', e.g. 3"))
    keys = set(seen)
    for i, (key, _desc) in enumerate(ds.sort):
        if key not in keys:
            problems.append((f"{base}/sort/{i}", f"cannot sort by '{key}': not a dimension or "
                             f"measure of this dataset{_known(keys)}"))
    if ds.pivot:
        listed = list(ds.pivot.rows) + list(ds.pivot.columns)
        dims = [d.key for d in ds.dimensions]
        if sorted(listed) != sorted(dims):
            problems.append((f"{base}/pivot", f"rows and columns must list every dimension "
                             f"exactly once: {', '.join(dims)}"))
        if any(m.window for m in ds.measures):
            problems.append((f"{base}/pivot", "a pivot cannot hold window measures"))
    if ds.abc and (ds.abc.measure not in measures or not ds.dimensions):
        problems.append((f"{base}/abc/measure", "ABC classes the groups of the dimensions "
                         f"by one of the measures{_known(measures)}"))
    if ds.abc and len(ds.abc.classes) != len(ds.abc.thresholds) + 1:
        problems.append((f"{base}/abc/classes", "give one class more than thresholds"))
    if ds.forecast:
        buckets = [d for d in ds.dimensions if d.bucket]
        if ds.forecast.measure not in measures:
            problems.append((f"{base}/forecast/measure", f"forecast one of the measures"
                             f"{_known(measures)}"))
        if len(buckets) != 1:
            problems.append((f"{base}/forecast", "a forecast needs exactly one dimension with "
                             "a 'bucket' (the periods of the series)"))
    if ds.tree and (ds.dimensions or ds.measures):
        problems.append((f"{base}/tree", "a tree explosion has no dimensions or measures of "
                         "its own: it lists components with their quantities"))
    shapes = [name for name in ("pivot", "abc", "tree", "forecast") if getattr(ds, name)]
    if len(shapes) > 1:
        problems.append((base, f"use one of {', '.join(shapes)} in a dataset"))
    problems += _check_params(ds, parameters)
    return problems


def _check_params(ds: Dataset, parameters: dict) -> list[tuple[str, str]]:
    problems = []
    for i, flt in enumerate(ds.filters):
        if isinstance(flt, dict):
            for name, value in flt.items():
                if isinstance(value, dict) and value["param"] not in parameters:
                    problems.append((f"/dataset/filters/{i}/{name}", _undeclared(value["param"])))
    refs = []
    if ds.abc:
        refs += [t for t in ds.abc.thresholds if isinstance(t, dict)]
    if ds.tree:
        refs += [v for v in (ds.tree.root, ds.tree.quantity) if isinstance(v, dict)]
    for ref in refs:
        if ref["param"] not in parameters:
            problems.append(("/dataset", _undeclared(ref["param"])))
    return problems


def _undeclared(name: str) -> str:
    return (f"parameter '{name}' is not declared: add it under \"parameters\" with its type, "
            f"e.g. \"{name}\": {{\"type\": \"relation\", \"target\": \"...\"}}")


def _known(keys) -> str:
    keys = sorted(keys)
    return f" (this dataset has: {', '.join(keys)})" if keys else ""


WIDGET_KEYS = {"x": "dimension", "series": "dimension", "labels": "dimension",
               "value": "measure"}


def _check_widget(report: Report) -> list[tuple[str, str]]:
    widget, ds = report.widget, report.dataset
    if not widget:
        return []
    problems = []
    extra = _extra_columns(ds)
    dims = {d.key for d in ds.dimensions} | extra
    measures = {m.key for m in ds.measures} | extra
    for name, kind in WIDGET_KEYS.items():
        key = widget.get(name)
        if key is not None and key not in (dims if kind == "dimension" else measures):
            pool = dims if kind == "dimension" else measures
            problems.append((f"/widget/{name}", f"'{key}' is not a {kind} of the dataset"
                             f"{_known(pool)}"))
    for i, key in enumerate(widget.get("y", ())):
        if key not in measures:
            problems.append((f"/widget/y/{i}", f"'{key}' is not a measure of the dataset"
                             f"{_known(measures)}"))
    for i, key in enumerate(widget.get("columns", ())):
        if key not in dims | measures:
            problems.append((f"/widget/columns/{i}", f"'{key}' is not a column of the dataset"
                             f"{_known(dims | measures)}"))
    kind = widget["type"]
    if kind == "pivot" and not ds.pivot:
        problems.append(("/widget/type", "a pivot widget needs a dataset with 'pivot'"))
    if kind in ("metric", "gauge") and not widget.get("value"):
        problems.append(("/widget/value", f"a {kind} shows one measure: name it in 'value'"))
    if kind in ("pie", "donut") and not (widget.get("labels") and widget.get("value")):
        problems.append(("/widget", f"a {kind} needs 'labels' (a dimension) and 'value' "
                         "(a measure)"))
    if kind in ("bar", "stacked_bar", "line", "area") and not widget.get("x"):
        problems.append(("/widget/x", f"a {kind} chart needs 'x': the dimension along the axis"))
    if kind == "metric" and widget.get("compare") and ds.dimensions:
        problems.append(("/widget/compare", "a metric with a comparison aggregates the whole "
                         "dataset: remove its dimensions"))
    return problems


def _extra_columns(ds: Dataset) -> set[str]:
    """Columns an analysis adds to the dataset's own."""
    if ds.abc:
        return {"share", "cumulative_share", "class", "rank"}
    if ds.forecast:
        return {"fitted", "forecast"}
    if ds.tree:
        return {"item", "parent_item", "level", "qty", "path", *ds.tree.fields}
    return set()
