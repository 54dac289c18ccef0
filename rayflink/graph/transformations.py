"""The logical plan: what the user asked for, recorded by the DataStream API."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from rayflink.common.typeinfo import TypeInformation
from rayflink.common.types import NameEnum


class Partitioner(NameEnum):
    """How records travel from an operator's subtasks to the next operator's (Flink's names)."""

    FORWARD = "FORWARD"  # subtask i -> subtask i (equal parallelism); chained when possible
    REBALANCE = "REBALANCE"  # round robin over every downstream subtask
    RESCALE = "RESCALE"  # round robin over a local group of downstream subtasks
    SHUFFLE = "SHUFFLE"  # uniformly at random
    BROADCAST = "BROADCAST"  # every record to every downstream subtask
    HASH = "HASH"  # key_by: by key group
    GLOBAL = "GLOBAL"  # everything to subtask 0
    CUSTOM = "CUSTOM"  # partition_custom: the edge's key_selector is (record, n_channels) -> channel


class ChainingStrategy(NameEnum):
    """Whether an operator may be chained to its neighbours (Flink's ``ChainingStrategy``)."""

    ALWAYS = "ALWAYS"
    HEAD = "HEAD"  # start_new_chain(): do not chain to the predecessor
    NEVER = "NEVER"  # disable_chaining(): chain to nothing


class OperatorKind(NameEnum):
    """The physical operators a plan can ask for; operator packages register a class per kind
    (``rayflink.runtime.registry``)."""

    SOURCE = "source"
    MAP = "map"
    FILTER = "filter"
    FLAT_MAP = "flat_map"
    PROCESS = "process"
    KEYED_PROCESS = "keyed_process"
    REDUCE = "reduce"
    AGGREGATION = "aggregation"
    CO_MAP = "co_map"
    CO_FLAT_MAP = "co_flat_map"
    CO_PROCESS = "co_process"
    BROADCAST_PROCESS = "broadcast_process"
    ASYNC_WAIT = "async_wait"
    PRINT = "print"
    SINK_FUNCTION = "sink_function"
    SINK = "sink"
    COLLECT = "collect"
    TIMESTAMPS_WATERMARKS = "timestamps_watermarks"
    WINDOW = "window"
    INTERVAL_JOIN = "interval_join"
    CEP = "cep"
    QUERYABLE_STATE = "queryable_state"
    # SQL / Table API: records are Arrow record batches (rayflink.operators.sql)
    SQL_CALC = "sql_calc"
    SQL_GROUP_AGGREGATE = "sql_group_aggregate"
    SQL_WINDOW_AGGREGATE = "sql_window_aggregate"
    SQL_SESSION_WINDOW_AGGREGATE = "sql_session_window_aggregate"
    SQL_FORMAT_ROWS = "sql_format_rows"
    SQL_RECORDS_TO_BATCH = "sql_records_to_batch"
    SQL_BATCHES_TO_ROWS = "sql_batches_to_rows"
    SQL_JOIN = "sql_join"
    SQL_INTERVAL_JOIN = "sql_interval_join"
    SQL_TEMPORAL_JOIN = "sql_temporal_join"
    SQL_LOOKUP_JOIN = "sql_lookup_join"
    SQL_CHANGELOG_NORMALIZE = "sql_changelog_normalize"
    SQL_RANK = "sql_rank"
    SQL_OVER_AGGREGATE = "sql_over_aggregate"
    SQL_WINDOW_ASSIGN = "sql_window_assign"


# ---- the parameters of each operator kind ----------------------------------------------------


@dataclass(frozen=True)
class BroadcastProcessParams:
    """broadcast_process: the (Keyed)BroadcastProcessFunction and the broadcast states'
    descriptors (``MapStateDescriptor``), which name the states both inputs see."""

    function: Any
    descriptors: tuple[Any, ...]


@dataclass(frozen=True)
class AsyncFunctionDescriptor:
    """async_wait (PyFlink's ``AsyncFunctionDescriptor``, re-exported at
    ``rayflink.datastream.functions``): the AsyncFunction, its timeout over all attempts (a
    ``Time``/``Duration`` or milliseconds), the most requests in flight, the retry strategy,
    and whether results keep the input's order (``output_mode``)."""

    class OutputMode(Enum):
        """ORDERED: results in the input's order; UNORDERED: as they complete (never across a
        watermark)."""

        ORDERED = 0
        UNORDERED = 1

    async_function: Any
    timeout: Any
    capacity: int
    async_retry_strategy: Any
    output_mode: AsyncFunctionDescriptor.OutputMode

    @property
    def timeout_ms(self) -> int:
        from rayflink.common.config_options import parse_duration_ms

        return parse_duration_ms(self.timeout)

    @property
    def ordered(self) -> bool:
        return self.output_mode is AsyncFunctionDescriptor.OutputMode.ORDERED


@dataclass(frozen=True)
class FunctionParams:
    """map, filter, flat_map, (keyed/co) process, co_map, co_flat_map, reduce, sink_function:
    the user function (a lambda or a function class)."""

    function: Any


class AccumulateType(Enum):
    """The built-in rolling aggregations of a keyed stream or a window (PyFlink's
    ``KeyedStream.AccumulateType``): MIN/MAX change the field only, MIN_BY/MAX_BY keep the
    whole record with the least/greatest field, SUM adds the field up."""

    MIN = 1
    MAX = 2
    MIN_BY = 3
    MAX_BY = 4
    SUM = 5


@dataclass(frozen=True)
class AggregationParams:
    """An ``AccumulateType`` over ``field`` (a tuple position or a Row field name)."""

    aggregation: AccumulateType
    field: int | str


@dataclass(frozen=True)
class PrintParams:
    """print(): lines ``identifier:subtask> record``, records printed as their declared type prints them."""

    identifier: str | None = None
    type_info: Any = None  # the stream's TypeInformation, or None


@dataclass(frozen=True)
class SinkParams:
    """sink_to(): a connector ``Sink``."""

    sink: Any


@dataclass(frozen=True)
class CollectParams:
    """execute_and_collect(): the collect sink (no parameters)."""


@dataclass(frozen=True)
class WatermarkParams:
    """A source, or assign_timestamps_and_watermarks(): the ``WatermarkStrategy`` (None: none)."""

    watermark_strategy: Any = None


@dataclass(frozen=True)
class WindowParams:
    """window(assigner)[.trigger][.evictor][.allowed_lateness][.side_output_late_data].<function>.

    ``incremental``: None | ("reduce", fn) | ("aggregate", AggregateFunction) |
    ("sum"|"min"|"max", field); ``style``: "process" | "apply" | "process_all" | "apply_all" | None.
    """

    assigner: Any
    trigger: Any = None  # None: the assigner's default trigger
    evictor: Any = None
    allowed_lateness: int = 0  # ms
    late_tag: Any = None
    incremental: tuple | None = None
    function: Any = None
    style: str | None = None


@dataclass(frozen=True)
class IntervalJoinParams:
    """interval_join(...).between(lower, upper).process(fn): inclusive bounds in ms."""

    function: Any
    lower: int
    upper: int
    left_late_tag: Any = None
    right_late_tag: Any = None


@dataclass(frozen=True)
class CepParams:
    """CEP.pattern(keyed_stream, pattern).select/flat_select/process(...)."""

    pattern: Any
    function: Any  # a PatternProcessFunction or a select adapter
    processing_time: bool = False
    late_tag: Any = None
    comparator: Any = None


@dataclass(frozen=True)
class QueryableStateParams:
    """as_queryable_state(): the state descriptor, already marked queryable."""

    descriptor: Any


# ---- SQL / Table API (rayflink.sql.translate); records are Arrow record batches ------------------


@dataclass(frozen=True)
class SqlCalcParams:
    """A projection and filter: ``projections`` (bound Exprs), ``condition`` (Expr or None), the output ``schema``."""

    projections: tuple
    condition: Any
    schema: Any  # pa.Schema


@dataclass(frozen=True)
class SqlGroupAggregateParams:
    """GROUP BY: ``keys`` (KeyColumns of the input), ``aggs`` (AggCalls), ``schema`` (keys then aggregates);
    ``retract``: the input is an updating changelog."""

    keys: Any
    aggs: tuple
    schema: Any
    retract: bool = False


@dataclass(frozen=True)
class SqlWindowAggregateParams:
    """A window TVF aggregate (TUMBLE/HOP/CUMULATE, or SESSION with ``window.size_ms`` the gap):
    ``keys``, ``aggs``, ``schema``, ``time`` (the time attribute's field index), ``window`` (WindowSpec)."""

    keys: Any
    aggs: tuple
    schema: Any
    time: int
    window: Any


@dataclass(frozen=True)
class SqlKeyedParams:
    """A keyed SQL operator that needs only its ``keys`` (KeyColumns) and ``schema`` (changelog normalize)."""

    keys: Any
    schema: Any


@dataclass(frozen=True)
class SqlRankParams:
    """Top-N: ``keys`` (KeyColumns), ``order`` ((field, descending, nulls first), ...), ``limit``, ``schema``."""

    keys: Any
    order: tuple
    limit: int
    schema: Any


@dataclass(frozen=True)
class SqlOverAggregateParams:
    """An OVER aggregation: ``keys`` (KeyColumns of the PARTITION BY), ``time`` (the event-time
    field), ``frame`` (OverFrame), ``aggs`` (AggCalls), ``schema`` (the input's fields, then the aggregates)."""

    keys: Any
    time: int
    frame: Any
    aggs: tuple
    schema: Any


@dataclass(frozen=True)
class SqlWindowAssignParams:
    """A window table function: ``time`` (field index), ``window`` (WindowSpec), ``schema`` (input fields +
    window_start, window_end, window_time)."""

    time: int
    window: Any
    schema: Any


@dataclass(frozen=True)
class SqlIntervalJoinParams:
    """An interval join: ``keys`` (KeyColumns of the left and right input), ``kind`` (INNER | LEFT |
    RIGHT | FULL), ``condition`` (Expr: the ON's non-equi part, time bounds included),
    ``left_time`` and ``right_time`` (the inputs' event-time field indices), ``lower`` and
    ``upper`` (ms: left time - right time lies in [lower, upper]), ``schema``."""

    keys: tuple
    kind: str
    condition: Any
    left_time: int
    right_time: int
    lower: int
    upper: int
    schema: Any


@dataclass(frozen=True)
class SqlJoinParams:
    """A regular join: ``keys`` (KeyColumns of the left and right input), ``kind`` (INNER | LEFT |
    RIGHT | FULL), ``condition`` (Expr or None), ``schema``, ``changelog`` (the output is updating)."""

    keys: tuple
    kind: str
    condition: Any
    schema: Any
    changelog: bool


@dataclass(frozen=True)
class SqlTemporalJoinParams:
    """An event-time temporal join: ``keys`` (KeyColumns of the left and right input), ``kind``
    (INNER | LEFT), the time field of each side (``left_time``, ``right_time``), ``schema`` (the
    left input's ``left_width`` fields, then the right's)."""

    keys: tuple
    kind: str
    left_time: int
    right_time: int
    left_width: int
    schema: Any


@dataclass(frozen=True)
class SqlLookupJoinParams:
    """A lookup join: ``lookup`` (the dimension table's lookup source), the left fields
    ``left_keys`` matched to its key columns, ``kind`` (INNER | LEFT), ``schema`` (left's fields,
    then the dimension table's)."""

    lookup: Any
    left_keys: tuple[int, ...]
    kind: str
    schema: Any


@dataclass(frozen=True)
class SqlFormatRowsParams:
    """Batches in, one record per row out: ``format`` (print, csv, json, debezium-json: a string;
    upsert-json: a (key, value or None) pair of the ``key`` fields), the csv ``delimiter``."""

    format: str
    delimiter: str = ","
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class SqlSchemaParams:
    """A DataStream of records (Rows, tuples, lists or dicts) into Arrow batches of ``schema``."""

    schema: Any


@dataclass(frozen=True)
class SqlRowsParams:
    """sql_batches_to_rows: ``rowtime``, the field whose value becomes each row's record timestamp
    (the table's event-time attribute), or None."""

    rowtime: int | None = None


OperatorParams = Union[  # noqa: UP007 - a runtime alias (isinstance), not an annotation
    FunctionParams, BroadcastProcessParams, AsyncFunctionDescriptor, AggregationParams, PrintParams,
                       SinkParams, CollectParams, WatermarkParams, WindowParams, IntervalJoinParams, CepParams,
                       QueryableStateParams, SqlCalcParams,
                       SqlGroupAggregateParams, SqlWindowAggregateParams, SqlRankParams, SqlOverAggregateParams,
                       SqlWindowAssignParams,
                       SqlJoinParams, SqlTemporalJoinParams, SqlLookupJoinParams, SqlKeyedParams, SqlFormatRowsParams,
                       SqlSchemaParams, SqlRowsParams]

PARAMS_OF: dict[OperatorKind, type] = {
    OperatorKind.SOURCE: WatermarkParams,
    OperatorKind.MAP: FunctionParams,
    OperatorKind.FILTER: FunctionParams,
    OperatorKind.FLAT_MAP: FunctionParams,
    OperatorKind.PROCESS: FunctionParams,
    OperatorKind.KEYED_PROCESS: FunctionParams,
    OperatorKind.REDUCE: FunctionParams,
    OperatorKind.AGGREGATION: AggregationParams,
    OperatorKind.CO_MAP: FunctionParams,
    OperatorKind.CO_FLAT_MAP: FunctionParams,
    OperatorKind.CO_PROCESS: FunctionParams,
    OperatorKind.BROADCAST_PROCESS: BroadcastProcessParams,
    OperatorKind.ASYNC_WAIT: AsyncFunctionDescriptor,
    OperatorKind.PRINT: PrintParams,
    OperatorKind.SINK_FUNCTION: FunctionParams,
    OperatorKind.SINK: SinkParams,
    OperatorKind.COLLECT: CollectParams,
    OperatorKind.TIMESTAMPS_WATERMARKS: WatermarkParams,
    OperatorKind.WINDOW: WindowParams,
    OperatorKind.INTERVAL_JOIN: IntervalJoinParams,
    OperatorKind.CEP: CepParams,
    OperatorKind.QUERYABLE_STATE: QueryableStateParams,
    OperatorKind.SQL_CALC: SqlCalcParams,
    OperatorKind.SQL_GROUP_AGGREGATE: SqlGroupAggregateParams,
    OperatorKind.SQL_WINDOW_AGGREGATE: SqlWindowAggregateParams,
    OperatorKind.SQL_SESSION_WINDOW_AGGREGATE: SqlWindowAggregateParams,
    OperatorKind.SQL_FORMAT_ROWS: SqlFormatRowsParams,
    OperatorKind.SQL_RECORDS_TO_BATCH: SqlSchemaParams,
    OperatorKind.SQL_BATCHES_TO_ROWS: SqlRowsParams,
    OperatorKind.SQL_JOIN: SqlJoinParams,
    OperatorKind.SQL_INTERVAL_JOIN: SqlIntervalJoinParams,
    OperatorKind.SQL_TEMPORAL_JOIN: SqlTemporalJoinParams,
    OperatorKind.SQL_LOOKUP_JOIN: SqlLookupJoinParams,
    OperatorKind.SQL_CHANGELOG_NORMALIZE: SqlKeyedParams,
    OperatorKind.SQL_RANK: SqlRankParams,
    OperatorKind.SQL_OVER_AGGREGATE: SqlOverAggregateParams,
    OperatorKind.SQL_WINDOW_ASSIGN: SqlWindowAssignParams,
}


@dataclass(frozen=True)
class OperatorSpec:
    """A physical operator to instantiate in a task: its kind and its parameters.

    Operator packages register a class per kind (``rayflink.runtime.registry``); the
    parameters are the frozen dataclass ``PARAMS_OF[kind]``::

        OperatorSpec(OperatorKind.MAP, FunctionParams(lambda x: x * 2))
    """

    kind: OperatorKind
    params: OperatorParams

    def __post_init__(self) -> None:
        if not isinstance(self.kind, OperatorKind):
            raise TypeError(f"OperatorSpec kind must be an OperatorKind, got {self.kind!r}")
        expected = PARAMS_OF[self.kind]
        if type(self.params) is not expected:
            raise TypeError(f"operator kind {self.kind.value!r} takes {expected.__name__}, "
                            f"got {type(self.params).__name__}")


@dataclass(eq=False)
class Transformation:
    """One node of the logical plan. Virtual kinds (partition, union, side_output) become edges."""

    id: int
    kind: str  # "source" | "operator" | "sink" | "partition" | "union" | "side_output"
    name: str
    inputs: list["Transformation"] = field(default_factory=list)
    description: str | None = None  # set_description(): shown in the execution plan
    operator: OperatorSpec | None = None
    parallelism: int | None = None
    max_parallelism: int | None = None
    uid: str | None = None
    output_type: TypeInformation | None = None
    chaining: ChainingStrategy = ChainingStrategy.ALWAYS
    slot_sharing_group: str = "default"
    buffer_timeout: int | None = None  # ms; set_buffer_timeout() (None: the job's execution.buffer-timeout)
    # partition transformations
    partitioner: Partitioner | None = None
    key_selector: Callable[[Any], Any] | None = None
    # keyed operators: one key selector per input (None for non-keyed)
    state_key_selectors: tuple | None = None
    # side outputs
    side_tag: Any = None
    # sources
    source: Any = None
    watermark_strategy: Any = None
    # sinks that two-phase-commit or collect to the client
    collect_id: str | None = None


class TransformationIds:
    """Hands out transformation ids for one environment."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> int:
        return next(self._next)
