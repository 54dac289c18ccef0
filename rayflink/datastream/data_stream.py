"""``DataStream``, ``KeyedStream``, ``ConnectedStreams``: record what the user asks for."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

from rayflink.datastream.functions import as_key_selector
from rayflink.datastream.windowed_stream import (  # also PyFlink's path
    AllWindowedStream,
    CoGroupedStreams,
    IntervalJoin,
    JoinedStreams,
    WindowedStream,
)
from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import (
    AccumulateType,
    AggregationParams,
    BroadcastProcessParams,
    ChainingStrategy,
    FunctionParams,
    OperatorKind,
    OperatorSpec,
    Partitioner,
    PrintParams,
    QueryableStateParams,
    SinkParams,
    Transformation,
    WatermarkParams,
)

if TYPE_CHECKING:
    from rayflink.datastream.output_tag import OutputTag
    from rayflink.datastream.stream_execution_environment import (
        StreamExecutionEnvironment,
    )
    from rayflink.runtime.client import CloseableIterator


class DataStream:
    """A stream of records; every method adds an operator and returns the new stream.

    >>> env.from_collection([1, 2, 3]).map(lambda x: x * 2).filter(lambda x: x > 2).print()
    """

    def __init__(self, env: "StreamExecutionEnvironment", transformation: Transformation) -> None:
        self._env = env
        self._t = transformation

    # ---- operator properties -------------------------------------------------------------

    def get_name(self) -> str:
        return self._t.name

    def name(self, name: str) -> "DataStream":
        """Set the operator's name (shown in the plan, metrics and errors)."""
        self._t.name = name
        return self

    def uid(self, uid: str) -> "DataStream":
        """Set the operator's uid: the stable id its state is saved under in savepoints."""
        if not isinstance(uid, str) or not uid:
            raise GraphBuildError(f"operator {self._t.name!r}: uid must be a non-empty string, got {uid!r}")
        self._t.uid = uid
        return self

    def set_parallelism(self, parallelism: int) -> "DataStream":
        """Run this operator with ``parallelism`` subtasks (1 .. max parallelism)."""
        self._env._check_parallelism(parallelism, f"operator {self._t.name!r}")
        if self._t.kind in ("partition", "union", "side_output"):
            raise GraphBuildError(
                f"{self._t.name!r} is not an operator: set the parallelism of the operator after it"
            )
        self._t.parallelism = parallelism
        return self

    def set_buffer_timeout(self, timeout_millis: int) -> "DataStream":
        """Flush this operator's output channels at the latest after ``timeout_millis`` ms (0:
        after every batch, -1: only when full), instead of the job's ``execution.buffer-timeout``.

        A task runs a chain of operators and flushes its channels on one timeout: the smallest
        one set on the chain's operators whose output leaves the task (-1 only if all are -1).
        """
        if isinstance(timeout_millis, bool) or not isinstance(timeout_millis, int) or timeout_millis < -1:
            raise GraphBuildError(f"operator {self._t.name!r}: set_buffer_timeout() takes milliseconds >= -1, "
                                  f"got {timeout_millis!r}")
        if self._t.kind in ("partition", "union", "side_output"):
            raise GraphBuildError(f"{self._t.name!r} is not an operator: set the buffer timeout of the operator "
                                  "before it")
        self._t.buffer_timeout = timeout_millis
        return self

    def set_max_parallelism(self, max_parallelism: int) -> "DataStream":
        """The number of key groups this operator's keyed state is split into."""
        if max_parallelism < 1 or max_parallelism > 32768:
            raise GraphBuildError(
                f"operator {self._t.name!r}: max parallelism must be in 1..32768, got {max_parallelism}"
            )
        self._t.max_parallelism = max_parallelism
        return self

    def disable_chaining(self) -> "DataStream":
        """Never chain this operator with its neighbours."""
        self._t.chaining = ChainingStrategy.NEVER
        return self

    def start_new_chain(self) -> "DataStream":
        """Begin a new chain at this operator (do not chain it to its predecessor)."""
        self._t.chaining = ChainingStrategy.HEAD
        return self

    def slot_sharing_group(self, name: Any) -> "DataStream":
        """Operators in different slot sharing groups are never chained together; ``name`` is a
        str or a ``SlotSharingGroup`` (whose resources are recorded, not reserved)."""
        get_name = getattr(name, "get_name", None)
        self._t.slot_sharing_group = get_name() if callable(get_name) else name
        return self

    def get_type(self) -> Any:
        return self._t.output_type

    def get_execution_environment(self) -> "StreamExecutionEnvironment":
        return self._env

    def get_execution_config(self) -> Any:
        """The environment's ``ExecutionConfig`` (the job's options)."""
        return self._env.get_config()

    def set_description(self, description: str) -> "DataStream":
        """A longer, human-readable description of the operator, shown in the execution plan
        (``env.get_execution_plan()``) next to its name."""
        if not isinstance(description, str):
            raise GraphBuildError(f"operator {self._t.name!r}: set_description() needs a str, got "
                                  f"{type(description).__name__}")
        self._t.description = description
        return self

    def set_uid_hash(self, uid_hash: str) -> "DataStream":
        """Flink's user-provided node hash, which savepoint state is matched by. rayflink matches
        state by uid, so the hash becomes the operator's uid."""
        return self.uid(uid_hash)

    def force_non_parallel(self) -> "DataStream":
        """Run this operator with one subtask, and keep it at one (max parallelism 1)."""
        self.set_parallelism(1)
        self._t.max_parallelism = 1
        return self

    def project(self, *field_indexes: int) -> "DataStream":
        """Keep the fields ``field_indexes`` of tuple records, as a tuple (typed when the input is).

        >>> env.from_collection([(1, "a", 2.0)]).project(2, 0)   # -> (2.0, 1)
        """
        if not field_indexes or not all(isinstance(i, int) and not isinstance(i, bool) for i in field_indexes):
            raise GraphBuildError(f"project{field_indexes}: give one or more field indexes (ints)")
        in_type = self._t.output_type
        out_type = None
        if in_type is not None and in_type.params and in_type.python_type in (tuple,):
            from rayflink.common.typeinfo import Types

            out_type = Types.TUPLE([in_type.params[i] for i in field_indexes])
        return self.map(_Project(field_indexes), output_type=out_type).name(f"Projection{list(field_indexes)}")

    def cache(self) -> "CachedDataStream":
        """PyFlink caches a bounded stream's intermediate result for later jobs of the same
        environment. rayflink keeps no intermediate results between jobs: a later job recomputes
        the stream from its sources, so results are the same and only the work is repeated.
        Returns the stream as a ``CachedDataStream`` (``invalidate()`` is accepted)."""
        return CachedDataStream(self._env, self._t)

    # ---- transformations ----------------------------------------------------------------

    def map(self, func: Any, output_type: Any = None) -> "DataStream":
        """Apply ``func`` (a callable or a ``MapFunction``) to every record."""
        _check_callable(func, "map", "map")
        spec = OperatorSpec(OperatorKind.MAP, FunctionParams(_rows_out(func, output_type)))
        return self._one_input("Map", spec, output_type)

    def flat_map(self, func: Any, output_type: Any = None) -> "DataStream":
        """Apply ``func`` to every record and emit each element of what it returns or yields.

        A two-argument function receives a collector: ``lambda value, out: out.collect(...)``.
        """
        _check_callable(func, "flat_map", "flat_map")
        spec = OperatorSpec(OperatorKind.FLAT_MAP, FunctionParams(_rows_out(func, output_type, "flat_map")))
        return self._one_input("Flat Map", spec, output_type)

    def filter(self, func: Any) -> "DataStream":
        """Keep the records for which ``func`` (a callable or a ``FilterFunction``) is true."""
        _check_callable(func, "filter", "filter")
        return self._one_input("Filter", OperatorSpec(OperatorKind.FILTER, FunctionParams(func)), self._t.output_type)

    def process(self, func: Any, output_type: Any = None) -> "DataStream":
        """Run a ``ProcessFunction`` on every record (side outputs, timestamps)."""
        _check_function(func, ("process_element",), "process")
        spec = OperatorSpec(OperatorKind.PROCESS, FunctionParams(_rows_out(func, output_type, "process_element")))
        return self._one_input("Process", spec, output_type)

    def key_by(self, key_selector: Any, key_type: Any = None) -> "KeyedStream":
        """Partition by key: records with the same key go to the same subtask (and state)."""
        selector = as_key_selector(key_selector)
        t = self._env._new_transformation(
            "partition", "KeyBy", inputs=[self._t], partitioner=Partitioner.HASH, key_selector=selector,
            output_type=self._t.output_type,
        )
        return KeyedStream(self._env, t, selector, key_type)

    def union(self, *streams: "DataStream") -> "DataStream":
        """Merge streams of the same type into one."""
        for s in streams:
            a, b = self._t.output_type, s._t.output_type
            if a is not None and b is not None and a != b:
                raise GraphBuildError(
                    f"union of {self._t.name!r} ({a}) with {s._t.name!r} ({b}): streams of different "
                    "types cannot be united; map them to one type first or use connect()"
                )
        t = self._env._new_transformation("union", "Union", inputs=[self._t] + [s._t for s in streams],
                                          output_type=self._t.output_type)
        return DataStream(self._env, t)

    @overload
    def connect(self, stream: "BroadcastStream") -> "BroadcastConnectedStream": ...

    @overload
    def connect(self, stream: "DataStream") -> "ConnectedStreams": ...

    def connect(self, stream: "DataStream | BroadcastStream") -> "ConnectedStreams | BroadcastConnectedStream":
        """Pair with a stream of another type, for a CoMap/CoFlatMap/CoProcess function, or with a
        ``BroadcastStream`` (``broadcast(descriptor)``) for a BroadcastProcessFunction."""
        if isinstance(stream, BroadcastStream):
            return BroadcastConnectedStream(self, stream)
        return ConnectedStreams(self, stream)

    def assign_timestamps_and_watermarks(self, watermark_strategy: Any) -> "DataStream":
        """Assign event timestamps and generate watermarks here (upstream watermarks are replaced)."""
        from rayflink.common.watermark_strategy import WatermarkStrategy

        if not isinstance(watermark_strategy, WatermarkStrategy):
            raise GraphBuildError(f"assign_timestamps_and_watermarks(): expected a WatermarkStrategy, got "
                                  f"{type(watermark_strategy).__name__}")
        spec = OperatorSpec(OperatorKind.TIMESTAMPS_WATERMARKS, WatermarkParams(watermark_strategy))
        return self._one_input("Timestamps/Watermarks", spec, self._t.output_type)

    def window_all(self, window_assigner: Any) -> Any:
        """Window the whole (non-keyed) stream in one subtask; returns an ``AllWindowedStream``."""
        return AllWindowedStream(self, window_assigner)

    def join(self, other_stream: "DataStream") -> Any:
        """Window join: ``a.join(b).where(k1).equal_to(k2).window(assigner).apply(JoinFunction)``."""
        return JoinedStreams(self, other_stream)

    def co_group(self, other_stream: "DataStream") -> Any:
        """Window co-group: ``a.co_group(b).where(k1).equal_to(k2).window(assigner).apply(CoGroupFunction)``."""
        return CoGroupedStreams(self, other_stream)

    def forward(self) -> "DataStream":
        return self._partition(Partitioner.FORWARD, "Forward")

    def rebalance(self) -> "DataStream":
        return self._partition(Partitioner.REBALANCE, "Rebalance")

    def rescale(self) -> "DataStream":
        return self._partition(Partitioner.RESCALE, "Rescale")

    def shuffle(self) -> "DataStream":
        return self._partition(Partitioner.SHUFFLE, "Shuffle")

    def broadcast(self, *broadcast_state_descriptors: Any) -> "DataStream | BroadcastStream":
        """Send every record to every subtask of the next operator. With ``MapStateDescriptor``s,
        return a ``BroadcastStream`` whose records maintain those broadcast states, for
        ``other.connect(broadcast_stream).process(BroadcastProcessFunction)``.

        >>> rules = rule_stream.broadcast(MapStateDescriptor("rules", Types.STRING(), Types.STRING()))
        """
        from rayflink.datastream.state import MapStateDescriptor

        if not broadcast_state_descriptors:
            return self._partition(Partitioner.BROADCAST, "Broadcast")
        for d in broadcast_state_descriptors:
            if not isinstance(d, MapStateDescriptor):
                raise GraphBuildError(f"broadcast({d!r:.80}): broadcast state is described by a "
                                      "MapStateDescriptor(name, key type, value type)")
        names = [d.name for d in broadcast_state_descriptors]
        if len(set(names)) != len(names):
            raise GraphBuildError(f"broadcast(): two broadcast states named alike in {names}")
        return BroadcastStream(self._partition(Partitioner.BROADCAST, "Broadcast"),
                               tuple(broadcast_state_descriptors))

    def global_(self) -> "DataStream":
        return self._partition(Partitioner.GLOBAL, "Global")

    def partition_custom(self, partitioner: Any, key_selector: Any) -> "DataStream":
        """Send each record to the subtask ``partitioner.partition(key, num_partitions)`` picks for
        its key (``key_selector``); ``partitioner`` is a ``Partitioner`` or a function
        ``(key, num_partitions) -> index``.

        >>> stream.partition_custom(lambda key, n: key % n, lambda r: r[0]).map(f)

        The partitioner runs in the sending subtask's record writer, per record; a
        ``Partitioner``'s ``open``/``close`` are not called. An index outside
        0 .. num_partitions - 1 fails the job with a JobExecutionError naming the key.
        """
        from rayflink.datastream.functions import Partitioner as PartitionerFunction

        if not isinstance(partitioner, PartitionerFunction) and not callable(partitioner):
            raise GraphBuildError(f"partition_custom(): expected a Partitioner or a function (key, num_partitions) "
                                  f"-> index, got {type(partitioner).__name__}")
        route = _CustomRoute(getattr(partitioner, "partition", partitioner), as_key_selector(key_selector))
        t = self._env._new_transformation("partition", "Custom Partition", inputs=[self._t],
                                          partitioner=Partitioner.CUSTOM,
                                          key_selector=route, output_type=self._t.output_type)
        return DataStream(self._env, t)

    def get_side_output(self, output_tag: "OutputTag") -> "DataStream":
        """The stream of records the operator emitted to ``output_tag``."""
        if self._t.kind not in ("operator", "source"):
            raise GraphBuildError(
                f"get_side_output({output_tag!r}) on {self._t.name!r}: side outputs come from "
                "process functions and sources; call it on the stream that process(...) returned"
            )
        t = self._env._new_transformation("side_output", f"SideOutput({output_tag.tag_id})",
                                          inputs=[self._t], side_tag=output_tag,
                                          output_type=output_tag.type_info)
        return DataStream(self._env, t)

    def reduce(self, func: Any) -> "DataStream":
        raise GraphBuildError(
            f"reduce() after {self._t.name!r}: reduce needs a keyed stream; call key_by(...) first"
        )

    # ---- sinks --------------------------------------------------------------------------

    def print(self, sink_identifier: str | None = None) -> "DataStreamSink":
        """Print every record to standard output (of the task's worker), as Flink prints records of
        the stream's declared type (``TypeInformation.to_print_string``), else as ``str``."""
        spec = OperatorSpec(OperatorKind.PRINT, PrintParams(sink_identifier, self._t.output_type))
        return self._sink("Print to Std. Out", spec)

    def add_sink(self, sink_func: Any) -> "DataStreamSink":
        """Write with a ``SinkFunction`` (``invoke(value, context)``) or a ``Sink``."""
        from rayflink.datastream.connectors.base import Sink

        if isinstance(sink_func, Sink):
            return self.sink_to(sink_func)
        _check_function(sink_func, ("invoke",), "add_sink")
        return self._sink("Sink", OperatorSpec(OperatorKind.SINK_FUNCTION, FunctionParams(sink_func)))

    def sink_to(self, sink: Any) -> "DataStreamSink":
        """Write with a ``Sink`` (a connector's sink); a sink that ``SupportsPreprocessing``
        writes the stream its transformer makes of this one."""
        from rayflink.datastream.connectors.base import Sink, SupportsPreprocessing

        if not isinstance(sink, Sink):
            raise GraphBuildError(f"sink_to() needs a Sink, got {type(sink).__name__}; "
                                  "use add_sink() for a SinkFunction")
        stream = self
        transformer = sink.get_transformer() if isinstance(sink, SupportsPreprocessing) else None
        if transformer is not None:
            stream = transformer.apply(self)
            if not isinstance(stream, DataStream):
                raise GraphBuildError(f"sink_to({type(sink).__name__}): its transformer "
                                      f"{type(transformer).__name__}.apply() returned {type(stream).__name__}, "
                                      "not a DataStream")
        return stream._sink(type(sink).__name__, OperatorSpec(OperatorKind.SINK, SinkParams(sink)))

    def execute_and_collect(self, job_execution_name: str | None = None,
                            limit: int | None = None) -> "CloseableIterator | list":
        """Run the job and iterate over this stream's records (a ``CloseableIterator``; a list
        of the first ``limit`` records when ``limit`` is given).

        >>> with env.from_collection([1, 2]).execute_and_collect() as results:
        ...     print(list(results))
        """
        return self._env._execute_and_collect(self, job_execution_name, limit)

    # ---- helpers ------------------------------------------------------------------------

    def _one_input(self, name: str, spec: OperatorSpec, output_type: Any,
                   state_key_selectors: tuple | None = None) -> "DataStream":
        t = self._env._new_transformation("operator", name, inputs=[self._t], operator=spec,
                                          output_type=output_type,
                                          state_key_selectors=state_key_selectors)
        return DataStream(self._env, t)

    def _partition(self, partitioner: Partitioner, name: str) -> "DataStream":
        t = self._env._new_transformation("partition", name, inputs=[self._t], partitioner=partitioner,
                                          output_type=self._t.output_type)
        return DataStream(self._env, t)

    def _sink(self, name: str, spec: OperatorSpec) -> "DataStreamSink":
        t = self._env._new_transformation("sink", name, inputs=[self._t], operator=spec)
        self._env._add_sink(t)
        return DataStreamSink(self._env, t)


