"""Aggregate functions of SQL (COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX): per-batch partial
aggregates computed by Arrow's hash aggregation, merged into one accumulator per key in keyed state,
or kept as columns per window slice and merged by Arrow again."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from rayflink.sql.logical import AggCall


def _arrow_aggregates(calls: tuple[AggCall, ...]) -> list[tuple]:
    """The Arrow aggregations each call needs, over columns named ``a<i>`` (its argument)."""
    out = []
    for c in calls:
        col = f"a{c.arg}"
        if c.kind == "count_star":
            out.append(([], "count_all"))
        elif c.distinct:
            out.append((col, "distinct"))
        elif c.kind == "avg":
            out += [(col, "sum"), (col, "count")]
        else:
            out.append((col, c.kind))
    return out


def _group_by(batch: pa.RecordBatch, group: list[pa.Array], calls: tuple[AggCall, ...],
              aggregations: list[tuple]) -> tuple[pa.Table, list[list]]:
    """Group ``batch``'s rows by the ``group`` columns (``g<i>``; all in one group without any) and
    compute ``aggregations`` over the calls' arguments (``a<i>``): Arrow's result, and the group
    values per group column."""
    columns = {f"g{i}": g for i, g in enumerate(group)}
    for c in calls:
        if c.arg is not None:
            columns[f"a{c.arg}"] = batch.column(c.arg)
    if not group:
        columns["g"] = pa.repeat(pa.scalar(0, pa.int8()), batch.num_rows)
    keys = [f"g{i}" for i in range(len(group))] or ["g"]
    result = pa.table(columns).group_by(keys, use_threads=False).aggregate(aggregations)
    return result, [result.column(k).to_pylist() for k in keys] if group else []


def _sums_and_counts(result: pa.Table, col: str) -> list[tuple]:
    """(sum, count) per group of column ``col``."""
    return list(zip(result.column(f"{col}_sum").to_pylist(), result.column(f"{col}_count").to_pylist()))


def partial_aggregates(batch: pa.RecordBatch, group: list[pa.Array], calls: tuple[AggCall, ...],
                       ) -> tuple[list[list], list[list]]:
    """Group ``batch``'s rows by the ``group`` columns: (group values per group column, partial
    values per call), each a list with one entry per group."""
    result, groups = _group_by(batch, group, calls, _arrow_aggregates(calls))
    partials = []
    for c in calls:
        col = f"a{c.arg}"
        if c.kind == "count_star":
            partials.append(result.column("count_all").to_pylist())
        elif c.distinct:
            partials.append(result.column(f"{col}_distinct").to_pylist())
        elif c.kind == "avg":
            partials.append(_sums_and_counts(result, col))
        else:
            partials.append(result.column(f"{col}_{c.kind}").to_pylist())
    return groups, partials


def merge(calls: tuple[AggCall, ...], acc: list | None, partial: list) -> list:
    """``acc`` (None for a new key) with one group's partial aggregates added."""
    if acc is None:
        acc = [_empty(c) for c in calls]
    for i, (c, p) in enumerate(zip(calls, partial)):
        a = acc[i]
        if c.distinct:
            for v in p:
                a[v] = a.get(v, 0) + 1
        elif c.kind in ("count", "count_star"):
            acc[i] = a + p
        elif c.kind == "sum":
            if p is not None:
                acc[i] = p if a is None else a + p
        elif c.kind == "avg":
            if p[1]:
                acc[i] = (p[0] if a[0] is None else a[0] + p[0], a[1] + p[1])
        elif c.kind == "min":
            if p is not None and (a is None or p < a):
                acc[i] = p
        elif c.kind == "max":
            if p is not None and (a is None or p > a):
                acc[i] = p
    return acc


def merge_accumulators(calls: tuple[AggCall, ...], a: list, b: list) -> list:
    """One accumulator holding both ``a`` and ``b`` (session windows that grow into each other)."""
    out = []
    for c, x, y in zip(calls, a, b):
        if c.distinct:
            merged = dict(x)
            for v, n in y.items():
                merged[v] = merged.get(v, 0) + n
            out.append(merged)
        elif c.kind in ("count", "count_star"):
            out.append(x + y)
        elif c.kind == "avg":
            out.append((y[0] if x[0] is None else x[0] if y[0] is None else x[0] + y[0], x[1] + y[1]))
        elif x is None or y is None:
            out.append(y if x is None else x)
        elif c.kind == "sum":
            out.append(x + y)
        else:
            out.append(min(x, y) if c.kind == "min" else max(x, y))
    return out


