"""Process functions: non-keyed, keyed (state and timers), and their two-input variants."""

from __future__ import annotations

import time
from typing import Any

from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.time_domain import TimeDomain
from rayflink.errors import JobExecutionError
from rayflink.operators.functions import close_function, open_function, positional_arity
from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for, runtime_context_for
from rayflink.runtime.operator import NO_RECORD
from rayflink.state.timers import InternalTimerService


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TimerService:
    """``ctx.timer_service()``: the clocks, and timers for the current key."""

    __slots__ = ("_op",)

    def __init__(self, op: "ProcessOperator") -> None:
        self._op = op

    def current_processing_time(self) -> int:
        return _now_ms()

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def _timers(self) -> InternalTimerService:
        timers = self._op.timers
        if timers is None:
            raise JobExecutionError(
                f"{self._op.ctx.describe()}: setting timers is only supported on keyed streams; "
                "call key_by(...) before process(...)"
            )
        return timers

    def register_event_time_timer(self, timestamp: int) -> None:
        self._timers().event_time.add(int(timestamp), self._op.keyed_backend.get_current_key(), None)

    def delete_event_time_timer(self, timestamp: int) -> None:
        self._timers().event_time.remove(int(timestamp), self._op.keyed_backend.get_current_key(), None)

    def register_processing_time_timer(self, timestamp: int) -> None:
        self._timers().processing_time.add(int(timestamp), self._op.keyed_backend.get_current_key(), None)
        self._op.timer_registered = True

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self._timers().processing_time.remove(int(timestamp), self._op.keyed_backend.get_current_key(), None)


class ProcessContext:
    """The ``ctx`` of ``process_element`` and ``on_timer``."""

    __slots__ = ("_op", "_timestamp", "_time_domain", "_timer_service")

    def __init__(self, op: "ProcessOperator") -> None:
        self._op = op
        self._timestamp: int | None = None
        self._time_domain: TimeDomain | None = None
        self._timer_service = TimerService(op)

    def timestamp(self) -> int | None:
        return self._timestamp

    def timer_service(self) -> TimerService:
        return self._timer_service

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._op.emit_side(output_tag, value, self._timestamp)

    def get_current_key(self) -> Any:
        backend = self._op.keyed_backend
        if backend is None:
            raise JobExecutionError(f"{self._op.ctx.describe()}: get_current_key() needs a keyed stream")
        return backend.get_current_key()

    def time_domain(self) -> TimeDomain | None:
        return self._time_domain


class _Collector:
    __slots__ = ("_op",)

    def __init__(self, op: "ProcessOperator") -> None:
        self._op = op

    def collect(self, value: Any) -> None:
        self._op.emit_main(value)


class ProcessOperator(KeyedStateOperator):
    """Runs a (Keyed)ProcessFunction; on a keyed stream it scopes state and timers to each key."""

    element_methods: tuple[str, ...] = ("process_element",)

    def open(self) -> None:
        self.function = self.params["function"]
        self.keyed_backend = keyed_backend_for(self)
        self.timers = (InternalTimerService(self.ctx.max_parallelism, self.ctx.key_groups())
                       if self.keyed_backend is not None else None)
        self.timer_registered = False
        open_function(self.function, self.ctx, runtime_context_for(self))
        self.context = ProcessContext(self)
        self.collector = _Collector(self)
        fn = self.function
        self.element_fns = [getattr(fn, m, None) or fn for m in self.element_methods]
        self.element_collects = [positional_arity(f) >= 3 or positional_arity(f) == -1
                                 for f in self.element_fns]
        on_timer = getattr(fn, "on_timer", None)
        self.on_timer_fn = on_timer
        self.on_timer_collects = on_timer is not None and positional_arity(on_timer) >= 3
        selectors = self.ctx.state_key_selectors
        self.key_selectors = list(selectors) if selectors else None
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self.out_values: list = []
        self.out_stamps: list = []
        self.any_stamp = False
        self.side: dict[str, tuple[OutputTag, list, list]] = {}

    # ---- emission from user code ----------------------------------------------------

    def emit_main(self, value: Any) -> None:
        self.out_values.append(value)
        ts = self.context._timestamp
        self.out_stamps.append(ts)
        if ts is not None:
            self.any_stamp = True

    def emit_side(self, tag: OutputTag, value: Any, timestamp: int | None) -> None:
        if not isinstance(tag, OutputTag):
            raise JobExecutionError(f"{self.ctx.describe()}: ctx.output() needs an OutputTag, got {tag!r:.100}")
        entry = self.side.get(tag.tag_id)
        if entry is None:
            entry = self.side[tag.tag_id] = (tag, [], [])
        entry[1].append(value)
        entry[2].append(timestamp)

    def _consume(self, result: Any) -> None:
        if result is None:
            return
        for item in result:
            if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                self.emit_side(item[0], item[1], self.context._timestamp)
            else:
                self.emit_main(item)

    def _flush(self) -> None:
        if self.out_values:
            self.output.emit(self.out_values, self.out_stamps if self.any_stamp else None)
        for tag, values, stamps in self.side.values():
            self.output.emit_side(tag, values, stamps if any(s is not None for s in stamps) else None)
        self._reset_buffers()

    # ---- records ------------------------------------------------------------------------

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn = self.element_fns[input_index]
        collects = self.element_collects[input_index]
        ctx = self.context
        ctx._time_domain = None
        backend = self.keyed_backend
        selector = self.key_selectors[input_index] if self.key_selectors else None
        collector = self.collector
        for i, value in enumerate(values):
            ctx._timestamp = None if timestamps is None else timestamps[i]
            try:
                if selector is not None:
                    backend.set_current_key(selector(value))
                if collects:
                    fn(value, ctx, collector)
                else:
                    self._consume(fn(value, ctx))
            except JobExecutionError:
                raise
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
        self._flush()

    # ---- timers ---------------------------------------------------------------------------

    def _fire(self, timestamp: int, key: Any, domain: TimeDomain) -> None:
        if self.on_timer_fn is None:
            return
        self.keyed_backend.set_current_key(key)
        ctx = self.context
        ctx._timestamp = timestamp if domain is TimeDomain.EVENT_TIME else None
        ctx._time_domain = domain
        try:
            if self.on_timer_collects:
                self.on_timer_fn(timestamp, ctx, self.collector)
            else:
                self._consume(self.on_timer_fn(timestamp, ctx))
        except JobExecutionError:
            raise
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what=f"on_timer({timestamp}) for key {key!r:.100}") from exc

    def process_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        if self.timers is not None and len(self.timers.event_time):
            for ts, key, _ns in self.timers.event_time.pop_due(watermark):
                self._fire(ts, key, TimeDomain.EVENT_TIME)
            self._flush()
        self.output.emit_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        return self.timers.processing_time.peek() if self.timers is not None else None

    def on_processing_time(self, now_ms: int) -> None:
        if self.timers is None:
            return
        for ts, key, _ns in self.timers.processing_time.pop_due(now_ms):
            self._fire(ts, key, TimeDomain.PROCESSING_TIME)
        self._flush()

    # ---- state ------------------------------------------------------------------------------

    def close(self) -> None:
        close_function(self.function)
        super().close()


class CoProcessOperator(ProcessOperator):
    """Runs a (Keyed)CoProcessFunction over two inputs."""

    element_methods = ("process_element1", "process_element2")