class DataStreamSink(DataStream):
    """The end of a stream: a sink, with the same operator properties."""


class CachedDataStream(DataStream):
    """What ``cache()`` returns: the same stream (rayflink recomputes it in every job)."""

    def invalidate(self) -> None:
        """Drop the cached result: there is none to drop in rayflink."""


class KeyedStream(DataStream):
    """A stream partitioned by key; state and timers of the next operator are per key."""

    AccumulateType = AccumulateType  # the rolling aggregations sum, min, max, min_by, max_by

    def __init__(self, env: "StreamExecutionEnvironment", transformation: Transformation,
                 key_selector: Callable[[Any], Any], key_type: Any = None) -> None:
        super().__init__(env, transformation)
        self._key_selector = key_selector
        self._key_type = key_type

    def get_key_selector(self) -> Callable[[Any], Any]:
        return self._key_selector

    def _keyed(self, name: str, spec: OperatorSpec, output_type: Any) -> DataStream:
        return self._one_input(name, spec, output_type, state_key_selectors=(self._key_selector,))

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        _check_callable(func, "map", "map")
        spec = OperatorSpec(OperatorKind.MAP, FunctionParams(_rows_out(func, output_type)))
        return self._keyed("Map", spec, output_type)

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        _check_callable(func, "flat_map", "flat_map")
        spec = OperatorSpec(OperatorKind.FLAT_MAP, FunctionParams(_rows_out(func, output_type, "flat_map")))
        return self._keyed("Flat Map", spec, output_type)

    def filter(self, func: Any) -> DataStream:
        _check_callable(func, "filter", "filter")
        return self._keyed("Filter", OperatorSpec(OperatorKind.FILTER, FunctionParams(func)), self._t.output_type)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Run a ``KeyedProcessFunction`` (or ``ProcessFunction``) with keyed state and timers."""
        _check_function(func, ("process_element",), "process")
        spec = OperatorSpec(OperatorKind.KEYED_PROCESS, FunctionParams(_rows_out(func, output_type, "process_element")))
        return self._keyed("KeyedProcess", spec, output_type)

    def as_queryable_state(self, queryable_state_name: str, state_descriptor: Any = None) -> "DataStreamSink":
        """Keep each key's latest record in keyed state that clients can read while the job runs.

        >>> counts.key_by(lambda c: c[0]).as_queryable_state("latest-count")   # doctest: +SKIP
        >>> QueryableStateClient(job_id).get_kv_state("latest-count", "alice")  # doctest: +SKIP
        ('alice', 42)

        ``state_descriptor`` defaults to a ValueStateDescriptor (latest record); a
        ReducingStateDescriptor, ListStateDescriptor or AggregatingStateDescriptor adds every
        record instead. Raises GraphBuildError for map state or a descriptor with a TTL.
        """
        from rayflink.datastream.state import StateDescriptor, ValueStateDescriptor

        if state_descriptor is None:
            state_descriptor = ValueStateDescriptor(queryable_state_name, self._t.output_type)
        if not isinstance(state_descriptor, StateDescriptor) or state_descriptor.kind == "map":
            raise GraphBuildError(f"as_queryable_state({queryable_state_name!r}): expected a value, list, "
                                  f"reducing or aggregating state descriptor, got {state_descriptor!r}")
        try:
            state_descriptor.set_queryable(queryable_state_name)
        except ValueError as exc:
            raise GraphBuildError(f"as_queryable_state({queryable_state_name!r}): {exc}") from None
        t = self._env._new_transformation(
            "sink", f"Queryable State: {queryable_state_name}", inputs=[self._t],
            operator=OperatorSpec(OperatorKind.QUERYABLE_STATE, QueryableStateParams(state_descriptor)),
            state_key_selectors=(self._key_selector,))
        self._env._add_sink(t)
        return DataStreamSink(self._env, t)

    def reduce(self, func: Any) -> DataStream:
        """Rolling reduce per key: emits the reduced value after every record."""
        _check_callable(func, "reduce", "reduce")
        return self._keyed("Keyed Reduce", OperatorSpec(OperatorKind.REDUCE, FunctionParams(func)), self._t.output_type)

    def sum(self, position_to_sum: int | str = 0) -> DataStream:
        """Rolling sum of a field (tuple/list index, dict key or attribute) per key."""
        return self._aggregation(AccumulateType.SUM, position_to_sum)

    def min(self, position_to_min: int | str = 0) -> DataStream:
        """Rolling minimum of a field per key (other fields from the first record)."""
        return self._aggregation(AccumulateType.MIN, position_to_min)

    def max(self, position_to_max: int | str = 0) -> DataStream:
        """Rolling maximum of a field per key (other fields from the first record)."""
        return self._aggregation(AccumulateType.MAX, position_to_max)

    def min_by(self, position_to_min_by: int | str = 0) -> DataStream:
        """The record with the minimum field per key."""
        return self._aggregation(AccumulateType.MIN_BY, position_to_min_by)

    def max_by(self, position_to_max_by: int | str = 0) -> DataStream:
        """The record with the maximum field per key."""
        return self._aggregation(AccumulateType.MAX_BY, position_to_max_by)

    def _aggregation(self, kind: AccumulateType, field: int | str) -> DataStream:
        if not isinstance(field, (int, str)):
            raise GraphBuildError(f"{kind.name.lower()}({field!r}): the field must be an index or a name")
        spec = OperatorSpec(OperatorKind.AGGREGATION, AggregationParams(kind, field))
        return self._keyed(f"Keyed {kind.name.title().replace('_', '')}", spec, self._t.output_type)

    def count_window(self, size: int, slide: int = 0) -> Any:
        """Windows of ``size`` records per key; with ``slide`` > 0, one every ``slide`` records
        over the last ``size`` (only complete windows fire, as in PyFlink).

        >>> stream.key_by(lambda r: r[1]).count_window(2).apply(SumWindowFunction())
        """
        from rayflink.datastream.window import (
            CountSlidingWindowAssigner,
            CountTumblingWindowAssigner,
        )

        if slide == 0:
            return self.window(CountTumblingWindowAssigner.of(size))
        return self.window(CountSlidingWindowAssigner.of(size, slide))

    def partition_custom(self, partitioner: Any, key_selector: Any) -> DataStream:
        raise GraphBuildError("partition_custom() on a keyed stream: a KeyedStream is already partitioned by key; "
                              "call partition_custom on the stream before key_by(...)")

    def window(self, window_assigner: Any) -> Any:
        """Window each key's records; returns a ``WindowedStream`` (trigger, lateness, functions)."""
        return WindowedStream(self, window_assigner)

    def interval_join(self, other_stream: "KeyedStream") -> Any:
        """Interval join: ``a.interval_join(b).between(lower, upper).process(ProcessJoinFunction)``."""
        if not isinstance(other_stream, KeyedStream):
            raise GraphBuildError("interval_join(): both streams must be keyed; call key_by(...) on the other one")
        return IntervalJoin(self, other_stream)

    def set_parallelism(self, parallelism: int) -> "DataStream":
        raise GraphBuildError("key_by() is not an operator: set the parallelism of the operator after it")

    def set_buffer_timeout(self, timeout_millis: int) -> "DataStream":
        raise GraphBuildError("key_by() is not an operator: set the buffer timeout of the operator before it")


