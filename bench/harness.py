"""Shared by rayflink's benchmarks: timing, peak RSS of the whole process tree, peers, result lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from peers._common import TreeRssSampler  # bench/peers: one RSS method for everyone

HERE = os.path.dirname(os.path.abspath(__file__))


def start_ray() -> float:
    """Start the embedded Ray (as a job would) and return the seconds it took."""
    from rayflink.runtime.cluster import ensure_ray

    t0 = time.perf_counter()
    ensure_ray()
    return time.perf_counter() - t0


def rss_sampler() -> TreeRssSampler:
    """Peak RSS of this process and its children (Ray's processes, the job manager, the executors)."""
    sampler = TreeRssSampler(os.getpid())
    sampler.start()
    return sampler


def percentiles(samples: list[float], points=(50, 90, 99, 99.9)) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)
    out = {}
    for p in points:
        k = min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))
        out[f"p{p:g}"] = round(ordered[k], 3)
    return out


def run_peer(args: list[str], timeout: float = 1800) -> dict | None:
    """Run a peer benchmark script (bench/peers) and return its JSON line, or None if it cannot run."""
    cmd = [sys.executable] + args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        print(f"peer timed out: {' '.join(args)}", file=sys.stderr)
        return None
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print(f"peer did not run ({' '.join(args)}): {proc.stderr.strip()[-500:]}", file=sys.stderr)
    return None


def run_peers(workload_args: list[str], parallelism: int) -> list[dict]:
    """Stop this process's Ray (the peers get the machine to themselves), then run PyFlink (at
    ``parallelism``) and Bytewax on ``workload_args``; emit and return the results of those that ran."""
    import ray

    ray.shutdown()
    rows = []
    for peer in (["peers/pyflink_bench.py", *workload_args, "--parallelism", str(parallelism)],
                 ["peers/bytewax_bench.py", *workload_args]):
        r = run_peer(peer)
        if r:
            rows.append(r)
            emit(r)
    return rows


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)
