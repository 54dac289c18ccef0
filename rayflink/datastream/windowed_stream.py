"""``WindowedStream``, ``AllWindowedStream`` and the joins (window join, co-group, interval join).

Declarative: each terminal method records one window operator (``operators.window``) or
interval-join operator (``operators.join``). A window join is Flink's: both inputs tagged,
united, keyed and windowed, then a co-group window function pairs the two sides.

>>> stream.key_by(lambda e: e["region"]) \\
...     .window(TumblingEventTimeWindows.of(Time.minutes(5))) \\
...     .allowed_lateness(Time.minutes(2)) \\
...     .side_output_late_data(LATE) \\
...     .aggregate(RevenueAggregate())
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rayflink.datastream.functions import RichFunction, as_key_selector
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.window import (
    Evictor,
    MergingWindowAssigner,
    ProcessAllWindowFunction,
    ProcessWindowFunction,
    Trigger,
    WindowAssigner,
    WindowFunction,
    to_millis,
)
from rayflink.errors import GraphBuildError
from rayflink.graph.transformations import (
    AccumulateType,
    IntervalJoinParams,
    OperatorKind,
    OperatorSpec,
    Transformation,
    WindowParams,
)

if TYPE_CHECKING:
    from rayflink.datastream.data_stream import DataStream, KeyedStream


def has_event_time(t: Transformation) -> bool:
    """False when no path into ``t`` has a watermark strategy or assign_timestamps_and_watermarks."""
    seen: set[int] = set()
    stack = [t]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if node.kind == "source" and node.watermark_strategy is not None:
            return True
        if node.operator is not None and node.operator.kind is OperatorKind.TIMESTAMPS_WATERMARKS:
            return True
        stack.extend(node.inputs)
    return False


def check_event_time(t: Transformation, what: str) -> None:
    if not has_event_time(t):
        raise GraphBuildError(
            f"{what} needs event timestamps and watermarks, but no source before it has a WatermarkStrategy "
            "and no assign_timestamps_and_watermarks(...) precedes it; add "
            "assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(...)"
            ".with_timestamp_assigner(...)) or use a processing-time assigner")


def _window_style(function: Any, all_windows: bool) -> str:
    if all_windows:
        if isinstance(function, ProcessAllWindowFunction) or callable(getattr(function, "process", None)):
            return "process_all"
        if callable(getattr(function, "apply", None)) or callable(function):
            return "apply_all"
    else:
        if isinstance(function, ProcessWindowFunction) or callable(getattr(function, "process", None)):
            return "process"
        if isinstance(function, WindowFunction) or callable(getattr(function, "apply", None)) or callable(function):
            return "apply"
    raise GraphBuildError(f"expected a {'Process' if not all_windows else 'ProcessAll'}WindowFunction or "
                          f"{'All' if all_windows else ''}WindowFunction, got {type(function).__name__}")


class WindowedStream:
    """``keyed_stream.window(assigner)``: configure the window, then apply a window function."""

    _all = False

    def __init__(self, keyed_stream: "KeyedStream", assigner: WindowAssigner) -> None:
        if not isinstance(assigner, WindowAssigner):
            raise GraphBuildError(f"window(): expected a WindowAssigner (e.g. TumblingEventTimeWindows.of(...)), "
                                  f"got {type(assigner).__name__}")
        if assigner.is_event_time():
            check_event_time(keyed_stream._t, f"window({assigner!r})")
        self._stream = keyed_stream
        self._assigner = assigner
        self._trigger: Trigger | None = None
        self._evictor: Evictor | None = assigner.get_default_evictor()
        self._lateness = 0
        self._late_tag: OutputTag | None = None

    def get_execution_environment(self) -> Any:
        return self._stream._env

    def get_input_type(self) -> Any:
        """The declared type of the windowed records (None when undeclared)."""
        return self._stream._t.output_type

    def trigger(self, trigger: Trigger) -> "WindowedStream":
        """Replace the assigner's default trigger."""
        if not isinstance(trigger, Trigger):
            raise GraphBuildError(f"trigger(): expected a Trigger, got {type(trigger).__name__}")
        if isinstance(self._assigner, MergingWindowAssigner) and not trigger.can_merge():
            raise GraphBuildError(f"trigger({type(trigger).__name__}): {self._assigner!r} merges windows, so the "
                                  "trigger must support merging (can_merge() returning True, and on_merge)")
        self._trigger = trigger
        return self

    def evictor(self, evictor: Evictor) -> "WindowedStream":
        """Remove elements before/after the window function (keeps every element in state)."""
        if not isinstance(evictor, Evictor):
            raise GraphBuildError(f"evictor(): expected an Evictor, got {type(evictor).__name__}")
        self._evictor = evictor
        return self

    def allowed_lateness(self, time: Any) -> "WindowedStream":
        """Keep windows this long after the watermark passed their end; late elements fire them again."""
        ms = to_millis(time, "allowed_lateness")
        if ms < 0:
            raise GraphBuildError(f"allowed_lateness(): must be >= 0, got {ms} ms")
        self._lateness = ms
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> "WindowedStream":
        """Send elements that arrive after their windows closed to ``output_tag`` instead of dropping them."""
        if not isinstance(output_tag, OutputTag):
            raise GraphBuildError(f"side_output_late_data(): expected an OutputTag, got {type(output_tag).__name__}")
        self._late_tag = output_tag
        return self

    # ---- window functions -------------------------------------------------------------------

    def reduce(self, reduce_function: Any, window_function: Any = None, output_type: Any = None) -> "DataStream":
        """Reduce each window incrementally; optionally pass the result to a (Process)WindowFunction."""
        if not (callable(reduce_function) or callable(getattr(reduce_function, "reduce", None))):
            raise GraphBuildError(f"reduce(): expected a ReduceFunction or a function, got "
                                  f"{type(reduce_function).__name__}")
        return self._build("reduce", ("reduce", reduce_function), window_function, output_type)

    def aggregate(self, aggregate_function: Any, window_function: Any = None, accumulator_type: Any = None,
                  output_type: Any = None) -> "DataStream":
        """Aggregate incrementally (one accumulator per key and window); optionally pass the result on.

        >>> .aggregate(AcumuladorRevenue(), AnalisisVentana())
        """
        for m in ("create_accumulator", "add", "get_result"):
            if not callable(getattr(aggregate_function, m, None)):
                raise GraphBuildError(f"aggregate(): expected an AggregateFunction with {m}(), got "
                                      f"{type(aggregate_function).__name__}")
        return self._build("aggregate", ("aggregate", aggregate_function), window_function, output_type)

    def process(self, process_window_function: Any, output_type: Any = None) -> "DataStream":
        """Evaluate every window with a ProcessWindowFunction (all elements, window, state)."""
        return self._build("process", None, process_window_function, output_type)

    def apply(self, window_function: Any, output_type: Any = None) -> "DataStream":
        """Evaluate every window with a WindowFunction: ``apply(key, window, inputs)`` returning the
        results (PyFlink's form), or ``apply(key, window, inputs, out)`` collecting them."""
        return self._build("apply", None, window_function, output_type)

    def sum(self, position_to_sum: int | str = 0) -> "DataStream":
        """Sum a field per window (other fields from the window's first element)."""
        return self._build("sum", (AccumulateType.SUM, position_to_sum), None, self._stream._t.output_type)

    def min(self, position_to_min: int | str = 0) -> "DataStream":
        """Minimum of a field per window."""
        return self._build("min", (AccumulateType.MIN, position_to_min), None, self._stream._t.output_type)

    def max(self, position_to_max: int | str = 0) -> "DataStream":
        """Maximum of a field per window."""
        return self._build("max", (AccumulateType.MAX, position_to_max), None, self._stream._t.output_type)

    def _build(self, what: str, incremental: tuple | None, function: Any, output_type: Any) -> "DataStream":
        style = _window_style(function, self._all) if function is not None else None
        s = self._stream
        trigger = self._trigger or self._assigner.get_default_trigger(s._env)
        params = WindowParams(assigner=self._assigner, trigger=trigger, evictor=self._evictor,
                              allowed_lateness=self._lateness or 0, late_tag=self._late_tag, incremental=incremental,
                              function=function, style=style)
        name = (f"{'AllWindow' if self._all else 'Window'}({self._assigner!r}, {type(trigger).__name__}, "
                f"{what}{', ' + type(self._evictor).__name__ if self._evictor else ''})")
        windowed = s._one_input(name, OperatorSpec(OperatorKind.WINDOW, params), output_type,
                                state_key_selectors=(s._key_selector,))
        if self._all:
            windowed._t.parallelism = 1
        return windowed


