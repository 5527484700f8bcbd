"""Tree explosion: quantities multiplied down a self-referencing structure (a bill of
materials, a recipe, an organisation), with a recursive CTE.

The dataset's source holds the edges — one row per (parent item, child item, qty per
parent), e.g. the lines of a BOM form: ``parent: "parent.product"``, ``child:
"component"``, ``qty: "qty"`` — and its filters choose which edges count (the
released BOM versions, say). Starting at ``root`` with ``quantity`` pieces::

    WITH RECURSIVE explode(level, parent_item, item, qty, path) AS (
        SELECT 1, parent, child, qty * :quantity, '/root/child/' FROM edges WHERE parent = :root
        UNION ALL
        SELECT level + 1, e.parent, e.child, x.qty * e.qty, x.path || e.child || '/'
        FROM explode x JOIN edges e ON e.parent = x.item
        WHERE level < :max_depth AND path does not hold e.child already)

A shared sub-assembly is exploded once per place it is used, each with its own
quantity; ``summary: "items"`` adds them up per component, ``"leaves"`` keeps only
components that have no components of their own (what to buy). A cycle in the
structure stops at the repeated item instead of looping.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    Integer,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    not_,
    select,
    type_coerce,
)

from engines.reports.builder import Builder
from engines.reports.compiler import Plan
from engines.reports.dialects import ReportNumber
from engines.reports.paths import PathError
from engines.reports.result import Column, Result

LABELS = {
    "level": {"zh": "层级", "en": "Level"},
    "parent_item": {"zh": "上级", "en": "Parent"},
    "item": {"zh": "物料", "en": "Item"},
    "qty": {"zh": "用量", "en": "Quantity"},
    "path": {"zh": "路径", "en": "Path"},
}


def tree_plan(builder: Builder) -> Plan:
    sources = builder.sources
    spec = builder.ds.tree
    columns = {}
    for name in ("parent", "child", "qty"):
        try:
            columns[name] = builder.scope.resolve(getattr(spec, name))
        except PathError as error:
            builder.problems.append((f"/dataset/tree/{name}", str(error)))
    builder.check()
    edges = select(columns["parent"].column.label("parent_item"),
                   columns["child"].column.label("item"),
                   cast(columns["qty"].column, ReportNumber()).label("qty")) \
        .select_from(builder.scope.from_clause).where(*builder.where).cte("edges")
    root = _value(builder, spec.root, Integer())
    quantity = _value(builder, spec.quantity, ReportNumber())

    anchor = select(literal(1, Integer()).label("level"), edges.c.parent_item, edges.c.item,
                    cast(edges.c.qty * quantity, ReportNumber()).label("qty"),
                    _path(literal("/"), root, edges.c.item).label("path")) \
        .where(edges.c.parent_item == root)
    explode = anchor.cte("explode", recursive=True)
    x = explode.alias("x")
    step = select((x.c.level + 1).label("level"), edges.c.parent_item, edges.c.item,
                  cast(x.c.qty * edges.c.qty, ReportNumber()).label("qty"),
                  _path(x.c.path, edges.c.item).label("path")) \
        .select_from(x.join(edges, edges.c.parent_item == x.c.item)) \
        .where(x.c.level < spec.max_depth, not_(x.c.path.contains(_marker(edges.c.item))))
    explode = explode.union_all(step)

    item_form = columns["child"].field.target
    shown = _item_fields(builder, sources, item_form, spec.fields)
    from_clause, field_columns = explode, []
    if shown:
        alias, target, condition = shown
        on = alias.c[target.id] == explode.c.item
        if condition is not None:
            on = and_(on, condition)
        from_clause = explode.outerjoin(alias, on)
        field_columns = [alias.corresponding_column(target.fields[k].column).label(k)
                         for k in spec.fields]
    labels = [Column(k, _field_label(sources, item_form, k), "tree") for k in spec.fields]
    if spec.summary == "lines":
        statement = select(explode.c.level, explode.c.parent_item, explode.c.item,
                           *field_columns, type_coerce(explode.c.qty, ReportNumber())
                           .label("qty"), explode.c.path).order_by(explode.c.path)
        described = [_column(k) for k in ("level", "parent_item", "item")] + labels + [
            _column("qty"), _column("path")]
    else:
        statement = select(explode.c.item, *field_columns,
                           type_coerce(func.sum(explode.c.qty), ReportNumber()).label("qty")) \
            .group_by(explode.c.item, *[c.element for c in field_columns]) \
            .order_by(explode.c.item)
        described = [_column("item"), *labels, _column("qty")]
        if spec.summary == "leaves":
            statement = statement.where(~exists(select(1).where(
                edges.c.parent_item == explode.c.item)))
    statement = statement.select_from(from_clause)
    return Plan(statement, lambda rows: Result(described, [list(r) for r in rows]))


def _marker(item):
    return cast(literal("/"), Text).concat(cast(item, Text)).concat("/")


def _path(prefix, *items):
    path = prefix
    for item in items:
        path = path.concat(cast(item, Text)).concat("/")
    return path


def _value(builder, value, type_):
    if isinstance(value, dict):
        return cast(builder.param_bind(value["param"]), type_)
    return literal(Decimal(str(value)) if isinstance(type_, ReportNumber) else value, type_)


def _item_fields(builder, sources, form, keys):
    if not keys or not form:
        if keys:
            builder.problems.append(("/dataset/tree/fields", "the child is not a relation, so "
                                     "it has no fields to show"))
            builder.check()
        return None
    target = sources.table_for(form)
    missing = [k for k in keys if k not in target.fields]
    if missing:
        builder.problems.append(("/dataset/tree/fields", f"form '{form}' has no field "
                                 f"{', '.join(repr(k) for k in missing)}"))
        builder.check()
    alias = target.table.alias()
    return alias, target, sources.row_filter(target, alias)


def _column(key: str) -> Column:
    kind = {"level": "integer", "parent_item": "integer", "item": "integer",
            "qty": "number", "path": "text"}[key]
    return Column(key, LABELS[key], "tree", kind)


def _field_label(sources, form, key):
    field = sources.table_for(form).fields[key]
    return field.label or key