class ConnectedStreams:
    """Two streams processed together by a CoMap/CoFlatMap/CoProcess function."""

    def __init__(self, stream1: DataStream, stream2: DataStream) -> None:
        self.stream1 = stream1
        self.stream2 = stream2
        self._env = stream1._env

    def _keyed_selectors(self) -> tuple | None:
        k1 = isinstance(self.stream1, KeyedStream)
        k2 = isinstance(self.stream2, KeyedStream)
        if k1 != k2:
            raise GraphBuildError(
                "connect(): either both streams are keyed or neither is; key_by(...) the other one too"
            )
        if k1:
            return (self.stream1._key_selector, self.stream2._key_selector)
        return None

    def key_by(self, key_selector1: Any, key_selector2: Any) -> "ConnectedStreams":
        """Key both inputs, so a KeyedCoProcessFunction sees one key's records from both."""
        return ConnectedStreams(self.stream1.key_by(key_selector1), self.stream2.key_by(key_selector2))

    def _two_input(self, name: str, spec: OperatorSpec, output_type: Any,
                   keyed_required: bool = False) -> DataStream:
        selectors = self._keyed_selectors()
        if keyed_required and selectors is None:
            raise GraphBuildError(f"{name}: a KeyedCoProcessFunction needs two keyed streams; "
                                  "call connect(...).key_by(key1, key2)")
        t = self._env._new_transformation("operator", name, inputs=[self.stream1._t, self.stream2._t],
                                          operator=spec, output_type=output_type,
                                          state_key_selectors=selectors)
        return DataStream(self._env, t)

    def map(self, func: Any, output_type: Any = None) -> DataStream:
        """Apply a ``CoMapFunction``: ``map1`` to the first stream, ``map2`` to the second."""
        _check_function(func, ("map1", "map2"), "map")
        return self._two_input("Co-Map", OperatorSpec(OperatorKind.CO_MAP, FunctionParams(func)), output_type)

    def flat_map(self, func: Any, output_type: Any = None) -> DataStream:
        """Apply a ``CoFlatMapFunction``: ``flat_map1`` and ``flat_map2``."""
        _check_function(func, ("flat_map1", "flat_map2"), "flat_map")
        return self._two_input("Co-Flat Map", OperatorSpec(OperatorKind.CO_FLAT_MAP, FunctionParams(func)), output_type)

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Apply a ``CoProcessFunction`` or ``KeyedCoProcessFunction``."""
        from rayflink.datastream.functions import KeyedCoProcessFunction

        _check_function(func, ("process_element1", "process_element2"), "process")
        keyed = isinstance(func, KeyedCoProcessFunction)
        return self._two_input("Co-Process", OperatorSpec(OperatorKind.CO_PROCESS, FunctionParams(func)), output_type,
                               keyed_required=keyed)


def _rows_out(func: Any, output_type: Any, method: str = "map") -> Any:
    """``func``, or ``func`` whose results become ``Row`` objects when ``output_type`` is a row type."""
    if output_type is None or not callable(getattr(output_type, "need_conversion", None)) \
            or not output_type.need_conversion():
        return func
    return {"map": _RowOutput, "flat_map": _RowFlatOutput, "process_element": _RowProcessOutput}[method](
        func, output_type)


class _RowOutput:
    """A map function whose results (tuples, lists or Rows) become Rows of ``output_type``, as
    records of ``Types.ROW``/``ROW_NAMED`` are in PyFlink (named fields read as ``row.name``)."""

    method = "map"

    def __init__(self, function: Any, output_type: Any) -> None:
        self.function = function
        self.output_type = output_type
        bound = getattr(function, self.method, None)
        self._fn = bound if callable(bound) and not inspect.isfunction(function) else function

    def open(self, runtime_context: Any) -> None:
        opener = getattr(self.function, "open", None)
        if callable(opener) and not inspect.isfunction(self.function):
            opener(runtime_context)

    def close(self) -> None:
        closer = getattr(self.function, "close", None)
        if callable(closer) and not inspect.isfunction(self.function):
            closer()

    def map(self, value: Any) -> Any:
        return self.output_type.from_internal_type(self._fn(value))


class _RowFlatOutput(_RowOutput):
    """The flat_map form of ``_RowOutput``: for functions that return/yield their results or
    collect them (``flat_map(value, out)``)."""

    method = "flat_map"

    def flat_map(self, value: Any) -> list:
        convert = self.output_type.from_internal_type
        if len(inspect.signature(self._fn).parameters) == 2:  # flat_map(value, out) collects
            out: list = []
            self._fn(value, _Collector(out))
            return [convert(v) for v in out]
        return [convert(v) for v in (self._fn(value) or ())]


class _Collector:
    """The ``out`` of a collecting flat_map function wrapped by ``_RowFlatOutput``."""

    def __init__(self, values: list) -> None:
        self.collect = values.append


class _RowProcessOutput(_RowOutput):
    """The process-function form of ``_RowOutput``: main outputs (returned, yielded or collected)
    become Rows; side outputs (``yield tag, value`` or ``ctx.output``) pass unchanged."""

    method = "process_element"

    def __init__(self, function: Any, output_type: Any) -> None:
        super().__init__(function, output_type)
        self._on_timer = getattr(function, "on_timer", None)

    def _run(self, fn: Any, args: tuple, ctx: Any, out: Any) -> None:
        from rayflink.datastream.output_tag import OutputTag

        convert = self.output_type.from_internal_type
        params = inspect.signature(fn).parameters.values()
        if any(p.kind == p.VAR_POSITIONAL for p in params) or len(params) > len(args):
            result = fn(*args, _ConvertingCollector(out, convert))
        else:
            result = fn(*args)
        for item in result or ():
            if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                ctx.output(item[0], item[1])
            else:
                out.collect(convert(item))

    def process_element(self, value: Any, ctx: Any, out: Any) -> None:
        self._run(self._fn, (value, ctx), ctx, out)

    def on_timer(self, timestamp: int, ctx: Any, out: Any) -> None:
        if self._on_timer is not None:
            self._run(self._on_timer, (timestamp, ctx), ctx, out)


class _ConvertingCollector:
    """An ``out`` whose collected values become Rows before reaching the operator's ``out``."""

    def __init__(self, out: Any, convert: Any) -> None:
        self._out = out
        self._convert = convert

    def collect(self, value: Any) -> None:
        self._out.collect(self._convert(value))


