"""B3 keyed state: integers 1..N -> key_by(i % K) -> KeyedProcessFunction counting with
ValueState -> (key, count) -> discarding sink, parallelism 2; 2M events over 100,000 keys,
on the heap (hashmap) and RocksDB state backends.

    python bench/b3_keyed_state.py [--backend hashmap|rocksdb|both] [--events 2000000]
        [--keys 100000] [--checkpoint-interval-ms N] [--compare]

Latency: the source stamps each record with its wall-clock time (a timestamp assigner);
every ``--latency-sample``-th record the counting function sends ``now - stamp`` (ms) to a
side output that the client collects. Prints one JSON line per backend (events/s, latency
percentiles, peak RSS of the process tree); ``--compare`` reads PyFlink's and Bytewax's B3
figures from bench/peers/results.jsonl (``--run-peers`` runs them in this run instead).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from harness import HERE, Opt, emit, parse_args, percentiles, rss_sampler, run_peers, start_ray, table

from rayflink.clock import current_time_ms  # noqa: E402 - after harness puts the repository on sys.path


def _stamp(value: int, record_timestamp: int | None) -> int:
    return current_time_ms()


def _backend(name: str, cache_entries: int | None):
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend

    if name == "hashmap":
        return HashMapStateBackend()
    return EmbeddedRocksDBStateBackend() if cache_entries is None else \
        EmbeddedRocksDBStateBackend(cache_max_entries=cache_entries)


def run_rayflink(backend: str, events: int, parallelism: int, keys: int, checkpoint_ms: int,
                 sample: int, cache_entries: int | None = None) -> dict:
    sampler = rss_sampler()
    t0 = time.perf_counter()
    ray_s = start_ray()
    from rayflink.common import Types, WatermarkStrategy
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import KeyedProcessFunction, OutputTag, StreamExecutionEnvironment
    from rayflink.datastream.connectors.number_seq import NumberSequenceSource
    from rayflink.datastream.state import ValueStateDescriptor

    latency_tag = OutputTag("latency-ms", Types.LONG())

    class Count(KeyedProcessFunction):
        """The count of each key so far, in ValueState; emits (key, count)."""

        def open(self, runtime_context):
            self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

        def process_element(self, value, ctx, out):
            c = (self.count.value() or 0) + 1
            self.count.update(c)
            out.collect((value % keys, c))
            if value % sample == 0:
                ctx.output(latency_tag, current_time_ms() - ctx.timestamp())

    def job(n: int, name: str) -> tuple[list, dict]:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        env.set_state_backend(_backend(backend, cache_entries))
        if checkpoint_ms > 0:
            env.enable_checkpointing(checkpoint_ms)
            directory = tempfile.mkdtemp(prefix="rayflink-b3-chk-")
            env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{directory}")
        strategy = WatermarkStrategy.no_watermarks().with_timestamp_assigner(_stamp)
        counted = (env.from_source(NumberSequenceSource(1, n), strategy, "seq")
                   .key_by(lambda i: i % keys).process(Count()).uid("b3-count"))
        counted.sink_to(DiscardingSink())
        with counted.get_side_output(latency_tag).execute_and_collect(name) as results:
            latencies = list(results)
            client = results.client
        return latencies, client.get_metrics()

    job(1000, "B3-warmup")  # the first job starts the task executors
    t1 = time.perf_counter()
    latencies, metrics = job(events, f"B3-{backend}")
    t2 = time.perf_counter()
    sampler.stop()
    counted = sum(s["operators"]["b3-count"]["records_out"] for v in metrics["vertices"]
                  for s in v["subtasks"] if "b3-count" in s["operators"])
    if counted != events or len(latencies) != events // sample:
        raise SystemExit(f"B3 wrong: {counted} counts for {events} events, {len(latencies)} latency samples")
    return {"system": "rayflink", "workload": "B3", "backend": backend, "events": events,
            "parallelism": parallelism, "keys": keys, "checkpoint_interval_ms": checkpoint_ms,
            "rocksdb_cache_max_entries": cache_entries if backend == "rocksdb" else None,
            "seconds": round(t2 - t0, 3), "job_s": round(t2 - t1, 3), "ray_start_s": round(ray_s, 3),
            "events_per_s": round(events / (t2 - t1)), "latency_ms": percentiles(latencies),
            "peak_rss_mb": sampler.peak_mb, "load_avg_1m": round(os.getloadavg()[0], 2)}


def recorded_peers(workload: str) -> list[dict]:
    """The latest figure per peer system for ``workload`` in bench/peers/results.jsonl."""
    latest: dict[str, dict] = {}
    with open(os.path.join(HERE, "peers", "results.jsonl")) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("workload") == workload:
                    latest[r["system"]] = r
    return list(latest.values())


def main() -> None:
    args = parse_args(__doc__, backend=Opt("both", choices=["hashmap", "rocksdb", "both"]), events=2_000_000,
                      keys=100_000, parallelism=2, checkpoint_interval_ms=Opt(0, help="0: no checkpoints"),
                      latency_sample=Opt(1000, help="one latency sample per N records"),
                      rocksdb_cache_entries=Opt(
                          None, type=int,
                          help="RocksDB write-back cache entries per state (default 100,000: B3's keys fit; "
                               "a smaller cache makes most reads and writes reach RocksDB)"),
                      compare=Opt(False, help="peers' B3 figures from bench/peers/results.jsonl"),
                      run_peers=Opt(False, help="run PyFlink's and Bytewax's B3 in this run"))
    backends = ["hashmap", "rocksdb"] if args.backend == "both" else [args.backend]
    rows = []
    for backend in backends:
        rows.append(run_rayflink(backend, args.events, args.parallelism, args.keys,
                                 args.checkpoint_interval_ms, args.latency_sample, args.rocksdb_cache_entries))
        emit(rows[-1])
    if args.run_peers:
        rows.extend(run_peers(["--workload", "B3", "--events", str(args.events), "--keys", str(args.keys)],
                              args.parallelism))
    elif args.compare:
        rows.extend(recorded_peers("B3"))
    by_backend = {r["backend"]: r["events_per_s"] for r in rows if r["system"] == "rayflink"}
    pyflink = next((r["events_per_s"] for r in rows if r["system"] == "pyflink"), None)
    for r in rows:
        if r["system"] == "rayflink":
            if pyflink:
                r["x_pyflink"] = round(r["events_per_s"] / pyflink, 1)
            if "hashmap" in by_backend and r["backend"] == "rocksdb":
                r["of_heap"] = f"{r['events_per_s'] / by_backend['hashmap']:.0%}"
    print(table(rows, ["system", "backend", "events", "events_per_s", "x_pyflink", "of_heap", "latency_ms",
                       "peak_rss_mb"]))


if __name__ == "__main__":
    main()
