"""SQL tables on local Delta Lake tables: INSERT INTO appends commits that deltalake reads back as
Python computes them; SELECT reads a version (the latest, or ``versionAsOf``); a checkpointed
INSERT under executor kills lands every row once; updating queries are refused at planning."""

from __future__ import annotations

import datetime
import decimal
from collections import Counter

import pytest
from deltalake import DeltaTable

from rayflink.sql.errors import SqlPlanningError, SqlValidationError
from rayflink.table import EnvironmentSettings, StreamTableEnvironment, TableEnvironment
from rayflink.testing.exactly_once import chaos_thread

ROWS = [  # (id, user, amount, price, paid, ts): a NULL in every nullable column somewhere
    (i, f"u{i % 7}" if i % 11 else None, 1.5 * i, decimal.Decimal(f"{i}.{i % 100:02d}"), i % 2 == 0,
     datetime.datetime(2024, 5, 1, 10, i % 60, i % 60, 1000 * (i % 1000)))
    for i in range(1, 300)]
COLUMNS = "id INT, user_id STRING, amount DOUBLE, price DECIMAL(10, 2), paid BOOLEAN, ts TIMESTAMP(3)"


def streaming(parallelism: int = 1) -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", str(parallelism))
    return t_env


def csv_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return str(value)


def orders_table(t_env: TableEnvironment, tmp_path, rows: list) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("".join(",".join(csv_text(v) for v in row) + "\n" for row in rows))
    t_env.execute_sql(f"CREATE TABLE orders ({COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{path}', "
                      "'format' = 'csv')")


def as_rows(records: list[dict]) -> list[tuple]:
    return sorted(tuple(r.values()) for r in records)


def checkpointed(tmp_path) -> StreamTableEnvironment:
    """A table environment at parallelism 2 checkpointing every 200 ms, restarting on failures."""
    from rayflink.common.restart_strategy import RestartStrategies
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    return StreamTableEnvironment.create(env)


def sequence(t_env: TableEnvironment, n: int) -> None:
    """Table ``gen``: ids 0 .. n-1 at 3,000 rows/s (several checkpoints' worth)."""
    t_env.execute_sql(f"""CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{n}',
                          'rows-per-second' = '3000', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                          'fields.id.end' = '{n - 1}')""")


@pytest.mark.integration
def test_insert_into_delta_then_read_with_deltalake_and_with_sql_at_each_version(tmp_path):
    table = tmp_path / "orders_delta"
    t_env = streaming(2)
    orders_table(t_env, tmp_path, ROWS)
    t_env.execute_sql(f"CREATE TABLE lake ({COLUMNS}) WITH ('connector' = 'delta', 'table-path' = '{table}')")
    t_env.execute_sql("INSERT INTO lake SELECT id, user_id, amount * 2, price, paid, ts FROM orders "
                      "WHERE id % 3 <> 0").wait()
    first = [(i, u, a * 2, p, paid, ts) for i, u, a, p, paid, ts in ROWS if i % 3]
    assert as_rows(DeltaTable(str(table)).to_pyarrow_table().to_pylist()) == sorted(first)
    first_version = DeltaTable(str(table)).version()

    t_env.execute_sql("INSERT INTO lake SELECT id + 1000, user_id, amount, price, paid, ts FROM orders "
                      "WHERE id % 3 = 0").wait()
    second = [(i + 1000, u, a, p, paid, ts) for i, u, a, p, paid, ts in ROWS if i % 3 == 0]
    assert as_rows(DeltaTable(str(table)).to_pyarrow_table().to_pylist()) == sorted(first + second)

    # read back through SQL: the latest version, then the first INSERT's
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM lake").collect()) == sorted(first + second)
    t_env.execute_sql(f"CREATE TABLE lake_v ({COLUMNS}) WITH ('connector' = 'delta', 'table-path' = '{table}', "
                      f"'versionAsOf' = '{first_version}')")
    got = sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM lake_v").collect())
    assert got == sorted(first)


