"""The ``mysql-cdc`` SQL connector (seed 12.7.4): a MariaDB table read as a changelog by a CREATE
TABLE with Flink CDC's options, aggregated and written as SQL does, equal to what the database says."""

from __future__ import annotations

import random
import uuid

import psycopg
import pytest

from rayflink.common.types import RowKind
from rayflink.sql.errors import SqlValidationError
from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.testing.services import wait_until

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


@pytest.fixture
def clientes(mariadb_binlog):
    name = f"clientes_{uuid.uuid4().hex[:8]}"
    conn = mariadb_binlog.connect("shop")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, nombre VARCHAR(40), email VARCHAR(80), "
                    "region VARCHAR(8), saldo DECIMAL(10,2))")
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s)",
                        [(i, f"n{i}", f"c{i}@x.es", f"r{i % 3}", i) for i in range(1, 41)])
    yield name, conn
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {name}")
    conn.close()


def cdc_table(t_env: TableEnvironment, db, name: str, server_id: int, columns: str) -> None:
    t_env.execute_sql(f"""
        CREATE TABLE clientes_cdc ({columns}, PRIMARY KEY (id) NOT ENFORCED) WITH (
            'connector' = 'mysql-cdc', 'hostname' = '{db.host}', 'port' = '{db.port}',
            'username' = '{db.user}', 'password' = '{db.password or ''}', 'database-name' = 'shop',
            'table-name' = '{name}', 'server-id' = '{server_id}')""")


def change_randomly(conn, name: str, seed: int, n: int = 200) -> None:
    rng = random.Random(seed)
    with conn.cursor() as cur:
        for i in range(n):
            key, action = rng.randint(1, 60), rng.random()
            if action < 0.4:
                cur.execute(f"INSERT INTO {name} VALUES (%s, %s, %s, %s, %s) "
                            "ON DUPLICATE KEY UPDATE saldo = saldo + 1",
                            (key, f"n{key}", f"c{key}@x.es", f"r{rng.randint(0, 3)}", i))
            elif action < 0.8:
                cur.execute(f"UPDATE {name} SET region = %s, saldo = %s WHERE id = %s",
                            (f"r{rng.randint(0, 3)}", i, key))
            else:
                cur.execute(f"DELETE FROM {name} WHERE id = %s", (key,))
    conn.commit()


def test_seed_12_7_4_cdc_table_grouped_follows_the_database(mariadb_binlog, clientes):
    # Given the seed's CDC table over a MariaDB table, and a GROUP BY over it,
    name, conn = clientes
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
    cdc_table(t_env, mariadb_binlog, name, 5601,
              "id INT, nombre STRING, email STRING, region STRING, saldo DECIMAL(10, 2)")
    result = t_env.execute_sql("SELECT region, COUNT(*) AS clientes, SUM(saldo) AS saldo FROM clientes_cdc "
                               "GROUP BY region")
    # when rows are inserted, updated and deleted while it runs,
    change_randomly(conn, name, seed=3)
    with conn.cursor() as cur:
        cur.execute(f"SELECT region, COUNT(*), SUM(saldo) FROM {name} GROUP BY region")
        expected = {r: (n, float(s)) for r, n, s in cur.fetchall()}
    # then the materialized changelog equals the database's own GROUP BY.
    view: dict = {}
    with result.collect() as rows:
        def caught_up() -> bool:
            row = next(rows)
            if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                view[row[0]] = (row[1], float(row[2]))
            else:
                view.pop(row[0], None)
            return view == expected

        wait_until(caught_up, timeout=120, what="the grouped changelog to equal MariaDB's GROUP BY")
        result.get_job_client().cancel()


def test_cdc_table_upserted_into_postgresql_equals_the_database(mariadb_binlog, clientes):
    # Given a CDC table and a jdbc table with the same primary key in PostgreSQL,
    name, conn = clientes
    pg = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
    pg.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, nombre TEXT, region TEXT, saldo NUMERIC(10, 2))")
    try:
        t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
        cdc_table(t_env, mariadb_binlog, name, 5602,
                  "id INT, nombre STRING, email STRING, region STRING, saldo DECIMAL(10, 2)")
        t_env.execute_sql(f"""CREATE TABLE copia (id INT, nombre STRING, region STRING, saldo DECIMAL(10, 2),
                              PRIMARY KEY (id) NOT ENFORCED)
                              WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test',
                                    'table-name' = '{name}', 'username' = 'postgres',
                                    'sink.buffer-flush.interval' = '100 ms')""")
        # when the CDC table is inserted into it while the database changes,
        job = t_env.execute_sql("INSERT INTO copia SELECT id, nombre, region, saldo FROM clientes_cdc")
        change_randomly(conn, name, seed=5)
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, nombre, region, saldo FROM {name}")
            expected = {r[0]: (r[1], r[2], float(r[3])) for r in cur.fetchall()}

        def copied() -> dict:
            return {r[0]: (r[1], r[2], float(r[3])) for r in pg.execute(f"SELECT * FROM {name}").fetchall()}

        # then PostgreSQL holds the database's rows (updates upserted, deletes deleted).
        try:
            wait_until(lambda: copied() == expected, timeout=120, what="PostgreSQL to equal MariaDB")
        finally:
            job.get_job_client().cancel()
    finally:
        pg.execute(f"DROP TABLE {name}")
        pg.close()


def test_a_cdc_table_into_an_insert_only_sink_is_refused_and_bad_options_are_named(mariadb_binlog, clientes):
    name, _ = clientes
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
    cdc_table(t_env, mariadb_binlog, name, 5603, "id INT, nombre STRING")
    t_env.execute_sql("CREATE TABLE salida (id INT, nombre STRING) WITH ('connector' = 'filesystem', "
                      "'path' = '/tmp/never', 'format' = 'csv')")
    with pytest.raises(Exception, match="only takes inserts"):
        t_env.execute_sql("INSERT INTO salida SELECT * FROM clientes_cdc")
    t_env.execute_sql("""CREATE TABLE otra (id INT) WITH ('connector' = 'mysql-cdc', 'hostname' = 'h',
                         'username' = 'u', 'database-name' = 'd', 'table-name' = 't',
                         'scan.startup.mode' = 'earliest')""")
    with pytest.raises(SqlValidationError, match="'scan.startup.mode' = 'earliest'; use 'initial' or 'latest-offset'"):
        t_env.execute_sql("SELECT * FROM otra")