def _all_windows_key(value: Any) -> int:
    return 0


class AllWindowedStream(WindowedStream):
    """``stream.window_all(assigner)``: one window operator (parallelism 1) over the whole stream.

    Window functions take no key: ``ProcessAllWindowFunction.process(context, elements)`` and
    ``AllWindowFunction.apply(window, inputs)`` (or ``apply(window, inputs, out)``).
    """

    _all = True

    def __init__(self, stream: "DataStream", assigner: WindowAssigner) -> None:
        super().__init__(stream.key_by(_all_windows_key), assigner)


# ---------------------------------------------------------------------------- joins

class JoinFunction(RichFunction):
    """``join(first, second)`` -> the joined record, for every pair in a window."""

    @abstractmethod
    def join(self, first: Any, second: Any) -> Any: ...


class CoGroupFunction(RichFunction):
    """``co_group(first, second, out)``: all elements of both inputs for one key and window."""

    @abstractmethod
    def co_group(self, first: Iterable[Any], second: Iterable[Any], out: Any) -> Any: ...


class ProcessJoinFunction(RichFunction):
    """``process_element(left, right, ctx, out)`` for every pair of an interval join.

    ``ctx.get_left_timestamp()``, ``ctx.get_right_timestamp()``, ``ctx.get_timestamp()`` (the
    larger of the two, the result's timestamp), ``ctx.output(tag, value)``.
    """

    @abstractmethod
    def process_element(self, left: Any, right: Any, ctx: Any, out: Any) -> Any: ...