@pytest.mark.integration
def test_a_checkpointed_insert_lands_every_row_once_under_executor_kills(tmp_path):
    t_env = checkpointed(tmp_path)
    n = 12_000
    sequence(t_env, n)
    t_env.execute_sql(f"CREATE TABLE lake (id BIGINT, k INT) WITH ('connector' = 'delta', "
                      f"'table-path' = '{tmp_path / 'lake'}')")
    result = t_env.execute_sql("INSERT INTO lake SELECT id, CAST(id % 7 AS INT) FROM gen")
    with chaos_thread(result.get_job_client(), 2) as killed:
        result.wait()
    got = Counter((r["id"], r["k"]) for r in DeltaTable(str(tmp_path / "lake")).to_pyarrow_table().to_pylist())
    assert killed, "no executor was killed: the run proved nothing"
    assert got == Counter((i, i % 7) for i in range(n))


# ---- refused at planning (no job runs) -----------------------------------------------------------

def test_an_updating_query_into_delta_is_refused_naming_the_sink_and_operator(tmp_path):
    t_env = streaming()
    orders_table(t_env, tmp_path, ROWS[:3])
    t_env.execute_sql(f"CREATE TABLE lake (user_id STRING, n BIGINT) WITH ('connector' = 'delta', "
                      f"'table-path' = '{tmp_path / 'lake'}')")
    with pytest.raises(SqlPlanningError, match="table sink 'lake' \\('connector' = 'delta'\\) only takes inserts, "
                                               "but the query produces updates \\(GroupAggregate"):
        t_env.execute_sql("INSERT INTO lake SELECT user_id, COUNT(*) FROM orders GROUP BY user_id")


def test_a_missing_table_or_path_is_named(tmp_path):
    t_env = streaming()
    t_env.execute_sql(f"CREATE TABLE nowhere (id INT) WITH ('connector' = 'delta', "
                      f"'table-path' = '{tmp_path / 'none'}')")
    with pytest.raises(SqlValidationError, match=f"table 'nowhere' \\('connector' = 'delta'\\): DeltaSource "
                                                 f"{tmp_path / 'none'}: cannot open the Delta table"):
        t_env.execute_sql("SELECT * FROM nowhere")
    t_env.execute_sql("CREATE TABLE nopath (id INT) WITH ('connector' = 'delta')")
    with pytest.raises(SqlValidationError, match="table 'nopath' \\('connector' = 'delta'\\) needs the option "
                                                 "'table-path'"):
        t_env.execute_sql("SELECT * FROM nopath")


@pytest.mark.integration
def test_partitioned_by_writes_delta_partitions_that_read_back_whole(tmp_path):
    table = tmp_path / "by_user"
    t_env = streaming(2)
    orders_table(t_env, tmp_path, ROWS)
    t_env.execute_sql(f"CREATE TABLE lake ({COLUMNS}) PARTITIONED BY (user_id) "
                      f"WITH ('connector' = 'delta', 'table-path' = '{table}')")
    t_env.execute_sql("INSERT INTO lake SELECT * FROM orders").wait()
    dt = DeltaTable(str(table))
    assert dt.metadata().partition_columns == ["user_id"]
    users = {u for _i, u, *_ in ROWS}
    assert {p.name for p in table.iterdir() if p.is_dir() and not p.name.startswith("_")} == \
        {f"user_id={u}" for u in users if u is not None} | {"user_id=__HIVE_DEFAULT_PARTITION__"}
    names = ["id", "user_id", "amount", "price", "paid", "ts"]  # (the partition column is stored last)
    assert as_rows(dt.to_pyarrow_table().select(names).to_pylist()) == sorted(ROWS)
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM lake").collect()) == sorted(ROWS)
    only = sorted(r for r in ROWS if r[1] == "u3")
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM lake WHERE user_id = 'u3'").collect()) == only


