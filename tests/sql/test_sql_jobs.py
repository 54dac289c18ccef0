"""SQL jobs on the runtime: sources (filesystem csv/json, datagen), SELECT with collect/print,
INSERT INTO print/blackhole/filesystem sinks, statement sets, group aggregations as changelogs,
and event-time windows (TVFs and group windows) emitting when the watermark passes."""

from __future__ import annotations

import datetime
import glob
import json
import os
from collections import Counter

import pytest

from rayflink.table import EnvironmentSettings, RowKind, StreamTableEnvironment, TableEnvironment

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


def streaming(parallelism: int = 1) -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", str(parallelism))
    return t_env


def ts(minute: int, second: int = 0) -> str:
    return f"2024-05-01 10:{minute:02d}:{second:02d}"


def dt(minute: int, second: int = 0) -> datetime.datetime:
    return datetime.datetime(2024, 5, 1, 10, minute, second)


EVENTS = [  # (user, kind, amount, ts)
    ("alice", "buy", 10.0, ts(0, 5)), ("bob", "view", 0.0, ts(0, 10)), ("alice", "buy", 5.5, ts(0, 50)),
    ("carol", "buy", 7.0, ts(1, 1)), ("bob", "buy", 3.0, ts(1, 30)), ("alice", "buy", 1.0, ts(2, 0)),
    ("bob", "buy", 2.0, ts(1, 58)),  # out of order, within the 5 s bound
    ("carol", "view", 0.0, ts(3, 0)),
]


@pytest.fixture
def events_csv(tmp_path):
    """The events in three CSV files (three splits: several batches, so aggregates update)."""
    root = tmp_path / "events"
    root.mkdir()
    for i, part in enumerate((EVENTS[:3], EVENTS[3:6], EVENTS[6:])):
        (root / f"part-{i}.csv").write_text("".join(f"{u},{k},{a},{t}\n" for u, k, a, t in part))
    return str(root)


def create_events(t_env: TableEnvironment, path: str, fmt: str = "csv") -> None:
    t_env.execute_sql(f"""
        CREATE TABLE events (
            user_id STRING, kind STRING, amount DOUBLE, ts TIMESTAMP(3),
            big AS amount > 5,
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
        ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = '{fmt}')""")


def rows(result) -> list[tuple]:
    return [tuple(r) for r in result.collect()]


def test_select_projection_filter_and_builtins_over_csv(events_csv):
    t_env = streaming(2)
    create_events(t_env, events_csv)
    got = rows(t_env.execute_sql("""
        SELECT UPPER(user_id) AS u, amount * 2 AS twice, big,
               CASE WHEN amount >= 7 THEN 'high' ELSE 'low' END AS level,
               DATE_FORMAT(ts, 'HH:mm') AS hhmm, FLOOR(ts TO MINUTE) AS minute,
               COALESCE(IF(kind = 'buy', NULL, kind), '-') AS other, CAST(amount AS INT) AS whole
        FROM events WHERE kind = 'buy' AND amount > 1.5"""))
    assert sorted(got) == sorted([
        ("ALICE", 20.0, True, "high", "10:00", dt(0), "-", 10), ("ALICE", 11.0, True, "low", "10:00", dt(0), "-", 5),
        ("CAROL", 14.0, True, "high", "10:01", dt(1), "-", 7), ("BOB", 6.0, False, "low", "10:01", dt(1), "-", 3),
        ("BOB", 4.0, False, "low", "10:01", dt(1), "-", 2)])


def test_json_source_and_batch_mode(tmp_path):
    path = tmp_path / "e.json"
    path.write_text("".join(json.dumps({"user_id": u, "kind": k, "amount": a, "ts": t}) + "\n"
                            for u, k, a, t in EVENTS))
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    create_events(t_env, str(path), "json")
    result = t_env.execute_sql("SELECT user_id, COUNT(*) AS n, SUM(amount) AS total FROM events GROUP BY user_id")
    got = list(result.collect())
    assert {tuple(r) for r in got} == {("alice", 3, 16.5), ("bob", 3, 5.0), ("carol", 2, 7.0)}
    assert all(r.get_row_kind() == RowKind.INSERT for r in got)  # BATCH: final rows only


