"""B2 written as SQL, against the DataStream B2 in the same run: keyed tumbling 60 s windows,
sum per key over 1,000 keys, bounded out-of-orderness 5 s, parallelism 2, into a blackhole.

    python bench/sql_b2_keyed_window.py --events 5000000

The SQL source is a datagen sequence whose computed columns give B2's events (key j % keys,
ts j ms plus disorder, amount ((j * 31) % 1000) / 10); prints one JSON line per system.
"""

from __future__ import annotations

import argparse
import time

from b2_keyed_window import run_rayflink
from harness import emit, rss_sampler, start_ray, table


def run_sql(events: int, parallelism: int, keys: int, window_s: int, disorder_ms: int) -> dict:
    t0 = time.perf_counter()
    sampler = rss_sampler()
    ray_s = start_ray()
    from rayflink.table import EnvironmentSettings, TableEnvironment

    def job(n: int):
        t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        t_env.get_config().set("parallelism.default", str(parallelism))
        t_env.execute_sql(f"""
            CREATE TABLE b2 (
                j BIGINT,
                k AS j % {keys},
                ts AS TO_TIMESTAMP_LTZ(j + {disorder_ms} - MOD(j * 7919, {disorder_ms}), 3),
                amount AS CAST(MOD(j * 31, 1000) AS DOUBLE) / 10.0,
                WATERMARK FOR ts AS ts - INTERVAL '{disorder_ms / 1000}' SECOND
            ) WITH ('connector' = 'datagen', 'number-of-rows' = '{n}', 'rows-per-second' = '0',
                    'fields.j.kind' = 'sequence', 'fields.j.start' = '0', 'fields.j.end' = '{n - 1}')""")
        t_env.execute_sql("CREATE TABLE sink (k BIGINT, ws TIMESTAMP_LTZ(3), total DOUBLE) "
                          "WITH ('connector' = 'blackhole')")
        result = t_env.execute_sql(f"""
            INSERT INTO sink SELECT k, window_start, SUM(amount)
            FROM TABLE(TUMBLE(TABLE b2, DESCRIPTOR(ts), INTERVAL '{window_s}' SECOND))
            GROUP BY window_start, window_end, k""")
        return result.get_job_client().get_job_execution_result()

    job(1000)  # the first job starts the task executors
    t1 = time.perf_counter()
    result = job(events)
    t2 = time.perf_counter()
    sampler.stop()
    windows = late = 0
    for v in result.metrics["vertices"]:
        for s in v["subtasks"]:
            for op in s["operators"].values():
                windows += op.get("num_windows_fired", 0)
                late += op.get("num_late_records_dropped", 0)
    expected = keys * -(-events // (window_s * 1000)) if events >= keys else None
    if late or (expected is not None and windows != expected):
        raise SystemExit(f"SQL B2 wrong: {windows} window results (expected {expected}), {late} late records")
    return {"system": "rayflink-sql", "workload": "B2", "events": events, "parallelism": parallelism, "keys": keys,
            "seconds": round(t2 - t0, 3), "job_s": round(t2 - t1, 3), "ray_start_s": round(ray_s, 3),
            "events_per_s": round(events / (t2 - t0)), "job_events_per_s": round(events / (t2 - t1)),
            "windows": windows, "late_records_dropped": late, "peak_rss_mb": sampler.peak_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--window-s", type=int, default=60)
    ap.add_argument("--disorder-ms", type=int, default=5000)
    args = ap.parse_args()
    rows = []
    for run in (run_sql, run_rayflink):
        rows.append(run(args.events, args.parallelism, args.keys, args.window_s, args.disorder_ms))
        emit(rows[-1])
    print(table(rows, ["system", "events", "job_s", "job_events_per_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
