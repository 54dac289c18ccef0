"""The physical plan: logical nodes onto the runtime's operators (a DataStream graph whose
records are Arrow record batches). Keyed nodes get a key-group partitioned edge and keyed state,
so SQL jobs checkpoint, restore and rescale as DataStream jobs do."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from rayflink.graph.transformations import (
    OperatorKind,
    OperatorSpec,
    SqlCalcParams,
    SqlGroupAggregateParams,
    SqlIntervalJoinParams,
    SqlJoinParams,
    SqlKeyedParams,
    SqlLookupJoinParams,
    SqlOverAggregateParams,
    SqlRankParams,
    SqlRowsParams,
    SqlSchemaParams,
    SqlTemporalJoinParams,
    SqlWindowAggregateParams,
    SqlWindowAssignParams,
)
from rayflink.operators.sql.keys import KeyColumns
from rayflink.operators.sql.scan import ROWS_PER_BATCH, TableScanSource, sql_watermark_strategy
from rayflink.sql.binder import Binder
from rayflink.sql.dialect import parse_expression
from rayflink.sql.errors import SqlPlanningError
from rayflink.sql.logical import (
    Aggregate,
    Calc,
    ChangelogNormalize,
    DataStreamScan,
    IntervalJoin,
    Join,
    LookupJoin,
    MatchRecognize,
    OverAggregate,
    Rank,
    RelNode,
    Scan,
    Sink,
    TemporalJoin,
    Union,
    Values,
    WindowAggregate,
    WindowTableFunction,
    explain_tree,
    pruned_row,
)
from rayflink.sql.optimizer import field_uses


def translate(nodes: list[RelNode], env: Any) -> list[Any]:
    """The DataStreams that compute ``nodes`` in ``env`` (a StreamExecutionEnvironment).

    Each operator's uid is a hash of the plan below it (numbered when a statement set repeats a
    subplan), so the same query keeps its savepoint state across submissions."""
    uids: dict[str, int] = {}
    return [_with_uid(_translate(node, env, uids), node, uids) for node in nodes]


def _with_uid(stream: Any, node: RelNode, uids: dict[str, int]) -> Any:
    digest = hashlib.sha1(explain_tree(node).encode()).hexdigest()[:16]
    uids[digest] = uids.get(digest, -1) + 1
    return stream.uid(f"sql-{digest}" + (f"-{uids[digest]}" if uids[digest] else ""))


def _translate(node: RelNode, env: Any, uids: dict[str, int]) -> Any:
    def child(n: RelNode) -> Any:
        return _with_uid(_translate(n, env, uids), n, uids)

    if isinstance(node, Scan):
        return _scan(node, env)
    if isinstance(node, Values):
        stream = env.from_collection(node.rows.to_batches(max_chunksize=ROWS_PER_BATCH) or
                                     [pa.RecordBatch.from_pylist([], schema=node.schema)])
        return stream.name(node.explain()[:120])
    if isinstance(node, DataStreamScan):
        spec = OperatorSpec(OperatorKind.SQL_RECORDS_TO_BATCH, SqlSchemaParams(node.schema))
        return node.stream._one_input("DataStreamScan", spec, None)
    if isinstance(node, Union):
        first, *rest = [child(i) for i in node.inputs]
        return first.union(*rest)
    if isinstance(node, Calc):
        stream = child(node.input)
        spec = OperatorSpec(OperatorKind.SQL_CALC, SqlCalcParams(node.projections, node.condition, node.schema))
        return stream._one_input(node.explain()[:120], spec, None)
    if isinstance(node, (Aggregate, WindowAggregate)):
        stream = child(node.input)
        keys = KeyColumns(node.keys)
        keyed = stream.key_by(keys)
        if isinstance(node, Aggregate):
            spec = OperatorSpec(OperatorKind.SQL_GROUP_AGGREGATE,
                                SqlGroupAggregateParams(keys, node.aggs, node.schema, retract=node.input.updating))
        else:
            kind = (OperatorKind.SQL_SESSION_WINDOW_AGGREGATE if node.window.kind == "SESSION"
                    else OperatorKind.SQL_WINDOW_AGGREGATE)
            spec = OperatorSpec(kind, SqlWindowAggregateParams(keys, node.aggs, node.schema, node.time, node.window))
        return keyed._keyed(node.explain()[:120], spec, None)
    if isinstance(node, ChangelogNormalize):
        keys = KeyColumns(node.keys)
        spec = OperatorSpec(OperatorKind.SQL_CHANGELOG_NORMALIZE, SqlKeyedParams(keys, node.schema))
        return child(node.input).key_by(keys)._keyed(node.explain()[:120], spec, None)
    if isinstance(node, Rank):
        keys = KeyColumns(node.partition)
        spec = OperatorSpec(OperatorKind.SQL_RANK, SqlRankParams(keys, node.order, node.limit, node.schema))
        return child(node.input).key_by(keys)._keyed(node.explain()[:120], spec, None)
    if isinstance(node, OverAggregate):
        keys = KeyColumns(node.partition)
        spec = OperatorSpec(OperatorKind.SQL_OVER_AGGREGATE, SqlOverAggregateParams(keys, node.time, node.frame,
                                                                                    node.aggs, node.schema))
        return child(node.input).key_by(keys)._keyed(node.explain()[:120], spec, None)
    if isinstance(node, WindowTableFunction):
        spec = OperatorSpec(OperatorKind.SQL_WINDOW_ASSIGN, SqlWindowAssignParams(node.time, node.window, node.schema))
        return child(node.input)._one_input(node.explain()[:120], spec, None)
    if isinstance(node, Join):
        keys = (KeyColumns(node.left_keys), KeyColumns(node.right_keys))
        connected = child(node.left).connect(child(node.right)).key_by(*keys)
        spec = OperatorSpec(OperatorKind.SQL_JOIN, SqlJoinParams(keys, node.kind, node.condition, node.schema,
                                                                  node.updating))
        return connected._two_input(node.explain()[:120], spec, None)
    if isinstance(node, IntervalJoin):
        keys = (KeyColumns(node.left_keys), KeyColumns(node.right_keys))
        connected = child(node.left).connect(child(node.right)).key_by(*keys)
        spec = OperatorSpec(OperatorKind.SQL_INTERVAL_JOIN, SqlIntervalJoinParams(
            keys, node.kind, node.condition, node.left_time, node.right_time, node.lower, node.upper, node.schema))
        return connected._two_input(node.explain()[:120], spec, None)
    if isinstance(node, TemporalJoin):
        keys = (KeyColumns(node.left_keys), KeyColumns(node.right_keys))
        connected = child(node.left).connect(child(node.right)).key_by(*keys)
        spec = OperatorSpec(OperatorKind.SQL_TEMPORAL_JOIN, SqlTemporalJoinParams(
            keys, node.kind, node.left_time, node.right_time, len(node.left.schema), node.schema))
        return connected._two_input(node.explain()[:120], spec, None)
    if isinstance(node, MatchRecognize):
        return _match_recognize(node, child(node.input))
    if isinstance(node, LookupJoin):
        from rayflink.connectors.table import create_table_lookup

        right = node.table.physical_schema.names
        lookup = create_table_lookup(node.table, [right[k] for k in node.right_keys])
        spec = OperatorSpec(OperatorKind.SQL_LOOKUP_JOIN, SqlLookupJoinParams(lookup, node.left_keys, node.kind,
                                                                              node.schema))
        return child(node.input)._one_input(node.explain()[:120], spec, None)
    if isinstance(node, Sink):
        from rayflink.connectors.table import create_table_sink

        sink = create_table_sink(node.table)
        if node.input.updating and not sink.accepts_updates:
            raise SqlPlanningError(
                f"table sink {node.table.name!r} ('connector' = '{node.table.connector()}') only takes "
                f"inserts, but the query produces updates ({_updating_operator(node.input)}); {sink.updates_hint}")
        return sink.attach(child(node.input))
    raise SqlPlanningError(f"no physical operator for {type(node).__name__}")


def _match_recognize(node: MatchRecognize, stream: Any) -> Any:
    """Rows stamped with their event time, keyed by partition, through the CEP operator, back to batches."""
    from rayflink.cep import CEP
    from rayflink.sql.match_recognize import MatchMeasures, PartitionKey, compile_pattern

    rows = stream._one_input("To Rows", OperatorSpec(OperatorKind.SQL_BATCHES_TO_ROWS, SqlRowsParams(node.time)),
                             None)
    matches = CEP.pattern(rows.key_by(PartitionKey(node.partition)), compile_pattern(node)).process(
        MatchMeasures(node.partition, node.measures, tuple(v.name for v in node.pattern)))
    spec = OperatorSpec(OperatorKind.SQL_RECORDS_TO_BATCH, SqlSchemaParams(node.schema))
    return matches._one_input(node.explain()[:120], spec, None)


def _updating_operator(node: RelNode) -> str:
    for child in node.inputs:
        if child.updating:
            return _updating_operator(child)
    return node.explain()


def read_schema(node: Scan) -> pa.Schema:
    """The physical columns ``node`` reads: those it keeps and those its computed columns use; of a
    ROW column used only through its fields (``person.id``), only those fields (a JSON or Parquet
    source converts no more than that: projection push-down into the format)."""
    table = node.table
    physical = table.physical_schema
    binder = Binder(physical, what=f"table {table.name!r}")
    whole, parts = field_uses([binder.bind(parse_expression(c.expr)) for c in table.columns
                               if c.expr is not None and c.name in node.fields])
    kept = dict(node.subfields)  # kept fields the query reads only through their ROW fields
    whole_names = {physical.names[i] for i in whole} | {n for n in node.fields if n in physical.names and n not in kept}
    fields = {n: set(names) for n, names in kept.items() if n in physical.names}
    for i, names in parts.items():
        fields.setdefault(physical.names[i], set()).update(names)
    return pa.schema([pruned_row(f, None if f.name in whole_names else fields[f.name]) for f in physical
                      if f.name in whole_names or f.name in fields])


def _scan(node: Scan, env: Any) -> Any:
    from rayflink.connectors.table import create_table_source

    table = node.table
    metadata = [c for c in table.columns if c.metadata is not None and c.name in node.fields]
    if metadata:
        raise SqlPlanningError(f"table {table.name!r}: connector {table.connector()!r} provides no metadata "
                               f"{metadata[0].metadata!r} (column {metadata[0].name!r}); metadata columns come "
                               "with the Kafka connector")
    read = read_schema(node)
    computed = tuple((c.name, Binder(read, what=f"table {table.name!r}").bind(parse_expression(c.expr)))
                     for c in table.columns if c.expr is not None and c.name in node.fields)
    source = TableScanSource(create_table_source(table, read), read, computed, node.schema)
    wm_expr = None
    if node.rowtime is not None:
        wm_expr = Binder(node.schema, what=f"table {table.name!r}").bind(parse_expression(table.watermark.expr))
    return env.from_source(source, sql_watermark_strategy(wm_expr), f"TableSourceScan: {table.name}")
