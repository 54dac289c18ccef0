"""Large state: 20 million keys x 100-byte values in RocksDB (about 2 GB of state) while every
task executor's RSS stays under 1 GB.

    python bench/large_state.py [--keys 20000000] [--value-bytes 100] [--fixed-per-slot 256mb]

Job: integers 0..keys-1 -> key_by(i) -> KeyedProcessFunction that reads the key's ValueState
and writes a 100-byte incompressible value (SHAKE-128 of the key, so RocksDB cannot shrink it)
-> no output; parallelism 2, RocksDB with ``state.backend.rocksdb.memory.fixed-per-slot``.
A sampler thread reads, every 0.2 s, the RSS of each task executor (psutil, by the pid the
executor reports) and the size of the RocksDB directories on disk. Prints one JSON line:
events/s, peak RSS per executor and summed, peak state size on disk, and the 1-minute load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time

import psutil
from harness import Opt, emit, parse_args, start_ray


class ExecutorSampler:
    """Peak RSS of each task executor process and peak size of a directory tree, sampled."""

    def __init__(self, pids: list[int], directory: str, interval: float = 0.2) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.directory = directory
        self.interval = interval
        self.peak_rss = [0] * len(pids)
        self.peak_sum = 0
        self.peak_disk = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = []
            for p in self.procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    rss.append(0)
            self.peak_rss = [max(a, b) for a, b in zip(self.peak_rss, rss)]
            self.peak_sum = max(self.peak_sum, sum(rss))
            self.peak_disk = max(self.peak_disk, _tree_size(self.directory))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _tree_size(directory: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def main() -> None:
    args = parse_args(__doc__, keys=20_000_000, value_bytes=100, parallelism=2,
                      fixed_per_slot=Opt("256mb", help="state.backend.rocksdb.memory.fixed-per-slot"),
                      rss_limit_mb=Opt(1024, type=float, help="the bar: peak RSS per executor"))
    ray_s = start_ray()
    import ray

    from rayflink.common import Types, WatermarkStrategy
    from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from rayflink.datastream.connectors.number_seq import NumberSequenceSource
    from rayflink.datastream.state import ValueStateDescriptor
    from rayflink.runtime.executor import task_executors

    size = args.value_bytes

    class Store(KeyedProcessFunction):
        """Reads the key's value, writes its 100-byte payload."""

        def open(self, runtime_context):
            self.payload = runtime_context.get_state(ValueStateDescriptor("payload", Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, value, ctx, out):
            if self.payload.value() is None:
                self.payload.update(hashlib.shake_128(value.to_bytes(8, "little")).digest(size))

    local_dir = tempfile.mkdtemp(prefix="rayflink-large-state-")
    executors = task_executors(args.parallelism)
    pids = [info["pid"] for info in ray.get([e.info.remote() for e in executors])]
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    config = env.get_config()
    config.set_string("state.backend.type", "rocksdb")
    config.set_string("state.backend.rocksdb.memory.fixed-per-slot", args.fixed_per_slot)
    config.set_string("state.backend.local-dir", local_dir)
    (env.from_source(NumberSequenceSource(0, args.keys - 1), WatermarkStrategy.no_watermarks(), "keys")
     .key_by(lambda i: i).process(Store()).uid("large-state"))
    sampler = ExecutorSampler(pids, local_dir)
    sampler.start()
    t0 = time.perf_counter()
    result = env.execute("large-state")
    seconds = time.perf_counter() - t0
    sampler.stop()
    processed = sum(s["operators"]["large-state"]["records_in"] for v in result.metrics["vertices"]
                    for s in v["subtasks"] if "large-state" in s["operators"])
    if processed != args.keys:
        raise SystemExit(f"large state wrong: {processed} records reached the state for {args.keys} keys")
    peak_mb = [round(r / 2**20, 1) for r in sampler.peak_rss]
    emit({"system": "rayflink", "workload": "large-state", "keys": args.keys, "value_bytes": size,
          "parallelism": args.parallelism, "fixed_per_slot": args.fixed_per_slot,
          "seconds": round(seconds, 1), "events_per_s": round(args.keys / seconds),
          "ray_start_s": round(ray_s, 2), "peak_executor_rss_mb": peak_mb,
          "peak_executors_rss_sum_mb": round(sampler.peak_sum / 2**20, 1),
          "peak_state_on_disk_mb": round(sampler.peak_disk / 2**20, 1),
          "rss_under_limit": max(peak_mb) < args.rss_limit_mb, "load_avg_1m": round(os.getloadavg()[0], 2)})


if __name__ == "__main__":
    main()
