"""PyFlink's ``pyflink.datastream.window``: windows, window assigners, triggers, evictors, window functions.

Declarative only: the keyed window operator (``operators.window``) runs them.

>>> from rayflink.common import Time
>>> stream.key_by(lambda e: e["region"]) \\
...     .window(TumblingEventTimeWindows.of(Time.minutes(5))) \\
...     .allowed_lateness(Time.minutes(2)) \\
...     .sum("monto")
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

from rayflink.common.serializer import TypeSerializer
from rayflink.datastream.functions import (  # noqa: F401 - PyFlink also reaches them here
    AllWindowFunction,
    ProcessAllWindowFunction,
    ProcessWindowFunction,
    WindowFunction,
)
from rayflink.errors import GraphBuildError

MAX_TIMESTAMP = 2**63 - 1
T = TypeVar("T")
W = TypeVar("W")

__all__ = [
    "AllWindowFunction", "ContinuousEventTimeTrigger", "ContinuousProcessingTimeTrigger", "CountEvictor",
    "CountSlidingWindowAssigner", "CountTrigger", "CountTumblingWindowAssigner", "CountWindow",
    "CountWindowSerializer", "DynamicEventTimeSessionWindows", "DynamicProcessingTimeSessionWindows",
    "EventTimeSessionWindows", "EventTimeTrigger", "Evictor", "GlobalWindow", "GlobalWindowSerializer",
    "GlobalWindows", "MergeCallbackFunction", "MergingWindowAssigner", "NeverTrigger",
    "ProcessAllWindowFunction", "ProcessWindowFunction", "ProcessingTimeSessionWindows",
    "ProcessingTimeTrigger", "PurgingTrigger", "SessionWindowTimeGapExtractor", "SlidingEventTimeWindows",
    "SlidingProcessingTimeWindows", "TimeEvictor", "TimeWindow", "TimeWindowSerializer", "Trigger",
    "TriggerResult", "TumblingEventTimeWindows", "TumblingProcessingTimeWindows", "Window", "WindowAssigner",
    "WindowFunction",
]


def to_millis(span: Any, where: str) -> int:
    """Milliseconds of a ``Time``, ``Duration`` or int."""
    to_ms = getattr(span, "to_milliseconds", None)
    if callable(to_ms):
        return int(to_ms())
    if isinstance(span, int) and not isinstance(span, bool):
        return span
    raise GraphBuildError(f"{where}: expected a Time or Duration (e.g. Time.minutes(5)), got {span!r:.80}")


# ---------------------------------------------------------------------------- windows

class Window(ABC):
    """A bucket of elements; ``max_timestamp()`` is the last timestamp that belongs to it."""

    @abstractmethod
    def max_timestamp(self) -> int: ...


class TimeWindow(NamedTuple):
    """The interval ``[start, end)`` in epoch milliseconds (a tuple: cheap to hash as a state namespace)."""

    start: int
    end: int

    def max_timestamp(self) -> int:
        return self.end - 1

    def intersects(self, other: "TimeWindow") -> bool:
        """True when the windows overlap or touch (Flink merges touching sessions)."""
        return self.start <= other.end and self.end >= other.start

    def cover(self, other: "TimeWindow") -> "TimeWindow":
        """The smallest window containing both."""
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))

    @staticmethod
    def merge_windows(windows: Iterable["TimeWindow"], callback: Any) -> None:
        """Merge overlapping or touching windows: ``callback(to_merge, merged)`` (or
        ``callback.merge(...)``) for every group that becomes one."""
        merge_time_windows(windows, getattr(callback, "merge", callback))

    @staticmethod
    def get_window_start_with_offset(timestamp: int, offset: int, window_size: int) -> int:
        """Start of the window of ``window_size`` (aligned to ``offset``) that contains ``timestamp``."""
        return timestamp - (timestamp - offset + window_size) % window_size


Window.register(TimeWindow)


class GlobalWindow(Window):
    """The one window of ``GlobalWindows``: all elements of a key."""

    __slots__ = ()

    def max_timestamp(self) -> int:
        return MAX_TIMESTAMP

    def __eq__(self, other: object) -> bool:
        return type(other) is GlobalWindow

    def __hash__(self) -> int:
        return 0

    def __reduce__(self) -> tuple:
        return GlobalWindow, ()

    def __repr__(self) -> str:
        return "GlobalWindow"

    @staticmethod
    def get() -> "GlobalWindow":
        return GlobalWindow()


class CountWindow(Window):
    """The ``id``-th window of a key's count windows (``count_window``): PyFlink numbers them
    from 0 in the order the key's elements arrive.

    >>> CountWindow(3)
    CountWindow(id=3)
    """

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:  # noqa: A002 - PyFlink's name
        self.id = id

    def max_timestamp(self) -> int:
        return MAX_TIMESTAMP

    def __eq__(self, other: object) -> bool:
        return type(other) is CountWindow and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> tuple:
        return CountWindow, (self.id,)

    def __repr__(self) -> str:
        return f"CountWindow(id={self.id})"


class TimeWindowSerializer(TypeSerializer):
    """A ``TimeWindow`` as 16 bytes: start and end, big-endian longs (Flink's layout)."""

    def serialize(self, element: "TimeWindow", stream: Any) -> None:
        stream.write(struct.pack(">qq", element.start, element.end))

    def deserialize(self, stream: Any) -> "TimeWindow":
        return TimeWindow(*struct.unpack(">qq", stream.read(16)))


class GlobalWindowSerializer(TypeSerializer):
    """The ``GlobalWindow`` as one zero byte (Flink's layout)."""

    def serialize(self, element: GlobalWindow, stream: Any) -> None:
        stream.write(b"\x00")

    def deserialize(self, stream: Any) -> GlobalWindow:
        stream.read(1)
        return GlobalWindow()


class CountWindowSerializer(TypeSerializer):
    """A ``CountWindow`` as its id, one big-endian long (Flink's layout)."""

    def serialize(self, element: CountWindow, stream: Any) -> None:
        stream.write(struct.pack(">q", element.id))

    def deserialize(self, stream: Any) -> CountWindow:
        return CountWindow(struct.unpack(">q", stream.read(8))[0])


# ---------------------------------------------------------------------------- triggers

class TriggerResult(Enum):
    """What a trigger decides: evaluate the window (FIRE), drop its contents (PURGE), both, or neither."""

    CONTINUE = (False, False)
    FIRE_AND_PURGE = (True, True)
    FIRE = (True, False)
    PURGE = (False, True)

    def is_fire(self) -> bool:
        return self.value[0]

    def is_purge(self) -> bool:
        return self.value[1]


class Trigger(ABC, Generic[T, W]):
    """Decides when a window is evaluated; ``ctx`` gives timers, clocks and per-window state.

    >>> class EveryTen(Trigger):
    ...     def on_element(self, element, timestamp, window, ctx):
    ...         count = ctx.get_partitioned_state(ValueStateDescriptor("n", Types.LONG()))
    ...         count.update((count.value() or 0) + 1)
    ...         return TriggerResult.FIRE if count.value() % 10 == 0 else TriggerResult.CONTINUE
    """

    class TriggerContext(ABC):
        """``ctx`` of a trigger: clocks, timers and state scoped to the key and window."""

        @abstractmethod
        def get_current_processing_time(self) -> int: ...

        @abstractmethod
        def get_current_watermark(self) -> int: ...

        @abstractmethod
        def register_processing_time_timer(self, time: int) -> None: ...

        @abstractmethod
        def register_event_time_timer(self, time: int) -> None: ...

        @abstractmethod
        def delete_processing_time_timer(self, time: int) -> None: ...

        @abstractmethod
        def delete_event_time_timer(self, time: int) -> None: ...

        @abstractmethod
        def get_partitioned_state(self, state_descriptor: Any) -> Any: ...

    class OnMergeContext(TriggerContext):
        """``ctx`` of ``on_merge``: also merges the merged windows' state."""

        @abstractmethod
        def merge_partitioned_state(self, state_descriptor: Any) -> None: ...

    @abstractmethod
    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        """Called for every element added to ``window``."""

    def on_processing_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        """A processing-time timer registered through ``ctx`` fired."""
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        """An event-time timer registered through ``ctx`` fired."""
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        """True when the trigger supports merging windows (sessions)."""
        return False

    def on_merge(self, window: Window, ctx: Any) -> None:
        """Windows were merged into ``window``: merge state (``ctx.merge_partitioned_state``), re-register timers."""
        raise NotImplementedError(f"{type(self).__name__} does not support merging windows")

    def clear(self, window: Window, ctx: Any) -> None:
        """The window is purged for good: delete its timers and state."""


class _Clock(NamedTuple):
    """The names of a time domain's methods on a trigger's ``ctx``: its clock, and how to set and delete a timer."""

    now: str
    register: str
    delete: str


_EVENT_CLOCK = _Clock("get_current_watermark", "register_event_time_timer", "delete_event_time_timer")
_PROCESSING_CLOCK = _Clock("get_current_processing_time", "register_processing_time_timer",
                           "delete_processing_time_timer")


class _WindowEndTrigger(Trigger[T, TimeWindow]):
    """Fires when the clock of ``_clock`` passes the window's end; merging re-registers that timer."""

    _clock: _Clock

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: Any) -> None:
        if window.max_timestamp() > getattr(ctx, self._clock.now)():
            getattr(ctx, self._clock.register)(window.max_timestamp())

    def clear(self, window: Window, ctx: Any) -> None:
        getattr(ctx, self._clock.delete)(window.max_timestamp())

    @classmethod
    def create(cls) -> Any:
        return cls()