class _Project:
    """The fields ``indexes`` of a record, as a tuple."""

    def __init__(self, indexes: tuple) -> None:
        self.indexes = indexes

    def __call__(self, value: Any) -> tuple:
        return tuple(value[i] for i in self.indexes)


class _CustomRoute:
    """The channel of a record on a ``partition_custom`` edge: ``partition(key(record), n)``."""

    def __init__(self, partition: Callable[[Any, int], int], key: Callable[[Any], Any]) -> None:
        self.partition = partition
        self.key = key

    def __call__(self, record: Any, num_partitions: int) -> int:
        key = self.key(record)
        index = self.partition(key, num_partitions)
        if not isinstance(index, int) or not 0 <= index < num_partitions:
            raise ValueError(f"partition_custom: the partitioner returned {index!r:.40} for key {key!r:.100}; "
                             f"expected an int in 0..{num_partitions - 1} (the downstream parallelism)")
        return index


class BroadcastStream:
    """A stream sent to every subtask, whose records maintain broadcast states
    (``DataStream.broadcast(descriptor, ...)``); connect another stream to it."""

    def __init__(self, stream: DataStream, descriptors: tuple[Any, ...]) -> None:
        self._stream = stream
        self._env = stream._env
        self.descriptors = descriptors

    def get_broadcast_state_descriptors(self) -> list[Any]:
        return list(self.descriptors)


