"""SQL over the real tansu Kafka broker: the seed's 12.7.1 program as written (a Kafka source with
a WATERMARK, a TUMBLE group window per key), its JDBC sink swapped for print, and INSERT INTO a
Kafka table read back."""

from __future__ import annotations

import json

from rayflink.table import EnvironmentSettings, TableEnvironment
from rayflink.testing.services import KafkaBroker, unique_name

EVENTS = [  # evento_id, user_id, tipo, monto, ts
    ("e1", "ana", "compra", 10.0, "2024-05-01 10:01:00"), ("e2", "ana", "vista", 0.0, "2024-05-01 10:02:00"),
    ("e3", "luis", "compra", 4.5, "2024-05-01 10:03:00"), ("e4", "ana", "compra", 2.5, "2024-05-01 10:04:59"),
    ("e5", "luis", "compra", 8.0, "2024-05-01 10:06:00"), ("e6", "ana", "compra", 1.0, "2024-05-01 10:12:00"),
]


def kafka_events(broker: KafkaBroker) -> str:
    topic = broker.create_topic(unique_name("eventos"), partitions=2)
    for i, (eid, user, kind, amount, ts) in enumerate(EVENTS):
        broker.produce(topic, [json.dumps({"evento_id": eid, "user_id": user, "tipo": kind, "monto": amount,
                                           "ts": ts})], partition=i % 2)
    return topic


def test_seed_12_7_1_on_kafka_with_a_print_sink(kafka_broker: KafkaBroker, capsys) -> None:
    topic = kafka_events(kafka_broker)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode().build()
    table_env = TableEnvironment.create(env_settings)
    table_env.get_config().set("parallelism.default", "2")
    table_env.execute_sql(f"""
        CREATE TABLE eventos (
            evento_id STRING,
            user_id   STRING,
            tipo      STRING,
            monto     DOUBLE,
            ts        TIMESTAMP(3),
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{topic}',
            'properties.bootstrap.servers' = '{kafka_broker.bootstrap_servers}',
            'format' = 'json',
            'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset'
        )""")
    table_env.execute_sql("""
        CREATE TABLE metricas_por_ventana (
            ventana_inicio TIMESTAMP(3),
            ventana_fin    TIMESTAMP(3),
            region         STRING,
            revenue        DOUBLE,
            PRIMARY KEY (ventana_inicio, ventana_fin, region) NOT ENFORCED
        ) WITH ('connector' = 'print')""")
    table_env.execute_sql("""
        INSERT INTO metricas_por_ventana
        SELECT
            TUMBLE_START(ts, INTERVAL '5' MINUTE) AS ventana_inicio,
            TUMBLE_END(ts,   INTERVAL '5' MINUTE) AS ventana_fin,
            user_id,
            SUM(monto) AS revenue
        FROM eventos
        WHERE tipo = 'compra'
        GROUP BY TUMBLE(ts, INTERVAL '5' MINUTE), user_id
    """).wait()
    printed = sorted(line.split("> ", 1)[-1] for line in capsys.readouterr().out.splitlines() if "+I[" in line)
    assert printed == [
        "+I[2024-05-01 10:00:00.000, 2024-05-01 10:05:00.000, ana, 12.5]",
        "+I[2024-05-01 10:00:00.000, 2024-05-01 10:05:00.000, luis, 4.5]",
        "+I[2024-05-01 10:05:00.000, 2024-05-01 10:10:00.000, luis, 8.0]",
        "+I[2024-05-01 10:10:00.000, 2024-05-01 10:15:00.000, ana, 1.0]",
    ]


def test_insert_into_a_kafka_table(kafka_broker: KafkaBroker) -> None:
    source = kafka_events(kafka_broker)
    target = kafka_broker.create_topic(unique_name("compras"), partitions=1)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    servers = kafka_broker.bootstrap_servers
    t_env.execute_sql(f"""CREATE TABLE eventos (evento_id STRING, user_id STRING, tipo STRING, monto DOUBLE,
                          ts TIMESTAMP(3)) WITH ('connector' = 'kafka', 'topic' = '{source}',
                          'properties.bootstrap.servers' = '{servers}', 'format' = 'json',
                          'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset')""")
    t_env.execute_sql(f"""CREATE TABLE compras (evento_id STRING, monto DOUBLE) WITH ('connector' = 'kafka',
                          'topic' = '{target}', 'properties.bootstrap.servers' = '{servers}', 'format' = 'json')""")
    t_env.execute_sql("INSERT INTO compras SELECT evento_id, monto FROM eventos WHERE tipo = 'compra'").wait()
    written = sorted((json.loads(r.value) for r in kafka_broker.consume_all(target)), key=lambda d: d["evento_id"])
    assert written == [{"evento_id": e[0], "monto": e[3]} for e in EVENTS if e[2] == "compra"]


