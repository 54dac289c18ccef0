"""``KafkaSourceBuilder.set_partitions``: a Kafka source of exactly the partitions given (unit
tests against a fake cluster metadata answer, no broker)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rayflink.common.serialization import SimpleStringSchema
from rayflink.datastream.connectors.kafka import KafkaConnectorError, KafkaSource, KafkaTopicPartition

METADATA = SimpleNamespace(topics={
    "orders": SimpleNamespace(error=None, partitions={0: None, 1: None, 2: None, 3: None}),
    "refunds": SimpleNamespace(error=None, partitions={0: None}),
})


def builder():
    return KafkaSource.builder().set_bootstrap_servers("localhost:9092") \
        .set_value_only_deserializer(SimpleStringSchema())


def test_the_source_reads_exactly_the_partitions_given():
    source = builder().set_partitions({KafkaTopicPartition("orders", 2), KafkaTopicPartition("refunds", 0),
                                       KafkaTopicPartition("orders", 0)}).build()
    assert source.list_partitions(METADATA) == [("orders", 0), ("orders", 2), ("refunds", 0)]
    # the topics' other partitions are not read, and discovery finds nothing more (the same list)
    assert source.list_partitions(METADATA) == source.list_partitions(METADATA)


def test_a_partition_or_topic_that_does_not_exist_is_named():
    missing = builder().set_partitions({KafkaTopicPartition("orders", 7)}).build()
    with pytest.raises(KafkaConnectorError, match=r"partition 7 of topic 'orders' does not exist.*\[0, 1, 2, 3\]"):
        missing.list_partitions(METADATA)
    unknown = builder().set_partitions({KafkaTopicPartition("nope", 0)}).build()
    with pytest.raises(KafkaConnectorError, match="no such topic"):
        unknown.list_partitions(METADATA)


def test_partitions_topics_and_a_pattern_exclude_each_other():
    with pytest.raises(ValueError, match="exactly one of set_topics"):
        builder().set_topics("orders").set_partitions({KafkaTopicPartition("orders", 0)}).build()
    with pytest.raises(TypeError, match="non-empty set of KafkaTopicPartition"):
        builder().set_partitions(set())
    with pytest.raises(TypeError, match="non-empty set of KafkaTopicPartition"):
        builder().set_partitions({("orders", 0)})


@pytest.mark.integration
def test_a_job_reads_only_the_partitions_given(kafka_broker) -> None:
    from rayflink.common import WatermarkStrategy
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.connectors.kafka import KafkaOffsetsInitializer
    from rayflink.testing import collect
    from rayflink.testing.services import unique_name

    # Given a topic of 4 partitions of 50 records each,
    topic = kafka_broker.create_topic(unique_name("parts"), partitions=4)
    for p in range(4):
        kafka_broker.produce(topic, [f"{p}-{i}" for i in range(50)], partition=p)
    # when a job reads partitions 1 and 3 only, to their end,
    source = builder().set_bootstrap_servers(kafka_broker.bootstrap_servers) \
        .set_partitions({KafkaTopicPartition(topic, 1), KafkaTopicPartition(topic, 3)}) \
        .set_starting_offsets(KafkaOffsetsInitializer.earliest()).set_bounded(KafkaOffsetsInitializer.latest()).build()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    out = collect(env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka"))
    # then it gets their records, each once, and none of the others.
    assert sorted(out) == sorted(f"{p}-{i}" for p in (1, 3) for i in range(50))
