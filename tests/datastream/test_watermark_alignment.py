"""Watermark alignment: a source whose event time runs ahead of its group pauses until the others
catch up, so its watermark never leads theirs by much more than the maximal drift."""

from __future__ import annotations

import time

import pytest

from rayflink.common import Duration, WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import ProcessFunction, StreamExecutionEnvironment
from rayflink.runtime.messages import MIN_WATERMARK

pytestmark = pytest.mark.integration  # runs jobs on Ray

RECORDS = 2_000
FAST_STEP_MS, SLOW_STEP_MS = 10, 1  # event time per record: the fast source runs 10 times ahead
DRIFT_MS, UPDATE_MS = 1_000, 50
POLL = 20  # records a source reads at a time (taskmanager.network.batch-size)
# what the fast source may overshoot the group's allowance by: the event time of one poll, and of
# one update interval of reading before its allowance is renewed
SLACK_MS = POLL * FAST_STEP_MS + UPDATE_MS * FAST_STEP_MS


class ObserveWatermark(ProcessFunction):
    """Each record with the wall time and the watermark its source had emitted when it was read
    (chained to the source: the same thread, right after the read)."""

    def process_element(self, value, ctx, out):
        out.collect((value[0], value[1], time.time_ns(), ctx.timer_service().current_watermark()))


def source(name: str, step_ms: int):
    strategy = (WatermarkStrategy.for_monotonous_timestamps()
                .with_timestamp_assigner(lambda event, _ts: event[2])
                .with_watermark_alignment("orders-and-payments", Duration.of_millis(DRIFT_MS),
                                          Duration.of_millis(UPDATE_MS)))
    generator = DataGeneratorSource(lambda i, n=name, s=step_ms: (n, i, i * s), RECORDS,
                                    RateLimiterStrategy.per_second(1_000))
    return generator, strategy


def leads(observations: list[tuple]) -> list[int]:
    """The fast source's watermark minus the slow one's latest, at each fast record read while
    the slow source still read (both with a watermark)."""
    fast = sorted((t, wm) for name, _, t, wm in observations if name == "fast")
    slow = sorted((t, wm) for name, _, t, wm in observations if name == "slow")
    out, j, slow_wm = [], -1, MIN_WATERMARK
    for t, wm in fast:
        if t > slow[-1][0]:
            break  # the slow source ended: nothing holds the fast one back any more
        while j + 1 < len(slow) and slow[j + 1][0] <= t:
            j += 1
            slow_wm = slow[j][1]
        if wm > MIN_WATERMARK and slow_wm > MIN_WATERMARK:
            out.append(wm - slow_wm)
    return out


def test_the_fast_source_of_a_group_waits_for_the_slow_one():
    # Given two sources of one watermark group at the same record rate, one 10x faster in event time,
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.get_config().set_auto_watermark_interval(20)
    env.get_config().set_string("taskmanager.network.batch-size", str(POLL))
    streams = []
    for name, step in (("fast", FAST_STEP_MS), ("slow", SLOW_STEP_MS)):
        generator, strategy = source(name, step)
        streams.append(env.from_source(generator, strategy, name).process(ObserveWatermark()))
    # when the job runs both to their end,
    with streams[0].union(streams[1]).execute_and_collect("watermark-alignment") as results:
        observations = list(results)
    # then every record arrives once,
    for name in ("fast", "slow"):
        assert sorted(i for n, i, _, _ in observations if n == name) == list(range(RECORDS))
    # and while both read, the fast source's watermark led the slow one's by at most the drift and
    # the update slack (without alignment it would lead by up to 9 x 2 s = 18 s).
    observed = leads(observations)
    assert len(observed) > 100
    print(f"leads of the fast source (ms): max {max(observed)}, median {sorted(observed)[len(observed) // 2]}, "
          f"bound {DRIFT_MS + SLACK_MS}")
    assert max(observed) <= DRIFT_MS + SLACK_MS, sorted(observed)[-20:]
    assert max(observed) > DRIFT_MS // 2  # it did run ahead as far as it was allowed