class EventTimeTrigger(_WindowEndTrigger[T]):
    """Fires once the watermark passes the window's end (the default of event-time assigners)."""

    _clock = _EVENT_CLOCK

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE  # a late element within the allowed lateness: fire again
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE


class ProcessingTimeTrigger(_WindowEndTrigger[T]):
    """Fires when the processing-time clock passes the window's end."""

    _clock = _PROCESSING_CLOCK

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        ctx.register_processing_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        return TriggerResult.FIRE


class NeverTrigger(Trigger[T, Window]):
    """Never fires (the default of ``GlobalWindows``)."""

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: Any) -> None:
        pass


def _sum(a: int, b: int) -> int:
    return a + b


class _StateTrigger(Trigger[T, W]):
    """A trigger that keeps a window's state in ``state_desc``: merging windows merges it, clearing clears it."""

    state_desc: Any

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: Any) -> None:
        ctx.merge_partitioned_state(self.state_desc)

    def clear(self, window: Window, ctx: Any) -> None:
        ctx.get_partitioned_state(self.state_desc).clear()


class CountTrigger(_StateTrigger[T, Window]):
    """Fires every ``count`` elements of a window.

    >>> stream.key_by(k).window(GlobalWindows.create()).trigger(CountTrigger.of(1000)).sum("monto")
    """

    def __init__(self, count: int) -> None:
        from rayflink.datastream.state import ReducingStateDescriptor

        if not isinstance(count, int) or count <= 0:
            raise GraphBuildError(f"CountTrigger.of({count!r}): the count must be a positive int")
        self.count = count
        self.state_desc = ReducingStateDescriptor("count", _sum, None)

    @staticmethod
    def of(count: int) -> "CountTrigger":
        return CountTrigger(count)

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        count = ctx.get_partitioned_state(self.state_desc)
        count.add(1)
        if count.get() >= self.count:
            count.clear()
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE


