"""A 7-day sliding window with a 1-hour slide over 100,000 keys (seed 12.5.5): state size and throughput.

    python bench/sliding_7d.py --events 1000000 --keys 100000

Each event is in 168 windows (7 days / 1 hour); ``aggregate`` keeps one accumulator per key and
window, so state is at most keys x 168 accumulators. Events: key i % keys, event time spread
over ``--days`` days in order (bounded out-of-orderness 1 minute), amount float. Reports
events/s of the job, peak RSS, and the window operator's keyed state measured in-process (one
subtask, half the events over half the days, all windows still open): entries and snapshot bytes.
"""

from __future__ import annotations

import pickle
import time

from harness import emit, parse_args, rss_sampler, start_ray

HOUR = 3_600_000


class Event:
    """Sequence number -> (key, ts_ms, amount), event time increasing over ``days``."""

    def __init__(self, n: int, keys: int, days: int) -> None:
        self.keys, self.step = keys, days * 24 * HOUR / n

    def __call__(self, i: int) -> tuple:
        return i % self.keys, int(i * self.step), float(i % 100)


class Mean:
    """AggregateFunction: the mean amount (the seed's AcumuladorMedia)."""

    def create_accumulator(self) -> tuple:
        return 0.0, 0

    def add(self, value: tuple, acc: tuple) -> tuple:
        return acc[0] + value[2], acc[1] + 1

    def get_result(self, acc: tuple) -> float:
        return acc[0] / acc[1]

    def merge(self, a: tuple, b: tuple) -> tuple:
        return a[0] + b[0], a[1] + b[1]


def _ts(event: tuple, record_timestamp: int | None) -> int:
    return event[1]


def measure_state(events: int, keys: int, days: int) -> dict:
    """Run the window operator in this process over the events, stop before the final watermark
    (all windows still open) and measure its keyed state: entries, pickled snapshot bytes."""
    import tempfile

    from rayflink.common.watermark_strategy import BoundedOutOfOrdernessWatermarks, WatermarkOutput
    from rayflink.datastream.window import SlidingEventTimeWindows
    from rayflink.graph.transformations import OperatorKind, OperatorSpec, WindowParams
    from rayflink.runtime.operator import OperatorContext
    from rayflink.runtime.registry import create_operator

    with tempfile.TemporaryDirectory() as tmp:
        ctx = OperatorContext(name="sliding-7d", uid="sliding-7d", subtask_index=0, parallelism=1,
                              max_parallelism=128, attempt=0, config={}, state_key_selectors=(lambda e: e[0],),
                              working_dir=tmp)
        params = WindowParams(SlidingEventTimeWindows.of(7 * 24 * HOUR, HOUR), incremental=("aggregate", Mean()))
        op = create_operator(OperatorSpec(OperatorKind.WINDOW, params), ctx)
        op.open()
        gen, out, make = BoundedOutOfOrdernessWatermarks(60_000), WatermarkOutput(), Event(events, keys, days)
        t0 = time.perf_counter()
        for lo in range(0, events, 4096):
            batch = [make(i) for i in range(lo, min(lo + 4096, events))]
            op.process_batch(batch, [e[1] for e in batch], 0)
            gen.on_event(None, batch[-1][1], out)
            gen.on_periodic_emit(out)
            op.process_watermark(out.watermark)
        seconds = time.perf_counter() - t0
        snapshot = op.snapshot_state()
        entries = sum(len(e) for st in snapshot["keyed"].states.values() for e in st["entries"].values())
        size = len(pickle.dumps(snapshot, protocol=5))
        op.close()
    return {"in_process_events_per_s": round(events / seconds), "state_entries": entries,
            "state_mb_pickled": round(size / 2**20, 1), "bytes_per_entry": round(size / max(entries, 1))}


def main() -> None:
    args = parse_args(__doc__, events=1_000_000, keys=100_000, days=14, parallelism=2)
    sampler = rss_sampler()
    start_ray()
    from rayflink.common import Duration, Time, WatermarkStrategy
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.window import SlidingEventTimeWindows

    def job(n: int):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(args.parallelism)
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_minutes(1)).with_timestamp_assigner(_ts)
        (env.from_sequence(0, n - 1).map(Event(n, args.keys, args.days)).assign_timestamps_and_watermarks(strategy)
         .key_by(lambda e: e[0]).window(SlidingEventTimeWindows.of(Time.days(7), Time.hours(1)))
         .aggregate(Mean()).uid("sliding-7d").sink_to(DiscardingSink()))
        return env.execute("sliding 7d")

    job(1000)
    t1 = time.perf_counter()
    result = job(args.events)
    t2 = time.perf_counter()
    sampler.stop()
    fired = sum(s["operators"]["sliding-7d"]["records_out"] for v in result.metrics["vertices"]
                for s in v["subtasks"] if "sliding-7d" in s["operators"])
    row = {"system": "rayflink", "workload": "sliding-7d-1h", "events": args.events, "keys": args.keys,
           "days": args.days, "parallelism": args.parallelism, "job_s": round(t2 - t1, 3),
           "job_events_per_s": round(args.events / (t2 - t1)), "window_results": fired,
           "accumulator_updates": args.events * 168, "peak_rss_mb": sampler.peak_mb,
           **measure_state(args.events // 2, args.keys, args.days // 2)}
    emit(row)


if __name__ == "__main__":
    main()