def _empty(c: AggCall) -> Any:
    if c.distinct:
        return {}
    if c.kind in ("count", "count_star"):
        return 0
    if c.kind == "avg":
        return (None, 0)
    return None


def results(calls: tuple[AggCall, ...], acc: list) -> list:
    """The value of each aggregate for accumulator ``acc``."""
    out = []
    for c, a in zip(calls, acc):
        if c.distinct:
            values = list(a)
            if c.kind == "count":
                out.append(len(values))
            elif c.kind == "sum":
                out.append(sum(values) if values else None)
            elif c.kind == "avg":
                out.append(_avg(c, sum(values), len(values)) if values else None)
            else:
                out.append((min if c.kind == "min" else max)(values) if values else None)
        elif c.kind == "avg":
            out.append(None if a[1] == 0 else _avg(c, a[0], a[1]))
        else:
            out.append(a)
    return out


def _avg(c: AggCall, total: Any, count: int) -> Any:
    if pa.types.is_integer(c.type):
        return int(total / count)  # Flink: AVG of an integer type is of that type, truncated
    return total / count


# ---- slice accumulators: columns of partial aggregates, merged by Arrow's hash aggregation ----------

def _slice_layout(calls: tuple[AggCall, ...]) -> list[tuple[int | None, str, str]]:
    """Per accumulator column of a slice: (the call's argument, the Arrow aggregation computing it
    from rows, the one merging two of it; "distinct" lists are merged as sets)."""
    out: list[tuple[int | None, str, str]] = []
    for c in calls:
        if c.kind == "count_star":
            out.append((None, "count_all", "sum"))
        elif c.distinct:
            out.append((c.arg, "distinct", "distinct"))
        elif c.kind == "avg":
            out += [(c.arg, "sum", "sum"), (c.arg, "count", "sum")]
        elif c.kind == "count":
            out.append((c.arg, "count", "sum"))
        else:
            out.append((c.arg, c.kind, c.kind))
    return out


def slice_partials(batch: pa.RecordBatch, group: list[pa.Array], calls: tuple[AggCall, ...]) -> pa.Table:
    """``batch``'s rows grouped by the ``group`` columns (at least one): a table of the group
    columns (``k0``, ``k1``, ...) and the accumulator columns (``c0``, ...) of ``_slice_layout``."""
    columns = {f"k{i}": g for i, g in enumerate(group)}
    for c in calls:
        if c.arg is not None:
            columns[f"a{c.arg}"] = batch.column(c.arg)
    layout = _slice_layout(calls)
    result = pa.table(columns).group_by(list(columns)[:len(group)], use_threads=False).aggregate(
        [([] if arg is None else f"a{arg}", how) for arg, how, _ in layout])
    return result.rename_columns([*(f"k{i}" for i in range(len(group))), *(f"c{j}" for j in range(len(layout)))])


