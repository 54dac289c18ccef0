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
from rayflink.operators.functions import close_function, open_function, positional_arity, resolve
from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for, runtime_context_for
from rayflink.runtime.messages import MIN_WATERMARK
from rayflink.state.timers import InternalTimerService

_CLEANUP_LEFT = "CLEANUP_LEFT"
_CLEANUP_RIGHT = "CLEANUP_RIGHT"


class JoinContext:
    """The ``ctx`` of ``ProcessJoinFunction.process_element``."""

    __slots__ = ("_op", "left_ts", "right_ts")

    def __init__(self, op: "IntervalJoinOperator") -> None:
        self._op = op
        self.left_ts = 0
        self.right_ts = 0

    def get_left_timestamp(self) -> int:
        return self.left_ts

    def get_right_timestamp(self) -> int:
        return self.right_ts

    def get_timestamp(self) -> int:
        return max(self.left_ts, self.right_ts)

    timestamp = get_timestamp

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._op.side_out(output_tag, value, self.get_timestamp())


class _Collector:
    __slots__ = ("op",)

    def __init__(self, op: "IntervalJoinOperator") -> None:
        self.op = op

    def collect(self, value: Any) -> None:
        self.op.out_values.append(value)
        self.op.out_stamps.append(self.op.join_ctx.get_timestamp())


class IntervalJoinOperator(KeyedStateOperator):
    """params: ``function`` (ProcessJoinFunction), inclusive ``lower``/``upper`` bounds (ms), late tags."""

    def open(self) -> None:
        p = self.params
        self.function = p["function"]
        self.lower = int(p["lower"])
        self.upper = int(p["upper"])
        self.late_tags = (p.get("left_late_tag"), p.get("right_late_tag"))
        self.num_late_records_dropped = 0
        self.keyed_backend = keyed_backend_for(self)
        self.timers = InternalTimerService(self.ctx.max_parallelism, self.ctx.key_groups())
        backend = self.keyed_backend
        self.buffers = (backend.get_partitioned_state(MapStateDescriptor("LEFT_BUFFER", None, None)),
                        backend.get_partitioned_state(MapStateDescriptor("RIGHT_BUFFER", None, None)))
        open_function(self.function, self.ctx, runtime_context_for(self))
        self.fn = resolve(self.function, "process_element")
        self.fn_collects = positional_arity(self.fn) != 3
        self.join_ctx = JoinContext(self)
        self.collector = _Collector(self)
        self.out_values: list = []
        self.out_stamps: list = []
        self.side: dict[str, tuple[OutputTag, list, list]] = {}

    def extra_metrics(self) -> dict:
        """Counters the task adds to this operator's metrics."""
        return {"num_late_records_dropped": self.num_late_records_dropped}

    def side_out(self, tag: OutputTag, value: Any, ts: int) -> None:
        entry = self.side.get(tag.tag_id)
        if entry is None:
            entry = self.side[tag.tag_id] = (tag, [], [])
        entry[1].append(value)
        entry[2].append(ts)

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
        jctx = self.join_ctx
        for value, ts in zip(values, timestamps):
            if wm != MIN_WATERMARK and ts < wm:
                tag = self.late_tags[input_index]
                if tag is not None:
                    self.side_out(tag, value, ts)
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
                            jctx.left_ts, jctx.right_ts = ts, other_ts
                            self._call(value, other)
                        else:
                            jctx.left_ts, jctx.right_ts = other_ts, ts
                            self._call(other, value)
            except JobExecutionError:
                raise
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
            timers.add(ts + upper if upper > 0 else ts, key, cleanup_ns)
        self._flush()

    def _call(self, left: Any, right: Any) -> None:
        if self.fn_collects:
            self.fn(left, right, self.join_ctx, self.collector)
        else:
            returned = self.fn(left, right, self.join_ctx)
            if returned is not None:
                for r in returned:
                    self.collector.collect(r)

    def _flush(self) -> None:
        if self.out_values:
            self.output.emit(self.out_values, self.out_stamps)
            self.out_values, self.out_stamps = [], []
        for tag, values, stamps in self.side.values():
            self.output.emit_side(tag, values, stamps)
        self.side = {}

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
        close_function(self.function)
        super().close()