class PurgingTrigger(Trigger[T, Window]):
    """Turns every FIRE of ``nested`` into FIRE_AND_PURGE."""

    def __init__(self, nested: Trigger) -> None:
        if not isinstance(nested, Trigger):
            raise GraphBuildError(f"PurgingTrigger.of(): expected a Trigger, got {type(nested).__name__}")
        self.nested = nested

    @staticmethod
    def of(nested: Trigger) -> "PurgingTrigger":
        return PurgingTrigger(nested)

    @staticmethod
    def _purging(result: TriggerResult) -> TriggerResult:
        return TriggerResult.FIRE_AND_PURGE if result.is_fire() else result

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        return self._purging(self.nested.on_element(element, timestamp, window, ctx))

    def on_event_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        return self._purging(self.nested.on_event_time(time, window, ctx))

    def on_processing_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        return self._purging(self.nested.on_processing_time(time, window, ctx))

    def can_merge(self) -> bool:
        return self.nested.can_merge()

    def on_merge(self, window: Window, ctx: Any) -> None:
        self.nested.on_merge(window, ctx)

    def clear(self, window: Window, ctx: Any) -> None:
        self.nested.clear(window, ctx)


def _min(a: int, b: int) -> int:
    return a if a <= b else b


class _ContinuousTrigger(_StateTrigger[T, TimeWindow]):
    """Fires every ``interval`` of the clock of ``_clock`` (aligned to the epoch), at most at the window's end."""

    _clock: _Clock

    def __init__(self, interval: Any) -> None:
        from rayflink.datastream.state import ReducingStateDescriptor

        name = type(self).__name__
        self.interval = to_millis(interval, f"{name}.of")
        if self.interval <= 0:
            raise GraphBuildError(f"{name}.of(): the interval must be > 0, got {self.interval} ms")
        self.state_desc = ReducingStateDescriptor("fire-time", _min, None)

    @classmethod
    def of(cls, interval: Any) -> Any:
        return cls(interval)

    def register_next_fire_timestamp(self, time: int, window: Window, ctx: Any, fire_time: Any) -> None:
        """Remember and register the next firing: one interval after ``time``, at most the window's end."""
        next_fire = min(time + self.interval, window.max_timestamp())
        fire_time.add(next_fire)
        getattr(ctx, self._clock.register)(next_fire)

    def _on_timer(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        """A timer of the trigger's clock fired: fire when it is the remembered firing, and register the next."""
        fire_time = ctx.get_partitioned_state(self.state_desc)
        if fire_time.get() == time:
            fire_time.clear()
            self.register_next_fire_timestamp(time, window, ctx, fire_time)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_merge(self, window: Window, ctx: Any) -> None:
        super().on_merge(window, ctx)
        next_fire = ctx.get_partitioned_state(self.state_desc).get()
        if next_fire is not None:
            getattr(ctx, self._clock.register)(next_fire)

    def clear(self, window: Window, ctx: Any) -> None:
        fire_time = ctx.get_partitioned_state(self.state_desc)
        if fire_time.get() is not None:
            getattr(ctx, self._clock.delete)(fire_time.get())
            fire_time.clear()


class ContinuousEventTimeTrigger(_ContinuousTrigger[T]):
    """Fires every ``interval`` of event time (aligned to the epoch) and at the window's end."""

    _clock = _EVENT_CLOCK

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        fire_time = ctx.get_partitioned_state(self.state_desc)
        if fire_time.get() is None:
            self.register_next_fire_timestamp(timestamp - timestamp % self.interval, window, ctx, fire_time)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        if time == window.max_timestamp():
            return TriggerResult.FIRE
        return self._on_timer(time, window, ctx)


class ContinuousProcessingTimeTrigger(_ContinuousTrigger[T]):
    """Fires every ``interval`` of processing time (aligned to the epoch) while the window has
    elements; with a processing-time assigner it also fires at the window's end (through
    ``PurgingTrigger`` or the assigner's own trigger it is combined with).

    >>> windowed.trigger(ContinuousProcessingTimeTrigger.of(Time.seconds(10)))
    """

    _clock = _PROCESSING_CLOCK

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: Any) -> TriggerResult:
        fire_time = ctx.get_partitioned_state(self.state_desc)
        if fire_time.get() is None:
            now = ctx.get_current_processing_time()
            self.register_next_fire_timestamp(now - now % self.interval, window, ctx, fire_time)
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: Any) -> TriggerResult:
        return self._on_timer(time, window, ctx)


