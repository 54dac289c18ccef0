"""The source operator: event timestamps and per-split watermarks for what a SourceReader reads."""

from __future__ import annotations

from typing import Any

from rayflink.common.watermark_strategy import WatermarkOutput
from rayflink.graph.transformations import OperatorKind, WatermarkParams
from rayflink.operators.timestamps import assign_timestamps
from rayflink.runtime.messages import MIN_WATERMARK
from rayflink.runtime.operator import SourceOperator
from rayflink.runtime.registry import register_operator


class _SplitWatermarks:
    __slots__ = ("generator", "output", "last_active_ms")

    def __init__(self, generator: Any, now_ms: int) -> None:
        self.generator = generator
        self.output = WatermarkOutput()
        self.last_active_ms = now_ms


@register_operator(OperatorKind.SOURCE)
class SplitWatermarkSourceOperator(SourceOperator):
    """Assigns timestamps and tracks one watermark generator per split; the minimum over
    active splits is the subtask's watermark, and a subtask whose splits are all idle is idle."""

    params: WatermarkParams

    def open(self) -> None:
        strategy = self.params.watermark_strategy
        self.assigner = strategy.assigner_function() if strategy is not None else None
        self.factory = strategy.generator_factory if strategy is not None else None
        self.idleness_ms = strategy.idleness_ms if strategy is not None else None
        self.splits: dict[str, _SplitWatermarks] = {}
        self.emitted_watermark = MIN_WATERMARK
        self.released_watermark = MIN_WATERMARK
        self.idle = False

    def register_splits(self, split_ids: list[str], now_ms: int) -> None:
        for split_id in split_ids:
            if split_id not in self.splits:
                self.splits[split_id] = _SplitWatermarks(self._new_generator(), now_ms)

    def _new_generator(self) -> Any:
        return self.factory() if self.factory is not None else None

    def emit_split_batch(self, split_id: str, values: list, timestamps: list | None, now_ms: int,
                         side_output: Any = None) -> None:
        if side_output is not None:
            self.output.emit_side(side_output, values, timestamps)
            return
        if self.assigner is not None:
            timestamps = assign_timestamps(self.ctx, self.assigner, values, timestamps)
        split = self.splits.get(split_id)
        if split is None:
            split = self.splits[split_id] = _SplitWatermarks(self._new_generator(), now_ms)
        split.last_active_ms = now_ms
        if split.generator is not None and timestamps is not None:
            on_event, output = split.generator.on_event, split.output
            output.idle = False
            for value, ts in zip(values, timestamps):
                on_event(value, ts, output)
        self.output.emit(values, timestamps)

    def release_splits(self, split_ids: list[str]) -> None:
        """Splits read to their end stop holding the watermark back (Flink releases their outputs);
        the watermark they reached counts when no split is left."""
        for split_id in split_ids:
            split = self.splits.pop(split_id, None)
            if split is not None and split.generator is not None:
                split.generator.on_periodic_emit(split.output)
                if split.output.watermark is not None:
                    self.released_watermark = max(self.released_watermark, split.output.watermark)

    def _active_watermarks(self, now_ms: int) -> list[int | None]:
        """Run the generators' periodic step: the watermarks of the splits not idle (None: none yet)."""
        active: list[int | None] = []
        for split in self.splits.values():
            if split.generator is None:
                continue
            split.generator.on_periodic_emit(split.output)
            timed_out = self.idleness_ms is not None and now_ms - split.last_active_ms >= self.idleness_ms
            if split.output.idle or timed_out:
                continue
            active.append(split.output.watermark)
        return active

    def watermark_alignment(self) -> Any:
        strategy = self.params.watermark_strategy
        return None if strategy is None else strategy.alignment

    def reading_watermark(self, now_ms: int) -> tuple[int, bool]:
        active = self._active_watermarks(now_ms)
        if not active:
            return max(self.emitted_watermark, self.released_watermark), True
        if any(w is None for w in active):
            return self.emitted_watermark, False
        return max(min(active), self.emitted_watermark), False

    def periodic_emit(self, now_ms: int) -> tuple[int | None, bool | None]:
        """Run the generators' periodic step; return (new watermark or None, new idle flag or None)."""
        if self.factory is None:
            return None, None
        active = self._active_watermarks(now_ms)
        if not active and self.released_watermark > self.emitted_watermark:
            # the last splits finished: the watermark they reached goes out before the subtask idles
            self.emitted_watermark = self.released_watermark
            return self.released_watermark, None
        idle = not active
        idle_change = idle if idle != self.idle else None
        self.idle = idle
        if idle or any(w is None for w in active):
            return None, idle_change
        watermark = min(active)
        if watermark > self.emitted_watermark:
            self.emitted_watermark = watermark
            return watermark, idle_change
        return None, idle_change