class _Tag:
    """Tags the records of one join input: ``(input_index, record)``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, value: Any) -> tuple:
        return (self.index, value)


class _TaggedKey:
    """The key of a tagged record: the first input's selector or the second's."""

    def __init__(self, first: Callable, second: Callable) -> None:
        self.selectors = (first, second)

    def __call__(self, tagged: tuple) -> Any:
        return self.selectors[tagged[0]](tagged[1])


class _CoGroupWindowFunction(WindowFunction):
    """Splits a window of tagged records by input and calls the co-group or join function."""

    def __init__(self, function: Any, join: bool) -> None:
        self.function = function
        self.join = join

    def open(self, runtime_context: Any) -> None:
        opener = getattr(self.function, "open", None)
        if callable(opener) and isinstance(self.function, RichFunction):
            opener(runtime_context)

    def close(self) -> None:
        closer = getattr(self.function, "close", None)
        if callable(closer) and isinstance(self.function, RichFunction):
            closer()

    def apply(self, key: Any, window: Any, inputs: Iterable[Any], out: Any) -> None:
        first = [v for tag, v in inputs if tag == 0]
        second = [v for tag, v in inputs if tag == 1]
        fn = self.function
        if self.join:
            join = getattr(fn, "join", fn)
            for a in first:
                for b in second:
                    out.collect(join(a, b))
        else:
            returned = getattr(fn, "co_group", fn)(first, second, out)
            if returned is not None:
                for r in returned:
                    out.collect(r)


class CoGroupedStreams:
    """``a.co_group(b).where(k1).equal_to(k2).window(assigner).apply(CoGroupFunction)``."""

    _join = False

    def __init__(self, first: "DataStream", second: "DataStream") -> None:
        self._first = first
        self._second = second
        self._key1: Callable | None = None
        self._key2: Callable | None = None

    def where(self, key_selector: Any) -> "CoGroupedStreams":
        self._key1 = as_key_selector(key_selector)
        return self

    def equal_to(self, key_selector: Any) -> "CoGroupedStreams":
        if self._key1 is None:
            raise GraphBuildError("equal_to() before where(): call where(key1).equal_to(key2)")
        self._key2 = as_key_selector(key_selector)
        return self

    def window(self, assigner: WindowAssigner) -> "_WindowedJoin":
        if self._key2 is None:
            raise GraphBuildError("window() before where(...).equal_to(...): name the keys of both inputs first")
        tagged = self._first.map(_Tag(0)).union(self._second.map(_Tag(1)))
        return _WindowedJoin(tagged.key_by(_TaggedKey(self._key1, self._key2)), assigner, self._join)


class JoinedStreams(CoGroupedStreams):
    """``a.join(b).where(k1).equal_to(k2).window(assigner).apply(JoinFunction)``: inner join per window."""

    _join = True


class _WindowedJoin(WindowedStream):
    def __init__(self, keyed: "KeyedStream", assigner: WindowAssigner, join: bool) -> None:
        super().__init__(keyed, assigner)
        self._is_join = join

    def apply(self, function: Any, output_type: Any = None) -> "DataStream":
        """Run the JoinFunction on every pair (join) or the CoGroupFunction on both sides (co-group)."""
        method = "join" if self._is_join else "co_group"
        if not (callable(function) or callable(getattr(function, method, None))):
            raise GraphBuildError(f"apply(): expected a {'Join' if self._is_join else 'CoGroup'}Function or a "
                                  f"function, got {type(function).__name__}")
        return self._build("join" if self._is_join else "co_group", None,
                           _CoGroupWindowFunction(function, self._is_join), output_type)


class IntervalJoin:
    """``keyed_a.interval_join(keyed_b)``: pairs where b.ts is in [a.ts + lower, a.ts + upper]."""

    def __init__(self, left: "KeyedStream", right: "KeyedStream") -> None:
        self._left = left
        self._right = right

    def between(self, lower_bound: Any, upper_bound: Any) -> "IntervalJoined":
        lower = to_millis(lower_bound, "between")
        upper = to_millis(upper_bound, "between")
        if lower > upper:
            raise GraphBuildError(f"interval_join().between({lower} ms, {upper} ms): the lower bound must be "
                                  "<= the upper bound")
        return IntervalJoined(self._left, self._right, lower, upper)


class IntervalJoined:
    """An interval join with its bounds; ``process(ProcessJoinFunction)`` makes the operator.

    >>> clicks.key_by(k).interval_join(purchases.key_by(k)) \\
    ...     .between(Time.minutes(0), Time.minutes(30)).process(Conversion())
    """

    def __init__(self, left: "KeyedStream", right: "KeyedStream", lower: int, upper: int) -> None:
        self._left = left
        self._right = right
        self._lower = lower
        self._upper = upper
        self._lower_inclusive = True
        self._upper_inclusive = True
        self._left_late: OutputTag | None = None
        self._right_late: OutputTag | None = None

    def lower_bound_exclusive(self) -> "IntervalJoined":
        self._lower_inclusive = False
        return self

    def upper_bound_exclusive(self) -> "IntervalJoined":
        self._upper_inclusive = False
        return self

    def side_output_left_late_data(self, output_tag: OutputTag) -> "IntervalJoined":
        self._left_late = output_tag
        return self

    def side_output_right_late_data(self, output_tag: OutputTag) -> "IntervalJoined":
        self._right_late = output_tag
        return self

    def process(self, process_join_function: Any, output_type: Any = None) -> "DataStream":
        if not (callable(getattr(process_join_function, "process_element", None)) or callable(process_join_function)):
            raise GraphBuildError(f"process(): expected a ProcessJoinFunction, got "
                                  f"{type(process_join_function).__name__}")
        check_event_time(self._left._t, "interval_join (left input)")
        check_event_time(self._right._t, "interval_join (right input)")
        lower = self._lower if self._lower_inclusive else self._lower + 1
        upper = self._upper if self._upper_inclusive else self._upper - 1
        if lower > upper:
            raise GraphBuildError("interval_join(): the exclusive bounds leave an empty interval")
        params = IntervalJoinParams(function=process_join_function, lower=lower, upper=upper,
                                    left_late_tag=self._left_late, right_late_tag=self._right_late)
        # a keyed two-input operator over both streams, as Flink builds it (connect, then transform)
        return self._left.connect(self._right)._two_input(
            f"IntervalJoin([{lower}, {upper}])", OperatorSpec(OperatorKind.INTERVAL_JOIN, params), output_type)
