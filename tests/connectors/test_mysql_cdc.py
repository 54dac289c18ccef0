"""MySQL/MariaDB CDC against a MariaDB server of the session's own with the binlog on: snapshot
then binlog in order, a restore neither loses nor repeats a change, errors named; a CDC ->
upsert -> PostgreSQL job ends with PostgreSQL's table equal to MariaDB's under executor kills."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter

import psycopg
import pytest

from rayflink.common import WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.jdbc import JdbcConnectionOptions, JdbcSink
from rayflink.connectors.mysql_cdc import (
    JsonDebeziumDeserializationSchema,
    MySqlCdcError,
    MySqlSource,
    changelog_rows,
)
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.testing.exactly_once import chaos
from rayflink.testing.services import wait_until


@pytest.fixture
def table(mariadb_binlog):
    name = f"products_{uuid.uuid4().hex[:8]}"
    conn = mariadb_binlog.connect("shop")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2))")
    yield name, conn
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {name}")
    conn.close()


def source(db, table_name: str, **kw) -> MySqlSource:
    b = MySqlSource.builder().hostname(db.host).port(db.port).username(db.user).password(db.password) \
        .database_list("shop").table_list(f"shop.{table_name}")
    for k, v in kw.items():
        getattr(b, k)(v)
    return b.build()


def env(checkpoint_dir=None) -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(1)
    if checkpoint_dir:
        e.enable_checkpointing(200)
        e.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{checkpoint_dir}")
    return e


def run(cur, sql: str, *args) -> None:
    cur.execute(sql, args)


@pytest.mark.integration
def test_snapshot_then_inserts_updates_and_deletes_in_order(mariadb_binlog, table):
    name, conn = table
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", [(1, "pen", 2), (2, "ink", 5), (3, "pad", 3)])
    e = env()
    stream = e.from_source(source(mariadb_binlog, name), WatermarkStrategy.no_watermarks(), "cdc")
    with stream.execute_and_collect("cdc") as results:
        snapshot = [next(results) for _ in range(3)]
        assert [(c["op"], c["after"]["id"]) for c in snapshot] == [("r", 1), ("r", 2), ("r", 3)]
        assert snapshot[0]["source"]["snapshot"] is True and snapshot[0]["source"]["table"] == name
        with conn.cursor() as cur:
            run(cur, f"INSERT INTO {name} VALUES (4, 'cap', 7)")
            run(cur, f"UPDATE {name} SET price = 9 WHERE id = 1")
            run(cur, f"DELETE FROM {name} WHERE id = 2")
        changes = [next(results) for _ in range(3)]
        results.client.cancel()
    assert [c["op"] for c in changes] == ["c", "u", "d"]
    assert changes[0]["after"] == {"id": 4, "name": "cap", "price": pytest.approx(7)}
    assert (changes[1]["before"]["price"], changes[1]["after"]["price"]) == (2, 9)
    assert changes[2]["before"]["id"] == 2 and changes[2]["after"] is None
    before, after = changelog_rows(changes[1])
    assert (str(before.get_row_kind()), str(after.get_row_kind())) == ("-U", "+U")
    assert (before.as_dict(), after.as_dict()) == (changes[1]["before"], changes[1]["after"])


def _updates(db, name: str, first: int, last: int) -> None:
    """Updates with distinct prices ``first..last``, so each change is recognisable."""
    c = db.connect("shop")
    with c.cursor() as cur:
        for i in range(first, last + 1):
            run(cur, f"UPDATE {name} SET price = %s WHERE id = %s", i, 1 + i % 50)
    c.close()


def _drain(reader, out: list, until) -> None:
    wait_until(lambda: out.extend(r for b in reader.poll(500) for r in b.records) or until(out), timeout=180,
               what="the reader to catch up")


def fifty_rows_and_a_reader(db, table, server_id: int) -> tuple:
    """Rows 1-50 (price 0) in the table, and a source over it with a fresh reader."""
    name, conn = table
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", [(i, f"p{i}", 0) for i in range(1, 51)])
    s = source(db, name, server_id=server_id)
    return s, s.create_reader(s.create_splits(1), 0, 1)


def test_a_reader_restored_from_its_position_neither_loses_nor_repeats_a_change(mariadb_binlog, table):
    name, conn = table
    s, reader = fifty_rows_and_a_reader(mariadb_binlog, table, server_id=5501)
    out: list = []
    _drain(reader, out, lambda o: reader.position.phase == "binlog")  # the snapshot, in chunks
    _updates(mariadb_binlog, name, 1, 600)
    _drain(reader, out, lambda o: len(o) >= 50 + 300)
    state = reader.snapshot_state()  # a checkpoint here...
    taken = len(out)
    # ...and records read after it, lost with the task (fewer when one poll read past 550 of the 650)
    _drain(reader, out, lambda o: len(o) >= min(taken + 100, 50 + 600))
    reader.close()
    del out[taken:]
    _updates(mariadb_binlog, name, 601, 700)  # changes while no reader runs
    restored = s.create_reader(state, 0, 1)
    try:
        _drain(restored, out, lambda o: len(o) >= 50 + 700)
        assert restored.poll(500) == []
    finally:
        restored.close()
    assert Counter(c["after"]["id"] for c in out if c["op"] == "r") == Counter(range(1, 51))
    assert Counter(int(c["after"]["price"]) for c in out if c["op"] == "u") == Counter(range(1, 701))


def test_a_snapshot_restored_midway_never_goes_back_to_older_values(mariadb_binlog, table):
    # Given a reader that emitted the first 10 of 50 rows of its snapshot when its checkpoint was taken,
    name, conn = table
    s, reader = fifty_rows_and_a_reader(mariadb_binlog, table, server_id=5505)
    out = [r for b in reader.poll(10) for r in b.records]
    state = reader.snapshot_state()
    assert reader.metrics() == {"is_snapshotting": 1, "is_stream_reading": 0, "num_tables_snapshotted": 0,
                                "num_tables_remaining": 1}
    reader.close()
    # when every row changes twice, one is deleted and one inserted before a reader restores from it,
    with conn.cursor() as cur:
        for price in (1, 2):
            run(cur, f"UPDATE {name} SET price = %s", price)
        run(cur, f"DELETE FROM {name} WHERE id = 50")
        run(cur, f"INSERT INTO {name} VALUES (51, 'p51', 2)")
    restored = s.create_reader(state, 0, 1)
    try:
        _drain(restored, out, lambda o: restored.position.phase == "binlog")
        assert restored.metrics()["is_stream_reading"] == 1
        with conn.cursor() as cur:  # a marker: once it is read, every earlier change is
            run(cur, f"UPDATE {name} SET price = 3 WHERE id = 1")
        _drain(restored, out, lambda o: any(c["after"] and c["after"]["price"] == 3 for c in o))
    finally:
        restored.close()
    # then the rows read before the checkpoint follow every change, the rows read after it start
    # at their values then (no change before it is replayed onto them), and no row is read twice.
    seen: dict = {}
    for c in out[:-1]:
        row = c["after"] or c["before"]
        seen.setdefault(row["id"], []).append((c["op"], None if c["after"] is None else int(c["after"]["price"])))
    assert {i: seen[i] for i in range(1, 11)} == {i: [("r", 0), ("u", 1), ("u", 2)] for i in range(1, 11)}
    assert {i: seen[i] for i in range(11, 50)} == {i: [("r", 2)] for i in range(11, 50)}
    assert 50 not in seen and seen[51] == [("r", 2)]


@pytest.mark.integration
def test_every_change_lands_once_in_delta_under_executor_kills(mariadb_binlog, table, tmp_path):
    from deltalake import DeltaTable

    from rayflink.connectors.delta import DeltaSink

    name, conn = table
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", [(i, f"p{i}", 0) for i in range(1, 51)])
    e = env(tmp_path / "chk")
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    delta = str(tmp_path / "changes")
    e.from_source(source(mariadb_binlog, name, server_id=5504), WatermarkStrategy.no_watermarks(), "cdc") \
        .uid("cdc").map(lambda c: {"op": c["op"], "id": (c["after"] or c["before"])["id"],
                                   "price": int((c["after"] or c["before"])["price"])}).uid("flat") \
        .sink_to(DeltaSink.builder(delta).build()).uid("delta")
    client = e.execute_async("cdc-to-delta")
    stop = threading.Event()
    killed: list = []
    killer = threading.Thread(target=lambda: killed.extend(chaos(client, 2, stop, executors=1)))
    killer.start()
    updates = 1500

    def landed(op: str, count: int) -> list:
        if not DeltaTable.is_deltatable(delta):
            return []
        rows = DeltaTable(delta).to_pyarrow_table().to_pylist()
        return rows if sum(r["op"] == op for r in rows) >= count else []

    try:
        # once the snapshot is in, every update comes through the binlog
        wait_until(lambda: landed("r", 50), timeout=120, what="the snapshot in the Delta table")
        _updates(mariadb_binlog, name, 1, updates)
        rows = wait_until(lambda: landed("u", updates), timeout=120, what="every change in the Delta table")
    finally:
        stop.set()
        killer.join()
        client.cancel()
    assert killed, "no executor was killed: the run proved nothing"
    assert Counter(r["id"] for r in rows if r["op"] == "r") == Counter(range(1, 51))
    assert Counter(r["price"] for r in rows if r["op"] == "u") == Counter(range(1, updates + 1))


def test_a_server_without_binlog_and_a_missing_table_are_named(mariadb_binlog):
    machine = MySqlSource.builder().hostname("127.0.0.1").port(3306).username("root").password("") \
        .database_list("test").build()
    with pytest.raises(MySqlCdcError, match="log_bin OFF"):
        machine.create_reader(machine.create_splits(1), 0, 1)
    missing = source(mariadb_binlog, "no_such_table")
    with pytest.raises(MySqlCdcError, match="no table matches shop.no_such_table"):
        missing.create_reader(missing.create_splits(1), 0, 1)


def test_debezium_json_text_as_flink_cdc_gives_it(mariadb_binlog, table):
    name, conn = table
    with conn.cursor() as cur:
        run(cur, f"INSERT INTO {name} VALUES (1, 'pen', 2)")
    s = source(mariadb_binlog, name, deserializer=JsonDebeziumDeserializationSchema())
    reader = s.create_reader(s.create_splits(1), 0, 1)
    try:
        batch = reader.poll(10)
        assert '"op": "r"' in batch[0].records[0] and '"name": "pen"' in batch[0].records[0]
    finally:
        reader.close()


@pytest.mark.integration
def test_cdc_to_postgresql_upsert_equals_mariadb_under_executor_kills(mariadb_binlog, table, tmp_path):
    name, conn = table
    rng = random.Random(7)
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", [(i, f"p{i}", i) for i in range(1, 101)])
    pg = psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True)
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(40), price NUMERIC(10,2))")
    try:
        e = env(tmp_path)
        e.set_parallelism(2)
        e.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
        pg_options = JdbcConnectionOptions.JdbcConnectionOptionsBuilder() \
            .with_url("jdbc:postgresql://127.0.0.1:5432/test").with_user_name("postgres").build()
        e.from_source(source(mariadb_binlog, name, server_id=5503), WatermarkStrategy.no_watermarks(), "cdc") \
            .set_parallelism(1).uid("cdc") \
            .flat_map(changelog_rows).uid("changelog") \
            .key_by(lambda row: row["id"]) \
            .add_sink(JdbcSink.upsert(name, ["id", "name", "price"], ["id"], pg_options)).uid("pg")
        client = e.execute_async("cdc-to-pg")
        stop = threading.Event()
        killed: list = []
        killer = threading.Thread(target=lambda: killed.extend(chaos(client, 2, stop)))
        killer.start()
        with conn.cursor() as cur:
            for i in range(600):
                key = rng.randint(1, 130)
                action = rng.random()
                if action < 0.5:
                    run(cur, f"INSERT INTO {name} VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE price = VALUES(price)",
                        key, f"n{i}", i)
                elif action < 0.8:
                    run(cur, f"UPDATE {name} SET name = %s WHERE id = %s", f"u{i}", key)
                else:
                    run(cur, f"DELETE FROM {name} WHERE id = %s", key)
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, name, price FROM {name}")
            expected = {r[0]: (r[1], float(r[2])) for r in cur.fetchall()}

        def pg_table() -> dict:
            with pg.cursor() as cur:
                cur.execute(f"SELECT id, name, price FROM {name}")
                return {r[0]: (r[1], float(r[2])) for r in cur.fetchall()}

        try:
            try:
                wait_until(lambda: pg_table() == expected, timeout=300, what="PostgreSQL to equal MariaDB")
            except TimeoutError:
                got = pg_table()
                diff = {k: (expected.get(k), got.get(k)) for k in set(expected) | set(got)
                        if expected.get(k) != got.get(k)}
                raise AssertionError(f"job {client.get_job_status()}, {client.get_status().get('failures')}; "
                                     f"{len(diff)} rows differ, e.g. {list(diff.items())[:5]}") from None
        finally:
            stop.set()
            killer.join()
            client.cancel()
        assert killed, "no executor was killed: the run proved nothing"
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE {name}")
        pg.close()
