"""Incremental RocksDB checkpoints: bytes uploaded per checkpoint when 5% of the keys change.

    python bench/incremental_checkpoint.py [--keys 1000000] [--value-bytes 100]
        [--changed 0.05] [--checkpoints 10] [--storage file|s3] [--compaction-style level|universal|both]

One subtask's RocksDB backend (incremental) holds ``--keys`` ValueState entries of about
``--value-bytes`` each; the real snapshot writer and checkpoint coordinator take a first
checkpoint (a full upload), then ``--checkpoints`` more with ``--changed`` of the keys
rewritten between each. Prints, per checkpoint, the bytes uploaded and the full state size
(the bytes of every file the checkpoint uses), and the bar: after the first upload each
incremental checkpoint uploads < 10% of the full state size.

A compaction's rewritten files are new files to upload, and with updates spread over all keys
RocksDB's own compactions rewrite nearly the whole state every few checkpoints. The incremental
backend therefore compacts one of its 32 partitions after each checkpoint (see
``rayflink/state/rocksdb.py``), so a checkpoint uploads what changed plus 1/32 of the state.
The full state size counts overwritten entries still in level-0 files; the summary also gives
the largest upload as a share of the first checkpoint, which holds each key once. Both
compaction styles are printed (``--compaction-style both``, the default).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time

from harness import Opt, emit, parse_args, table


def main() -> None:
    args = parse_args(__doc__, keys=1_000_000, value_bytes=100, changed=0.05, checkpoints=10,
                      storage=Opt("file", choices=["file", "s3"]),
                      compaction_style=Opt("both", choices=["level", "universal", "both"]))
    styles = ["level", "universal"] if args.compaction_style == "both" else [args.compaction_style]
    if args.storage == "s3":
        from rayflink.testing.services import DUMMY_AWS_ENV, running_moto_s3

        os.environ.update(DUMMY_AWS_ENV)
        server = running_moto_s3()  # kept referenced: it stops when closed
        endpoint = server.__enter__()
        os.environ["AWS_ENDPOINT_URL"] = endpoint.endpoint_url
        base = f"s3://{endpoint.create_bucket()}"
    else:
        base = f"file://{tempfile.mkdtemp(prefix='bench-incremental-storage-')}"
    for style in styles:
        run(args, style.upper(), f"{base}/{style}")
    if base.startswith("file://"):
        shutil.rmtree(base[len("file://"):], ignore_errors=True)


def run(args: argparse.Namespace, style: str, uri: str) -> None:
    from rayflink.checkpoint.coordinator import CheckpointCoordinator
    from rayflink.checkpoint.snapshots import SnapshotWriter
    from rayflink.common.typeinfo import Types
    from rayflink.datastream.state import ValueStateDescriptor
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend
    from rayflink.runtime.messages import CheckpointBarrier

    tmp = tempfile.mkdtemp(prefix="bench-incremental-")

    backend = EmbeddedRocksDBStateBackend(incremental=True, compaction_style=style).create_keyed_state_backend(
        operator_uid="counts", max_parallelism=128, key_groups=range(128), working_dir=f"{tmp}/work")
    state = backend.get_partitioned_state(ValueStateDescriptor("payload", Types.PICKLED_BYTE_ARRAY()))
    rng = random.Random(42)

    def put(keys) -> None:
        for k in keys:
            backend.set_current_key(k)
            state.update(rng.randbytes(args.value_bytes))

    coordinator = CheckpointCoordinator("bench", {"state.checkpoints.dir": uri},
                                        send=lambda key, message: None, on_too_many_failures=print)
    key = (1, 0)
    coordinator.start_attempt(0, {key: None}, [key], {})
    writer = SnapshotWriter("counts subtask 1/1", "task-1-0", coordinator.uri,
                            ack=lambda cid, info: coordinator.ack(0, key, cid, info),
                            decline=lambda cid, reason: coordinator.decline(0, key, cid, reason))

    def checkpoint() -> dict:
        t0 = time.perf_counter()
        p = coordinator.trigger()
        snapshot = backend.snapshot()
        sync_ms = (time.perf_counter() - t0) * 1000
        writer.write(CheckpointBarrier(p.checkpoint_id, p.trigger_ms), {"counts": {"keyed": snapshot}},
                     {}, 0.0, sync_ms)
        if not p.done.wait(600) or p.failure:
            raise SystemExit(f"checkpoint {p.checkpoint_id} failed: {p.failure}")
        writer.notify_checkpoint_complete(p.checkpoint_id)
        h = coordinator.history[-1]
        return {"checkpoint": h["id"], "uploaded_mb": round(h["size_bytes"] / 1e6, 2),
                "full_mb": round(h["full_size_bytes"] / 1e6, 2),
                "uploaded_pct": round(100 * h["size_bytes"] / h["full_size_bytes"], 1),
                "sync_ms": round(sync_ms, 1), "async_ms": h["async_ms"],
                "shared_files": len(coordinator.completed[-1]["shared"])}

    t0 = time.perf_counter()
    put(range(args.keys))
    load_s = time.perf_counter() - t0
    rows = [checkpoint()]
    changed = int(args.keys * args.changed)
    for _ in range(args.checkpoints):
        put(rng.sample(range(args.keys), changed))
        rows.append(checkpoint())
    print(table(rows, ["checkpoint", "uploaded_mb", "full_mb", "uploaded_pct", "sync_ms", "async_ms",
                       "shared_files"]))
    incremental = sorted(r["uploaded_pct"] for r in rows[1:])
    # the files a checkpoint uses hold overwritten entries too; the first holds each key once
    of_first = max(r["uploaded_mb"] for r in rows[1:]) / rows[0]["full_mb"] * 100
    worst = incremental[-1]
    mean = sum(incremental) / len(incremental)
    emit({"bench": "incremental_checkpoint", "compaction_style": style, "storage": args.storage, "keys": args.keys,
          "value_bytes": args.value_bytes, "changed": args.changed, "load_s": round(load_s, 1),
          "first_uploaded_mb": rows[0]["uploaded_mb"], "full_mb": rows[-1]["full_mb"],
          "incremental_uploaded_pct_median": incremental[len(incremental) // 2],
          "incremental_uploaded_pct_mean": round(mean, 1), "incremental_uploaded_pct_max": worst,
          "checkpoints_under_10_pct": f"{sum(p < 10 for p in incremental)}/{len(incremental)}",
          "max_uploaded_pct_of_first_full": round(of_first, 1),
          "bar_pct": 10, "bar_met": worst < 10, "load_avg_1m": round(os.getloadavg()[0], 1)})
    writer.close()
    backend.dispose()
    coordinator.discard_all()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
