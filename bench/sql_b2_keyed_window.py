"""B2 written as SQL, against the DataStream B2 in the same run: keyed tumbling 60 s windows,
sum per key over 1,000 keys, bounded out-of-orderness 5 s, parallelism 2, into a blackhole.

    python bench/sql_b2_keyed_window.py --events 5000000

The SQL source is a datagen sequence whose computed columns give B2's events (key j % keys,
ts j ms plus disorder, amount ((j * 31) % 1000) / 10); prints one JSON line per system.
"""

from __future__ import annotations

from b2_keyed_window import result_line, run_rayflink
from harness import emit, parse_args, start_run, table, timed_runs


def run_sql(events: int, parallelism: int, keys: int, window_s: int, disorder_ms: int) -> dict:
    t0, sampler, ray_s = start_run()
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

    result, timings = timed_runs(job, events, t0, ray_s, sampler)
    windows = late = 0
    for v in result.metrics["vertices"]:
        for s in v["subtasks"]:
            for op in s["operators"].values():
                windows += op.get("num_windows_fired", 0)
                late += op.get("num_late_records_dropped", 0)
    return result_line("rayflink-sql", "SQL B2", events, parallelism, keys, window_s, timings, windows, late, sampler)


def main() -> None:
    args = parse_args(__doc__, events=5_000_000, parallelism=2, keys=1000, window_s=60, disorder_ms=5000)
    rows = []
    for run in (run_sql, run_rayflink):
        rows.append(run(args.events, args.parallelism, args.keys, args.window_s, args.disorder_ms))
        emit(rows[-1])
    print(table(rows, ["system", "events", "job_s", "job_events_per_s", "peak_rss_mb"]))


if __name__ == "__main__":
    main()
