"""Micro-benchmark of keyed ValueState get+update per state backend.

    python bench/state_micro.py [--ops 2000000] [--keys 100000]

Prints get+update ops/s for each backend (one op = ``value()`` + ``update()``;
the cost of ``set_current_key`` is measured separately and subtracted) and the
peak RSS of each run (each backend runs in its own process).
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time

from rayflink.common.typeinfo import Types
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.state_backend import (
    EmbeddedRocksDBStateBackend,
    HashMapStateBackend,
)

CONFIGS = {
    "hashmap": ("HashMapStateBackend", lambda: HashMapStateBackend()),
    "rocksdb": ("EmbeddedRocksDBStateBackend (cache 100k)", lambda: EmbeddedRocksDBStateBackend()),
    "rocksdb-10k": ("EmbeddedRocksDBStateBackend (cache 10k)",
                    lambda: EmbeddedRocksDBStateBackend(cache_max_entries=10_000)),
}


def run(name: str, config, ops: int, keys: list[str], seq: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = config.create_keyed_state_backend(
            operator_uid="bench", max_parallelism=128, key_groups=range(128), working_dir=tmp)
        count = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
        set_key = backend.set_current_key
        start = time.perf_counter()
        for k in seq:
            set_key(k)
        key_only = time.perf_counter() - start
        start = time.perf_counter()
        for k in seq:
            set_key(k)
            count.update((count.value() or 0) + 1)
        backend.flush()
        total = time.perf_counter() - start
        state_time = max(total - key_only, 1e-9)
        backend.set_current_key(keys[0])
        check = sum(1 for k in seq if k == keys[0])
        assert count.value() == check, (count.value(), check)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:<40} {ops / state_time:>11,.0f} get+update ops/s "
              f"({state_time / ops * 1e9:5.0f} ns/op; incl. set_current_key "
              f"{ops / total:>10,.0f} ops/s)  peak RSS {peak_mib:4.0f} MiB", flush=True)
        backend.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--backend", choices=sorted(CONFIGS), help="run one backend in this process")
    args = parser.parse_args()
    if args.backend is None:
        print(f"{args.ops:,} get+update ops over {args.keys:,} keys (uniform random)", flush=True)
        for backend in CONFIGS:
            subprocess.run([sys.executable, __file__, "--ops", str(args.ops), "--keys", str(args.keys),
                            "--backend", backend], check=True)
        return
    rng = random.Random(42)
    keys = [f"user-{i}" for i in range(args.keys)]
    seq = [keys[rng.randrange(args.keys)] for _ in range(args.ops)]
    name, make = CONFIGS[args.backend]
    run(name, make(), args.ops, keys, seq)


if __name__ == "__main__":
    main()
