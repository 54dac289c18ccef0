"""Kafka source throughput: bare confluent-kafka consumer (the ceiling) vs rayflink KafkaSource.

    python bench/kafka_source.py [--messages 500000] [--parallelism 2]

Starts tansu (tests/services.running_tansu), produces N JSON messages round-robin to a
4-partition topic, then reads them all (1) with one assign()-ed confluent-kafka consumer
(consume(1000), fetch.queue.backoff.ms=10, json.loads per message: bench/KAFKA.md's best
settings) and (2) with a rayflink job KafkaSource -> JSON parse (JsonRowDeserializationSchema,
in the source) -> DiscardingSink at parallelism 2, bounded at the topic's end. Prints one JSON
line per system and the ratio. "job_s" excludes Ray's and the executors' start (a warm-up job).
"""

from __future__ import annotations

import json
import sys
import time

from harness import emit, parse_args, start_ray
from kafka_ceiling import PARTITIONS, produce

from rayflink.testing.services import running_tansu, unique_name


def bare_consumer(bootstrap: str, topic: str, n: int) -> dict:
    """One assign()-ed consumer reading and parsing every message."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("bench"),
                         "enable.auto.commit": False, "fetch.queue.backoff.ms": 10})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = 0
    start = time.perf_counter()
    loads = json.loads
    while seen < n:
        for m in consumer.consume(1000, 1.0):
            err = m.error()
            if err is None:
                loads(m.value())
                seen += 1
            elif err.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(str(err))
    seconds = time.perf_counter() - start
    consumer.close()
    return {"system": "confluent-kafka consumer (ceiling)", "events": n, "seconds": round(seconds, 3),
            "events_per_s": round(n / seconds)}


def rayflink_job(bootstrap: str, topic: str, warm: str, n: int, parallelism: int) -> dict:
    from rayflink.common import WatermarkStrategy
    from rayflink.common.serialization import JsonRowDeserializationSchema
    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    def job(t: str) -> object:
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(parallelism)
        source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(t)
                  .set_value_only_deserializer(JsonRowDeserializationSchema.builder().build())
                  .set_starting_offsets(KafkaOffsetsInitializer.earliest())
                  .set_bounded(KafkaOffsetsInitializer.latest()).build())
        env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka").sink_to(DiscardingSink())
        return env.execute("kafka source bench")

    ray_s = start_ray()
    job(warm)  # starts the task executors
    t0 = time.perf_counter()
    result = job(topic)
    seconds = time.perf_counter() - t0
    sink = result.metrics["vertices"][-1]["subtasks"]
    got = sum(s["records_in"] for s in sink)
    if got != n:
        raise SystemExit(f"rayflink read {got} records, expected {n}")
    return {"system": "rayflink KafkaSource -> JSON -> DiscardingSink", "parallelism": parallelism, "events": n,
            "job_s": round(seconds, 3), "ray_start_s": round(ray_s, 3), "events_per_s": round(n / seconds)}


def main() -> None:
    args = parse_args(__doc__, messages=500_000, parallelism=2)
    with running_tansu() as broker:
        topic = broker.create_topic(unique_name("bench"), PARTITIONS)
        rate = produce(broker.bootstrap_servers, topic, args.messages)
        print(f"produced {args.messages} messages at {rate:,.0f} msgs/s", file=sys.stderr)
        ceiling = bare_consumer(broker.bootstrap_servers, topic, args.messages)
        emit(ceiling)
        warm = broker.create_topic(unique_name("warm"), PARTITIONS)
        ours = rayflink_job(broker.bootstrap_servers, topic, warm, args.messages, args.parallelism)
        emit(ours)
        emit({"ratio_rayflink_to_ceiling": round(ours["events_per_s"] / ceiling["events_per_s"], 3)})


if __name__ == "__main__":
    main()
