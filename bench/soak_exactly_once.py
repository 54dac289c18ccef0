"""Exactly-once soak: 1M records through keyed state and a two-phase-commit sink while a chaos
thread kills task executors; the output is compared with the expected one record by record.

    python bench/soak_exactly_once.py [--records 1000000] [--keys 1000] [--rate 40000]
        [--kills 5] [--interval-ms 500] [--runs exactly-once:hashmap,exactly-once:rocksdb,...]

The job (tests/exactly_once.py, the same as tests/checkpoint/test_recovery.py at a larger
scale): a replayable source of integers -> key_by(i % keys) -> a KeyedProcessFunction counting
per key in ValueState and emitting (key, n) -> the collect sink, which releases a checkpoint's
records only when the checkpoint completes (two-phase commit). Checkpoints every
``--interval-ms``; after each completed checkpoint following a kill the chaos thread kills a
random task executor, ``--kills`` times. EXACTLY_ONCE runs must show nothing missing and
nothing twice; AT_LEAST_ONCE runs nothing missing (duplicates are counted, allowed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from harness import Opt, emit, parse_args, start_ray, table

from rayflink.testing.exactly_once import collect_under_chaos, compare, counting_job

RUNS = "exactly-once:hashmap,exactly-once:rocksdb,exactly-once:rocksdb-incremental,at-least-once:hashmap"


def run(mode_name: str, backend_name: str, args: argparse.Namespace) -> dict:
    from rayflink.datastream.checkpointing_mode import CheckpointingMode
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend

    backend = {"hashmap": HashMapStateBackend(), "rocksdb": EmbeddedRocksDBStateBackend(),
               "rocksdb-incremental": EmbeddedRocksDBStateBackend(incremental=True)}[backend_name]
    mode = CheckpointingMode.EXACTLY_ONCE if mode_name == "exactly-once" else CheckpointingMode.AT_LEAST_ONCE
    work = tempfile.mkdtemp(prefix="soak-")
    stream = counting_job(f"file://{work}/checkpoints", args.records, args.rate, backend, mode,
                          keys=args.keys, interval_ms=args.interval_ms, restarts=args.kills * 4)
    t0 = time.perf_counter()
    out, killed, status, history = collect_under_chaos(stream, f"soak-{mode_name}-{backend_name}",
                                                       args.kills, seed=7)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    missing, duplicated = compare(out, args.records, args.keys)
    n_missing, n_dup = sum(missing.values()), sum(duplicated.values())
    ok = n_missing == 0 and (n_dup == 0 or mode_name == "at-least-once") and len(killed) == args.kills
    return {"mode": mode_name, "backend": backend_name, "records": args.records, "output": len(out),
            "kills": len(killed), "restarts": status["restarts"], "missing": n_missing, "duplicated": n_dup,
            "checkpoints": len([c for c in history if c["status"] == "COMPLETED"]),
            "failed_checkpoints": len([c for c in history if c["status"] == "FAILED"]),
            "elapsed_s": round(elapsed, 1), "ok": ok,
            "first_missing": repr(sorted(missing)[:3]), "first_duplicated": repr(sorted(duplicated)[:3])}


def main() -> None:
    args = parse_args(__doc__, records=1_000_000, keys=1000,
                      rate=Opt(40_000, type=float, help="source records/s (the chaos needs time to kill)"), kills=5,
                      interval_ms=500, runs=Opt(RUNS, help=f"comma-separated mode:backend (default {RUNS})"))
    start_ray()
    rows = []
    for spec in args.runs.split(","):
        mode_name, backend_name = spec.split(":")
        row = run(mode_name, backend_name, args)
        rows.append(row)
        emit({"bench": "soak_exactly_once", **row, "load_avg_1m": round(os.getloadavg()[0], 1)})
    print(table(rows, ["mode", "backend", "records", "output", "kills", "restarts", "missing", "duplicated",
                       "checkpoints", "failed_checkpoints", "elapsed_s", "ok"]))
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