class BroadcastConnectedStream:
    """A (keyed) stream connected to a ``BroadcastStream``: ``process`` it with a
    ``BroadcastProcessFunction`` or, when the stream is keyed, a ``KeyedBroadcastProcessFunction``."""

    def __init__(self, stream: DataStream, broadcast_stream: BroadcastStream) -> None:
        self.non_broadcast_stream = stream
        self.broadcast_stream = broadcast_stream
        self._env = stream._env

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """Apply ``func``: ``process_element`` to the stream's records, ``process_broadcast_element``
        to the broadcast records (on every subtask)."""
        from rayflink.datastream.functions import KeyedBroadcastProcessFunction

        _check_function(func, ("process_element", "process_broadcast_element"), "process")
        stream = self.non_broadcast_stream
        keyed = isinstance(stream, KeyedStream)
        if isinstance(func, KeyedBroadcastProcessFunction) and not keyed:
            raise GraphBuildError("process(): a KeyedBroadcastProcessFunction needs a keyed stream; "
                                  "key_by(...) the stream before connect(broadcast_stream)")
        if keyed and not isinstance(func, KeyedBroadcastProcessFunction):
            raise GraphBuildError("process(): a keyed stream connected to a broadcast stream takes a "
                                  "KeyedBroadcastProcessFunction")
        spec = OperatorSpec(OperatorKind.BROADCAST_PROCESS,
                            BroadcastProcessParams(func, self.broadcast_stream.descriptors))
        t = self._env._new_transformation(
            "operator", "Co-Process-Broadcast-Keyed" if keyed else "Co-Process-Broadcast",
            inputs=[stream._t, self.broadcast_stream._stream._t], operator=spec, output_type=output_type,
            state_key_selectors=(stream._key_selector, None) if keyed else None)
        return DataStream(self._env, t)


def _check_callable(func: Any, method: str, where: str) -> None:
    if callable(func) or callable(getattr(func, method, None)):
        return
    raise GraphBuildError(f"{where}(): expected a function or an object with a {method}() method, "
                          f"got {type(func).__name__}")


def _check_function(func: Any, methods: tuple, where: str) -> None:
    if all(callable(getattr(func, m, None)) for m in methods):
        return
    if len(methods) == 1 and callable(func) and not isinstance(func, type):
        return
    raise GraphBuildError(f"{where}(): expected an object with {', '.join(m + '()' for m in methods)}, "
                          f"got {type(func).__name__}")


def __getattr__(name: str) -> Any:
    """``CloseableIterator`` (what ``execute_and_collect`` returns) pulls from the running job, so
    it lives in the runtime: imported on use, at PyFlink's path."""
    if name == "CloseableIterator":
        from rayflink.runtime.client import CloseableIterator

        return CloseableIterator
    raise AttributeError(f"module 'rayflink.datastream.data_stream' has no attribute {name!r}")
