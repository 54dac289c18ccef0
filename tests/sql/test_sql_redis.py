"""SQL tables on the machine's Redis: an updating two-level GROUP BY upserted into hashes (its
emptied groups deleted), plain strings with a TTL, and lookup joins reading hashes and strings,
each read back with redis-py and compared with what Python computes; bad options and updates
into a table without a PRIMARY KEY are refused at planning, naming the table."""

from __future__ import annotations

import decimal
import uuid
from collections import defaultdict

import pytest
import redis

from rayflink.sql.errors import SqlPlanningError, SqlValidationError
from rayflink.table import EnvironmentSettings, TableEnvironment

REDIS = "'host' = '127.0.0.1', 'port' = '6379', 'database' = '0'"
STATUSES = ("1-new", "2-paid", "3-shipped")
# (user, status, amount): every user starts new and moves on, so the group '1-new' ends empty
EVENTS = [[(f"u{u}", "1-new", 1.0 + u) for u in range(12)],
          [(f"u{u}", "2-paid", 0.5 * u) for u in range(12)],
          [(f"u{u}", "3-shipped", 2.0) for u in range(0, 12, 3)]]


@pytest.fixture
def prefix():
    p = f"rayflink-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    yield p, client
    for key in client.scan_iter(f"{p}*"):
        client.delete(key)
    client.close()


def streaming(parallelism: int = 1) -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", str(parallelism))
    return t_env


def events_table(t_env: TableEnvironment, tmp_path) -> None:
    root = tmp_path / "events"
    root.mkdir()
    for i, part in enumerate(EVENTS):  # one file each: separate batches, so the groups update
        (root / f"part-{i}.csv").write_text("".join(f"{u},{s},{a}\n" for u, s, a in part))
    t_env.execute_sql(f"""CREATE TABLE events (user_id STRING, status STRING, amount DOUBLE)
                          WITH ('connector' = 'filesystem', 'path' = '{root}', 'format' = 'csv')""")


@pytest.mark.integration
def test_an_updating_group_by_upserts_hashes_and_deletes_emptied_groups(prefix, tmp_path):
    p, r = prefix
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"""CREATE TABLE by_status (shop STRING, status STRING, users BIGINT, amount DOUBLE,
                          PRIMARY KEY (shop, status) NOT ENFORCED) WITH ('connector' = 'redis', {REDIS},
                          'key-prefix' = '{p}:status:', 'key-delimiter' = '/', 'sink.buffer-flush.max-rows' = '2')""")
    t_env.execute_sql("""INSERT INTO by_status
                         SELECT 'shop1', s, COUNT(*), SUM(total) FROM (
                             SELECT user_id, MAX(status) AS s, SUM(amount) AS total FROM events GROUP BY user_id)
                         GROUP BY s""").wait()
    # the brute-force answer: each user's last status and total, counted per status
    last, total = {}, defaultdict(float)
    for user, status, amount in (e for part in EVENTS for e in part):
        last[user] = max(last.get(user, status), status)
        total[user] += amount
    expected = defaultdict(lambda: [0, 0.0])
    for user, status in last.items():
        expected[status][0] += 1
        expected[status][1] += total[user]
    got = {k: r.hgetall(k) for k in r.scan_iter(f"{p}:*")}
    assert got == {f"{p}:status:shop1/{s}": {"users": str(n), "amount": str(a)} for s, (n, a) in expected.items()}
    assert "1-new" not in expected  # the group was written, then deleted when its last user moved on


@pytest.mark.integration
def test_a_group_filtered_out_of_an_updating_result_is_deleted(prefix, tmp_path):
    """Users with a third event leave the HAVING's result: the lone -U of their old row deletes its hash."""
    p, r = prefix
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"""CREATE TABLE few (user_id STRING, events BIGINT, PRIMARY KEY (user_id) NOT ENFORCED)
                          WITH ('connector' = 'redis', {REDIS}, 'key-prefix' = '{p}:few:')""")
    t_env.execute_sql("INSERT INTO few SELECT user_id, COUNT(*) FROM events GROUP BY user_id "
                      "HAVING COUNT(*) < 3").wait()
    counts: dict[str, int] = defaultdict(int)
    for user, _status, _amount in (e for part in EVENTS for e in part):
        counts[user] += 1
    got = {k: r.hgetall(k) for k in r.scan_iter(f"{p}:*")}
    assert got == {f"{p}:few:{u}": {"events": str(n)} for u, n in counts.items() if n < 3}
    assert len(got) < len(counts)  # some users had a third event


@pytest.mark.integration
def test_inserts_as_strings_under_the_first_column_with_a_ttl(prefix, tmp_path):
    p, r = prefix
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"""CREATE TABLE first_amount (k STRING, amount DOUBLE) WITH ('connector' = 'redis',
                          {REDIS}, 'data-type' = 'string', 'key-prefix' = '{p}:', 'ttl' = '1 h')""")
    t_env.execute_sql("INSERT INTO first_amount SELECT user_id || '/' || status, amount FROM events").wait()
    assert {k: r.get(k) for k in r.scan_iter(f"{p}:*")} == \
        {f"{p}:{u}/{s}": str(a) for part in EVENTS for u, s, a in part}
    assert 3500 < r.ttl(f"{p}:u0/1-new") <= 3600


CUSTOMERS = {i: (f"c{i}", ["eu", "us", None][i % 3], decimal.Decimal(f"{i}.25")) for i in range(1, 30)}
ORDERS = [(n, (n * 7) % 40, float(n)) for n in range(1, 150)]  # customers 0 and 30-39 do not exist


