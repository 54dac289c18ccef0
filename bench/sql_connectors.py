"""SQL connector throughput: N rows written with INSERT INTO a connector's table, then read back
through it (a scan where the connector is a source, a lookup join where it is a dimension table).

    python bench/sql_connectors.py --connector redis|delta|jdbc|kafka [--rows 200000] [--parallelism 2]

The rows come from a datagen table (id a sequence, k, name, amount random); the sink is
``redis`` (hashes upserted on id), ``delta`` (append, one commit per subtask), ``jdbc``
(PostgreSQL upserts on id) or ``kafka`` (JSON on tansu, 2 partitions). The read phase is a
lookup join of N probe rows (random ids of the written ones, cache off) for redis and jdbc, and
a bounded scan for delta and kafka, both into a blackhole. Every phase checks its row count.

Figures: ``job_s``/``rows_per_s`` are the steady state of one job (the task executors warm
from a first small job, Ray started); ``whole_run_s`` counts from the script's start (Ray, the
warm-up jobs and both phases). Peak RSS is of the whole process tree (Ray included). Latency
percentiles are not given: a bounded bulk load's per-row latency is its queueing time.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

from harness import Opt, emit, parse_args, start_run

COLUMNS = "id BIGINT, k INT, name STRING, amount DOUBLE"


def rows_in(result: Any) -> int:
    """Rows the job's last vertex (the sink) took in."""
    return sum(s["records_in"] for s in result.metrics["vertices"][-1]["subtasks"])


def new_env(parallelism: int) -> Any:
    from rayflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", str(parallelism))
    return t_env


def run(t_env: Any, sql: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = t_env.execute_sql(sql).get_job_client().get_job_execution_result()
    return time.perf_counter() - t0, result


@contextlib.contextmanager
def connector_tables(connector: str, tag: str) -> Iterator[tuple[str, str, Any]]:
    """``(WITH options of the table, WITH options of a lookup of it or '', count of rows stored)``;
    the service's data is removed afterwards."""
    if connector == "redis":
        import redis

        client = redis.Redis()
        prefix = f"bench-{tag}:"
        options = f"'connector' = 'redis', 'key-prefix' = '{prefix}', 'sink.buffer-flush.max-rows' = '5000'"
        try:
            yield options, options, lambda: sum(1 for _ in client.scan_iter(f"{prefix}*", count=10_000))
        finally:
            keys = list(client.scan_iter(f"{prefix}*", count=10_000))
            for i in range(0, len(keys), 10_000):
                client.unlink(*keys[i:i + 10_000])
    elif connector == "delta":
        import shutil
        import tempfile

        from deltalake import DeltaTable

        path = tempfile.mkdtemp(prefix=f"bench-delta-{tag}-")
        try:
            yield (f"'connector' = 'delta', 'table-path' = '{path}/t'", "",
                   lambda: DeltaTable(f"{path}/t").to_pyarrow_dataset().count_rows())
        finally:
            shutil.rmtree(path, ignore_errors=True)
    elif connector == "jdbc":
        import psycopg

        name = f"bench_{tag}"
        pg = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
        pg.execute(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, k INT, name TEXT, amount DOUBLE PRECISION)")
        options = (f"'connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test', "
                   f"'table-name' = '{name}', 'username' = 'postgres', 'sink.buffer-flush.max-rows' = '5000'")
        try:
            yield options, options, lambda: pg.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        finally:
            pg.execute(f"DROP TABLE {name}")
            pg.close()
    else:
        from rayflink.testing.services import running_tansu

        with running_tansu() as broker:
            topic = broker.create_topic(f"bench-{tag}", partitions=2)
            yield (f"'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = "
                   f"'{broker.bootstrap_servers}', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', "
                   "'scan.bounded.mode' = 'latest-offset'", "", None)


def phases(connector: str, rows: int, parallelism: int, tag: str) -> dict[str, Any]:
    """Write ``rows`` rows, then read them back; returns the phases' figures."""
    out: dict[str, Any] = {}
    with connector_tables(connector, tag) as (options, lookup, count):
        t_env = new_env(parallelism)
        key = ", PRIMARY KEY (id) NOT ENFORCED" if connector in ("redis", "jdbc") else ""
        t_env.execute_sql(f"CREATE TABLE target ({COLUMNS}{key}) WITH ({options})")
        t_env.execute_sql(f"""CREATE TABLE gen ({COLUMNS}) WITH ('connector' = 'datagen', 'number-of-rows' = '{rows}',
                              'rows-per-second' = '0', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                              'fields.id.end' = '{rows - 1}', 'fields.k.min' = '0', 'fields.k.max' = '999',
                              'fields.name.length' = '12', 'fields.amount.min' = '0', 'fields.amount.max' = '1000')""")
        seconds, result = run(t_env, "INSERT INTO target SELECT * FROM gen")
        stored = count() if count is not None else rows_in(result)
        if stored != rows:
            raise SystemExit(f"{connector}: {stored} rows stored, expected {rows}")
        out["write_s"], out["write_rows_per_s"] = round(seconds, 3), round(rows / seconds)
        t_env.execute_sql("CREATE TABLE nothing (id BIGINT, k INT, name STRING, amount DOUBLE) "
                          "WITH ('connector' = 'blackhole')")
        if lookup:
            t_env.execute_sql(f"""CREATE TABLE probe (id BIGINT, proc_time AS PROCTIME()) WITH ('connector' = 'datagen',
                                  'number-of-rows' = '{rows}', 'rows-per-second' = '0', 'fields.id.min' = '0',
                                  'fields.id.max' = '{rows - 1}')""")
            t_env.execute_sql(f"CREATE TABLE dim ({COLUMNS}, PRIMARY KEY (id) NOT ENFORCED) WITH ({lookup})")
            seconds, result = run(t_env, "INSERT INTO nothing SELECT p.id, d.k, d.name, d.amount FROM probe AS p "
                                         "JOIN dim FOR SYSTEM_TIME AS OF p.proc_time AS d ON p.id = d.id")
            out["read"] = "lookup join (cache off)"
        else:
            seconds, result = run(t_env, "INSERT INTO nothing SELECT * FROM target")
            out["read"] = "scan"
        if rows_in(result) != rows:
            raise SystemExit(f"{connector}: the {out['read']} gave {rows_in(result)} rows, expected {rows}")
        out["read_s"], out["read_rows_per_s"] = round(seconds, 3), round(rows / seconds)
    return out


def main() -> None:
    args = parse_args(__doc__, connector=Opt("redis", choices=["redis", "delta", "jdbc", "kafka"]),
                      rows=200_000, parallelism=2)
    t0, sampler, ray_s = start_run()
    tag = uuid.uuid4().hex[:8]
    phases(args.connector, 1000, args.parallelism, tag + "w")  # starts the task executors
    figures = phases(args.connector, args.rows, args.parallelism, tag)
    sampler.stop()
    emit({"system": f"rayflink SQL {args.connector}", "rows": args.rows, "parallelism": args.parallelism,
          **figures, "whole_run_s": round(time.perf_counter() - t0, 3), "ray_start_s": round(ray_s, 3),
          "peak_rss_mb": round(sampler.peak_mb), "load_avg_1m": round(os.getloadavg()[0], 2)})


if __name__ == "__main__":
    main()
