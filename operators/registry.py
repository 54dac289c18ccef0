"""Maps an ``OperatorSpec`` kind to the physical operator class that runs it."""

from __future__ import annotations

from rayflink.graph.transformations import OperatorSpec
from rayflink.operators.cep import CepOperator
from rayflink.operators.co import CoFlatMapOperator, CoMapOperator
from rayflink.operators.join import IntervalJoinOperator
from rayflink.operators.keyed import ReduceOperator
from rayflink.operators.process import CoProcessOperator, ProcessOperator
from rayflink.operators.queryable import QueryableStateSinkOperator
from rayflink.operators.sinks import CollectSinkOperator, PrintSinkOperator, SinkFunctionOperator, SinkWriterOperator
from rayflink.operators.source import SourceOperator
from rayflink.operators.sql.bridge import BatchesToRowsOperator, RecordsToBatchOperator
from rayflink.operators.sql.calc import CalcOperator
from rayflink.operators.sql.group_aggregate import GroupAggregateOperator
from rayflink.operators.sql.join import JoinOperator
from rayflink.operators.sql.rank import RankOperator
from rayflink.operators.sql.rows import FormatRowsOperator
from rayflink.operators.sql.session_window import SessionWindowAggregateOperator
from rayflink.operators.sql.window_aggregate import WindowAggregateOperator
from rayflink.operators.sql.window_assign import WindowAssignOperator
from rayflink.operators.stateless import FilterOperator, FlatMapOperator, MapOperator
from rayflink.operators.timestamps import TimestampsAndWatermarksOperator
from rayflink.operators.window import WindowOperator
from rayflink.runtime.operator import OperatorContext, StreamOperator

OPERATORS: dict[str, type[StreamOperator]] = {
    "source": SourceOperator,
    "map": MapOperator,
    "filter": FilterOperator,
    "flat_map": FlatMapOperator,
    "process": ProcessOperator,
    "keyed_process": ProcessOperator,
    "reduce": ReduceOperator,
    "aggregation": ReduceOperator,
    "co_map": CoMapOperator,
    "co_flat_map": CoFlatMapOperator,
    "co_process": CoProcessOperator,
    "print": PrintSinkOperator,
    "sink_function": SinkFunctionOperator,
    "sink": SinkWriterOperator,
    "collect": CollectSinkOperator,
    "timestamps_watermarks": TimestampsAndWatermarksOperator,
    "window": WindowOperator,
    "interval_join": IntervalJoinOperator,
    "cep": CepOperator,
    "queryable_state": QueryableStateSinkOperator,
    "sql_calc": CalcOperator,
    "sql_group_aggregate": GroupAggregateOperator,
    "sql_window_aggregate": WindowAggregateOperator,
    "sql_session_window_aggregate": SessionWindowAggregateOperator,
    "sql_format_rows": FormatRowsOperator,
    "sql_records_to_batch": RecordsToBatchOperator,
    "sql_batches_to_rows": BatchesToRowsOperator,
    "sql_join": JoinOperator,
    "sql_rank": RankOperator,
    "sql_window_assign": WindowAssignOperator,
}


def create_operator(spec: OperatorSpec, ctx: OperatorContext) -> StreamOperator:
    """Instantiate the physical operator for ``spec``."""
    try:
        cls = OPERATORS[spec.kind]
    except KeyError:
        raise ValueError(f"operator {ctx.name!r}: no physical operator for kind {spec.kind!r}") from None
    return cls(spec.params, ctx)
