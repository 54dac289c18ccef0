"""Startup: a 10-record job, from the command that starts it to its first record and to its exit.

    python bench/startup.py [--runs 3]

Measured from the outside, as a user waits (interpreter start and imports included), each case
``--runs`` times (the median is reported, every run is in the JSON):

- cold: ``python job.py`` on a machine without a running Ray (it starts the embedded Ray,
  the job manager and a task executor, then shuts Ray down at exit);
- standing: ``rayflink run job.py`` on the standing local cluster (``rayflink cluster start``,
  warmed by one job first): joining it, submitting, and the executors already up. Also reported:
  ``execute()`` to the first record inside the job's process;
- Bytewax: ``python -m bytewax.run`` of the same job (the peers venv, bench/peers/setup.sh).

The job maps 10 numbers and prints them; the first record is the first printed line. The
standing cluster is this script's own (its own cluster file and ports) and is stopped at the
end; the machine's load average is in the result.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from harness import emit, parse_args, table
from peers._common import DEFAULT_VENV

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RAYFLINK_JOB = """
import sys, time
from rayflink.datastream import StreamExecutionEnvironment
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.from_collection(list(range(10))).map(lambda x: x * 2).print()
print(f"EXECUTE {time.time()}", file=sys.stderr, flush=True)
env.execute("startup")
"""

BYTEWAX_FLOW = """
import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource
flow = Dataflow("startup")
op.output("out", op.map("double", op.input("in", flow, TestingSource(range(10))), lambda x: x * 2), StdOutSink())
"""


def timed(command: list[str], env: dict, cwd: str, first: str = "0") -> dict:
    """Run ``command``; seconds from its start to the first stdout line reading ``first`` (the
    first record) and to its exit; ``execute_to_first_s`` if it reported when it called execute()."""
    t0 = time.time()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_at = None
    for line in proc.stdout:
        if first_at is None and line.strip() == first:
            first_at = time.time()
    proc.wait()
    end = time.time()
    err = proc.stderr.read()
    if proc.returncode != 0 or first_at is None:
        raise SystemExit(f"{' '.join(command)} failed (exit {proc.returncode}, first record seen: "
                         f"{first_at is not None}):\n{err[-2000:]}")
    run = {"first_record_s": round(first_at - t0, 3), "exit_s": round(end - t0, 3)}
    executed = [float(line.split()[1]) for line in err.splitlines() if line.startswith("EXECUTE ")]
    if executed:
        run["execute_to_first_s"] = round(first_at - executed[0], 3)
    return run


def summary(system: str, case: str, runs: list[dict]) -> dict:
    row = {"system": system, "case": case, "runs": runs}
    for key in runs[0]:
        row[key] = round(statistics.median(r[key] for r in runs), 3)
    return row


def main() -> None:
    args = parse_args(__doc__, runs=3)
    work = tempfile.mkdtemp(prefix="rayflink-startup-")
    try:
        measure(args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(runs: int, work: str) -> None:
    job = os.path.join(work, "job.py")
    with open(job, "w", encoding="utf-8") as f:
        f.write(RAYFLINK_JOB)
    with open(os.path.join(work, "flow.py"), "w", encoding="utf-8") as f:
        f.write(BYTEWAX_FLOW)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYFLINK_CONFIG")}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RAYFLINK_CLUSTER_FILE"] = os.path.join(work, "cluster.json")  # this bench's own standing cluster
    rayflink = [sys.executable, "-m", "rayflink.cli"]
    load_before = os.getloadavg()
    rows = [summary("rayflink", "cold python job.py", [timed([sys.executable, job], env, work)
                                                        for _ in range(runs)])]
    emit(rows[-1])
    started = subprocess.run(rayflink + ["cluster", "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(f"rayflink cluster start failed:\n{started.stderr}")
    try:
        timed(rayflink + ["run", job], env, work)  # the first job starts the job manager and an executor
        rows.append(summary("rayflink", "rayflink run, standing cluster",
                            [timed(rayflink + ["run", job], env, work) for _ in range(runs)]))
        emit(rows[-1])
    finally:
        subprocess.run(rayflink + ["cluster", "stop"], env=env, capture_output=True, text=True)
    bytewax_python = os.path.join(DEFAULT_VENV, "bin", "python")
    if os.path.exists(bytewax_python):
        rows.append(summary("bytewax", "python -m bytewax.run", [
            timed([bytewax_python, "-m", "bytewax.run", "flow:flow"], dict(env, PYTHONPATH=work), work, first="0")
            for _ in range(runs)]))
        emit(rows[-1])
    else:
        print(f"Bytewax not run: no peers venv at {DEFAULT_VENV} (bash bench/peers/setup.sh)", file=sys.stderr)
    load = {"load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    emit(load)
    print(table(rows, ["system", "case", "first_record_s", "exit_s", "execute_to_first_s"]))
    print(f"load average (1, 5, 15 min) before {load['load_average_before']}, after {load['load_average_after']}")


if __name__ == "__main__":
    main()