@pytest.mark.integration
def test_an_updating_query_merges_into_delta_on_its_primary_key_once_under_executor_kills(tmp_path):
    t_env = checkpointed(tmp_path)
    n = 9_000
    sequence(t_env, n)
    t_env.execute_sql(f"CREATE TABLE totals (k INT, n BIGINT, top BIGINT, PRIMARY KEY (k) NOT ENFORCED) "
                      f"PARTITIONED BY (k) WITH ('connector' = 'delta', 'table-path' = '{tmp_path / 'totals'}')")
    # keys come and go: a key's row is deleted while its count is odd past 3 (-D, then +I again)
    result = t_env.execute_sql("INSERT INTO totals SELECT k, n, top FROM (SELECT CAST(id % 13 AS INT) AS k, "
                               "COUNT(*) AS n, MAX(id) AS top FROM gen GROUP BY CAST(id % 13 AS INT)) "
                               "WHERE n % 2 = 0 OR n < 3")
    with chaos_thread(result.get_job_client(), 2) as killed:
        result.wait()
    expected = {}
    for k in range(13):
        ids = [i for i in range(n) if i % 13 == k]
        if len(ids) % 2 == 0 or len(ids) < 3:
            expected[k] = (len(ids), max(ids))
    got = DeltaTable(str(tmp_path / "totals")).to_pyarrow_table().to_pylist()
    assert killed, "no executor was killed: the run proved nothing"
    assert sorted((r["k"], r["n"], r["top"]) for r in got) == sorted((k, *v) for k, v in expected.items())


def test_partitioned_by_is_checked_and_refused_where_the_connector_cannot_partition(tmp_path):
    t_env = streaming()
    with pytest.raises(SqlValidationError, match="table 'bad': PARTITIONED BY column 'dx' is not a column"):
        t_env.execute_sql(f"CREATE TABLE bad ({COLUMNS}) PARTITIONED BY (dx) WITH ('connector' = 'delta')")
    with pytest.raises(SqlValidationError, match="table 'bad': PARTITIONED BY column 'k' is not a physical column"):
        t_env.execute_sql("CREATE TABLE bad (id INT, k AS id + 1) PARTITIONED BY (k) WITH ('connector' = 'delta')")
    t_env.execute_sql("CREATE TABLE printed (id INT, k INT) PARTITIONED BY (k) WITH ('connector' = 'print')")
    orders_table(t_env, tmp_path, ROWS[:3])
    with pytest.raises(SqlValidationError, match="table 'printed': PARTITIONED BY \\(k\\) is not supported by "
                                                 "connector 'print'; partitioned tables: 'delta'"):
        t_env.execute_sql("INSERT INTO printed SELECT id, id FROM orders")


@pytest.mark.integration
def test_a_delta_table_in_s3_partitioned_and_merged(tmp_path, s3_endpoint):
    bucket = s3_endpoint.create_bucket()
    s3 = (f"'s3.endpoint' = '{s3_endpoint.endpoint_url}', 's3.access-key' = 'testing', "
          "'s3.secret-key' = 'testing', 's3.region' = 'us-east-1'")
    t_env = streaming(2)
    orders_table(t_env, tmp_path, ROWS)
    t_env.execute_sql(f"CREATE TABLE lake ({COLUMNS}) PARTITIONED BY (paid) "
                      f"WITH ('connector' = 'delta', 'table-path' = 's3://{bucket}/orders', {s3})")
    t_env.execute_sql("INSERT INTO lake SELECT * FROM orders").wait()
    assert sorted(tuple(r) for r in t_env.execute_sql("SELECT * FROM lake").collect()) == sorted(ROWS)
    keys = {o["Key"] for o in s3_endpoint.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert {k.split("/")[1] for k in keys} == {"paid=true", "paid=false", "_delta_log"}

    t_env.execute_sql(f"CREATE TABLE per_user (user_id STRING, n BIGINT, PRIMARY KEY (user_id) NOT ENFORCED) "
                      f"WITH ('connector' = 'delta', 'table-path' = 's3://{bucket}/per_user', {s3})")
    t_env.execute_sql("INSERT INTO per_user SELECT user_id, COUNT(*) FROM orders WHERE user_id IS NOT NULL "
                      "GROUP BY user_id").wait()
    counts = Counter(u for _i, u, *_ in ROWS if u is not None)
    got = t_env.execute_sql("SELECT * FROM per_user").collect()
    assert sorted(tuple(r) for r in got) == sorted(counts.items())
    assert not [k for k in (o["Key"] for o in s3_endpoint.client().list_objects_v2(Bucket=bucket)["Contents"])
                if "_rayflink_staging" in k]  # the merge's staged rows are removed
