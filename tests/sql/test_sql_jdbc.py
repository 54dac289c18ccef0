"""SQL into PostgreSQL through the jdbc connector: the seed's 12.7.1 sink as written (a window
aggregate upserted on its PRIMARY KEY), and an updating GROUP BY whose upserts leave the final rows."""

from __future__ import annotations

import psycopg
import pytest

from rayflink.table import EnvironmentSettings, TableEnvironment

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

PG_URL = "jdbc:postgresql://127.0.0.1:5432/test"
ROWS = [("ana", "compra", 10.0, "2024-05-01 10:01:00"), ("luis", "compra", 4.5, "2024-05-01 10:03:00"),
        ("ana", "compra", 2.5, "2024-05-01 10:04:59"), ("luis", "compra", 8.0, "2024-05-01 10:06:00"),
        ("ana", "vista", 0.0, "2024-05-01 10:07:00"), ("ana", "compra", 1.0, "2024-05-01 10:12:00")]


@pytest.fixture
def pg():
    try:
        conn = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield conn
    conn.close()


def events(t_env: TableEnvironment, tmp_path) -> None:
    path = tmp_path / "eventos.csv"
    path.write_text("".join(f"{u},{k},{a},{t}\n" for u, k, a, t in ROWS))
    t_env.execute_sql(f"""CREATE TABLE eventos (user_id STRING, tipo STRING, monto DOUBLE, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                          WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")


def test_seed_12_7_1_window_into_a_jdbc_upsert_table(pg, tmp_path):
    table = f"metricas_{tmp_path.name[-8:].replace('-', '_')}"
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    pg.execute(f"CREATE TABLE {table} (ventana_inicio TIMESTAMP, ventana_fin TIMESTAMP, region TEXT, "
               "revenue DOUBLE PRECISION, PRIMARY KEY (ventana_inicio, ventana_fin, region))")
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
    events(t_env, tmp_path)
    t_env.execute_sql(f"""
        CREATE TABLE metricas_por_ventana (
            ventana_inicio TIMESTAMP(3), ventana_fin TIMESTAMP(3), region STRING, revenue DOUBLE,
            PRIMARY KEY (ventana_inicio, ventana_fin, region) NOT ENFORCED
        ) WITH ('connector' = 'jdbc', 'url' = '{PG_URL}', 'table-name' = '{table}', 'username' = 'postgres')""")
    t_env.execute_sql("""
        INSERT INTO metricas_por_ventana
        SELECT TUMBLE_START(ts, INTERVAL '5' MINUTE), TUMBLE_END(ts, INTERVAL '5' MINUTE), user_id, SUM(monto)
        FROM eventos WHERE tipo = 'compra'
        GROUP BY TUMBLE(ts, INTERVAL '5' MINUTE), user_id""").wait()
    got = pg.execute(f"SELECT to_char(ventana_inicio, 'HH24:MI'), region, revenue FROM {table} "
                     "ORDER BY 1, 2").fetchall()
    assert got == [("10:00", "ana", 12.5), ("10:00", "luis", 4.5), ("10:05", "luis", 8.0), ("10:10", "ana", 1.0)]
    pg.execute(f"DROP TABLE {table}")


def test_updating_group_by_upserts_its_final_rows(pg, tmp_path):
    table = f"totals_{tmp_path.name[-8:].replace('-', '_')}"
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    pg.execute(f"CREATE TABLE {table} (user_id TEXT PRIMARY KEY, n BIGINT, total DOUBLE PRECISION)")
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    events(t_env, tmp_path)
    t_env.execute_sql(f"""CREATE TABLE totals (user_id STRING, n BIGINT, total DOUBLE,
                          PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'jdbc', 'url' = '{PG_URL}',
                          'table-name' = '{table}', 'username' = 'postgres', 'sink.buffer-flush.max-rows' = '1')""")
    t_env.execute_sql("INSERT INTO totals SELECT user_id, COUNT(*), SUM(monto) FROM eventos GROUP BY user_id").wait()
    assert pg.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() == [("ana", 4, 13.5), ("luis", 2, 12.5)]
    pg.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize("flush_rows", [1, 100])
def test_a_row_filtered_out_of_an_updating_result_is_deleted(pg, tmp_path, flush_rows):
    """ana's count passes 2 -> 3: the filter keeps the -U of her old row and drops the +U of the new
    one, so her row leaves the result; an upsert sink reads the lone -U as a delete (as Flink's do)."""
    table = f"small_{tmp_path.name[-8:].replace('-', '_')}"
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    pg.execute(f"CREATE TABLE {table} (user_id TEXT PRIMARY KEY, n BIGINT, total DOUBLE PRECISION)")
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    root = tmp_path / "eventos"
    root.mkdir()
    for i, (u, k, a, t) in enumerate(ROWS):  # a file each: separate batches, so the counts update
        (root / f"part-{i}.csv").write_text(f"{u},{k},{a},{t}\n")
    t_env.execute_sql(f"""CREATE TABLE eventos (user_id STRING, tipo STRING, monto DOUBLE, ts TIMESTAMP(3))
                          WITH ('connector' = 'filesystem', 'path' = '{root}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE small (user_id STRING, n BIGINT, total DOUBLE,
                          PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'jdbc', 'url' = '{PG_URL}',
                          'table-name' = '{table}', 'username' = 'postgres',
                          'sink.buffer-flush.max-rows' = '{flush_rows}')""")
    t_env.execute_sql("INSERT INTO small SELECT user_id, COUNT(*), SUM(monto) FROM eventos GROUP BY user_id "
                      "HAVING COUNT(*) < 3").wait()
    assert pg.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() == [("luis", 2, 12.5)]
    pg.execute(f"DROP TABLE {table}")
