"""Pivot tables: row dimensions x column dimensions, with subtotals, in one query.

The finest groups (every row and column dimension) are aggregated once into ``g``;
each subtotal level re-aggregates ``g`` (sums of sums, counts of counts, averages from
their sums and counts), and the levels are stacked with UNION ALL, each tagged with
how many row dimensions it keeps (``_r``) and whether it keeps the column dimensions
(``_c``). A count of distinct values cannot be re-aggregated: with one, every level
is grouped from the source rows instead. Python only lays the grouped rows out.
"""

from __future__ import annotations

from sqlalchemy import literal, null, select, union_all

from engines.forms.definition import label_text
from engines.reports.compiler import Layer, Plan, measure_columns
from engines.reports.result import Column, Result
from engines.reports.sqlexpr import Name

TOTAL = {"zh": "合计", "en": "Total"}


def pivot_plan(builder) -> Plan:
    ds = builder.ds
    dims = {d.key: d for d in builder.dims}
    rows = [dims[k] for k in ds.pivot.rows if k in dims]
    cols = [dims[k] for k in ds.pivot.columns if k in dims]
    distinct = any(a.agg == "count_distinct" for a in builder.aggregates)
    g = builder.grouped(rows + cols, parts=True).cte("g")
    levels = [(len(rows), True)]
    if ds.pivot.subtotals:
        levels = [(j, keep) for j in range(len(rows), -1, -1)
                  for keep in ((True, False) if cols else (True,))]
    selects = [_level(builder, g, rows, cols, j, keep, distinct) for j, keep in levels]
    statement = union_all(*selects) if len(selects) > 1 else selects[0]
    return Plan(statement, lambda result_rows: lay_out(builder, rows, cols, result_rows))


def _level(builder, g, rows, cols, kept_rows: int, keep_cols: bool, distinct: bool):
    kept = rows[:kept_rows] + (cols if keep_cols else [])
    finest = kept_rows == len(rows) and keep_cols
    if distinct and not finest:
        inner = builder.grouped(kept).subquery()
        source, group = inner, []
        values = {a.key: Name(inner.c[a.key], a.result_type) for a in builder.aggregates}
    elif finest:
        source, values, group = g, measure_columns(builder, g), []
    else:
        source = g
        values = {a.key: Name(a.reaggregate(g), a.result_type) for a in builder.aggregates}
        group = [g.c[d.key] for d in kept]
    layer = Layer(builder, g, values)
    out = [literal(kept_rows).label("_r"), literal(1 if keep_cols else 0).label("_c")]
    for d in rows + cols:
        out.append((source.c[d.key] if d in kept else null()).label(d.key))
    for m in builder.ds.measures:
        expr = values[m.key].column if m.agg else layer.measure(m.key).column
        out.append(expr.label(m.key))
    statement = select(*out).select_from(source)
    return statement.group_by(*group) if group else statement


def _sort_key(values):
    return tuple((v is None, v if v is not None else 0) for v in values)


def lay_out(builder, rows, cols, result_rows) -> Result:
    """Rows of every level -> one table: a row per row key (subtotals after their
    group), a column per column key and measure, then the total column."""
    ds = builder.ds
    measures = list(ds.measures)
    nr, nc = len(rows), len(cols)
    cells = {}
    for r in result_rows:
        kept_rows, keep_cols = r[0], r[1]
        row_key = tuple(r[2:2 + nr])[:kept_rows]
        col_key = tuple(r[2 + nr:2 + nr + nc]) if keep_cols else None
        cells[(kept_rows, row_key, col_key)] = r[2 + nr + nc:]
    column_keys = sorted({k[2] for k in cells if k[2] is not None}, key=_sort_key) if nc else []
    with_totals = ds.pivot.subtotals and nc > 0
    labels = [d.labels for d in rows + cols]

    def shown(values, offset):
        return tuple(labels[offset + i][v] if labels[offset + i] and v is not None else v
                     for i, v in enumerate(values))

    columns = [Column(d.key, d.dim.label, "dimension", d.type) for d in rows]
    for i, ck in enumerate(column_keys):
        name = " / ".join("" if v is None else str(v) for v in shown(ck, nr))
        for m in measures:
            label = name if len(measures) == 1 else f"{name} · {label_text(m.label)}"
            columns.append(Column(f"c{i}_{m.key}", label, "measure", "number", m.decimals,
                                  m.percent))
    if with_totals or nc == 0:
        for m in measures:
            label = TOTAL if (len(measures) == 1 and nc) else (
                m.label if nc == 0 else f"{label_text(TOTAL)} · {label_text(m.label)}")
            columns.append(Column(f"total_{m.key}", label, "measure", "number", m.decimals,
                                  m.percent))

    def line(kept_rows, row_key):
        values = []
        for ck in column_keys:
            cell = cells.get((kept_rows, row_key, ck))
            values += list(cell) if cell else [None] * len(measures)
        if with_totals or nc == 0:
            total = cells.get((kept_rows, row_key, None)) if nc else cells.get(
                (kept_rows, row_key, ()))
            values += list(total) if total else [None] * len(measures)
        padded = row_key + (None,) * (nr - len(row_key))
        return list(shown(padded, 0)) + values

    out_rows, levels = [], []
    finest = sorted({k[1] for k in cells if k[0] == nr}, key=_sort_key)
    for index, row_key in enumerate(finest):
        out_rows.append(line(nr, row_key))
        levels.append(nr)
        if not ds.pivot.subtotals:
            continue
        # After the last row of a group, its subtotal rows, innermost first.
        nxt = finest[index + 1] if index + 1 < len(finest) else None
        for j in range(nr - 1, 0, -1):
            if nxt is None or nxt[:j] != row_key[:j]:
                out_rows.append(line(j, row_key[:j]))
                levels.append(j)
    totals = line(0, ()) if ds.pivot.subtotals else None
    extra = {"pivot": {"rows": [d.key for d in rows], "columns": [d.key for d in cols],
                       "column_keys": [list(shown(ck, nr)) for ck in column_keys],
                       "measures": [m.key for m in measures], "row_levels": levels}}
    return Result(columns, out_rows, totals, extra)