# ---------------------------------------------------------------------------- assigners

class WindowAssigner(ABC, Generic[T, W]):
    """Assigns each element to zero or more windows (subscriptable like PyFlink's:
    ``WindowAssigner[tuple, TimeWindow]``)."""

    class WindowAssignerContext(ABC):
        """The third argument of ``assign_windows``: ``get_current_processing_time()`` and
        ``get_runtime_context()``."""

        @abstractmethod
        def get_current_processing_time(self) -> int: ...

        @abstractmethod
        def get_runtime_context(self) -> Any: ...

    @abstractmethod
    def assign_windows(self, element: Any, timestamp: int, context: "WindowAssigner.WindowAssignerContext"
                       ) -> list[Window]:
        """The windows of ``element`` (``timestamp`` is its event time; ``context`` gives the
        processing time)."""

    @abstractmethod
    def get_default_trigger(self, env: Any = None) -> Trigger:
        """The trigger used unless ``.trigger(...)`` replaces it (``env``: PyFlink passes the
        environment; rayflink's assigners ignore it)."""

    @abstractmethod
    def is_event_time(self) -> bool: ...

    def get_default_evictor(self) -> "Evictor | None":
        """The evictor used unless ``.evictor(...)`` replaces it (count sliding windows keep the
        last ``size`` elements); None for most assigners."""
        return None

    def get_window_serializer(self) -> Any:
        """The windows' ``TypeSerializer`` (rayflink pickles window state; None when not given)."""
        return None