def merge_slices(tables: list[pa.Table], nkeys: int, calls: tuple[AggCall, ...]) -> pa.Table:
    """Tables of ``slice_partials`` (without their slice column: ``nkeys`` key columns) merged
    into one, one row per key, of the first table's schema."""
    schema = tables[0].schema
    table = pa.concat_tables(tables)
    layout = _slice_layout(calls)
    keys = [f"k{i}" for i in range(nkeys)]
    if not keys:  # one group: Arrow's hash aggregation wants a key
        table, keys = table.append_column("k", pa.repeat(pa.scalar(0, pa.int8()), table.num_rows)), ["k"]
    merges = [(f"c{j}", how) for j, (_, _, how) in enumerate(layout) if how != "distinct"]
    distinct = any(how == "distinct" for _, _, how in layout)
    if distinct:  # the rows of each group, whose lists of distinct values are joined below
        table = table.append_column("row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        merges.append(("row", "list"))
    result = table.group_by(keys, use_threads=False).aggregate(merges)
    merged = iter(result.columns[len(keys):])
    rows = result.column(len(result.columns) - 1).to_pylist() if distinct else []
    columns = list(result.columns[:nkeys])
    for j, (_, _, how) in enumerate(layout):
        field = schema.field(nkeys + j)
        if how == "distinct":
            values = table.column(f"c{j}").to_pylist()
            columns.append(pa.array([list(dict.fromkeys(v for i in r for v in values[i])) for r in rows], field.type))
        else:
            columns.append(next(merged).cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def slice_results(calls: tuple[AggCall, ...], table: pa.Table, nkeys: int, types: list[pa.DataType]) -> list:
    """The value of each aggregate (as an array of its type in ``types``) for each row of merged
    slice accumulators ``table`` (``nkeys`` key columns, then ``_slice_layout``'s columns)."""
    out = []
    column = nkeys
    for c, t in zip(calls, types):
        values = table.column(column)
        if c.distinct:
            out.append(pa.array([results((c,), [dict.fromkeys(v)])[0] for v in values.to_pylist()], t))
        elif c.kind == "avg":
            counts = table.column(column + 1).to_pylist()
            out.append(pa.array([results((c,), [(s, n)])[0] for s, n in zip(values.to_pylist(), counts)], t))
            column += 1
        else:
            out.append(values.cast(t))
        column += 1
    return out


def row_partial(calls: tuple[AggCall, ...], args: list, retracting: bool) -> list:
    """One row's partial aggregates (``args``: each call's argument value, None for COUNT(*)) in
    the form ``merge`` adds, or with ``retracting`` the form ``merge_retracting`` adds and takes out
    (OVER aggregations feed their frames row by row)."""
    out: list = []
    for c, v in zip(calls, args):
        if c.kind == "count_star":
            out.append(1)
        elif c.distinct or (retracting and c.kind in ("min", "max")):
            out.append([] if v is None else [v])
        elif c.kind == "count":
            out.append(0 if v is None else 1)
        elif c.kind == "avg" or (retracting and c.kind == "sum"):
            out.append((v, 0 if v is None else 1))
        else:
            out.append(v)
    return out


# ---- retracting accumulators: an aggregation over a changelog (-U/-D take rows back out) ------------

def retracting_partials(batch: pa.RecordBatch, group: list[pa.Array], calls: tuple[AggCall, ...],
                        ) -> tuple[list[list], list[int], list[list]]:
    """Like ``partial_aggregates``, for accumulators that can take rows out again: (group values,
    rows per group, per call: a count, a (sum, non-null count), or the list of values for MIN, MAX
    and DISTINCT, whose accumulators count each value)."""
    aggregations: list[tuple] = [((), "count_all")]
    for c in calls:
        if c.arg is None:
            continue
        col = f"a{c.arg}"
        if c.distinct or c.kind in ("min", "max"):
            aggregations.append((col, "list"))
        elif c.kind in ("sum", "avg"):
            aggregations += [(col, "sum"), (col, "count")]
        else:
            aggregations.append((col, "count"))
    unique = [([] if col == () else col, how) for col, how in dict.fromkeys(aggregations)]
    result, groups = _group_by(batch, group, calls, unique)
    partials = []
    for c in calls:
        col = f"a{c.arg}"
        if c.kind == "count_star":
            partials.append(result.column("count_all").to_pylist())
        elif c.distinct or c.kind in ("min", "max"):
            lists = result.column(f"{col}_list").to_pylist()
            partials.append([[v for v in values if v is not None] for values in lists])
        elif c.kind in ("sum", "avg"):
            partials.append(_sums_and_counts(result, col))
        else:
            partials.append(result.column(f"{col}_count").to_pylist())
    return groups, result.column("count_all").to_pylist(), partials


def merge_retracting(calls: tuple[AggCall, ...], acc: list | None, rows: int, partial: list, sign: int) -> list:
    """``acc`` ([row count, per call ...]) with one group's partials added (``sign`` 1) or taken out (-1)."""
    if acc is None:
        acc = [0] + [{} if c.distinct or c.kind in ("min", "max") else (0, 0) if c.kind in ("sum", "avg") else 0
                     for c in calls]
    acc[0] += sign * rows
    for i, p in enumerate(partial, start=1):
        a = acc[i]
        if isinstance(a, dict):
            for v in p:
                n = a.get(v, 0) + sign
                if n:
                    a[v] = n
                else:
                    del a[v]
        elif isinstance(a, tuple):
            total, count = p
            acc[i] = (a[0] + sign * (total or 0), a[1] + sign * count)
        else:
            acc[i] = a + sign * p
    return acc


def retracting_results(calls: tuple[AggCall, ...], acc: list) -> list:
    """The value of each aggregate for a retracting accumulator."""
    out = []
    for c, a in zip(calls, acc[1:]):
        if isinstance(a, dict):
            values = list(a)
            if not values:
                out.append(0 if c.kind == "count" else None)
            elif c.kind == "min":
                out.append(min(values))
            elif c.kind == "max":
                out.append(max(values))
            elif c.kind == "count":
                out.append(len(values))
            elif c.kind == "sum":
                out.append(sum(values))
            else:
                out.append(_avg(c, sum(values), len(values)))
        elif isinstance(a, tuple):
            total, count = a
            out.append(None if count == 0 else total if c.kind == "sum" else _avg(c, total, count))
        else:
            out.append(a)
    return out