def _eventos(t_env: TableEnvironment, broker: KafkaBroker) -> None:
    t_env.execute_sql(f"""CREATE TABLE eventos (evento_id STRING, user_id STRING, tipo STRING, monto DOUBLE,
                          ts TIMESTAMP(3)) WITH ('connector' = 'kafka', 'topic' = '{kafka_events(broker)}',
                          'properties.bootstrap.servers' = '{broker.bootstrap_servers}', 'format' = 'json',
                          'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset')""")


def _totals() -> dict:
    totals: dict = {}
    for _, user, kind, amount, _ in EVENTS:
        if kind == "compra":
            totals[user] = (totals.get(user, (0, 0.0))[0] + 1, totals.get(user, (0, 0.0))[1] + amount)
    return totals


def test_a_changelog_through_kafka_as_debezium_json_and_read_back(kafka_broker: KafkaBroker) -> None:
    # Given a GROUP BY (an updating result) written to a Kafka table in debezium-json,
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    _eventos(t_env, kafka_broker)
    topic = kafka_broker.create_topic(unique_name("totales"), partitions=1)
    options = (f"'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = "
               f"'{kafka_broker.bootstrap_servers}', 'format' = 'debezium-json'")
    t_env.execute_sql(f"CREATE TABLE totales (user_id STRING, compras BIGINT, total DOUBLE) WITH ({options})")
    t_env.execute_sql("INSERT INTO totales SELECT user_id, COUNT(*), SUM(monto) FROM eventos WHERE tipo = 'compra' "
                      "GROUP BY user_id").wait()
    changes = [json.loads(r.value) for r in kafka_broker.consume_all(topic)]
    assert {c["op"] for c in changes} == {"c", "d"} and len(changes) > len(_totals())
    # when the topic is read back as a changelog table (a second table over it),
    reader = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    reader.execute_sql(f"CREATE TABLE totales (user_id STRING, compras BIGINT, total DOUBLE) WITH ({options}, "
                       "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset')")
    view: dict = {}
    for row in reader.execute_sql("SELECT * FROM totales").collect():
        if str(row.get_row_kind()) in ("+I", "+U"):
            view[row[0]] = (row[1], row[2])
        else:
            view.pop(row[0], None)
    # then its final state is the GROUP BY's result.
    assert view == _totals()


def test_an_updating_result_into_upsert_kafka_leaves_the_last_value_per_key(kafka_broker: KafkaBroker) -> None:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    _eventos(t_env, kafka_broker)
    topic = kafka_broker.create_topic(unique_name("upserts"), partitions=1)
    t_env.execute_sql(f"""CREATE TABLE totales (user_id STRING, compras BIGINT, total DOUBLE,
                          PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka',
                          'topic' = '{topic}', 'properties.bootstrap.servers' = '{kafka_broker.bootstrap_servers}',
                          'key.format' = 'json', 'value.format' = 'json')""")
    t_env.execute_sql("INSERT INTO totales SELECT user_id, COUNT(*), SUM(monto) FROM eventos WHERE tipo = 'compra' "
                      "GROUP BY user_id").wait()
    compacted: dict = {}
    for r in kafka_broker.consume_all(topic):  # what log compaction would keep
        key = json.loads(r.key)["user_id"]
        if r.value is None:
            compacted.pop(key, None)
        else:
            value = json.loads(r.value)
            compacted[key] = (value["compras"], value["total"])
    assert compacted == _totals()
    # and the topic read back as an upsert-kafka table is a changelog whose final state is the same.
    reader = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    reader.execute_sql(f"""CREATE TABLE totales (user_id STRING, compras BIGINT, total DOUBLE,
                           PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka',
                           'topic' = '{topic}', 'properties.bootstrap.servers' = '{kafka_broker.bootstrap_servers}',
                           'key.format' = 'json', 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset')""")
    assert "ChangelogNormalize(key=[user_id])" in reader.explain_sql("SELECT * FROM totales")
    view: dict = {}
    kinds = set()
    for row in reader.execute_sql("SELECT user_id, compras, total FROM totales").collect():
        kinds.add(str(row.get_row_kind()))
        if str(row.get_row_kind()) in ("+I", "+U"):
            view[row[0]] = (row[1], row[2])
        else:
            view.pop(row[0], None)
    assert view == _totals() and kinds <= {"+I", "-U", "+U"}