class MergingWindowAssigner(WindowAssigner[T, W]):
    """An assigner whose windows can merge (sessions)."""

    class MergeCallback(ABC):
        """What ``merge_windows`` reports to: ``merge(to_be_merged, merge_result)`` (a plain
        function ``(to_be_merged, merge_result) -> None`` works too)."""

        @abstractmethod
        def merge(self, to_be_merged: Iterable[Window], merge_result: Window) -> None: ...

    @abstractmethod
    def merge_windows(self, windows: Iterable[Window], callback: Callable[[list, Window], None]) -> None:
        """Call ``callback(to_merge, merged)`` for every group of windows that becomes one."""


class MergeCallbackFunction(MergingWindowAssigner.MergeCallback):
    """A merge callback that is also a plain function, for assigners of either style:
    ``callback.merge(to_merge, merged)`` (PyFlink's) or ``callback(to_merge, merged)``."""

    def __init__(self, function: Callable[[list, Window], None]) -> None:
        self.function = function

    def merge(self, to_be_merged: Iterable[Window], merge_result: Window) -> None:
        self.function(to_be_merged, merge_result)

    __call__ = merge


def _check_size_offset(where: str, size: int, offset: int, slide: int | None = None) -> None:
    if size <= 0:
        raise GraphBuildError(f"{where}: the window size must be > 0, got {size} ms")
    if slide is not None:
        if slide <= 0:
            raise GraphBuildError(f"{where}: the slide must be > 0, got {slide} ms")
        if slide > size:
            raise GraphBuildError(f"{where}: the slide ({slide} ms) must not exceed the size ({size} ms); "
                                  "a slide larger than the size skips elements")
    period = slide if slide is not None else size
    if abs(offset) >= period:
        raise GraphBuildError(f"{where}: |offset| ({offset} ms) must be smaller than the "
                              f"{'slide' if slide is not None else 'size'} ({period} ms)")


class _EventTimeAssigner:
    """The event-time side of an assigner: the element's timestamp, fired by the watermark."""

    @staticmethod
    def _time(timestamp: int, context: Any) -> int:
        return timestamp

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class _ProcessingTimeAssigner:
    """The processing-time side of an assigner: the clock when the element arrives, fired by that clock."""

    @staticmethod
    def _time(timestamp: int, context: Any) -> int:
        return context.get_current_processing_time()

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class _OfTimeWindows:
    """An assigner of ``TimeWindow``s: their serializer."""

    def get_window_serializer(self) -> TypeSerializer:
        return TimeWindowSerializer()


