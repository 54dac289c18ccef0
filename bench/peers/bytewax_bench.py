#!/usr/bin/env python3
"""Bytewax peer benchmarks. One command per run; prints ONE JSON line last.

    python bench/peers/bytewax_bench.py --workload B1 --events 2000000
    python bench/peers/bytewax_bench.py --workload B3 --events 2000000 --keys 100000
    python bench/peers/bytewax_bench.py --workload B2 --events 5000000 --keys 1000

Runs `python -m bytewax.run "bytewax_flows:flow" -w WORKERS` (the peers venv's python) as a
child process and times it from the outside (process start to exit, interpreter start and
imports included). Peak RSS is that child's process tree. The dataflows are in
bytewax_flows.py; the sink discards but counts items, which is checked here.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _common import DEFAULT_VENV, TreeRssSampler, emit_result  # bench/peers is sys.path[0]: run as a script

HERE = os.path.dirname(os.path.abspath(__file__))


def expected_out(workload: str, n: int, keys: int, window_s: int, step_ms: int):
    if workload == "B1":
        return n - n // 3  # 2x % 3 == 0 iff x % 3 == 0
    if workload == "B3":
        return n
    return None  # B2: number of (key, window) pairs, checked loosely (reported)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=["B1", "B2", "B3"], required=True)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--workers", type=int, default=1, help="bytewax -w (worker threads in one process)")
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1000, help="source batch size")
    ap.add_argument("--window-s", type=int, default=60)
    ap.add_argument("--disorder-ms", type=int, default=5000)
    ap.add_argument("--step-ms", type=int, default=1)
    ap.add_argument("--python", default=None, help="python with bytewax (default: the peers venv's)")
    a = ap.parse_args()
    if a.keys is None:
        a.keys = 1000 if a.workload == "B2" else 100_000

    py = a.python
    if py is None:
        try:
            import bytewax  # noqa: F401

            py = sys.executable
        except ImportError:
            py = os.path.join(DEFAULT_VENV, "bin", "python")
    fd, count_file = tempfile.mkstemp(prefix="bytewax-count-")
    os.close(fd)
    env = dict(os.environ)
    env.update(
        BENCH_WORKLOAD=a.workload, BENCH_EVENTS=str(a.events), BENCH_KEYS=str(a.keys),
        BENCH_BATCH=str(a.batch), BENCH_WINDOW_S=str(a.window_s), BENCH_DISORDER_MS=str(a.disorder_ms),
        BENCH_STEP_MS=str(a.step_ms), BENCH_COUNT_FILE=count_file,
        PYTHONPATH=HERE + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    )
    cmd = [py, "-m", "bytewax.run", "bytewax_flows:flow", "-w", str(a.workers)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=HERE)
    rss = TreeRssSampler(proc.pid, interval=0.05).start()
    rc = proc.wait()
    t1 = time.perf_counter()
    rss.stop()
    if rc != 0:
        sys.exit(f"bytewax run failed with exit code {rc}: {' '.join(cmd)}")
    with open(count_file) as f:
        counts: dict = {}
        for line in f.read().splitlines():
            label, n = line.split()
            counts[label] = counts.get(label, 0) + int(n)
    os.unlink(count_file)
    extra = {"workers": a.workers, "source_batch": a.batch, "timing": "outside: python -m bytewax.run start to exit",
             "rss_method": rss.method + " (bytewax.run process tree)",
             "sink_items": counts.get("out", 0)}
    if a.workload in ("B2", "B3"):
        extra["keys"] = a.keys
    if a.workload == "B2":
        extra["late_items"] = counts.get("late", 0)
        extra.update(window_s=a.window_s, disorder_ms=a.disorder_ms, step_ms=a.step_ms,
                     windows_expected=a.keys * (-(-(a.events * a.step_ms + a.disorder_ms) // (a.window_s * 1000))))
    exp = expected_out(a.workload, a.events, a.keys, a.window_s, a.step_ms)
    if exp is not None and exp != extra["sink_items"]:
        sys.exit(f"wrong output count: {extra['sink_items']} != expected {exp}")
    emit_result("bytewax", a.workload, a.events, t1 - t0, rss.peak_mb, **extra)


if __name__ == "__main__":
    main()
