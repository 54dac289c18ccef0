"""Checkpoints under backpressure: how long an aligned checkpoint takes when a slow operator
holds the pipeline back, for several network batch sizes, and an unaligned one.

    python bench/checkpoint_backpressure.py [--records 150000] [--batch-sizes 4096,512]
        [--credits 4] [--slow-us 200] [--debloat-target-ms 1000]

The job: a bounded generator -> key_by -> a map that takes ``--slow-us`` per record (the
bottleneck, 5,000 records/s per subtask at 200 us) -> rebalance -> map -> discarding sink,
parallelism 2, a checkpoint every second. Every channel in front of the slow map is full, so a
barrier reaches it only after the records ahead of it: ``2 x credits x batch size`` per channel
(the sender's unacknowledged batches and the receiver's queue). Smaller batches
(``taskmanager.network.batch-size``) or fewer credits
(``taskmanager.network.credits-per-channel``) shorten that wait for every channel; buffer
debloating (``taskmanager.network.memory.buffer-debloat.enabled``) shrinks the batches of
backpressured channels only, towards ``--debloat-target-ms`` of waiting. Unaligned
checkpoints (``execution.checkpointing.unaligned.enabled``) let the barrier overtake those
records and store them with the checkpoint instead. Prints, per batch size, aligned without and
with debloating, and unaligned, the median and max duration and alignment of the checkpoints
taken while the job was backpressured, the records they stored (``persisted_kb_median``), and
the job's time.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time

from harness import emit, parse_args, start_ray, table


def run(records: int, batch_size: int, credits: int, slow_us: int, debloat_ms: int | None,
        unaligned: bool = False) -> dict:
    from rayflink.common import WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import MapFunction, StreamExecutionEnvironment

    pause = slow_us / 1e6

    class Slow(MapFunction):
        def map(self, value):
            time.sleep(pause)
            return value

    directory = tempfile.mkdtemp(prefix="bench-backpressure-")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(1000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{directory}")
    env.get_config().set_string("web.checkpoints.history", "100000")  # every checkpoint, for the medians
    env.get_config().set_string("taskmanager.network.batch-size", str(batch_size))
    env.get_config().set_string("taskmanager.network.credits-per-channel", str(credits))
    if unaligned:
        env.get_checkpoint_config().enable_unaligned_checkpoints()
    if debloat_ms is not None:
        env.get_config().set_string("taskmanager.network.memory.buffer-debloat.enabled", "true")
        env.get_config().set_string("taskmanager.network.memory.buffer-debloat.target", str(debloat_ms))
    source = DataGeneratorSource(lambda i: (i % 100, i), records)
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "events").key_by(lambda e: e[0])
     .map(Slow()).rebalance().map(lambda v: v).sink_to(DiscardingSink()))
    start = time.perf_counter()
    client = env.execute_async(f"backpressure-batch-{batch_size}")
    client.wait(1800)
    job_s = time.perf_counter() - start
    shutil.rmtree(directory, ignore_errors=True)
    # the final checkpoint, taken after the input ended, waits for nothing
    done = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"][:-1]
    durations = [c["duration_ms"] for c in done] or [0.0]
    alignments = [c["alignment_ms"] or 0.0 for c in done] or [0.0]
    persisted = [c.get("persisted_data_bytes", 0) / 1024 for c in done] or [0.0]
    return {"checkpoints": "unaligned" if unaligned else "aligned", "batch_size": batch_size, "credits": credits,
            "debloat_target_ms": debloat_ms, "completed": len(done),
            "duration_ms_median": round(statistics.median(durations)),
            "duration_ms_max": round(max(durations)),
            "alignment_ms_median": round(statistics.median(alignments)),
            "persisted_kb_median": round(statistics.median(persisted)),
            "job_s": round(job_s, 1)}


def main() -> None:
    args = parse_args(__doc__, records=150_000, batch_sizes="4096,512", credits=4, slow_us=200, debloat_target_ms=1000)
    start_ray()
    rows = []
    for b in args.batch_sizes.split(","):
        rows += [run(args.records, int(b), args.credits, args.slow_us, debloat)
                 for debloat in (None, args.debloat_target_ms)]
        rows.append(run(args.records, int(b), args.credits, args.slow_us, None, unaligned=True))
    print(table(rows, list(rows[0])))
    for row in rows:
        emit({"bench": "checkpoint_backpressure", "records": args.records, "slow_us": args.slow_us, **row})


if __name__ == "__main__":
    main()
