"""Lookup joins: each order enriched with its customer read from PostgreSQL through the jdbc table
(``FOR SYSTEM_TIME AS OF o.proc_time``, Flink's processing-time lookup join), checked against Python."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from rayflink.table import EnvironmentSettings, TableEnvironment

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

CUSTOMERS = [(i, f"c{i}", ["eu", "us", "ap"][i % 3], 10.5 * i) for i in range(1, 30)]
ORDERS = [(n, (n * 7) % 40, float(n)) for n in range(1, 200)]  # customers 30-39 do not exist


@pytest.fixture
def customers():
    name = f"customers_{uuid.uuid4().hex[:8]}"
    pg = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
    pg.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, name TEXT, region TEXT, credit NUMERIC(10, 2))")
    with pg.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s, %s)", CUSTOMERS)
    yield name
    pg.execute(f"DROP TABLE {name}")
    pg.close()


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_orders_enriched_with_their_customer_as_python_joins_them(customers, tmp_path, join):
    (tmp_path / "orders.csv").write_text("".join(f"{n},{c},{a}\n" for n, c, a in ORDERS))
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "2")
    t_env.execute_sql(f"""CREATE TABLE orders (order_id INT, customer_id INT, amount DOUBLE, proc_time AS PROCTIME())
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "orders.csv"}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE customers (id INT, name STRING, region STRING, credit DOUBLE,
                          PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'jdbc',
                          'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'table-name' = '{customers}',
                          'username' = 'postgres', 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '10',
                          'lookup.partial-cache.expire-after-write' = '1 min')""")
    query = (f"SELECT o.order_id, o.amount, c.name, c.region, c.credit FROM orders AS o {join} customers "
             "FOR SYSTEM_TIME AS OF o.proc_time AS c ON o.customer_id = c.id")
    assert "LookupJoin(table=[customers]" in t_env.explain_sql(query)
    got = sorted(tuple(r) for r in t_env.execute_sql(query).collect())
    by_id = {c[0]: c for c in CUSTOMERS}
    expected = sorted((n, a, *by_id[c][1:]) if c in by_id else (n, a, None, None, None)
                      for n, c, a in ORDERS if c in by_id or join == "LEFT JOIN")
    assert got == expected