class _Tumbling(_OfTimeWindows, WindowAssigner[T, TimeWindow]):
    def __init__(self, size: Any, offset: Any = 0) -> None:
        name = type(self).__name__
        self.size = to_millis(size, f"{name}.of")
        self.offset = to_millis(offset, f"{name}.of")
        _check_size_offset(f"{name}.of()", self.size, self.offset)

    @classmethod
    def of(cls, size: Any, offset: Any = 0) -> Any:
        return cls(size, offset)

    def window_start(self, timestamp: int) -> int:
        return timestamp - (timestamp - self.offset + self.size) % self.size

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        start = self.window_start(self._time(timestamp, context))  # type: ignore[attr-defined]
        return [TimeWindow(start, start + self.size)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, offset={self.offset})"


class TumblingEventTimeWindows(_EventTimeAssigner, _Tumbling[T]):
    """Fixed-size, non-overlapping event-time windows ``[k*size + offset, (k+1)*size + offset)``.

    >>> TumblingEventTimeWindows.of(Time.minutes(5))
    """


class TumblingProcessingTimeWindows(_ProcessingTimeAssigner, _Tumbling[T]):
    """Fixed-size, non-overlapping processing-time windows."""


class _Sliding(_OfTimeWindows, WindowAssigner[T, TimeWindow]):
    def __init__(self, size: Any, slide: Any, offset: Any = 0) -> None:
        name = type(self).__name__
        self.size = to_millis(size, f"{name}.of")
        self.slide = to_millis(slide, f"{name}.of")
        self.offset = to_millis(offset, f"{name}.of")
        _check_size_offset(f"{name}.of()", self.size, self.offset, self.slide)

    @classmethod
    def of(cls, size: Any, slide: Any, offset: Any = 0) -> Any:
        return cls(size, slide, offset)

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        timestamp = self._time(timestamp, context)  # type: ignore[attr-defined]
        size, slide = self.size, self.slide
        last_start = timestamp - (timestamp - self.offset + slide) % slide
        return [TimeWindow(start, start + size) for start in range(last_start, timestamp - size, -slide)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, slide={self.slide}, offset={self.offset})"


class SlidingEventTimeWindows(_EventTimeAssigner, _Sliding[T]):
    """Event-time windows of ``size`` starting every ``slide`` (an element is in size/slide windows).

    >>> SlidingEventTimeWindows.of(Time.days(7), Time.hours(1))
    """


class SlidingProcessingTimeWindows(_ProcessingTimeAssigner, _Sliding[T]):
    """Processing-time windows of ``size`` starting every ``slide``."""


class SessionWindowTimeGapExtractor(ABC):
    """The session gap (ms) of an element, for dynamic-gap session windows."""

    @abstractmethod
    def extract(self, element: Any) -> int: ...


def merge_time_windows(windows: Iterable[TimeWindow], callback: Callable[[list, Window], None]) -> None:
    """Merge overlapping or touching time windows, as Flink's ``TimeWindow.mergeWindows``."""
    ordered = sorted(windows)
    groups: list[tuple[TimeWindow, list[TimeWindow]]] = []
    for w in ordered:
        if groups and groups[-1][0].intersects(w):
            cover, members = groups[-1]
            groups[-1] = (cover.cover(w), members + [w])
        else:
            groups.append((w, [w]))
    for cover, members in groups:
        if len(members) > 1:
            callback(members, cover)


class _Sessions(_OfTimeWindows, MergingWindowAssigner[T, TimeWindow]):
    def __init__(self, gap: Any, dynamic: bool = False) -> None:
        self.name = name = type(self).__name__
        if dynamic:
            extract = getattr(gap, "extract", None)
            if not callable(extract) and not callable(gap):
                raise GraphBuildError(f"{name}.with_dynamic_gap(): expected a SessionWindowTimeGapExtractor "
                                      f"or a function element -> gap ms, got {type(gap).__name__}")
            self.gap_extractor: Callable[[Any], int] | None = extract if callable(extract) else gap
            self.gap = None
        else:
            self.gap_extractor = None
            self.gap = to_millis(gap, f"{name}.with_gap")
            if self.gap <= 0:
                raise GraphBuildError(f"{name}.with_gap(): the session gap must be > 0, got {self.gap} ms")

    @classmethod
    def with_gap(cls, size: Any) -> Any:
        return cls(size)

    @classmethod
    def with_dynamic_gap(cls, extractor: Any) -> Any:
        return cls(extractor, dynamic=True)

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        timestamp = self._time(timestamp, context)  # type: ignore[attr-defined]
        gap = self.gap
        if gap is None:
            gap = to_millis(self.gap_extractor(element), f"{self.name} gap extractor")
            if gap <= 0:
                raise ValueError(f"{self.name}: the dynamic session gap must be > 0, got {gap} ms "
                                 f"for element {element!r:.100}")
        return [TimeWindow(timestamp, timestamp + gap)]

    def merge_windows(self, windows: Iterable[Window], callback: Callable[[list, Window], None]) -> None:
        merge_time_windows(windows, callback)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gap={self.gap if self.gap is not None else 'dynamic'})"


