"""``assign_timestamps_and_watermarks``: assigns event timestamps and generates watermarks mid-stream.

As Flink's ``TimestampsAndWatermarksOperator``: the generator sees every record (``on_event``)
and runs ``on_periodic_emit`` every ``pipeline.auto-watermark-interval`` ms (a processing-time
timer of the operator contract); watermarks from upstream are swallowed, except the final one
at the end of input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.common import config_options as options
from rayflink.common.watermark_strategy import WatermarkOutput
from rayflink.errors import JobExecutionError, truncate
from rayflink.graph.transformations import OperatorKind, WatermarkParams
from rayflink.runtime.messages import MAX_WATERMARK, MIN_WATERMARK
from rayflink.runtime.operator import NO_RECORD, OneInputStreamOperator, OperatorContext
from rayflink.runtime.registry import register_operator


def assign_timestamps(ctx: OperatorContext, assign: Callable[[Any, int | None], int], values: list,
                      record_timestamps: list | None) -> list[int]:
    """Run a timestamp assigner over a batch; a non-int result or an exception names the record."""
    out = []
    for i, value in enumerate(values):
        try:
            ts = assign(value, None if record_timestamps is None else record_timestamps[i])
        except Exception as exc:
            raise ctx.failure(exc, value, what="the timestamp assigner") from exc
        if type(ts) is not int:
            raise ctx.failure(TypeError(f"the timestamp assigner returned {truncate(ts, 60)} "
                                        f"({type(ts).__name__}); it must return epoch milliseconds as an int"),
                              value, what="the timestamp assigner")
        out.append(ts)
    return out


@register_operator(OperatorKind.TIMESTAMPS_WATERMARKS)
class TimestampsAndWatermarksOperator(OneInputStreamOperator):
    """Runs the ``WatermarkStrategy`` of ``WatermarkParams`` on every record."""

    params: WatermarkParams

    def open(self) -> None:
        strategy = self.params.watermark_strategy
        self.assign = strategy.assigner_function()
        factory = strategy.generator_factory
        self.generator = factory() if factory is not None else None
        self.watermarks = WatermarkOutput()
        self.interval = options.get(self.ctx.config, options.AUTO_WATERMARK_INTERVAL)
        periodic = self.generator is not None and self.interval > 0 and not self.ctx.batch_mode
        self.next_emit: int | None = current_time_ms() + self.interval if periodic else None
        self.emitted = MIN_WATERMARK

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        if self.assign is not None:
            timestamps = assign_timestamps(self.ctx, self.assign, values, timestamps)
        if self.generator is not None:
            if timestamps is None:
                raise JobExecutionError(
                    f"{self.ctx.describe()}: record {truncate(values[0], 100)} has no timestamp for the "
                    "watermark generator; add .with_timestamp_assigner(...) to the WatermarkStrategy",
                    operator=self.ctx.name, uid=self.ctx.uid, subtask=self.ctx.subtask_index,
                    record=truncate(values[0]))
            on_event, output = self.generator.on_event, self.watermarks
            start = 0
            for i, value in enumerate(values):
                try:
                    on_event(value, timestamps[i], output)
                except Exception as exc:
                    raise self.ctx.failure(exc, value, what="the watermark generator") from exc
                if output.watermark is not None and output.watermark > self.emitted:  # emitted in on_event
                    self.output.emit(values[start:i + 1], timestamps[start:i + 1])
                    self._emit(output.watermark)
                    start = i + 1
            if start:
                values, timestamps = values[start:], timestamps[start:]
        self.output.emit(values, timestamps)

    def process_watermark(self, watermark: int) -> None:
        if watermark == MAX_WATERMARK:  # end of input: everything is complete
            self._emit(watermark)

    def _emit(self, watermark: int) -> None:
        if watermark > self.emitted:
            self.emitted = watermark
            self.current_watermark = watermark
            self.output.emit_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        return self.next_emit

    def on_processing_time(self, now_ms: int) -> None:
        if self.next_emit is None or now_ms < self.next_emit:
            return
        self.next_emit = now_ms + self.interval
        try:
            self.generator.on_periodic_emit(self.watermarks)
        except Exception as exc:
            raise self.ctx.failure(exc, NO_RECORD, what="the watermark generator's on_periodic_emit") from exc
        if self.watermarks.watermark is not None:
            self._emit(self.watermarks.watermark)
