"""The physical plan: logical nodes onto the runtime's operators (a DataStream graph whose
records are Arrow record batches). Keyed nodes get a key-group partitioned edge and keyed state,
so SQL jobs checkpoint, restore and rescale as DataStream jobs do."""

from __future__ import annotations

from typing import Any

from rayflink.graph.transformations import OperatorSpec
from rayflink.operators.sql.keys import KeyColumns
from rayflink.operators.sql.scan import TableScanSource, sql_watermark_strategy
from rayflink.sql.binder import Binder
from rayflink.sql.dialect import parse_expression
from rayflink.sql.errors import SqlPlanningError
from rayflink.sql.logical import Aggregate, Calc, RelNode, Scan, Sink, WindowAggregate


def translate(node: RelNode, env: Any) -> Any:
    """The DataStream that computes ``node`` in ``env`` (a StreamExecutionEnvironment)."""
    if isinstance(node, Scan):
        return _scan(node, env)
    if isinstance(node, Calc):
        stream = translate(node.input, env)
        spec = OperatorSpec("sql_calc", {"projections": node.projections, "condition": node.condition,
                                         "schema": node.schema})
        return stream._one_input(node.explain()[:120], spec, None)
    if isinstance(node, (Aggregate, WindowAggregate)):
        stream = translate(node.input, env)
        keys = KeyColumns(node.keys)
        keyed = stream.key_by(keys)
        if isinstance(node, Aggregate):
            spec = OperatorSpec("sql_group_aggregate", {"keys": keys, "aggs": node.aggs, "schema": node.schema})
        else:
            spec = OperatorSpec("sql_window_aggregate", {"keys": keys, "aggs": node.aggs, "schema": node.schema,
                                                         "time": node.time, "window": node.window})
        return keyed._keyed(node.explain()[:120], spec, None)
    if isinstance(node, Sink):
        from rayflink.connectors.table import create_table_sink

        sink = create_table_sink(node.table)
        if node.input.updating and not sink.accepts_updates:
            raise SqlPlanningError(
                f"table sink {node.table.name!r} ('connector' = '{node.table.connector()}') only takes "
                f"inserts, but the query produces updates ({_updating_operator(node.input)}); write it to a "
                "sink that takes updates ('print', 'blackhole') or aggregate over a window instead")
        return sink.attach(translate(node.input, env))
    raise SqlPlanningError(f"no physical operator for {type(node).__name__}")


def _updating_operator(node: RelNode) -> str:
    for child in node.inputs:
        if child.updating:
            return _updating_operator(child)
    return node.explain()


def _scan(node: Scan, env: Any) -> Any:
    from rayflink.connectors.table import create_table_source

    table = node.table
    physical = table.physical_schema
    computed = tuple((c.name, Binder(physical, what=f"table {table.name!r}").bind(parse_expression(c.expr)))
                     for c in table.columns if c.expr is not None and c.name in node.fields)
    source = TableScanSource(create_table_source(table), computed, node.schema)
    wm_expr = None
    if node.rowtime is not None:
        wm_expr = Binder(node.schema, what=f"table {table.name!r}").bind(parse_expression(table.watermark.expr))
    return env.from_source(source, sql_watermark_strategy(wm_expr), f"TableSourceScan: {table.name}")