class EventTimeSessionWindows(_EventTimeAssigner, _Sessions[T]):
    """Event-time sessions: a window per burst of activity, closed after ``gap`` without elements.

    >>> EventTimeSessionWindows.with_gap(Time.minutes(30))
    >>> EventTimeSessionWindows.with_dynamic_gap(lambda e: e["gap_ms"])
    """


class ProcessingTimeSessionWindows(_ProcessingTimeAssigner, _Sessions[T]):
    """Processing-time sessions."""


DynamicEventTimeSessionWindows = EventTimeSessionWindows
DynamicProcessingTimeSessionWindows = ProcessingTimeSessionWindows


class GlobalWindows(WindowAssigner[T, GlobalWindow]):
    """All elements of a key in one window; it fires only through a custom trigger.

    >>> GlobalWindows.create()  # with .trigger(CountTrigger.of(1000))
    """

    _WINDOW = GlobalWindow()

    @staticmethod
    def create() -> "GlobalWindows":
        return GlobalWindows()

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        return [self._WINDOW]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return NeverTrigger()

    def is_event_time(self) -> bool:
        return False

    def get_window_serializer(self) -> TypeSerializer:
        return GlobalWindowSerializer()

    def __repr__(self) -> str:
        return "GlobalWindows()"


class CountTumblingWindowAssigner(WindowAssigner[T, CountWindow]):
    """Windows of ``window_size`` elements per key, not overlapping (``count_window(size)``).

    As PyFlink does: the key's n-th element (from 0) goes to ``CountWindow(n // window_size)``
    (the count is keyed state of the assigner), which a count trigger fires, and purges, at
    ``window_size`` elements. A key's last, incomplete window never fires.

    >>> stream.key_by(k).window(CountTumblingWindowAssigner.of(100)).reduce(lambda a, b: a + b)
    """

    def __init__(self, window_size: int) -> None:
        if not isinstance(window_size, int) or isinstance(window_size, bool) or window_size <= 0:
            raise GraphBuildError(f"CountTumblingWindowAssigner.of({window_size!r}): the size must be an int > 0")
        self.window_size = window_size
        self._count_descriptor = _count_descriptor("tumble-count-assigner")

    @staticmethod
    def of(window_size: int) -> "CountTumblingWindowAssigner":
        return CountTumblingWindowAssigner(window_size)

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        return [CountWindow(_next_count(self._count_descriptor, context) // self.window_size)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return PurgingTrigger.of(CountTrigger.of(self.window_size))

    def is_event_time(self) -> bool:
        return False

    def get_window_serializer(self) -> TypeSerializer:
        return CountWindowSerializer()

    def __repr__(self) -> str:
        return f"CountTumblingWindowAssigner({self.window_size})"


def _count_descriptor(name: str) -> Any:
    from rayflink.datastream.state import ValueStateDescriptor

    return ValueStateDescriptor(name, None)


def _next_count(descriptor: Any, context: Any) -> int:
    """The key's element count before this element (from 0), counted up in the assigner's state."""
    state = context.get_runtime_context().get_state(descriptor)
    n = state.value() or 0
    state.update(n + 1)
    return n


class CountSlidingWindowAssigner(WindowAssigner[T, CountWindow]):
    """Windows of ``window_size`` elements per key starting every ``window_slide`` elements
    (``count_window(size, slide)``), as PyFlink numbers them: ``CountWindow(i)`` holds the
    key's elements ``i * slide`` to ``i * slide + size - 1`` (from 0) and fires, and is purged,
    once it has them all; incomplete windows never fire.

    >>> stream.key_by(k).count_window(10, 5).reduce(lambda a, b: a + b)
    """

    def __init__(self, window_size: int, window_slide: int) -> None:
        for what, n in (("size", window_size), ("slide", window_slide)):
            if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                raise GraphBuildError(f"CountSlidingWindowAssigner.of({window_size!r}, {window_slide!r}): "
                                      f"the {what} must be an int > 0")
        self.window_size = window_size
        self.window_slide = window_slide
        self._count_descriptor = _count_descriptor("slide-count-assigner")

    @staticmethod
    def of(window_size: int, window_slide: int) -> "CountSlidingWindowAssigner":
        return CountSlidingWindowAssigner(window_size, window_slide)

    def assign_windows(self, element: Any, timestamp: int, context: Any) -> list[Window]:
        n = _next_count(self._count_descriptor, context)
        size, slide = self.window_size, self.window_slide
        first = max(0, -(-(n - size + 1) // slide))  # windows i with i * slide <= n <= i * slide + size - 1
        return [CountWindow(i) for i in range(n // slide, first - 1, -1)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return PurgingTrigger.of(CountTrigger.of(self.window_size))

    def is_event_time(self) -> bool:
        return False

    def get_window_serializer(self) -> TypeSerializer:
        return CountWindowSerializer()

    def __repr__(self) -> str:
        return f"CountSlidingWindowAssigner({self.window_size}, {self.window_slide})"


# ---------------------------------------------------------------------------- evictors

class Evictor(ABC, Generic[T, W]):
    """Removes elements from a window before and/or after the window function runs.

    ``elements`` is a list of ``(value, timestamp)``; an evictor deletes from it in place.
    """

    @abstractmethod
    def evict_before(self, elements: list, size: int, window: Window, ctx: Any) -> None: ...

    @abstractmethod
    def evict_after(self, elements: list, size: int, window: Window, ctx: Any) -> None: ...


class _BeforeOrAfterEvictor(Evictor):
    """Evicts (``_evict``) before the window function, or after it when ``do_evict_after``."""

    do_evict_after: bool

    @abstractmethod
    def _evict(self, elements: list) -> None: ...

    def evict_before(self, elements: list, size: int, window: Window, ctx: Any) -> None:
        if not self.do_evict_after:
            self._evict(elements)

    def evict_after(self, elements: list, size: int, window: Window, ctx: Any) -> None:
        if self.do_evict_after:
            self._evict(elements)


class CountEvictor(_BeforeOrAfterEvictor):
    """Keeps the last ``max_count`` elements."""

    def __init__(self, max_count: int, do_evict_after: bool = False) -> None:
        if not isinstance(max_count, int) or max_count < 0:
            raise GraphBuildError(f"CountEvictor.of({max_count!r}): the count must be an int >= 0")
        self.max_count = max_count
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(max_count: int, do_evict_after: bool = False) -> "CountEvictor":
        return CountEvictor(max_count, do_evict_after)

    def _evict(self, elements: list) -> None:
        if len(elements) > self.max_count:
            del elements[: len(elements) - self.max_count]


class TimeEvictor(_BeforeOrAfterEvictor):
    """Keeps the elements with timestamp > (latest timestamp - ``window_size``)."""

    def __init__(self, window_size: Any, do_evict_after: bool = False) -> None:
        self.window_size = to_millis(window_size, "TimeEvictor.of")
        if self.window_size < 0:
            raise GraphBuildError(f"TimeEvictor.of(): the size must be >= 0, got {self.window_size} ms")
        self.do_evict_after = do_evict_after

    @staticmethod
    def of(window_size: Any, do_evict_after: bool = False) -> "TimeEvictor":
        return TimeEvictor(window_size, do_evict_after)

    def _evict(self, elements: list) -> None:
        stamps = [ts for _, ts in elements if ts is not None]
        if not stamps:
            return
        cutoff = max(stamps) - self.window_size
        elements[:] = [(v, ts) for v, ts in elements if ts is None or ts > cutoff]


