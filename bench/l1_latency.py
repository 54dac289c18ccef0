"""L1 latency: source -> map -> key_by -> process -> sink at a steady rate, buffer timeout 5 ms.

    python bench/l1_latency.py --rate 10000 --duration 30

Each record carries the wall-clock time at which the source emitted it; the keyed process
function's output is stamped on arrival, so latency = emit to sink (across the key_by exchange).
Prints events/s, latency percentiles (ms) and the peak RSS of the whole process tree.
"""

from __future__ import annotations

import time

from harness import Opt, emit, parse_args, percentiles, rss_sampler, start_ray


def main() -> None:
    args = parse_args(__doc__, rate=Opt(10_000, type=float), duration=Opt(30, type=float), parallelism=2,
                      buffer_timeout=5, keys=10_000, warmup=Opt(0.1, help="fraction of samples dropped at the start"))
    sampler = rss_sampler()
    start_ray()
    from rayflink.common import Types, WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from rayflink.datastream.state import ValueStateDescriptor

    keys = args.keys

    class Count(KeyedProcessFunction):
        def open(self, runtime_context):
            self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

        def process_element(self, value, ctx, out):
            self.count.update((self.count.value() or 0) + 1)
            out.collect((time.time_ns() - value[2]) / 1e6)

    count = int(args.rate * args.duration)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    env.set_buffer_timeout(args.buffer_timeout)
    source = DataGeneratorSource(lambda i: (i, f"user-{i % keys}", time.time_ns()), count,
                                 RateLimiterStrategy.per_second(args.rate))
    stream = (env.from_source(source, WatermarkStrategy.no_watermarks(), "rate-source")
              .map(lambda e: (e[0], e[1].upper(), e[2]))
              .key_by(lambda e: e[1])
              .process(Count()))
    t0 = time.perf_counter()
    with stream.execute_and_collect("L1") as results:
        latencies = list(results)
    seconds = time.perf_counter() - t0
    sampler.stop()
    if len(latencies) != count:
        raise SystemExit(f"L1 wrong: {len(latencies)} latencies for {count} records")
    measured = latencies[int(len(latencies) * args.warmup):]
    emit({"system": "rayflink", "workload": "L1", "events": count, "rate": args.rate,
          "parallelism": args.parallelism, "buffer_timeout_ms": args.buffer_timeout,
          "seconds": round(seconds, 3), "events_per_s": round(count / seconds),
          "latency_ms": percentiles(measured), "latency_ms_max": round(max(measured), 3),
          "peak_rss_mb": sampler.peak_mb})


if __name__ == "__main__":
    main()
