"""Recovery time: from killing a task executor to the first record processed after the restore.

    python bench/recovery_time.py [--backend rocksdb-incremental|rocksdb|hashmap|all]
        [--state-mb 100] [--value-bytes 250] [--rate 40000] [--kills 3]

A keyed job (replayable source -> key_by -> KeyedProcessFunction keeping ``--value-bytes`` of
ValueState per key -> discarding sink, parallelism 2) builds about ``--state-mb`` MB of keyed
state, checkpointing every second; then a task executor is killed, ``--kills`` times. For each
kill it prints the breakdown, all wall-clock on this machine:

- detect: kill -> the job master sees the subtask lost
- cancel: -> every other subtask of the attempt has stopped
- redeploy: -> the new attempt's subtasks are deployed and running (new executor actor, wiring)
- open: -> the first keyed function of the new attempt is open (its subtask then restores)
- restore + first record: per subtask, from its function's open to its first record (the
  state download and load run in between); the slowest subtask

Bar: kill -> first record < 5 s for 100 MB of state.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

from harness import Opt, emit, parse_args, start_ray, table

from rayflink.testing.services import wait_until


def build(backend_name: str, work: str, keys: int, value_bytes: int, rate: float):
    from rayflink.common import Types, WatermarkStrategy
    from rayflink.common.restart_strategy import RestartStrategies
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from rayflink.datastream.state import ValueStateDescriptor
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend

    marks = os.path.join(work, "marks")
    os.makedirs(marks, exist_ok=True)

    class Payload(KeyedProcessFunction):
        """Keeps ``value_bytes`` per key; notes when it opens and sees its first record in a restarted attempt."""

        def open(self, runtime_context):
            self.payload = runtime_context.get_state(ValueStateDescriptor("payload", Types.PICKLED_BYTE_ARRAY()))
            self.attempt = runtime_context.get_attempt_number()
            self.subtask = runtime_context.get_index_of_this_subtask()
            self.first = self.attempt > 0
            if self.first:
                self._mark("open")

        def _mark(self, what: str) -> None:
            with open(os.path.join(marks, f"{self.attempt}-{self.subtask}-{what}"), "w") as f:
                f.write(repr(time.time()))

        def process_element(self, value, ctx, out):
            if self.first:
                self.first = False
                self._mark("first")
            old = self.payload.value()
            self.payload.update(os.urandom(value_bytes) if old is None else old[1:] + old[:1])

    backends = {"hashmap": HashMapStateBackend(), "rocksdb": EmbeddedRocksDBStateBackend(),
                "rocksdb-incremental": EmbeddedRocksDBStateBackend(incremental=True)}
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(backends[backend_name])
    env.enable_checkpointing(1000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{work}/checkpoints")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(100, 0))
    source = DataGeneratorSource(lambda i, k=keys: i % k, None, RateLimiterStrategy.per_second(rate))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "keys").uid("keys")
     .key_by(lambda k: k).process(Payload()).uid("payload").sink_to(DiscardingSink()))
    return env, marks


def run(backend_name: str, state_mb: float, value_bytes: int, rate: float, kills: int) -> dict:
    import ray

    from rayflink.runtime.executor import NAMESPACE

    keys = int(state_mb * 1e6 / value_bytes)
    work = tempfile.mkdtemp(prefix="bench-recovery-")
    env, marks = build(backend_name, work, keys, value_bytes, rate)
    client = env.execute_async(f"recovery-{backend_name}")
    rows = []
    try:
        def completed():
            return [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"]

        def count():  # over the job's life (the history keeps the latest web.checkpoints.history)
            return client.get_checkpoint_statistics()["counts"]["completed"]

        # wait until every key has its state and a checkpoint holds all of it
        t0 = time.monotonic()
        wait_until(lambda: client.get_metrics()["vertices"][-1]["records_in"] >= keys * 1.05,
                   timeout=keys / rate * 4 + 120, what="the state to fill")
        filled = count()
        wait_until(lambda: count() > filled + 1, timeout=120, what="a checkpoint of the full state")
        fill_s = time.monotonic() - t0
        for n in range(kills):
            before = completed()[-1]
            state_bytes = before.get("full_size_bytes") or before["size_bytes"]
            attempt = client.get_status()["attempt"]
            executor = f"task-executor-{n % 2}"
            killed_at = time.time()
            ray.kill(ray.get_actor(executor, namespace=NAMESPACE), no_restart=True)
            after = f"{attempt + 1}-"
            first = wait_until(lambda after=after: [fs for fs in [sorted(f for f in os.listdir(marks)
                                                                       if f.startswith(after) and f.endswith("-first"))]
                                                    if len(fs) == 2],
                               timeout=120, what="the first record of both subtasks after the restore")[0]
            opened = sorted(f for f in os.listdir(marks) if f.startswith(f"{attempt + 1}-") and f.endswith("-open"))

            def at(name: str) -> float:
                with open(os.path.join(marks, name)) as f:
                    return float(f.read())

            failover = wait_until(lambda attempt=attempt: [f for f in client.get_status().get("failovers", [])
                                                         if f["attempt"] == attempt and "running_at" in f],
                                  timeout=30, what="the failover record")[0]
            first_at = min(at(f) for f in first)
            running_at = failover["running_at"]
            open_at = min((at(f) for f in opened), default=running_at)
            # per subtask: its function opened, then its state was restored, then its first record came
            restore_first = max((at(f) - at(f.replace("-first", "-open")) for f in first
                                 if f.replace("-first", "-open") in opened), default=0.0)
            rows.append({
                "kill": n + 1, "executor": executor, "state_mb": round(state_bytes / 1e6, 1),
                "from_checkpoint": failover.get("checkpoint_id"),
                "detect_s": round(failover["detected_at"] - killed_at, 3),
                "cancel_s": round(failover["tasks_ended_at"] - failover["detected_at"], 3),
                "redeploy_s": round(running_at - failover["tasks_ended_at"], 3),
                "open_s": round(max(open_at - running_at, 0.0), 3),
                "restore_first_record_s": round(restore_first, 3),
                "total_s": round(first_at - killed_at, 3),
            })
            print(table(rows[-1:], list(rows[-1])), flush=True)
            # let the new attempt take a checkpoint before the next kill
            done = count()
            wait_until(lambda done=done: count() > done, timeout=120, what="a checkpoint after the restore")
    finally:
        client.cancel()
        try:
            client.wait(60)
        except Exception:  # noqa: BLE001 - a cancelled job reports CANCELED by raising
            pass
        shutil.rmtree(work, ignore_errors=True)
    totals = [r["total_s"] for r in rows]
    return {"bench": "recovery_time", "backend": backend_name, "state_mb": rows[-1]["state_mb"],
            "keys": keys, "fill_s": round(fill_s, 1), "kills": rows,
            "total_s_median": round(statistics.median(totals), 3), "total_s_max": max(totals),
            "bar_s": 5.0, "bar_met": max(totals) < 5.0, "load_avg_1m": os.getloadavg()[0]}


def main() -> None:
    args = parse_args(__doc__,
                      backend=Opt("rocksdb-incremental", choices=["rocksdb-incremental", "rocksdb", "hashmap", "all"]),
                      state_mb=Opt(100, type=float), value_bytes=250, rate=Opt(40_000, type=float), kills=3)
    start_ray()
    names = ["rocksdb-incremental", "rocksdb", "hashmap"] if args.backend == "all" else [args.backend]
    for name in names:
        result = run(name, args.state_mb, args.value_bytes, args.rate, args.kills)
        print(table(result["kills"], list(result["kills"][0])))
        emit(result)


if __name__ == "__main__":
    main()