def test_group_aggregate_is_a_changelog_whose_final_state_is_the_answer(events_csv):
    t_env = streaming(2)
    create_events(t_env, events_csv)
    changelog = list(t_env.execute_sql("""
        SELECT user_id, COUNT(*) AS n, SUM(amount) AS total, AVG(amount) AS mean, MIN(amount) AS low,
               MAX(amount) AS high, COUNT(DISTINCT kind) AS kinds
        FROM events GROUP BY user_id""").collect())
    kinds = Counter(r.get_row_kind() for r in changelog)
    assert kinds[RowKind.INSERT] == 3 and kinds[RowKind.UPDATE_AFTER] == kinds[RowKind.UPDATE_BEFORE] > 0
    final: dict = {}
    for r in changelog:  # -U retracts the row it names, +I/+U set it
        if r.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
            final[r[0]] = tuple(r)
        else:
            assert final.pop(r[0]) == tuple(r)
    assert final == {"alice": ("alice", 3, 16.5, 5.5, 1.0, 10.0, 1), "bob": ("bob", 3, 5.0, 5.0 / 3, 0.0, 3.0, 2),
                     "carol": ("carol", 2, 7.0, 3.5, 0.0, 7.0, 2)}


def test_tumble_tvf_and_hop_tvf_emit_final_windows(events_csv):
    t_env = streaming(2)
    create_events(t_env, events_csv)
    tumble = rows(t_env.execute_sql("""
        SELECT window_start, window_end, user_id, SUM(amount) AS total, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTES))
        WHERE kind = 'buy' GROUP BY window_start, window_end, user_id"""))
    assert sorted(tumble) == sorted([
        (dt(0), dt(1), "alice", 15.5, 2), (dt(1), dt(2), "carol", 7.0, 1), (dt(1), dt(2), "bob", 5.0, 2),
        (dt(2), dt(3), "alice", 1.0, 1)])
    hop = rows(t_env.execute_sql("""
        SELECT window_start, window_end, COUNT(*) AS n
        FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE))
        GROUP BY window_start, window_end"""))
    assert sorted(hop) == [(datetime.datetime(2024, 5, 1, 9, 59), dt(1), 3), (dt(0), dt(2), 6), (dt(1), dt(3), 4),
                           (dt(2), dt(4), 2), (dt(3), dt(5), 1)]


