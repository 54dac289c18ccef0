"""Process functions: non-keyed, keyed (state and timers), and their two-input variants."""

from __future__ import annotations

from typing import Any

from rayflink.clock import current_time_ms
from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.time_domain import TimeDomain
from rayflink.errors import JobExecutionError
from rayflink.graph.transformations import FunctionParams, OperatorKind
from rayflink.operators.functions import close_function, open_function, positional_arity, side_output
from rayflink.runtime.operator import (
    NO_RECORD,
    AbstractStreamOperator,
    OneInputStreamOperator,
    TwoInputStreamOperator,
)
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator
from rayflink.state.timers import InternalTimerService


class TimerService:
    """``ctx.timer_service()``: the clocks, and timers for the current key."""

    __slots__ = ("_op",)

    def __init__(self, op: "_ProcessOperatorBase") -> None:
        self._op = op

    def current_processing_time(self) -> int:
        return current_time_ms()

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

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self._timers().processing_time.remove(int(timestamp), self._op.keyed_backend.get_current_key(), None)


class ProcessContext:
    """The ``ctx`` of ``process_element`` and ``on_timer``."""

    __slots__ = ("_op", "_out", "_time_domain", "_timer_service")

    def __init__(self, op: "_ProcessOperatorBase", out: TimestampedCollector) -> None:
        self._op = op
        self._out = out
        self._time_domain: TimeDomain | None = None
        self._timer_service = TimerService(op)

    def timestamp(self) -> int | None:
        return self._out.timestamp

    def timer_service(self) -> TimerService:
        return self._timer_service

    def output(self, output_tag: OutputTag, value: Any) -> None:
        side_output(self._op.ctx, self._out, output_tag, value)

    def get_current_key(self) -> Any:
        backend = self._op.keyed_backend
        if backend is None:
            raise JobExecutionError(f"{self._op.ctx.describe()}: get_current_key() needs a keyed stream")
        return backend.get_current_key()

    def time_domain(self) -> TimeDomain | None:
        return self._time_domain


class _ProcessOperatorBase(AbstractStreamOperator):
    """Runs a process function; on a keyed stream it scopes state and timers to each key."""

    element_methods: tuple[str, ...] = ("process_element",)
    params: FunctionParams

    def open(self) -> None:
        self.function = self.params.function
        self.keyed_backend = self.keyed_state_backend()
        self.timers = self.internal_timer_service() if self.keyed_backend is not None else None
        open_function(self.function, self.ctx, self.runtime_context())
        self.collector = TimestampedCollector(self.output)
        self.context = ProcessContext(self, self.collector)
        fn = self.function
        self.element_fns = [getattr(fn, m, None) or fn for m in self.element_methods]
        self.element_collects = [positional_arity(f) >= 3 or positional_arity(f) == -1
                                 for f in self.element_fns]
        on_timer = getattr(fn, "on_timer", None)
        self.on_timer_fn = on_timer
        self.on_timer_collects = on_timer is not None and positional_arity(on_timer) >= 3
        selectors = self.ctx.state_key_selectors
        self.key_selectors = list(selectors) if selectors else None

    def _consume(self, result: Any) -> None:
        """What a function returned or yielded: records, or ``(OutputTag, record)`` for side outputs."""
        if result is None:
            return
        out = self.collector
        for item in result:
            if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                out.output(item[0], item[1])
            else:
                out.collect(item)

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
            collector.timestamp = None if timestamps is None else timestamps[i]
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
        collector.flush()

    # ---- timers ---------------------------------------------------------------------------

    def _fire(self, timestamp: int, key: Any, domain: TimeDomain) -> None:
        if self.on_timer_fn is None:
            return
        self.keyed_backend.set_current_key(key)
        ctx = self.context
        self.collector.timestamp = timestamp if domain is TimeDomain.EVENT_TIME else None
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
            self.collector.flush()
        self.output.emit_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        return self.timers.processing_time.peek() if self.timers is not None else None

    def on_processing_time(self, now_ms: int) -> None:
        if self.timers is None:
            return
        for ts, key, _ns in self.timers.processing_time.pop_due(now_ms):
            self._fire(ts, key, TimeDomain.PROCESSING_TIME)
        self.collector.flush()

    def close(self) -> None:
        try:
            close_function(self.function)
        finally:
            super().close()


@register_operator(OperatorKind.PROCESS, OperatorKind.KEYED_PROCESS)
class ProcessOperator(_ProcessOperatorBase, OneInputStreamOperator):
    """Runs a ProcessFunction or, on a keyed stream, a KeyedProcessFunction."""


@register_operator(OperatorKind.CO_PROCESS)
class CoProcessOperator(_ProcessOperatorBase, TwoInputStreamOperator):
    """Runs a (Keyed)CoProcessFunction over two inputs."""

    element_methods = ("process_element1", "process_element2")
