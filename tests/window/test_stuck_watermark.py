"""Seed 12.4.3: one silent partition out of 16 freezes the watermark; ``with_idleness`` unfreezes it.

The source has 16 splits; split 7 sends one record and then nothing while the others keep
advancing event time. Each window result carries the watermark at which it fired: without
idleness every window fires only at the end of input (the final MAX watermark); with
idleness they fire while the source is still running.
"""

from __future__ import annotations

import time

import pytest

from rayflink.common import Duration, Time, WatermarkStrategy
from rayflink.datastream import ProcessWindowFunction, StreamExecutionEnvironment
from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit, SplitBatch
from rayflink.datastream.window import TumblingEventTimeWindows
from rayflink.testing import collect

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

MAX_WATERMARK = 2**63 - 1
STEPS = 40


class _PartitionsReader(SourceReader):
    def __init__(self, splits: list[SourceSplit]) -> None:
        self.splits = [s.split_id for s in splits]
        self.steps = STEPS + (20 if "7" in self.splits else 0)  # the silent partition's reader ends last
        self.step = 0
        self.last_emit = 0.0

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        if self.step >= self.steps:
            return None
        if time.monotonic() - self.last_emit < 0.03:  # paced: one event-time second every 30 ms
            return []
        self.last_emit = time.monotonic()
        ts = self.step * 1000
        self.step += 1
        return [SplitBatch(s, [{"partition": int(s), "ts": ts}], None)
                for s in self.splits if (s != "7" and self.step <= STEPS) or ts == 0]

    def wait_time(self) -> float:
        return 0.005


class SixteenPartitions(Source):
    """Like a Kafka topic with 16 partitions, where partition 7 went silent after its first record."""

    def is_bounded(self) -> bool:
        return True

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return [SourceSplit(str(i)) for i in range(16)]

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return _PartitionsReader(splits)


class FiredAt(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield context.window().start, context.current_watermark()


def _fired_watermarks(strategy: WatermarkStrategy) -> list[tuple[int, int]]:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.get_config().set_integer("pipeline.auto-watermark-interval", 20)
    stream = (env.from_source(SixteenPartitions(), strategy.with_timestamp_assigner(lambda e, _: e["ts"]), "kafka")
              .key_by(lambda e: e["partition"] % 2)
              .window(TumblingEventTimeWindows.of(Time.seconds(5))).process(FiredAt()))
    return collect(stream)


def test_a_silent_partition_holds_every_window_until_the_end_of_input():
    fired = _fired_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(0)))
    assert len(fired) == 2 * STEPS // 5
    assert all(wm == MAX_WATERMARK for _, wm in fired)


def test_with_idleness_windows_fire_while_the_partition_stays_silent():
    fired = _fired_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(0))
                              .with_idleness(Duration.of_millis(200)))
    assert len(fired) == 2 * STEPS // 5
    early = [start for start, wm in fired if wm < MAX_WATERMARK]
    assert len(early) >= 2 * (STEPS // 5 - 2)  # all but the last windows fire before the end
