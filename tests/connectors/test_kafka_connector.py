"""KafkaSource and KafkaSink against the real tansu broker (the ``kafka_broker`` fixture)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from rayflink.common import Duration, Time, Types, WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.common.serialization import JsonRowDeserializationSchema, JsonRowSerializationSchema, SimpleStringSchema
from rayflink.datastream import OutputTag
from rayflink.datastream.connectors.discarding import DiscardingSink
from rayflink.datastream.connectors.kafka import (
    DeadLetter,
    DeliveryGuarantee,
    KafkaConnectorError,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
    KafkaTopicPartition,
)
from rayflink.datastream.window import TumblingEventTimeWindows
from rayflink.errors import JobCancelledError, JobExecutionError, RayflinkError
from rayflink.testing import checkpointed_env, collect, env
from rayflink.testing.exactly_once import KEYS, CountPerKey, compare
from rayflink.testing.services import KafkaBroker, running_tansu, unique_name, wait_until


def source(broker: KafkaBroker, topic: str, schema=None, **options) -> KafkaSource:
    b = (KafkaSource.builder().set_bootstrap_servers(broker.bootstrap_servers).set_topics(topic)
         .set_value_only_deserializer(schema or SimpleStringSchema())
         .set_starting_offsets(options.pop("starting", KafkaOffsetsInitializer.earliest())))
    stopping = options.pop("stopping", KafkaOffsetsInitializer.latest())
    if stopping is not None:
        b.set_bounded(stopping)
    for k, v in options.items():
        b.set_property(k, v)
    return b.build()


def four_partitions(broker: KafkaBroker, per_partition: int, prefix: str = "t") -> tuple[str, dict]:
    topic = broker.create_topic(unique_name(prefix), partitions=4)
    sent = {p: [json.dumps({"p": p, "i": i, "ts": 1_000 * i}) for i in range(per_partition)] for p in range(4)}
    for p, values in sent.items():
        broker.produce(topic, values, partition=p)
    return topic, sent


def test_bounded_read_of_four_partitions_delivers_every_record_once_in_partition_order(
        kafka_broker: KafkaBroker) -> None:
    # Given 4 partitions of 500 JSON records each,
    topic, sent = four_partitions(kafka_broker, 500)
    # when a parallelism-2 job reads the topic to its end with JSON rows,
    schema = JsonRowDeserializationSchema.builder().type_info(
        Types.ROW_NAMED(["p", "i", "ts"], [Types.INT(), Types.LONG(), Types.LONG()])).build()
    e = env(2)
    out = collect(e.from_source(source(kafka_broker, topic, schema), WatermarkStrategy.no_watermarks(), "kafka"))
    # then every record arrives exactly once, and each partition in offset order.
    assert len(out) == 2000
    for p in range(4):
        assert [r["i"] for r in out if r["p"] == p] == list(range(500))


def test_starting_offsets_explicit_latest_and_timestamp(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic(unique_name("start"), partitions=2)
    producer = kafka_broker.producer()
    for i in range(10):  # one batch per record: timestamps 1000..1009 on both partitions
        for p in (0, 1):
            producer.produce(topic, f"{p}:{i}".encode(), partition=p, timestamp=1_000 + i)
        producer.flush()
    # explicit offsets for partition 0; partition 1 falls back to earliest
    init = KafkaOffsetsInitializer.offsets({KafkaTopicPartition(topic, 0): 7})
    got = collect(env(1).from_source(source(kafka_broker, topic, starting=init), WatermarkStrategy.no_watermarks(),
                                     "k"))
    assert sorted(got) == sorted([f"0:{i}" for i in (7, 8, 9)] + [f"1:{i}" for i in range(10)])
    # the first record with a timestamp >= 1006
    init = KafkaOffsetsInitializer.timestamp(1_006)
    got = collect(env(2).from_source(source(kafka_broker, topic, starting=init), WatermarkStrategy.no_watermarks(),
                                     "k"))
    assert sorted(got) == sorted(f"{p}:{i}" for p in (0, 1) for i in range(6, 10))
    # latest, bounded by latest: nothing
    got = collect(env(2).from_source(source(kafka_broker, topic, starting=KafkaOffsetsInitializer.latest()),
                                     WatermarkStrategy.no_watermarks(), "k"))
    assert got == []


def test_unbounded_latest_sees_only_new_records_and_discovers_new_topics_of_a_pattern(
        kafka_broker: KafkaBroker) -> None:
    # Given a topic with old records, read from latest by an unbounded pattern source that discovers
    # partitions every 200 ms (tansu has no CreatePartitions, so the new partitions are a new topic's),
    prefix = unique_name("live")
    first = kafka_broker.create_topic(f"{prefix}-a", partitions=2)
    kafka_broker.produce(first, [b"old"] * 5, partition=0)
    src = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
           .set_topic_pattern(rf"{prefix}-.*").set_value_only_deserializer(SimpleStringSchema())
           .set_starting_offsets(KafkaOffsetsInitializer.latest())
           .set_property("partition.discovery.interval.ms", 200).build())
    stream = env(2).from_source(src, WatermarkStrategy.no_watermarks(), "kafka")
    phase = {"topic": first, "value": b"new-a"}
    stop = threading.Event()

    def feed() -> None:  # produce until the job has seen it: the readers resolve "latest" when they start
        while not stop.wait(0.1):
            kafka_broker.produce(phase["topic"], [phase["value"]], partition=0)

    threading.Thread(target=feed, daemon=True).start()
    got: list = []
    try:
        with stream.execute_and_collect() as results:
            for record in results:
                got.append(record)
                if record == "new-a" and phase["value"] == b"new-a":
                    # when a topic matching the pattern appears while the job runs,
                    second = kafka_broker.create_topic(f"{prefix}-b", partitions=3)
                    phase.update(topic=second, value=b"new-b")
                if record == "new-b":
                    break
    finally:
        stop.set()
    # then the old records are never read, the new ones are, including the new topic's.
    assert "old" not in got and got[-1] == "new-b" and set(got) == {"new-a", "new-b"}


def test_malformed_json_fails_the_job_naming_topic_partition_and_offset(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic(unique_name("bad"), partitions=1)
    kafka_broker.produce(topic, [b'{"a": 1}', b'{"a": 2}', b"{not json", b'{"a": 4}'], partition=0)
    schema = JsonRowDeserializationSchema.builder().build()
    with pytest.raises(JobExecutionError) as info:
        collect(env(1).from_source(source(kafka_broker, topic, schema), WatermarkStrategy.no_watermarks(), "k"))
    message = str(info.value)
    assert f"topic {topic!r} partition 0 offset 2" in message and "{not json" in message
    assert "set_dead_letter_output" in message


def test_malformed_json_goes_to_the_dead_letter_output_and_is_counted(kafka_broker: KafkaBroker) -> None:
    # Given 3 good and 2 malformed records,
    topic = kafka_broker.create_topic(unique_name("dlq"), partitions=2)
    kafka_broker.produce(topic, [b'{"a": 1}', b"oops", b'{"a": 3}'], partition=0)
    kafka_broker.produce(topic, [b'{"a": "x"}', b'{"a": 5}'], partition=1)
    dlq = OutputTag("dead-letters")
    schema = JsonRowDeserializationSchema.builder().type_info(Types.ROW_NAMED(["a"], [Types.INT()])).build()
    src = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers).set_topics(topic)
           .set_value_only_deserializer(schema).set_bounded(KafkaOffsetsInitializer.latest())
           .set_dead_letter_output(dlq).build())
    e = env(2)
    stream = e.from_source(src, WatermarkStrategy.no_watermarks(), "kafka")
    dead: list[DeadLetter] = []
    stream.get_side_output(dlq).map(lambda d: (d.partition, d.offset, d.value, d.error)) \
        .add_sink(_ListSink.remote_list(dead))
    good = collect(stream)
    # then the good ones reach the main stream, the bad ones the side output with where and why,
    assert sorted(r["a"] for r in good) == [1, 3, 5]
    dead_records = _ListSink.drain()
    assert sorted((p, o, v) for p, o, v, _ in dead_records) == [(0, 1, b"oops"), (1, 0, b'{"a": "x"}')]
    assert any("field 'a': expected INT, got 'x'" in err for *_, err in dead_records)


def test_ignore_parse_errors_skips_malformed_json_and_counts_it(kafka_broker: KafkaBroker) -> None:
    # Given 3 good and 3 malformed records in 2 partitions, read with ignore_parse_errors(),
    topic = kafka_broker.create_topic(unique_name("skip"), partitions=2)
    kafka_broker.produce(topic, [b'{"a": 1}', b"oops", b'{"a": 3}', b"null"], partition=0)
    kafka_broker.produce(topic, [b'{"a": "x"}', b'{"a": 5}'], partition=1)
    schema = (JsonRowDeserializationSchema.builder().type_info(Types.ROW_NAMED(["a"], [Types.INT()]))
              .ignore_parse_errors().build())
    stream = env(2).from_source(source(kafka_broker, topic, schema), WatermarkStrategy.no_watermarks(), "kafka")
    # when a map uses every record (before: None records reached it and it failed),
    with stream.map(lambda r: r["a"]).execute_and_collect() as results:
        out = list(results)
        metrics = results.client.get_metrics()
    # then only the good records arrive, and the source counts the skipped ones.
    assert sorted(out) == [1, 3, 5]
    skipped = sum(op.get("num_records_in_errors", 0) for v in metrics["vertices"] for s in v["subtasks"]
                  for op in s["operators"].values())
    assert skipped == 3


class _ListSink:
    """Collects side-output records through a named Ray actor (sinks run in other processes)."""

    @staticmethod
    def remote_list(_unused: list):
        import ray

        from rayflink.datastream import SinkFunction
        from rayflink.runtime.cluster import ensure_ray

        ensure_ray()

        @ray.remote
        class Box:
            def __init__(self) -> None:
                self.items: list = []

            def add(self, item) -> None:
                self.items.append(item)

            def take(self) -> list:
                out, self.items = self.items, []
                return out

        box = Box.options(name=f"dlq-{unique_name('box')}", lifetime="detached").remote()
        _ListSink.box = box

        class ToBox(SinkFunction):
            def invoke(self, value, context) -> None:
                ray.get(box.add.remote(value))

        return ToBox()

    @staticmethod
    def drain() -> list:
        import ray

        items = ray.get(_ListSink.box.take.remote())
        ray.kill(_ListSink.box)
        return items


def test_unknown_topic_and_unreachable_brokers_fail_with_clear_errors(kafka_broker: KafkaBroker) -> None:
    missing = unique_name("missing")
    with pytest.raises(RayflinkError, match=rf"topic '{missing}' does not exist on {kafka_broker.bootstrap_servers}"):
        collect(env(1).from_source(source(kafka_broker, missing), WatermarkStrategy.no_watermarks(), "k"))
    dead = KafkaBroker("127.0.0.1:9", "none", kafka_broker.log_path)  # discard port: nobody listens
    started = time.monotonic()
    with pytest.raises(RayflinkError, match=r"no answer from the Kafka brokers at '127.0.0.1:9' within 1500 ms"):
        collect(env(1).from_source(source(dead, "t", **{"default.api.timeout.ms": 1500}),
                                   WatermarkStrategy.no_watermarks(), "k"))
    assert time.monotonic() - started < 20


def test_a_silent_partition_holds_windows_back_until_idleness_is_set(kafka_broker: KafkaBroker) -> None:
    # Given the seed's 12.4.3: 16 partitions where 15 keep receiving events (event time +1 s per
    # event) and partition 15 is silent, read at parallelism 2 with per-partition watermarks into
    # 5-second event-time windows counting events per partition,
    topic = kafka_broker.create_topic(unique_name("wm"), partitions=16)
    stop = threading.Event()

    def feed() -> None:
        producer = kafka_broker.producer(**{"linger.ms": 5})
        i = 0
        while not stop.wait(0.05):
            for p in range(15):
                producer.produce(topic, value=json.dumps({"p": p, "ts": 1_000 * i}), partition=p)
            producer.poll(0)
            i += 1
        producer.flush(5)

    def windows(strategy: WatermarkStrategy):
        src = source(kafka_broker, topic, JsonRowDeserializationSchema.builder().build(), stopping=None)
        stream = env(2).from_source(src, strategy.with_timestamp_assigner(lambda e, ts: e["ts"]), "kafka")
        return (stream.map(lambda e: (e["p"], 1))
                .key_by(lambda e: e[0])
                .window(TumblingEventTimeWindows.of(Time.seconds(5)))
                .reduce(lambda a, b: (a[0], a[1] + b[1]))
                .execute_and_collect())

    threading.Thread(target=feed, daemon=True).start()
    try:
        base = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
        # without idleness, no window fires: the silent partition has no watermark;
        with windows(base) as results:
            assert _records_within(results, 3.0) == []
        # with idleness, the silent partition is skipped and the first window of each active one
        # fires, holding its 5 events.
        wanted = {(p, 5) for p in range(15)}
        with windows(base.with_idleness(Duration.of_millis(500))) as results:
            got = _records_within(results, 30.0, until=lambda rs: {p for p, _ in rs} >= set(range(15)))
        assert wanted <= set(got)
    finally:
        stop.set()


def _records_within(results, seconds: float, until=None) -> list:
    """Records an unbounded job produces within ``seconds`` (or until ``until(records)``); closing cancels it."""
    got: list = []
    timer = threading.Timer(seconds, results.close)
    timer.start()
    try:
        for r in results:
            got.append(r)
            if until is not None and until(got):
                break
    except JobCancelledError:
        pass  # the timer closed the iterator
    finally:
        timer.cancel()
    return got


def test_kafka_sink_round_trip_at_least_once_with_keys(kafka_broker: KafkaBroker) -> None:
    # Given 1,000 records written through KafkaSink with JSON values and a key per user,
    topic = kafka_broker.create_topic(unique_name("sink"), partitions=4)

    class UserKey(SimpleStringSchema):
        def serialize(self, element) -> bytes:
            return element["user"].encode()

    sink = (KafkaSink.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                   .set_value_serialization_schema(JsonRowSerializationSchema.builder().build())
                                   .set_key_serialization_schema(UserKey()).build())
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
    e = env(2)
    e.from_collection([{"user": f"u{i % 7}", "i": i} for i in range(1000)]).sink_to(sink)
    e.execute("sink")
    # then each record is in the topic once, keyed by user, and one user's records share a partition.
    records = kafka_broker.consume_all(topic)
    assert sorted(json.loads(r.value)["i"] for r in records) == list(range(1000))
    by_key: dict = {}
    for r in records:
        assert r.key.decode() == json.loads(r.value)["user"]
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(ps) == 1 for ps in by_key.values())


def _string_sink(broker: KafkaBroker, topic: str, partitioner=None, **properties) -> KafkaSink:
    serializer = KafkaRecordSerializationSchema.builder().set_topic(topic) \
        .set_value_serialization_schema(SimpleStringSchema())
    if partitioner is not None:
        serializer.set_partitioner(partitioner)
    builder = (KafkaSink.builder().set_bootstrap_servers(broker.bootstrap_servers)
               .set_record_serializer(serializer.build()).set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE))
    for k, v in properties.items():
        builder.set_property(k, v)
    return builder.build()


def test_an_oversized_record_fails_the_sink_naming_that_record(kafka_broker: KafkaBroker) -> None:
    # Given a batch of small records with one larger than the producer's message.max.bytes,
    topic = kafka_broker.create_topic(unique_name("big"), partitions=1)
    big = "BIG" + "x" * 1_200_000
    e = env(1)
    e.set_restart_strategy(RestartStrategies.no_restart())
    e.from_collection(["small-0", "small-1", big, "small-3"]).sink_to(_string_sink(kafka_broker, topic))
    # when the sink writes it, the job fails naming the big record (before: 'small-0', the batch's first),
    with pytest.raises(JobExecutionError) as info:
        e.execute("oversized")
    message = str(info.value)
    assert "the record 'BIGxxx" in message and "1,200,003 bytes" in message
    assert "small-0" not in message
    # its topic, and the setting to change.
    assert f"topic {topic!r}" in message and "message.max.bytes" in message


def test_a_failed_delivery_names_the_record_that_failed(kafka_broker: KafkaBroker) -> None:
    # Given records of which one goes to a partition the topic does not have (a late, asynchronous failure),
    topic = kafka_broker.create_topic(unique_name("lost"), partitions=1)
    sink = _string_sink(kafka_broker, topic, lambda r: 7 if r == "lost" else 0, **{"message.timeout.ms": 3000})
    writer = sink.create_writer(0, 1)
    try:
        writer.write(["a", "lost", "b"], None)
        # then the flush at the checkpoint barrier fails naming that record's value and partition.
        with pytest.raises(KafkaConnectorError, match=r"the record value b'lost' \(4 bytes\) for topic .* partition 7"):
            writer.flush(False)
    finally:
        writer.close()


def test_exactly_once_sink_needs_a_transactional_id_prefix(kafka_broker: KafkaBroker) -> None:
    builder = (KafkaSink.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
               .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic("t")
                                      .set_value_serialization_schema(SimpleStringSchema()).build())
               .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE))
    with pytest.raises(ValueError, match="set_transactional_id_prefix"):
        builder.build()


def test_exactly_once_writer_holds_records_back_until_the_checkpoint_commits(kafka_broker: KafkaBroker) -> None:
    # Given an EXACTLY_ONCE sink, driven as the checkpoint hooks drive it,
    topic = kafka_broker.create_topic(unique_name("eos"), partitions=1)
    sink = (KafkaSink.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(unique_name("job")).build())

    def committed() -> list:
        return [r.value for r in kafka_broker.consume_all(topic, isolation_level="read_committed", timeout=10)]

    writer = sink.create_writer(0, 1)
    writer.write(["a", "b"], None)
    first = writer.prepare_commit(1)  # the barrier of checkpoint 1
    writer.write(["c"], None)
    second = writer.prepare_commit(2)
    # a read_committed reader sees nothing while checkpoint 1 is not complete,
    assert committed() == []
    writer.commit([first])  # checkpoint 1 complete
    assert committed() == [b"a", b"b"]
    writer.commit([first])  # committing again changes nothing
    # the next attempt (a new writer) fences the old one and, committing checkpoints 1 and 2 restored
    # from checkpoint 2, writes only what was not committed,
    restored = sink.create_writer(0, 1)
    restored.commit([first, second])
    assert committed() == [b"a", b"b", b"c"]
    writer.write(["zombie"], None)
    with pytest.raises(Exception, match="fence"):
        writer.commit([writer.prepare_commit(3)])
    assert committed() == [b"a", b"b", b"c"]
    # while a job started afresh under the same prefix (checkpoint ids from 1 again) does write.
    restored.write(["d"], None)
    restored.commit([restored.prepare_commit(1)])
    assert committed() == [b"a", b"b", b"c", b"d"]


def committed_offsets(broker: KafkaBroker, topic: str, group: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group,
                         "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
        return {r.partition: r.offset for r in found if r.offset >= 0}
    finally:
        consumer.close()


def test_source_reader_snapshot_holds_next_offsets_and_commits_them(kafka_broker: KafkaBroker) -> None:
    topic, _ = four_partitions(kafka_broker, 5, "snap")
    group = unique_name("group")
    src = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers).set_topics(topic)
           .set_group_id(group).set_value_only_deserializer(SimpleStringSchema())
           .set_bounded(KafkaOffsetsInitializer.latest()).build())
    splits = src.create_splits(1)
    reader = src.create_reader(splits, 0, 1)
    try:
        read = []
        wait_until(lambda: (read.extend(b for b in reader.poll(100) or [None] if b) or None)
                   if sum(len(b.records) for b in read) < 20 else True, timeout=10, what="20 records")
        state = reader.snapshot_state()
        assert {s.split_id: s.payload.offset for s in state} == {f"{topic}-{p}": 5 for p in range(4)}
        reader.notify_checkpoint_complete(1, state)
        wait_until(lambda: committed_offsets(kafka_broker, topic, group) == {p: 5 for p in range(4)},
                   timeout=10, what="the offsets committed to the group")
    finally:
        reader.close()
    # a source started from the group's committed offsets finds nothing left
    committed = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers).set_topics(topic)
                 .set_group_id(group).set_value_only_deserializer(SimpleStringSchema())
                 .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets())
                 .set_bounded(KafkaOffsetsInitializer.latest()).build())
    assert collect(env(2).from_source(committed, WatermarkStrategy.no_watermarks(), "k")) == []


def test_a_running_job_commits_offsets_when_its_checkpoints_complete(kafka_broker: KafkaBroker) -> None:
    # Given an unbounded job reading 4 partitions with a group id and checkpoints every 100 ms,
    topic, _ = four_partitions(kafka_broker, 5, "ckpt")
    group = unique_name("group")
    src = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers).set_topics(topic)
           .set_group_id(group).set_value_only_deserializer(SimpleStringSchema())
           .set_starting_offsets(KafkaOffsetsInitializer.earliest()).build())
    e = env(2)
    e.enable_checkpointing(100)
    e.from_source(src, WatermarkStrategy.no_watermarks(), "kafka").sink_to(DiscardingSink())
    client = e.execute_async("commit-offsets")
    try:
        # when its checkpoints complete, the group's committed offsets reach the ends of the partitions,
        wait_until(lambda: committed_offsets(kafka_broker, topic, group) == {p: 5 for p in range(4)},
                   timeout=30, what="offsets committed on checkpoint completion")
        # and records written later are committed too once read.
        kafka_broker.produce(topic, ["late"], partition=2)
        wait_until(lambda: committed_offsets(kafka_broker, topic, group).get(2) == 6,
                   timeout=30, what="the new record's offset committed")
    finally:
        client.cancel()


def test_a_bounded_checkpointed_job_commits_its_final_offsets_and_finishes(kafka_broker: KafkaBroker) -> None:
    # Given 4 partitions of 250 records read to their end with a group id, checkpoints every 500 ms
    # and an EXACTLY_ONCE Kafka sink (the job waits for a checkpoint after its end to commit it),
    topic, sent = four_partitions(kafka_broker, 250, "final")
    out_topic = kafka_broker.create_topic(unique_name("final-out"), partitions=4)
    group = unique_name("group")
    src = (KafkaSource.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers).set_topics(topic)
           .set_group_id(group).set_value_only_deserializer(SimpleStringSchema())
           .set_starting_offsets(KafkaOffsetsInitializer.earliest())
           .set_bounded(KafkaOffsetsInitializer.latest()).build())
    sink = (KafkaSink.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(out_topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(unique_name("final")).build())
    e = env(2)
    e.enable_checkpointing(500)
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(2, 100))
    e.from_source(src, WatermarkStrategy.no_watermarks(), "kafka").sink_to(sink)
    # when it runs to its end (before: the final checkpoint's completion committed offsets on the
    # closed consumer, "Consumer closed", and the job restarted until it failed),
    client = e.execute_async("bounded-checkpointed")
    client.get_job_execution_result()
    # then it finished without a restart, wrote every record once and committed the partitions' ends.
    status = client.get_status()
    assert status["restarts"] == 0, status["failures"]
    written = sorted(r.value.decode() for r in kafka_broker.consume_all(out_topic, isolation_level="read_committed"))
    assert written == sorted(v for values in sent.values() for v in values)
    wait_until(lambda: committed_offsets(kafka_broker, topic, group) == {p: 250 for p in range(4)},
               timeout=30, what="the final offsets committed to the group")


def test_a_broker_outage_restarts_the_job_from_its_checkpoint_without_loss_or_duplicates(
        s3_endpoint, tmp_path) -> None:
    # Given a broker whose topics live in S3 (so that they survive it), holding records 0-299,
    bucket = s3_endpoint.create_bucket()
    broker_env = {**s3_endpoint.env, "AWS_ENDPOINT": s3_endpoint.endpoint_url, "AWS_ALLOW_HTTP": "true"}
    storage = f"s3://{bucket}/"
    first = running_tansu(storage_engine=storage, log_dir=tmp_path, env=broker_env)
    broker = first.__enter__()
    port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
    topic = broker.create_topic(unique_name("outage"), partitions=2)
    broker.produce(topic, [str(i) for i in range(0, 300, 2)], partition=0)
    broker.produce(topic, [str(i) for i in range(1, 300, 2)], partition=1)
    # and an exactly-once job reading it that gives up on a silent broker after 1.5 s,
    e = env(2)
    e.enable_checkpointing(200)
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(100, 200))
    src = source(broker, topic, stopping=None, **{"default.api.timeout.ms": 1500})
    got: list = []
    with e.from_source(src, WatermarkStrategy.no_watermarks(), "kafka").map(int).execute_and_collect() as results:
        it = iter(results)
        while len(got) < 300:
            got.append(next(it))
        # when the broker goes away until the job has restarted from its checkpoint,
        first.__exit__(None, None, None)
        wait_until(lambda: results.client.get_status()["restarts"] >= 1 or None, timeout=60,
                   what="a restart after the broker outage")
        status = results.client.get_status()
        assert "no Kafka broker at" in str(status["failures"]) and "default.api.timeout.ms" in str(status["failures"])
        # and comes back at the same address with the same storage, and 300 more records arrive,
        with running_tansu(storage_engine=storage, log_dir=tmp_path, env=broker_env, port=port) as back:
            back.produce(topic, [str(i) for i in range(300, 600, 2)], partition=0)
            back.produce(topic, [str(i) for i in range(301, 600, 2)], partition=1)
            while len(got) < 600:
                got.append(next(it))
            results.close()
    # then every record arrived exactly once.
    assert sorted(got) == list(range(600))


class FailOnceAt:
    """Raises the first time each of ``values`` passes (a marker file per value remembers it)."""

    def __init__(self, directory, values) -> None:
        self.directory, self.values = str(directory), set(values)

    def __call__(self, value: int) -> int:
        if value in self.values:
            import os

            marker = os.path.join(self.directory, f"failed-at-{value}")
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError(f"injected failure at {value}")
        return value


def test_kafka_to_kafka_exactly_once_through_three_failures(kafka_broker: KafkaBroker, tmp_path) -> None:
    # Given 20,000 numbers in 4 partitions, a keyed count per key and an EXACTLY_ONCE Kafka sink,
    records = 20_000
    topic = kafka_broker.create_topic(unique_name("eo-in"), partitions=4)
    for p in range(4):
        kafka_broker.produce(topic, [str(i) for i in range(p, records, 4)], partition=p)
    out_topic = kafka_broker.create_topic(unique_name("eo-out"), partitions=4)
    sink = (KafkaSink.builder().set_bootstrap_servers(kafka_broker.bootstrap_servers)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(out_topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(unique_name("eo")).build())
    e = env(2)
    e.enable_checkpointing(200)
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    # when the job fails three times mid-run and restarts from its checkpoints,
    (e.from_source(source(kafka_broker, topic), WatermarkStrategy.no_watermarks(), "numbers")
     .map(int).map(FailOnceAt(tmp_path, {3_000, 9_000, 15_000}))
     .key_by(lambda v: v % KEYS).process(CountPerKey())
     .map(lambda kn: f"{kn[0]},{kn[1]}", Types.STRING())
     .sink_to(sink))
    client = e.execute_async("kafka-exactly-once")
    client.get_job_execution_result()
    status = client.get_status()
    assert status["restarts"] == 3, status["failures"]
    # then a read_committed consumer sees every expected output exactly once.
    seen = [tuple(map(int, r.value.split(b","))) for r in
            kafka_broker.consume_all(out_topic, isolation_level="read_committed")]
    missing, duplicated = compare(seen, records)
    assert duplicated == Counter(), "records written twice"
    assert missing == Counter(), "records lost"


def test_partition_discovery_after_a_savepoint_at_another_parallelism_reads_nothing_twice(
        kafka_broker: KafkaBroker, tmp_path) -> None:
    # Given a job discovering partitions every 50 ms that read 4 partitions at parallelism 2,
    topic, _ = four_partitions(kafka_broker, 5, "disc")

    def job(parallelism: int, savepoint: str | None = None):
        e = checkpointed_env(parallelism, tmp_path / "chk", savepoint)
        src = source(kafka_broker, topic, stopping=None, **{"partition.discovery.interval.ms": 50})
        return e.from_source(src, WatermarkStrategy.no_watermarks(), "kafka").uid("kafka").execute_and_collect()

    with job(2) as results:
        it = iter(results)
        assert len([next(it) for _ in range(20)]) == 20
        savepoint = results.client.stop_with_savepoint(f"file://{tmp_path}/sp")
        assert list(results) == []
    # when it resumes from the savepoint at parallelism 3 and one record more arrives per partition,
    kafka_broker.produce(topic, ["new-0"], partition=0)
    kafka_broker.produce(topic, ["new-1"], partition=1)
    kafka_broker.produce(topic, ["new-2"], partition=2)
    kafka_broker.produce(topic, ["new-3"], partition=3)
    got: list = []
    with job(3, savepoint) as results:
        for value in results:
            got.append(value)
            if len([v for v in got if v.startswith("new-")]) == 4:
                break
        results.client.stop_with_savepoint(f"file://{tmp_path}/sp2")
        got += list(results)
    # then only the new records are read: discovery knows the restored partitions of every subtask.
    assert sorted(got) == ["new-0", "new-1", "new-2", "new-3"]
