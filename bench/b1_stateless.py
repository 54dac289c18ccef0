"""B1 stateless: integers -> map(x*2) -> filter(x%3!=0) -> discarding sink, parallelism 2.

    python bench/b1_stateless.py --events 5000000 [--compare]

Prints one JSON line per system (events/s, seconds, peak RSS of the whole process tree) and,
with --compare, runs the PyFlink and Bytewax equivalents (bench/peers, after bench/peers/setup.sh)
on the same machine in the same run. "seconds" is the whole run as a user sees it: Ray's start,
the task executors' start (a 1,000-record first job) and the job; "job_s" is the job's execute()
alone on running executors.
"""

from __future__ import annotations

from harness import Opt, emit, parse_args, run_peers, start_run, table, timed_runs


def run_rayflink(events: int, parallelism: int) -> dict:
    t0, sampler, ray_s = start_run()
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import StreamExecutionEnvironment

    def job(n: int):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        env.from_sequence(1, n).map(lambda x: x * 2).filter(lambda x: x % 3 != 0).sink_to(DiscardingSink())
        return env.execute("B1")

    result, timings = timed_runs(job, events, t0, ray_s, sampler)
    sink = result.metrics["vertices"][-1]["subtasks"]
    out = sum(s["operators"][list(s["operators"])[-1]]["records_in"] for s in sink)
    expected = sum(1 for x in range(1, events + 1) if (2 * x) % 3 != 0) if events <= 10_000_000 else None
    if expected is not None and out != expected:
        raise SystemExit(f"B1 wrong: the sink saw {out} records, expected {expected}")
    return {"system": "rayflink", "workload": "B1", "events": events, "parallelism": parallelism, **timings,
            "sink_records": out, "peak_rss_mb": sampler.peak_mb, "latency": "n/a (throughput run; see L1)"}


def main() -> None:
    args = parse_args(__doc__, events=5_000_000, parallelism=2,
                      compare=Opt(False, help="also run PyFlink and Bytewax (bench/peers)"))
    rows = [run_rayflink(args.events, args.parallelism)]
    emit(rows[0])
    if args.compare:
        rows.extend(run_peers(["--workload", "B1", "--events", str(args.events)], args.parallelism))
    print(table(rows, ["system", "events", "seconds", "events_per_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
