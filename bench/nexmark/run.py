"""Nexmark on rayflink SQL and on Flink SQL, in the same run, on the same generated events.

    python bench/nexmark/run.py --events 1000000 --queries q0,q1,q2,q3,q4,q5,q7,q8,q11

For each query and system: first the query's result on ``--check-events`` events is collected and
the two systems' results are compared (the final state of each changelog, as multisets of rows);
then the query runs into its blackhole sink (as Nexmark runs it) on ``--events`` events, each system
in a process of its own at ``--parallelism``. Reported per query and system: ``whole_s`` and
``events_per_s`` from the process's start to its exit (interpreter, Ray or the JVM, planning, the
job), ``job_s`` and ``job_events_per_s`` from the statement's submission until the job has finished
(the steady rate after start-up, start of the job's workers included), and ``peak_rss_mb`` of the
process tree, with the 1-minute load average at the end of the run. One JSON line per run, then a
Markdown table. Flink SQL runs in the peers' venv (bench/peers/setup.sh); a system that cannot run
is reported as such. ``--record`` keeps Flink SQL's answers on the check events (row counts and
digests) in tests/data/nexmark/flink_answers.json, which tests/sql/test_nexmark.py holds rayflink
to.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from harness import table  # noqa: E402
from peers._common import TreeRssSampler  # noqa: E402

from rayflink.testing.nexmark import digest, write  # noqa: E402

ANSWERS = os.path.join(HERE, "..", "..", "tests", "data", "nexmark", "flink_answers.json")

QUERIES = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"]


def run_query(system: str, query: str, path: str, parallelism: int, collect: str | None = None,
              timeout: float = 1800) -> dict:
    """One process running ``query`` on ``system``: its JSON line plus whole-run time and peak RSS."""
    cmd = [sys.executable, os.path.join(HERE, "query.py"), "--system", system, "--query", query, "--path", path,
           "--parallelism", str(parallelism)] + (["--collect", collect] if collect else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeRssSampler(proc.pid)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr += f"\ntimed out after {timeout:.0f} s"
    whole = time.perf_counter() - t0
    sampler.stop()
    line = next((json.loads(x) for x in reversed(stdout.splitlines()) if x.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        error = [x for x in stderr.strip().splitlines() if "WARNING" not in x][-3:]
        return {"system": system, "query": query, "error": " / ".join(error)[-400:] or f"exit {proc.returncode}"}
    return {**line, "whole_s": round(whole, 3), "peak_rss_mb": round(sampler.peak / 2**20),
            "load_avg_1m": round(os.getloadavg()[0], 1)}


def record(query: str, result: list, events: int, seed: int) -> None:
    """Keep Flink SQL's answer to ``query`` (its row count and digest) for the tests."""
    recorded = json.load(open(ANSWERS)) if os.path.exists(ANSWERS) else {}
    if (recorded.get("events"), recorded.get("seed")) != (events, seed):
        recorded = {"events": events, "seed": seed, "answers": {}}
    recorded["answers"][query] = {"rows": len(result), "sha256": digest(result)}
    os.makedirs(os.path.dirname(ANSWERS), exist_ok=True)
    with open(ANSWERS, "w") as f:
        json.dump(recorded, f, indent=1, sort_keys=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--check-events", type=int, default=100_000)
    ap.add_argument("--queries", default=",".join(QUERIES))
    ap.add_argument("--systems", default="rayflink,flink")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--data", default="/tmp/nexmark", help="where the generated events are kept")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--record", action="store_true",
                    help="record Flink SQL's answers on the check events for tests/sql/test_nexmark.py")
    args = ap.parse_args()
    systems = args.systems.split(",")
    check = write(os.path.join(args.data, f"events-{args.check_events}"), args.check_events, args.seed)
    events = write(os.path.join(args.data, f"events-{args.events}"), args.events, args.seed, progress=True)
    rows = []
    for query in args.queries.split(","):
        results = {s: os.path.join(args.data, f"{query}.{s}.result.json") for s in systems}
        checks = {s: run_query(s, query, check, args.parallelism, collect=results[s]) for s in systems}
        ran = [s for s in systems if "error" not in checks[s]]
        answers = {s: open(results[s]).read() for s in ran}
        if args.record and "flink" in ran:
            record(query, json.loads(answers["flink"]), args.check_events, args.seed)
        equal = "yes" if len(ran) == len(systems) and len(set(answers.values())) == 1 else \
            "no" if len(set(answers.values())) > 1 else "n/a"
        for system in systems:
            r = checks[system] if "error" in checks[system] else run_query(system, query, events, args.parallelism)
            r.update(events=args.events, parallelism=args.parallelism, results_equal=equal,
                     result_rows=checks[system].get("rows"))
            if "error" not in r:
                r.update(events_per_s=round(args.events / r["whole_s"]),
                         job_events_per_s=round(args.events / r["job_s"]))
            print(json.dumps(r), flush=True)
            rows.append(r)
    print(table(rows, ["query", "system", "events_per_s", "whole_s", "job_events_per_s", "job_s", "peak_rss_mb",
                       "result_rows", "results_equal", "load_avg_1m", "error"]))


if __name__ == "__main__":
    main()
