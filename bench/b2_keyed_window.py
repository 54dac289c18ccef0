"""B2 keyed window: (key, ts_ms, amount) -> bounded out-of-orderness 5 s -> key_by -> tumbling 60 s
-> aggregate(sum) -> discarding sink, parallelism 2; 5M events over 1,000 keys.

    python bench/b2_keyed_window.py --events 5000000 [--compare]

The events are the peers' (bench/peers/pyflink_bench.py): sequence number i -> (j % keys,
j*step + disorder - (j*7919) % disorder, ((j*31) % 1000) / 10.0) with the source subtasks
interleaved in event time. Prints one JSON line per system (events/s, seconds, peak RSS of the
process tree); --compare also runs PyFlink's and Bytewax's B2 in the same run.
"""

from __future__ import annotations

from typing import Any

from harness import Opt, emit, parse_args, run_peers, start_run, table, timed_runs


class B2Event:
    """Sequence number -> (key, ts_ms, amount), as the peers generate it."""

    def __init__(self, n: int, p: int, keys: int, step_ms: int, disorder_ms: int) -> None:
        self.chunk = -(-n // p)
        self.p, self.keys, self.step, self.dis = p, keys, step_ms, disorder_ms

    def __call__(self, i: int) -> tuple:
        i -= 1
        j = (i % self.chunk) * self.p + i // self.chunk
        return j % self.keys, j * self.step + self.dis - (j * 7919) % self.dis, ((j * 31) % 1000) / 10.0


class SumAmount:
    """AggregateFunction: (key, sum of amount) per window."""

    def create_accumulator(self) -> tuple:
        return -1, 0.0

    def add(self, value: tuple, accumulator: tuple) -> tuple:
        return value[0], accumulator[1] + value[2]

    def get_result(self, accumulator: tuple) -> tuple:
        return accumulator

    def merge(self, a: tuple, b: tuple) -> tuple:
        return (a[0] if a[0] >= 0 else b[0]), a[1] + b[1]


def _event_ts(event: tuple, record_timestamp: int | None) -> int:
    return event[1]


def run_rayflink(events: int, parallelism: int, keys: int, window_s: int, disorder_ms: int) -> dict:
    t0, sampler, ray_s = start_run()
    from rayflink.common import Duration, Time, WatermarkStrategy
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.window import TumblingEventTimeWindows

    def job(n: int):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(disorder_ms))
                    .with_timestamp_assigner(_event_ts))
        (env.from_sequence(1, n).map(B2Event(n, parallelism, keys, 1, disorder_ms))
         .assign_timestamps_and_watermarks(strategy)
         .key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(Time.seconds(window_s)))
         .aggregate(SumAmount()).uid("b2-window").sink_to(DiscardingSink()))
        return env.execute("B2")

    result, timings = timed_runs(job, events, t0, ray_s, sampler)
    windows = late = 0
    for v in result.metrics["vertices"]:
        for s in v["subtasks"]:
            op = s["operators"].get("b2-window")
            if op is not None:
                windows += op["records_out"]
                late += op["num_late_records_dropped"]
    return result_line("rayflink", "B2", events, parallelism, keys, window_s, timings, windows, late, sampler)


def result_line(system: str, name: str, events: int, parallelism: int, keys: int, window_s: int, timings: dict,
                windows: int, late: int, sampler: Any) -> dict:
    """The result line of a B2 run, once its window results are checked: one per key and window, none late."""
    expected = keys * -(-events // (window_s * 1000)) if events >= keys else None
    if late or (expected is not None and windows != expected):
        raise SystemExit(f"{name} wrong: {windows} window results (expected {expected}), {late} late records")
    return {"system": system, "workload": "B2", "events": events, "parallelism": parallelism, "keys": keys,
            **timings, "windows": windows, "late_records_dropped": late, "peak_rss_mb": sampler.peak_mb}


def main() -> None:
    args = parse_args(__doc__, events=5_000_000, parallelism=2, keys=1000, window_s=60, disorder_ms=5000,
                      compare=Opt(False, help="also run PyFlink and Bytewax (bench/peers)"))
    rows = [run_rayflink(args.events, args.parallelism, args.keys, args.window_s, args.disorder_ms)]
    emit(rows[0])
    if args.compare:
        rows.extend(run_peers(["--workload", "B2", "--events", str(args.events), "--keys", str(args.keys),
                               "--window-s", str(args.window_s), "--disorder-ms", str(args.disorder_ms)],
                              args.parallelism))
    print(table(rows, ["system", "events", "seconds", "events_per_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
