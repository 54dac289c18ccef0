"""Shared by rayflink's benchmarks: timing, peak RSS of the whole process tree, peers, result lines."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

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


class Opt:
    """A command-line option of ``parse_args`` beyond a plain default: its type, help or choices."""

    def __init__(self, default: object = None, type: type | None = None, help: str | None = None,
                 choices: list | None = None) -> None:
        self.kwargs = {"default": default, "type": type, "help": help, "choices": choices}


def parse_args(doc: str, **options: object) -> argparse.Namespace:
    """The command line of a bench script, its docstring as ``--help``: one ``--option`` per keyword
    (``window_s`` is ``--window-s``), whose value is the default, read as the default's type (an int or
    a float; text as text), a ``False`` default being a switch; an ``Opt`` says more."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, spec in options.items():
        flag = "--" + name.replace("_", "-")
        kwargs = dict(spec.kwargs) if isinstance(spec, Opt) else {"default": spec}
        default = kwargs["default"]
        if default is False:
            ap.add_argument(flag, action="store_true", help=kwargs.get("help"))
            continue
        if kwargs.get("type") is None and isinstance(default, (int, float)):
            kwargs["type"] = type(default)
        ap.add_argument(flag, **{k: v for k, v in kwargs.items() if v is not None or k == "default"})
    return ap.parse_args()


def start_run() -> tuple[float, TreeRssSampler, float]:
    """The start of a run: its start time, the RSS sampler started, and the seconds Ray took to start."""
    t0 = time.perf_counter()
    sampler = rss_sampler()
    return t0, sampler, start_ray()


def timed_runs(job: Callable[[int], Any], events: int, t0: float, ray_s: float,
               sampler: TreeRssSampler) -> tuple[Any, dict]:
    """Run ``job(1000)`` (the first job starts the task executors), then ``job(events)`` timed; stop the
    sampler. Returns the second job's result and the timings of a result line: ``seconds`` and
    ``events_per_s`` since ``t0`` (Ray's start included), ``job_s`` and ``job_events_per_s`` of the job."""
    job(1000)
    t1 = time.perf_counter()
    result = job(events)
    t2 = time.perf_counter()
    sampler.stop()
    return result, {"seconds": round(t2 - t0, 3), "job_s": round(t2 - t1, 3), "ray_start_s": round(ray_s, 3),
                    "events_per_s": round(events / (t2 - t0)), "job_events_per_s": round(events / (t2 - t1))}