def test_an_upsert_topic_is_read_as_a_full_changelog(kafka_broker: KafkaBroker) -> None:
    # Given upserts and a tombstone under JSON keys in one partition,
    topic = kafka_broker.create_topic(unique_name("upsert-in"), partitions=1)
    producer = kafka_broker.producer()
    for key, value in [("a", {"k": "a", "v": 1}), ("b", {"k": "b", "v": 1}), ("a", {"k": "a", "v": 2}),
                       ("a", {"k": "a", "v": 2}), ("b", None), ("c", {"k": "c", "v": 1}), ("z", None)]:
        producer.produce(topic, key=json.dumps({"k": key}), value=None if value is None else json.dumps(value))
    assert producer.flush(30) == 0
    # when it is read as an upsert-kafka table,
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    t_env.execute_sql(f"""CREATE TABLE t (k STRING, v INT, PRIMARY KEY (k) NOT ENFORCED) WITH (
                          'connector' = 'upsert-kafka', 'topic' = '{topic}',
                          'properties.bootstrap.servers' = '{kafka_broker.bootstrap_servers}',
                          'key.format' = 'json', 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset')""")
    got = [(str(r.get_row_kind()), r[0], r[1]) for r in t_env.execute_sql("SELECT k, v FROM t").collect()]
    # then each key's change comes with the row it replaces: a repeated row and an unknown key's
    # tombstone change nothing.
    assert got == [("+I", "a", 1), ("+I", "b", 1), ("-U", "a", 1), ("+U", "a", 2), ("-D", "b", 1),
                   ("+I", "c", 1)]


def test_the_scan_polls_a_batch_of_messages_for_each_batch_it_asks_for() -> None:
    """A Kafka table's records are messages: the scan's request for a batch is ROWS_PER_BATCH
    messages, not one (which read a message per poll, 50x slower)."""
    import pyarrow as pa

    from rayflink.connectors.table import MessageBatches
    from rayflink.datastream.connectors.base import SplitBatch
    from rayflink.operators.sql.scan import ROWS_PER_BATCH, TableScanSource
    from rayflink.sql.catalog import CatalogTable, Column

    asked: list[int] = []

    class Messages:  # a reader of the value format's batches, as the Kafka reader gives them
        def poll(self, max_records: int) -> list[SplitBatch]:
            asked.append(max_records)
            return [SplitBatch("topic-0", [pa.record_batch({"v": list(range(max_records))})])]

    table = CatalogTable("t", (Column("v", pa.int64()),), {"connector": "kafka"})
    schema = table.physical_schema
    scan = TableScanSource(MessageBatches(None, table), schema, (), schema)  # type: ignore[arg-type]
    polled = scan.wrap(MessageBatches(None, table).wrap(Messages())).poll(4 * ROWS_PER_BATCH)  # type: ignore[arg-type]
    assert asked == [4 * ROWS_PER_BATCH] and polled[0].records[0].num_rows == 4 * ROWS_PER_BATCH


def test_a_changelog_scan_with_computed_columns_keeps_its_row_kinds() -> None:
    """A CDC or debezium-json table's batches end in the row-kind column: computed columns are
    added after it, and the scan's output keeps the row kinds (last), not just the columns."""
    import pyarrow as pa

    from rayflink.operators.sql.scan import TableScanSource
    from rayflink.sql.expressions import Call, Col, Lit
    from rayflink.sql.logical import ROWKIND

    read = pa.schema([("id", pa.int64()), ("price", pa.int64())])
    kinds = pa.array([0, 1, 2, 3], pa.int8())
    batch = pa.RecordBatch.from_arrays([pa.array([1, 1, 1, 2]), pa.array([5, 5, 7, 9]), kinds],
                                       schema=read.append(pa.field(ROWKIND, pa.int8())))
    doubled = Call("multiply", (Col(1, "price"), Lit(2, pa.int64())))
    out_schema = pa.schema([("id", pa.int64()), ("double_price", pa.int64())])
    scan = TableScanSource(None, read, (("double_price", doubled),), out_schema)  # type: ignore[arg-type]
    out = scan.wrap(None).project(batch)  # type: ignore[arg-type,attr-defined]
    assert out.schema.names == ["id", "double_price", ROWKIND]
    assert out.column("double_price").to_pylist() == [10, 10, 14, 18] and out.column(ROWKIND).equals(kinds)


def test_upsert_json_writes_a_tombstone_for_a_minus_u_no_change_follows() -> None:
    """In a batch, a -U followed by its key's +U is left out; a -U nothing follows (its row left an
    updating result through a filter or HAVING) deletes the key, as -D does."""
    import pyarrow as pa

    from rayflink.operators.sql.rows import format_rows
    from rayflink.sql.logical import ROWKIND

    batch = pa.RecordBatch.from_pydict({"user": ["ana", "ana", "luis", "eva", "eva", "eva", "eva"],
                                        "n": [2, 3, 5, 1, 1, 2, 2],
                                        ROWKIND: pa.array([1, 2, 1, 0, 1, 2, 3], pa.int8())})
    assert format_rows(batch, "upsert-json", key=("user",)) == [
        ('{"user": "ana"}', '{"user": "ana", "n": 3}'),  # -U then +U: the +U only
        ('{"user": "luis"}', None),  # a lone -U: a tombstone
        ('{"user": "eva"}', '{"user": "eva", "n": 1}'),
        ('{"user": "eva"}', '{"user": "eva", "n": 2}'),
        ('{"user": "eva"}', None),
    ]
