#!/usr/bin/env python3
"""PyFlink (apache-flink 2.x) peer benchmarks. One command per run; prints ONE JSON line last.

    python bench/peers/pyflink_bench.py --workload B1 --events 2000000
    python bench/peers/pyflink_bench.py --workload B3 --events 2000000 --keys 100000
    python bench/peers/pyflink_bench.py --workload B2 --events 5000000 --keys 1000
    python bench/peers/pyflink_bench.py --workload L1 --rate 10000 --duration 30

Runs with the peers venv python (re-executes itself there if pyflink is not importable;
see setup.sh). Local mini-cluster, process mode (the default python UDF execution mode).

B1  integers 1..N -> map(x*2) -> filter(x%3!=0) -> DiscardingSink
B3  integers 1..N -> key_by(i % K) -> KeyedProcessFunction counting with ValueState -> DiscardingSink
B2  integers -> (key, ts_ms, amount) with timestamps increasing, bounded disorder < 5 s,
    for_bounded_out_of_orderness(5 s) -> key_by -> TumblingEventTimeWindows(60 s)
    -> aggregate(sum) -> DiscardingSink
L1  integers -> paced map (stamps emit time, RATE events/s in total) -> key_by -> process
    (ValueState count) -> latency-recording map -> DiscardingSink; buffer timeout 5 ms.

"seconds" is the whole job as a user sees it: from before the JVM gateway starts until
execute() returns (the JVM start is also reported separately as jvm_start_s, and Flink's own
net job runtime as job_net_runtime_s).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

T_START = time.perf_counter()
from _common import TreeRssSampler, emit_result, reexec_in_venv  # noqa: E402  (bench/peers is sys.path[0])

reexec_in_venv("pyflink")

from pyflink.common import Configuration, Duration, Types, WatermarkStrategy  # noqa: E402
from pyflink.common.watermark_strategy import TimestampAssigner  # noqa: E402
from pyflink.datastream import StreamExecutionEnvironment  # noqa: E402
from pyflink.datastream.connectors.number_seq import NumberSequenceSource  # noqa: E402
from pyflink.datastream.functions import (  # noqa: E402
    AggregateFunction,
    KeyedProcessFunction,
    MapFunction,
    RuntimeContext,
    SinkFunction,
)
from pyflink.datastream.state import ValueStateDescriptor  # noqa: E402

# Flink 2.x moved the old SinkFunction-based DiscardingSink under `.legacy`.
DISCARDING_SINK_CANDIDATES = (
    "org.apache.flink.streaming.api.functions.sink.legacy.DiscardingSink",  # 2.x
    "org.apache.flink.streaming.api.functions.sink.DiscardingSink",  # 1.x
)


def discarding_sink() -> SinkFunction:
    from pyflink.java_gateway import get_gateway

    gw = get_gateway()
    for name in DISCARDING_SINK_CANDIDATES:
        try:
            gw.jvm.java.lang.Class.forName(name, False, gw.jvm.Thread.currentThread().getContextClassLoader())
            return SinkFunction(name)
        except Exception:
            continue
    raise RuntimeError("no DiscardingSink class found in this Flink version")


# --------------------------------------------------------------------------- functions
class CountPerKey(KeyedProcessFunction):
    """B3/L1: count per key in ValueState; emits (key, count) (L1: passes the emit stamp on)."""

    def __init__(self, with_stamp: bool = False):
        self.with_stamp = with_stamp
        self.state = None

    def open(self, runtime_context: RuntimeContext):
        self.state = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
        c = self.state.value()
        c = 1 if c is None else c + 1
        self.state.update(c)
        if self.with_stamp:
            yield value[0], c, value[1]
        else:
            yield ctx.get_current_key(), c


class GenEvent(MapFunction):
    """B2: sequence number i -> (key, ts_ms, amount).

    NumberSequenceSource gives each of the P source subtasks one contiguous range; i is
    remapped to j so that the P subtasks interleave in event time (j = offset*P + split)
    instead of subtask 1 starting N/P ms ahead. ts(j) = j*step + disorder - ((j*7919) % disorder):
    increasing with bounded disorder < `disorder_ms`.
    """

    def __init__(self, n: int, p: int, keys: int, step_ms: int, disorder_ms: int):
        self.chunk = -(-n // p)
        self.p, self.keys, self.step, self.dis = p, keys, step_ms, disorder_ms

    def map(self, i):
        i -= 1
        j = (i % self.chunk) * self.p + i // self.chunk
        return j % self.keys, j * self.step + self.dis - (j * 7919) % self.dis, ((j * 31) % 1000) / 10.0


class EventTs(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp) -> int:
        return value[1]


class SumAmount(AggregateFunction):
    def create_accumulator(self):
        return -1, 0.0

    def add(self, value, accumulator):
        return value[0], accumulator[1] + value[2]

    def get_result(self, accumulator):
        return accumulator

    def merge(self, a, b):
        return (a[0] if a[0] >= 0 else b[0]), a[1] + b[1]


class Pace(MapFunction):
    """L1: releases events at rate/parallelism per subtask and stamps the emit time (ns)."""

    def __init__(self, per_subtask_rate: float):
        self.period = 1.0 / per_subtask_rate
        self.t0 = None
        self.n = 0

    def map(self, i):
        now = time.time()
        if self.t0 is None:
            self.t0 = now
        due = self.t0 + self.n * self.period
        self.n += 1
        if due > now:
            if due - now > 0.0005:
                time.sleep(due - now)
            now = time.time()
        return i, time.time_ns()


class RecordLatency(MapFunction):
    """L1: at the end of the pipeline, records now - emit stamp; dumps them in close()."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.lat = None

    def open(self, runtime_context: RuntimeContext):
        from array import array

        self.lat = array("q")

    def map(self, value):
        self.lat.append(time.time_ns() - value[2])
        return value[1]

    def close(self):
        if self.lat is not None:
            with open(os.path.join(self.out_dir, f"lat-{os.getpid()}-{id(self)}.bin"), "wb") as f:
                self.lat.tofile(f)


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=["B1", "B2", "B3", "L1"], required=True)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--keys", type=int, default=None, help="B3 default 100000, B2 default 1000")
    ap.add_argument("--window-s", type=int, default=60, help="B2 tumbling window size")
    ap.add_argument("--disorder-ms", type=int, default=5000, help="B2 max disorder / watermark bound")
    ap.add_argument("--step-ms", type=int, default=1, help="B2 event-time ms between consecutive events")
    ap.add_argument("--rate", type=float, default=10_000, help="L1 total events/s")
    ap.add_argument("--duration", type=float, default=30, help="L1 seconds of steady input")
    ap.add_argument("--warmup", type=float, default=0.1, help="L1 fraction of earliest events ignored")
    ap.add_argument("--buffer-timeout-ms", type=int, default=None, help="default: Flink's (100), L1: 5")
    ap.add_argument("--bundle-time-ms", type=int, default=None,
                    help="python.fn-execution.bundle.time (Flink default 1000; L1 default 5)")
    ap.add_argument("--bundle-size", type=int, default=None,
                    help="python.fn-execution.bundle.size (Flink default 100000; L1 default 100)")
    ap.add_argument("--worker-mode", choices=["process", "loopback"], default="process",
                    help="process: python UDF workers are separate processes spawned by the JVM (as on a "
                         "cluster). loopback: PyFlink's default for a local mini-cluster, all python UDF "
                         "workers run as threads inside this client process (one GIL)")
    ap.add_argument("--state-cache-size", type=int, default=None, help="python.state.cache-size (default 1000)")
    a = ap.parse_args()

    if a.workload == "L1":
        a.events = int(a.rate * a.duration)
        a.buffer_timeout_ms = 5 if a.buffer_timeout_ms is None else a.buffer_timeout_ms
        a.bundle_time_ms = 5 if a.bundle_time_ms is None else a.bundle_time_ms
        a.bundle_size = 100 if a.bundle_size is None else a.bundle_size
    if a.keys is None:
        a.keys = {"B2": 1000}.get(a.workload, 100_000)

    # Read by StreamExecutionEnvironment._open() at execute(): without it a local job runs
    # every python UDF worker inside this client process ("loopback").
    os.environ["_python_worker_execution_mode"] = a.worker_mode
    rss = TreeRssSampler().start()

    conf = Configuration()
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("parallelism.default", str(a.parallelism))
    if a.bundle_time_ms is not None:
        conf.set_string("python.fn-execution.bundle.time", str(a.bundle_time_ms))
    if a.bundle_size is not None:
        conf.set_string("python.fn-execution.bundle.size", str(a.bundle_size))
    if a.state_cache_size is not None:
        conf.set_string("python.state.cache-size", str(a.state_cache_size))

    env = StreamExecutionEnvironment.get_execution_environment(conf)  # starts the JVM
    t_jvm = time.perf_counter()
    env.set_parallelism(a.parallelism)
    if a.buffer_timeout_ms is not None:
        env.set_buffer_timeout(a.buffer_timeout_ms)

    n, p = a.events, a.parallelism
    extra: dict = {"parallelism": p, "python_execution_mode": "process", "worker_mode": a.worker_mode}
    lat_dir = None
    if a.workload in ("B1", "B3"):
        src = env.from_source(NumberSequenceSource(1, n), WatermarkStrategy.no_watermarks(), "seq")
        if a.workload == "B1":
            out = src.map(lambda x: x * 2, output_type=Types.LONG()).filter(lambda x: x % 3 != 0)
        else:
            k = a.keys
            out = (src.key_by(lambda x: x % k, key_type=Types.LONG())
                   .process(CountPerKey(), output_type=Types.TUPLE([Types.LONG(), Types.LONG()])))
            extra["keys"] = k
        out.add_sink(discarding_sink())
    elif a.workload == "B2":
        from pyflink.common.time import Time
        from pyflink.datastream.window import TumblingEventTimeWindows

        src = env.from_source(NumberSequenceSource(1, n), WatermarkStrategy.no_watermarks(), "seq")
        ev_type = Types.TUPLE([Types.INT(), Types.LONG(), Types.DOUBLE()])
        wms = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(a.disorder_ms))
               .with_timestamp_assigner(EventTs()))
        (src.map(GenEvent(n, p, a.keys, a.step_ms, a.disorder_ms), output_type=ev_type)
            .assign_timestamps_and_watermarks(wms)
            .key_by(lambda e: e[0], key_type=Types.INT())
            .window(TumblingEventTimeWindows.of(Time.seconds(a.window_s)))
            .aggregate(SumAmount(),
                       accumulator_type=Types.TUPLE([Types.INT(), Types.DOUBLE()]),
                       output_type=Types.TUPLE([Types.INT(), Types.DOUBLE()]))
            .add_sink(discarding_sink()))
        extra.update(keys=a.keys, window_s=a.window_s, disorder_ms=a.disorder_ms, step_ms=a.step_ms,
                     windows_expected=a.keys * (-(-(n * a.step_ms + a.disorder_ms) // (a.window_s * 1000))))
    else:  # L1
        lat_dir = tempfile.mkdtemp(prefix="pyflink-l1-")
        src = env.from_source(NumberSequenceSource(1, n), WatermarkStrategy.no_watermarks(), "seq")
        k = a.keys
        (src.map(Pace(a.rate / p), output_type=Types.TUPLE([Types.LONG(), Types.LONG()]))
            .key_by(lambda e: e[0] % k, key_type=Types.LONG())
            .process(CountPerKey(with_stamp=True),
                     output_type=Types.TUPLE([Types.LONG(), Types.LONG(), Types.LONG()]))
            .map(RecordLatency(lat_dir), output_type=Types.LONG())
            .add_sink(discarding_sink()))
        extra.update(rate=a.rate, duration_s=a.duration, keys=k)

    res = env.execute(f"rayflink-peer-{a.workload}")
    t_end = time.perf_counter()
    rss.stop()

    extra.update(
        jvm_start_s=round(t_jvm - T_START, 3),
        job_net_runtime_s=round(res.get_net_runtime() / 1000.0, 3),
        buffer_timeout_ms=a.buffer_timeout_ms if a.buffer_timeout_ms is not None else 100,
        rss_method=rss.method + " (client python + JVM + python workers)",
    )
    if a.bundle_time_ms is not None:
        extra["bundle_time_ms"] = a.bundle_time_ms
    if a.bundle_size is not None:
        extra["bundle_size"] = a.bundle_size
    if a.state_cache_size is not None:
        extra["state_cache_size"] = a.state_cache_size
    if lat_dir is not None:
        from array import array

        lat = array("q")
        for f in sorted(os.listdir(lat_dir)):
            with open(os.path.join(lat_dir, f), "rb") as fh:
                b = array("q")
                b.frombytes(fh.read())
                lat.extend(b)
        extra["latency_samples"] = len(lat)
        # drop the first `warmup` fraction of each worker's samples (worker/JIT warm-up)
        kept = []
        for f in sorted(os.listdir(lat_dir)):
            b = array("q")
            with open(os.path.join(lat_dir, f), "rb") as fh:
                b.frombytes(fh.read())
            kept.extend(b[int(len(b) * a.warmup):])
        kept.sort()
        if kept:
            q = lambda x: round(kept[min(len(kept) - 1, int(x * len(kept)))] / 1e6, 2)  # noqa: E731
            extra.update(latency_ms_p50=q(0.50), latency_ms_p99=q(0.99), latency_ms_max=round(kept[-1] / 1e6, 2),
                         latency_warmup_dropped=a.warmup)
    emit_result("pyflink", a.workload, n, t_end - T_START, rss.peak_mb, **extra)


if __name__ == "__main__":
    main()