@pytest.mark.integration
@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN"])
def test_orders_enriched_from_redis_hashes_as_python_joins_them(prefix, tmp_path, join):
    p, r = prefix
    for i, (name, region, credit) in CUSTOMERS.items():  # as another application writes them
        r.hset(f"{p}:customer:{i}", mapping={"name": name, "credit": str(credit),
                                              **({"region": region} if region else {})})
    (tmp_path / "orders.csv").write_text("".join(f"{n},{c},{a}\n" for n, c, a in ORDERS))
    t_env = streaming(2)
    t_env.execute_sql(f"""CREATE TABLE orders (order_id INT, customer_id INT, amount DOUBLE, proc_time AS PROCTIME())
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "orders.csv"}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE customers (id BIGINT, name STRING, region STRING, credit DECIMAL(10, 2),
                          PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'redis', {REDIS},
                          'key-prefix' = '{p}:customer:', 'lookup.cache' = 'PARTIAL',
                          'lookup.partial-cache.max-rows' = '10',
                          'lookup.partial-cache.expire-after-write' = '1 min')""")
    query = (f"SELECT o.order_id, o.amount, c.id, c.name, c.region, c.credit FROM orders AS o {join} customers "
             "FOR SYSTEM_TIME AS OF o.proc_time AS c ON o.customer_id = c.id")
    assert "LookupJoin(table=[customers]" in t_env.explain_sql(query)
    got = sorted(tuple(row) for row in t_env.execute_sql(query).collect())
    expected = sorted((n, a, c, *CUSTOMERS[c]) if c in CUSTOMERS else (n, a, None, None, None, None)
                      for n, c, a in ORDERS if c in CUSTOMERS or join == "LEFT JOIN")
    assert got == expected


@pytest.mark.integration
def test_a_table_written_as_strings_is_looked_up_by_the_same_keys(prefix, tmp_path):
    p, r = prefix
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"""CREATE TABLE totals (user_id STRING, total DOUBLE, PRIMARY KEY (user_id) NOT ENFORCED)
                          WITH ('connector' = 'redis', {REDIS}, 'data-type' = 'string', 'key-prefix' = '{p}:t:')""")
    t_env.execute_sql("INSERT INTO totals SELECT user_id, SUM(amount) FROM events GROUP BY user_id").wait()
    users = [f"u{u}" for u in range(15)]  # u12-u14 have no total
    (tmp_path / "probe.csv").write_text("".join(f"{u}\n" for u in users))
    t_env.execute_sql(f"""CREATE TABLE probe (user_id STRING, proc_time AS PROCTIME())
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "probe.csv"}', 'format' = 'csv')""")
    got = sorted(tuple(row) for row in t_env.execute_sql(
        "SELECT p.user_id, t.total FROM probe AS p LEFT JOIN totals FOR SYSTEM_TIME AS OF p.proc_time AS t "
        "ON p.user_id = t.user_id").collect())
    total: dict = defaultdict(float)
    for user, _, amount in (e for part in EVENTS for e in part):
        total[user] += amount
    assert got == sorted((u, total.get(u)) for u in users)


# ---- refused at planning (no job runs) -----------------------------------------------------------

def test_updates_into_a_redis_table_without_a_primary_key_are_refused_naming_it(tmp_path):
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"CREATE TABLE counts (user_id STRING, n BIGINT) WITH ('connector' = 'redis', {REDIS})")
    with pytest.raises(SqlPlanningError, match="table sink 'counts' \\('connector' = 'redis'\\) only takes inserts.*"
                                               "GroupAggregate.*declare the table's PRIMARY KEY"):
        t_env.execute_sql("INSERT INTO counts SELECT user_id, COUNT(*) FROM events GROUP BY user_id")


@pytest.mark.parametrize("options, columns, message", [
    ("'data-type' = 'list'", "k STRING, v STRING", "table 'bad': 'data-type' = 'list'; use 'hash' or 'string'"),
    ("'port' = 'six'", "k STRING, v STRING", "table 'bad': 'port' = 'six' is not a whole number >= 1"),
    ("'data-type' = 'string'", "k STRING, a STRING, b STRING",
     "table 'bad': 'data-type' = 'string' stores one value column beside the key \\(k\\), the table has 2 "
     "\\(a, b\\); use 'hash'"),
    ("'sink.buffer-flush.max-rows' = '0'", "k STRING, v STRING",
     "table 'bad': 'sink.buffer-flush.max-rows' = '0' is not a whole number >= 1"),
    ("'ttl' = 'soon'", "k STRING, v STRING", "table 'bad': 'ttl' = 'soon' is not a duration"),
])
def test_bad_options_name_the_table_option_and_value(tmp_path, options, columns, message):
    t_env = streaming()
    events_table(t_env, tmp_path)
    t_env.execute_sql(f"CREATE TABLE bad ({columns}) WITH ('connector' = 'redis', {options})")
    values = ", ".join(["user_id"] * len(columns.split(",")))
    with pytest.raises(SqlValidationError, match=message):
        t_env.execute_sql(f"INSERT INTO bad SELECT {values} FROM events")


def test_a_lookup_must_give_the_whole_key(tmp_path):
    t_env = streaming()
    t_env.execute_sql(f"""CREATE TABLE orders (id INT, name STRING, proc_time AS PROCTIME())
                          WITH ('connector' = 'filesystem', 'path' = '{tmp_path}', 'format' = 'csv')""")
    t_env.execute_sql(f"""CREATE TABLE dim (id INT, name STRING, PRIMARY KEY (id) NOT ENFORCED)
                          WITH ('connector' = 'redis', {REDIS})""")
    with pytest.raises(SqlValidationError, match="table 'dim' \\('connector' = 'redis'\\) is looked up by its key "
                                                 "\\(id\\); the join's condition gives \\(name\\)"):
        t_env.execute_sql("SELECT * FROM orders AS o JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d "
                          "ON o.name = d.name")
