"""The interval join operator: buffers both keyed inputs by timestamp and pairs records within the bounds.

Follows Flink's ``IntervalJoinOperator``: a left record at ``t`` joins right records in
``[t + lower, t + upper]``; each side's buffer is keyed map state ``timestamp -> [records]``,
cleaned up by event-time timers once the watermark makes further matches impossible.
"""

from __future__ import annotations

from typing import Any

from rayflink.datastream.output_tag import OutputTag
from rayflink.datastream.state import MapStateDescriptor
from rayflink.errors import JobExecutionError, truncate
from rayflink.graph.transformations import IntervalJoinParams, OperatorKind
from rayflink.operators.functions import close_function, open_function, positional_arity, resolve
from rayflink.runtime.messages import MIN_WATERMARK
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator

_CLEANUP_LEFT = "CLEANUP_LEFT"
_CLEANUP_RIGHT = "CLEANUP_RIGHT"


class JoinContext:
    """The ``ctx`` of ``ProcessJoinFunction.process_element``."""

    __slots__ = ("_out", "left_ts", "right_ts")

    def __init__(self, out: TimestampedCollector) -> None:
        self._out = out
        self.left_ts = 0
        self.right_ts = 0

    def set_timestamps(self, left_ts: int, right_ts: int) -> None:
        """The pair about to be joined; its results are stamped with the later of the two."""
        self.left_ts = left_ts
        self.right_ts = right_ts
        self._out.timestamp = left_ts if left_ts > right_ts else right_ts

    def get_left_timestamp(self) -> int:
        return self.left_ts

    def get_right_timestamp(self) -> int:
        return self.right_ts

    def get_timestamp(self) -> int:
        return max(self.left_ts, self.right_ts)

    timestamp = get_timestamp

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._out.output(output_tag, value)


@register_operator(OperatorKind.INTERVAL_JOIN)
class IntervalJoinOperator(TwoInputStreamOperator):
    """Runs ``interval_join(...).between(lower, upper).process(fn)`` (see ``IntervalJoinParams``)."""

    params: IntervalJoinParams

    def open(self) -> None:
        p = self.params
        self.function = p.function
        self.lower = int(p.lower)
        self.upper = int(p.upper)
        self.late_tags = (p.left_late_tag, p.right_late_tag)
        self.num_late_records_dropped = 0
        self.keyed_backend = self.keyed_state_backend()
        self.timers = self.internal_timer_service()
        backend = self.keyed_backend
        self.buffers = (backend.get_partitioned_state(MapStateDescriptor("LEFT_BUFFER", None, None)),
                        backend.get_partitioned_state(MapStateDescriptor("RIGHT_BUFFER", None, None)))
        open_function(self.function, self.ctx, self.runtime_context())
        self.fn = resolve(self.function, "process_element")
        self.fn_collects = positional_arity(self.fn) != 3
        self.collector = TimestampedCollector(self.output)
        self.join_ctx = JoinContext(self.collector)

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.num_late_records_dropped}

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        is_left = input_index == 0
        if timestamps is None or None in timestamps:
            i = 0 if timestamps is None else timestamps.index(None)
            raise JobExecutionError(
                f"interval join {self.ctx.describe()}: record {truncate(values[i], 100)} of the "
                f"{'left' if is_left else 'right'} input has no event timestamp; interval joins need "
                "timestamps (a WatermarkStrategy with a timestamp assigner)",
                operator=self.ctx.name, uid=self.ctx.uid, subtask=self.ctx.subtask_index,
                record=truncate(values[i]))
        if is_left:
            lower, upper = self.lower, self.upper
        else:
            lower, upper = -self.upper, -self.lower
        ours, others = (self.buffers if is_left else self.buffers[::-1])
        selector = self.ctx.state_key_selectors[input_index]
        backend, wm = self.keyed_backend, self.current_watermark
        timers = self.timers.event_time
        cleanup_ns = _CLEANUP_LEFT if is_left else _CLEANUP_RIGHT
        jctx, out = self.join_ctx, self.collector
        for value, ts in zip(values, timestamps):
            if wm != MIN_WATERMARK and ts < wm:
                tag = self.late_tags[input_index]
                if tag is not None:
                    out.output(tag, value, ts)
                else:
                    self.num_late_records_dropped += 1
                continue
            try:
                key = selector(value)
                backend.set_current_key(key)
                bucket = ours.get(ts)
                ours.put(ts, [value] if bucket is None else bucket + [value])
                for other_ts, bucket in others.items():
                    if other_ts < ts + lower or other_ts > ts + upper:
                        continue
                    for other in bucket:
                        if is_left:
                            jctx.set_timestamps(ts, other_ts)
                            self._call(value, other)
                        else:
                            jctx.set_timestamps(other_ts, ts)
                            self._call(other, value)
            except JobExecutionError:
                raise
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
            timers.add(ts + upper if upper > 0 else ts, key, cleanup_ns)
        out.flush()

    def _call(self, left: Any, right: Any) -> None:
        if self.fn_collects:
            self.fn(left, right, self.join_ctx, self.collector)
        else:
            returned = self.fn(left, right, self.join_ctx)
            if returned is not None:
                self.collector.collect_all(returned)

    def process_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        if len(self.timers.event_time):
            backend = self.keyed_backend
            for ts, key, namespace in self.timers.event_time.pop_due(watermark):
                backend.set_current_key(key)
                if namespace == _CLEANUP_LEFT:
                    self.buffers[0].remove(ts if self.upper <= 0 else ts - self.upper)
                else:
                    self.buffers[1].remove(ts + self.lower if self.lower <= 0 else ts)
        self.output.emit_watermark(watermark)

    def close(self) -> None:
        try:
            close_function(self.function)
        finally:
            super().close()

