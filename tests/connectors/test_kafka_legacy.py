"""PyFlink's legacy FlinkKafkaConsumer (env.add_source) and FlinkKafkaProducer (ds.add_sink) with
its Semantic: KafkaSource and KafkaSink configured by Kafka properties (unit tests without a
broker, and one round trip against the tansu broker)."""

from __future__ import annotations

import pytest

from rayflink.common import Types
from rayflink.common.serialization import SimpleStringSchema
from rayflink.connectors.kafka import KafkaSinkWriter, _Delivery
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.kafka import (
    DeliveryGuarantee,
    FlinkKafkaConsumer,
    FlinkKafkaProducer,
    KafkaOffsetResetStrategy,
    KafkaSink,
    KafkaSource,
    Semantic,
)
from rayflink.errors import GraphBuildError

PROPS = {"bootstrap.servers": "localhost:9092", "group.id": "shop"}


def test_the_consumer_is_a_kafka_source_of_its_properties():
    consumer = FlinkKafkaConsumer(["orders", "refunds"], SimpleStringSchema(), {**PROPS, "fetch.min.bytes": 1})
    assert isinstance(consumer, KafkaSource)
    assert (consumer.bootstrap_servers, consumer.group_id, consumer.topics) == \
        ("localhost:9092", "shop", ("orders", "refunds"))
    assert consumer.client_config()["fetch.min.bytes"] == "1"
    # group offsets first, auto.offset.reset (Kafka's default: latest) where there are none
    assert (consumer.starting.kind, consumer.starting.reset) == ("committed", KafkaOffsetResetStrategy.LATEST)
    assert consumer.set_start_from_earliest().starting.kind == "earliest"
    assert consumer.set_start_from_latest().starting.kind == "latest"
    assert consumer.set_start_from_timestamp(1_700_000_000_000).starting.timestamp_ms == 1_700_000_000_000
    reset_earliest = FlinkKafkaConsumer("orders", SimpleStringSchema(), {**PROPS, "auto.offset.reset": "earliest"})
    assert reset_earliest.starting.reset is KafkaOffsetResetStrategy.EARLIEST
    no_group = FlinkKafkaConsumer("orders", SimpleStringSchema(), {"bootstrap.servers": "b:9092"})
    assert no_group.starting.kind == "latest"  # no group: no committed offsets to start from
    assert consumer.set_commit_offsets_on_checkpoints(False).properties["commit.offsets.on.checkpoint"] == "false"
    assert consumer.filter_restored_partitions
    assert not consumer.disable_filter_restored_partitions_with_subscribed_topics().filter_restored_partitions
    assert consumer.get_produced_type() == Types.STRING()
    with pytest.raises(ValueError, match="bootstrap.servers"):
        FlinkKafkaConsumer("orders", SimpleStringSchema(), {"group.id": "g"})


def test_add_source_reads_a_consumer_and_refuses_what_is_no_source():
    env = StreamExecutionEnvironment.get_execution_environment()
    stream = env.add_source(FlinkKafkaConsumer("orders", SimpleStringSchema(), PROPS), "orders")
    assert stream._t.kind == "source" and stream._t.name == "orders" and isinstance(stream._t.source, KafkaSource)
    with pytest.raises(GraphBuildError, match="is not a source rayflink runs"):
        env.add_source(object())


def test_the_producer_is_a_kafka_sink_of_its_semantic():
    at_least_once = FlinkKafkaProducer("out", SimpleStringSchema(), {**PROPS, "linger.ms": 10})
    assert isinstance(at_least_once, KafkaSink) and at_least_once.guarantee is DeliveryGuarantee.AT_LEAST_ONCE
    assert at_least_once.serializer.topic == "out" and at_least_once.properties["linger.ms"] == "10"
    assert not at_least_once.write_timestamps and at_least_once.set_write_timestamp_to_kafka(True).write_timestamps
    assert at_least_once.set_log_failures_only(True).log_failures_only
    assert not at_least_once.set_flush_on_checkpoint(False).flush_on_checkpoint
    assert at_least_once.ignore_failures_after_transaction_timeout() is at_least_once
    exactly_once = FlinkKafkaProducer("out", SimpleStringSchema(), PROPS, semantic=Semantic.EXACTLY_ONCE)
    assert exactly_once.guarantee is DeliveryGuarantee.EXACTLY_ONCE and exactly_once.transactional_id_prefix
    given = FlinkKafkaProducer("out", SimpleStringSchema(), {**PROPS, "transactional.id": "tx"},
                               semantic=Semantic.EXACTLY_ONCE)
    assert given.transactional_id_prefix == "tx" and "transactional.id" not in given.properties
    assert [s.delivery_guarantee() for s in Semantic] == [DeliveryGuarantee.EXACTLY_ONCE,
                                                          DeliveryGuarantee.AT_LEAST_ONCE, DeliveryGuarantee.NONE]


class FakeProducer:
    def __init__(self):
        self.sent = []

    def produce(self, topic, **kwargs):
        self.sent.append((topic, kwargs.get("value"), kwargs.get("timestamp")))

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        return 0


def writer_of(sink: KafkaSink) -> tuple[KafkaSinkWriter, FakeProducer]:
    writer = KafkaSinkWriter.__new__(KafkaSinkWriter)  # a writer without a connection to a broker
    writer.sink, writer.subtask_index, writer.exactly_once = sink, 0, False
    writer.delivery = _Delivery()
    writer.producer = FakeProducer()
    return writer, writer.producer


def test_the_producer_writes_timestamps_only_when_asked_and_may_log_failures():
    producer = FlinkKafkaProducer("out", SimpleStringSchema(), PROPS)
    writer, fake = writer_of(producer)
    writer.write(["a"], [1000])
    producer.set_write_timestamp_to_kafka(True)
    writer.write(["b"], [2000])
    assert fake.sent == [("out", b"a", None), ("out", b"b", 2000)]
    writer.delivery.errors.append("the record value b'c' for topic 'out': broker down")
    with pytest.raises(Exception, match="delivery failed"):
        writer.flush(True)
    producer.set_log_failures_only(True)
    writer.delivery.errors.append("the record value b'c' for topic 'out': broker down")
    writer.flush(True)  # logged, not raised
    assert writer.delivery.errors == []


@pytest.mark.integration
def test_records_round_trip_through_the_legacy_producer_and_consumer(kafka_broker) -> None:
    from rayflink.testing.services import unique_name

    topic = kafka_broker.create_topic(unique_name("legacy"), partitions=2)
    servers = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_collection([f"r{i}" for i in range(100)]).add_sink(
        FlinkKafkaProducer(topic, SimpleStringSchema(), servers))
    env.execute("legacy producer")
    assert sorted(r.value.decode() for r in kafka_broker.consume_all(topic)) == sorted(f"r{i}" for i in range(100))

    consumer = FlinkKafkaConsumer(topic, SimpleStringSchema(), {**servers, "group.id": unique_name("g")})
    with env.add_source(consumer.set_start_from_earliest(), "legacy").execute_and_collect() as results:
        got = [next(results) for _ in range(100)]
    assert sorted(got) == sorted(f"r{i}" for i in range(100))
