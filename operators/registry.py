"""Maps an ``OperatorSpec`` kind to the physical operator class that runs it."""

from __future__ import annotations

from operators.cep import CepOperator
from operators.co import CoFlatMapOperator, CoMapOperator
from operators.join import IntervalJoinOperator
from operators.keyed import ReduceOperator
from operators.process import CoProcessOperator, ProcessOperator
from operators.queryable import QueryableStateSinkOperator
from operators.sinks import CollectSinkOperator, PrintSinkOperator, SinkFunctionOperator, SinkWriterOperator
from operators.source import SourceOperator
from operators.stateless import FilterOperator, FlatMapOperator, MapOperator
from operators.timestamps import TimestampsAndWatermarksOperator
from operators.window import WindowOperator
from rayflink.graph.transformations import OperatorSpec
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
}


def create_operator(spec: OperatorSpec, ctx: OperatorContext) -> StreamOperator:
    """Instantiate the physical operator for ``spec``."""
    try:
        cls = OPERATORS[spec.kind]
    except KeyError:
        raise ValueError(f"operator {ctx.name!r}: no physical operator for kind {spec.kind!r}") from None
    return cls(spec.params, ctx)