def test_seed_12_7_1_group_window_into_print_and_filesystem_sinks(events_csv, tmp_path, capsys):
    """The seed's 12.7.1 program on a filesystem source, its JDBC sink swapped for print and files."""
    t_env = streaming(2)
    create_events(t_env, events_csv)
    t_env.execute_sql("""
        CREATE TABLE metricas_por_ventana (
            ventana_inicio TIMESTAMP(3), ventana_fin TIMESTAMP(3), user_id STRING, revenue DOUBLE,
            PRIMARY KEY (ventana_inicio, ventana_fin, user_id) NOT ENFORCED
        ) WITH ('connector' = 'print', 'print-identifier' = 'metricas')""")
    t_env.execute_sql(f"""
        CREATE TABLE metricas_archivo (
            ventana_inicio TIMESTAMP(3), ventana_fin TIMESTAMP(3), user_id STRING, revenue DOUBLE
        ) WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "out"}', 'format' = 'csv')""")
    query = """
        SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE) AS ventana_inicio,
               TUMBLE_END(ts, INTERVAL '1' MINUTE) AS ventana_fin,
               user_id, SUM(amount) AS revenue
        FROM events WHERE kind = 'buy'
        GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id"""
    statements = t_env.create_statement_set()
    statements.add_insert_sql(f"INSERT INTO metricas_por_ventana {query}")
    statements.add_insert_sql(f"INSERT INTO metricas_archivo {query}")
    statements.execute().wait()
    printed = sorted(line.split("> ", 1)[1] for line in capsys.readouterr().out.splitlines()
                     if line.startswith("metricas"))
    assert printed == sorted([
        "+I[2024-05-01T10:00, 2024-05-01T10:01, alice, 15.5]",
        "+I[2024-05-01T10:01, 2024-05-01T10:02, carol, 7.0]",
        "+I[2024-05-01T10:01, 2024-05-01T10:02, bob, 5.0]",
        "+I[2024-05-01T10:02, 2024-05-01T10:03, alice, 1.0]"])
    written = sorted(line for f in glob.glob(str(tmp_path / "out" / "part-*")) for line in open(f).read().splitlines())
    assert written == sorted([
        "2024-05-01 10:00:00.000,2024-05-01 10:01:00.000,alice,15.5",
        "2024-05-01 10:01:00.000,2024-05-01 10:02:00.000,carol,7.0",
        "2024-05-01 10:01:00.000,2024-05-01 10:02:00.000,bob,5.0",
        "2024-05-01 10:02:00.000,2024-05-01 10:03:00.000,alice,1.0"])
    # what the file sink wrote reads back through the filesystem source
    create_back = f"""CREATE TABLE back (s TIMESTAMP(3), e TIMESTAMP(3), user_id STRING, revenue DOUBLE)
                      WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "out"}', 'format' = 'csv')"""
    t_env.execute_sql(create_back)
    assert sorted(rows(t_env.execute_sql("SELECT user_id, revenue FROM back WHERE revenue > 5"))) == \
        [("alice", 15.5), ("carol", 7.0)]


def checkpointed_with_gen(tmp_path) -> StreamTableEnvironment:
    """A StreamTableEnvironment at parallelism 2 checkpointing every 200 ms, with table ``gen``: ids
    1 to 20,000 and ``k`` random in 0-9."""
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql("""
        CREATE TABLE gen (id BIGINT, k INT, v DOUBLE) WITH (
            'connector' = 'datagen', 'number-of-rows' = '20000', 'rows-per-second' = '0',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20000',
            'fields.k.min' = '0', 'fields.k.max' = '9')""")
    return t_env


def test_a_parquet_table_written_by_one_query_and_read_by_another(tmp_path):
    """'format' = 'parquet': a checkpointed INSERT writes part files of the table's columns (read here
    with pyarrow), which a parquet source table reads back, in batches and without per-row objects."""
    import pyarrow.parquet as pq

    t_env = checkpointed_with_gen(tmp_path)
    out = tmp_path / "parquet"
    t_env.execute_sql(f"""CREATE TABLE pq (id BIGINT, tag STRING, v DOUBLE)
                          WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'parquet')""")
    t_env.execute_sql("INSERT INTO pq SELECT id, CONCAT('k', CAST(k AS STRING)), v FROM gen").wait()
    written = pq.ParquetDataset(str(out)).read()
    assert written.schema.names == ["id", "tag", "v"] and written.num_rows == 20000
    assert sorted(written.column("id").to_pylist()) == list(range(1, 20001))
    counts = Counter(r[0] for r in rows(t_env.execute_sql("SELECT tag FROM pq WHERE id % 2 = 0")))
    assert sum(counts.values()) == 10000 and set(counts) <= {f"k{i}" for i in range(10)}


