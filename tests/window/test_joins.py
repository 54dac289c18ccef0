"""Window join, co-group and interval join: given two timed streams, the pairs Flink would produce."""

from __future__ import annotations

import pytest

from rayflink import testing
from rayflink.common import Duration, Time, WatermarkStrategy
from rayflink.datastream import OutputTag, ProcessJoinFunction, StreamExecutionEnvironment
from rayflink.datastream.window import TumblingEventTimeWindows
from rayflink.graph.transformations import IntervalJoinParams, OperatorKind
from rayflink.testing import OperatorHarness, collect

MIN = 60_000


def _env() -> StreamExecutionEnvironment:
    return testing.env(2)


def _timed(e, rows):
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1)) \
        .with_timestamp_assigner(lambda r, _: r["ts"])
    return e.from_collection(rows).assign_timestamps_and_watermarks(strategy)


CLICKS = [{"user": u, "ts": t * MIN, "page": p} for u, t, p in
          [("ana", 1, "shoes"), ("ana", 7, "hats"), ("bo", 2, "bags"), ("cy", 3, "cups")]]
PURCHASES = [{"user": u, "ts": t * MIN, "amount": a} for u, t, a in
             [("ana", 4, 30.0), ("ana", 50, 5.0), ("bo", 31, 12.0), ("bo", 9, 8.0)]]


@pytest.mark.integration
def test_window_join_pairs_records_of_the_same_key_and_window():
    e = _env()
    out = collect(_timed(e, CLICKS).join(_timed(e, PURCHASES)).where(lambda c: c["user"])
                  .equal_to(lambda p: p["user"]).window(TumblingEventTimeWindows.of(Time.minutes(10)))
                  .apply(lambda c, p: (c["user"], c["page"], p["amount"])))
    assert sorted(out) == [("ana", "hats", 30.0), ("ana", "shoes", 30.0), ("bo", "bags", 8.0)]


@pytest.mark.integration
def test_co_group_sees_both_sides_even_when_one_is_empty():
    def counts(clicks, purchases, out):
        out.collect(((clicks or purchases)[0]["user"], len(clicks), len(purchases)))

    e = _env()
    out = collect(_timed(e, CLICKS).co_group(_timed(e, PURCHASES)).where(lambda c: c["user"])
                  .equal_to(lambda p: p["user"]).window(TumblingEventTimeWindows.of(Time.minutes(10))).apply(counts))
    assert sorted(out) == [("ana", 0, 1), ("ana", 2, 1), ("bo", 0, 1), ("bo", 1, 1), ("cy", 1, 0)]


class Conversion(ProcessJoinFunction):
    def process_element(self, left, right, ctx, out):
        out.collect((left["user"], left["page"], right["amount"], ctx.get_timestamp()))


@pytest.mark.integration
def test_interval_join_finds_purchases_within_30_minutes_of_a_click():
    e = _env()
    out = collect(_timed(e, CLICKS).key_by(lambda c: c["user"])
                  .interval_join(_timed(e, PURCHASES).key_by(lambda p: p["user"]))
                  .between(Time.minutes(0), Time.minutes(30)).process(Conversion()))
    assert sorted(out) == [("ana", "shoes", 30.0, 4 * MIN), ("bo", "bags", 8.0, 9 * MIN),
                           ("bo", "bags", 12.0, 31 * MIN)]  # 29 minutes after the click: inside


def test_interval_join_bounds_cleanup_and_late_records():
    late = OutputTag("late-left")
    h = OperatorHarness(OperatorKind.INTERVAL_JOIN, IntervalJoinParams(Conversion(), lower=-5, upper=10,
                                                                       left_late_tag=late, right_late_tag=None),
                        (lambda r: r["user"], lambda r: r["user"]), side_tags=(late,))
    h.batch([{"user": "u", "ts": 100, "amount": 1.0}, {"user": "u", "ts": 111, "amount": 2.0}], [100, 111], 1)
    h.batch([{"user": "u", "page": "p"}], [101], 0)          # joins rights in [96, 111]
    assert [(r[2], r[3]) for r in h.out] == [(1.0, 101), (2.0, 111)]
    h.watermark(150)                                           # buffers cleaned up
    h.op.keyed_backend.set_current_key("u")
    assert h.op.buffers[0].is_empty() and h.op.buffers[1].is_empty()
    h.batch([{"user": "u", "page": "late"}], [140], 0)        # behind the watermark
    h.batch([{"user": "u", "amount": 9.0}], [149], 1)
    assert [r["page"] for r in h.side(late)] == ["late"]
    assert h.op.num_late_records_dropped == 1
    assert len(h.out) == 2
    h.close()
