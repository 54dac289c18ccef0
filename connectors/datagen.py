"""``DataGeneratorSource``: records made by a function of their index, optionally rate-limited."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit, SplitBatch


@dataclass(frozen=True)
class RateLimiterStrategy:
    """Records per second for the whole source, shared evenly by its subtasks."""

    records_per_second: float | None

    @staticmethod
    def per_second(records_per_second: float) -> "RateLimiterStrategy":
        if records_per_second <= 0:
            raise ValueError(f"RateLimiterStrategy.per_second: the rate must be > 0, got {records_per_second}")
        return RateLimiterStrategy(float(records_per_second))

    @staticmethod
    def no_op() -> "RateLimiterStrategy":
        return RateLimiterStrategy(None)


class DataGeneratorSource(Source):
    """Emits ``generator_function(i)`` for i = 0, 1, ... (``count`` records, or forever when None).

    >>> src = DataGeneratorSource(lambda i: {"id": i}, 1_000_000, RateLimiterStrategy.per_second(10_000))
    >>> env.from_source(src, WatermarkStrategy.no_watermarks(), "gen")
    """

    def __init__(self, generator_function: Callable[[int], Any], count: int | None = None,
                 rate_limiter_strategy: RateLimiterStrategy | None = None, type_info: Any = None) -> None:
        if count is not None and count < 0:
            raise ValueError(f"DataGeneratorSource: count must be >= 0 or None, got {count}")
        self.generator_function = getattr(generator_function, "map", generator_function)
        self.count = count
        self.rate = (rate_limiter_strategy or RateLimiterStrategy.no_op()).records_per_second
        self.type_info = type_info

    def is_bounded(self) -> bool:
        return self.count is not None

    def output_type(self) -> Any:
        return self.type_info

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        # split i produces indexes i, i + parallelism, i + 2 * parallelism, ...
        return [SourceSplit(f"datagen-{i}", (i, parallelism)) for i in range(parallelism)]

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        rate = None if self.rate is None else self.rate / parallelism
        return _GeneratorReader(self.generator_function, self.count, splits, rate)


class _GeneratorReader(SourceReader):
    def __init__(self, fn: Callable[[int], Any], count: int | None, splits: list[SourceSplit],
                 rate: float | None) -> None:
        self._fn = fn
        self._count = count
        self._splits = [[s.split_id, s.payload[0], s.payload[1]] for s in splits]
        self._rate = rate
        self._started = time.monotonic()
        self._emitted = 0

    def _allowed(self, max_records: int) -> int:
        if self._rate is None:
            return max_records
        due = int((time.monotonic() - self._started) * self._rate) - self._emitted
        return max(0, min(max_records, due))

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        count = self._count
        live = [s for s in self._splits if count is None or s[1] < count]
        if not live:
            return None
        allowed = self._allowed(max_records)
        if allowed == 0:
            return []
        out = []
        per_split = max(1, allowed // len(live))
        fn = self._fn
        for split in live:
            split_id, pos, step = split
            end = pos + per_split * step
            if count is not None:
                end = min(end, count)
            indexes = range(pos, end, step)
            split[1] = pos + len(indexes) * step
            if indexes:
                out.append(SplitBatch(split_id, [fn(i) for i in indexes]))
                self._emitted += len(indexes)
        return out

    def wait_time(self) -> float:
        if self._rate is None:
            return 0.0
        next_due = self._started + (self._emitted + 1) / self._rate
        return max(0.0, next_due - time.monotonic())

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(sid, (pos, step)) for sid, pos, step in self._splits]