def test_datagen_into_blackhole_and_a_checkpointed_stream_table_environment(tmp_path):
    t_env = checkpointed_with_gen(tmp_path)
    t_env.execute_sql("CREATE TABLE nothing (k INT, n BIGINT) WITH ('connector' = 'blackhole')")
    t_env.execute_sql("INSERT INTO nothing SELECT k, COUNT(*) FROM gen GROUP BY k").wait()
    final = {}
    for r in t_env.execute_sql("SELECT k, COUNT(*) AS n, SUM(id) AS s FROM gen GROUP BY k").collect():
        if r.get_row_kind() != RowKind.UPDATE_BEFORE:
            final[r[0]] = (r[1], r[2])
    assert set(final) == set(range(10))
    assert sum(n for n, _ in final.values()) == 20000
    assert sum(s for _, s in final.values()) == 20000 * 20001 // 2
    assert os.path.isdir(tmp_path / "checkpoints")


@pytest.mark.parametrize("backend", ["hashmap", "rocksdb"])
def test_group_aggregate_state_survives_rescaling_exactly_once(tmp_path, backend):
    """A rate-limited datagen GROUP BY, rescaled 2 -> 3 mid-way: its keyed state (in either state
    backend) moves by key group, the collected changelog retracts only rows it emitted and ends at
    every key's true totals."""
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(f"SET 'state.backend.type' = '{backend}'")
    rows_total = 12000
    t_env.execute_sql(f"""
        CREATE TABLE gen (id BIGINT, k AS id % 7) WITH (
            'connector' = 'datagen', 'number-of-rows' = '{rows_total}', 'rows-per-second' = '2000',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '{rows_total - 1}')""")
    result = t_env.execute_sql("SELECT k, COUNT(*) AS n, SUM(id) AS s FROM gen GROUP BY k")
    state: Counter = Counter()
    rescaled = False
    with result.collect() as changelog:
        for r in changelog:
            if r.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                state[tuple(r)] += 1
            else:
                assert state[tuple(r)] > 0, f"retracted a row never emitted: {r}"
                state[tuple(r)] -= 1
            if not rescaled and sum(state.values()) == 7:
                result.get_job_client().rescale(3, f"file://{tmp_path}/savepoints")
                rescaled = True
    final = sorted(+state)
    assert rescaled
    assert final == [(k, len(range(k, rows_total, 7)), sum(range(k, rows_total, 7))) for k in range(7)]


def test_mini_batch_updates_each_key_once_per_mini_batch(events_csv):
    t_env = streaming(1)
    t_env.execute_sql("SET 'table.exec.mini-batch.enabled' = 'true'")
    t_env.execute_sql("SET 'table.exec.mini-batch.allow-latency' = '1 min'")
    t_env.execute_sql("SET 'table.exec.mini-batch.size' = '1000000'")
    create_events(t_env, events_csv)
    changelog = list(t_env.execute_sql("SELECT user_id, SUM(amount) AS total FROM events GROUP BY user_id").collect())
    # the three files' rows end up in one mini-batch: one insert per key, no updates
    assert sorted((tuple(r), r.get_row_kind()) for r in changelog) == [
        (("alice", 16.5), RowKind.INSERT), (("bob", 5.0), RowKind.INSERT), (("carol", 7.0), RowKind.INSERT)]


def test_sql_metrics_count_rows_not_record_batches():
    # Given a bounded SQL job whose 10,000 rows travel as a few record batches,
    t_env = streaming(2)
    t_env.execute_sql("CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10000', "
                      "'rows-per-second' = '0', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1')")
    t_env.execute_sql("CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole')")
    result = t_env.execute_sql("INSERT INTO sink SELECT id FROM src WHERE id % 2 = 0")
    result.wait()
    # then the records in and out of the (chained) vertex and of its operators are rows, as in Flink.
    (vertex,) = result.get_job_client().get_metrics()["vertices"]
    assert vertex["records_in"] == 10_000
    ops = [op for sub in vertex["subtasks"] for op in sub["operators"].values()]

    def total(prefix: str, what: str) -> int:
        return sum(op[what] for op in ops if op["name"].startswith(prefix))

    assert (total("TableSourceScan", "records_out"), total("Calc", "records_in"), total("Calc", "records_out"),
            total("Sink", "records_in")) == (10_000, 10_000, 5_000, 5_000)
