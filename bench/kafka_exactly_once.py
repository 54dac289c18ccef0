"""End-to-end exactly-once through Kafka, with task executors killed mid-run.

    python bench/kafka_exactly_once.py [--records 1000000] [--kills 3] [--interval-ms 500]

Starts tansu, writes N numbers to a 4-partition topic, then runs Kafka -> key_by(n % 97) ->
count per key in ValueState -> "key,n" -> KafkaSink(EXACTLY_ONCE) at parallelism 2 with a
checkpoint every ``--interval-ms``, while a chaos thread kills a random task executor actor
``--kills`` times (each after a checkpoint completed). A ``read_committed`` consumer then reads
the output topic and every "key,n" is checked: nothing missing, nothing twice.

tansu 0.6 does not hide aborted transactions from ``read_committed`` readers (bench/KAFKA.md,
finding 5): a kill that lands while a sink subtask is inside its commit leaves records of an
aborted transaction that tansu still serves, and they show here as duplicates. On a broker that
filters aborted transactions they are not seen. The JSON line reports both counts.
"""

from __future__ import annotations

import time

from harness import emit, parse_args, rss_sampler, start_ray

from rayflink.testing.exactly_once import KEYS, CountPerKey, chaos_thread, compare
from rayflink.testing.services import running_tansu, unique_name

PARTITIONS = 4


def produce_numbers(broker, topic: str, records: int) -> float:
    producer = broker.producer(**{"linger.ms": 20, "batch.num.messages": 10_000, "acks": 1})
    t0 = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value=str(i), partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    return time.perf_counter() - t0


def main() -> None:
    a = parse_args(__doc__, records=1_000_000, kills=3, interval_ms=500, parallelism=2)

    from rayflink.common import Types, WatermarkStrategy
    from rayflink.common.restart_strategy import RestartStrategies
    from rayflink.common.serialization import SimpleStringSchema
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.connectors.kafka import (
        DeliveryGuarantee,
        KafkaOffsetsInitializer,
        KafkaRecordSerializationSchema,
        KafkaSink,
        KafkaSource,
    )

    with running_tansu() as broker:
        topic = broker.create_topic(unique_name("eo-in"), PARTITIONS)
        out_topic = broker.create_topic(unique_name("eo-out"), PARTITIONS)
        produce_s = produce_numbers(broker, topic, a.records)
        print(f"produced {a.records:,} records in {produce_s:.1f} s", flush=True)
        ray_s = start_ray()
        sampler = rss_sampler()
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(a.parallelism)
        env.enable_checkpointing(a.interval_ms)
        env.set_restart_strategy(RestartStrategies.fixed_delay_restart(a.kills + 5, 100))
        source = (KafkaSource.builder().set_bootstrap_servers(broker.bootstrap_servers).set_topics(topic)
                  .set_value_only_deserializer(SimpleStringSchema())
                  .set_starting_offsets(KafkaOffsetsInitializer.earliest())
                  .set_bounded(KafkaOffsetsInitializer.latest()).build())
        sink = (KafkaSink.builder().set_bootstrap_servers(broker.bootstrap_servers)
                .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(out_topic)
                                       .set_value_serialization_schema(SimpleStringSchema()).build())
                .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .set_transactional_id_prefix(unique_name("eo-bench")).build())
        (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").map(int)
         .key_by(lambda v: v % KEYS).process(CountPerKey())
         .map(lambda kn: f"{kn[0]},{kn[1]}", Types.STRING())
         .sink_to(sink))
        t0 = time.perf_counter()
        client = env.execute_async("kafka exactly-once soak")
        with chaos_thread(client, a.kills) as killed:
            client.get_job_execution_result()
            job_s = time.perf_counter() - t0
        sampler.stop()
        status = client.get_status()
        print(f"job done in {job_s:.1f} s with {status['restarts']} restarts; reading the output", flush=True)
        seen = [tuple(map(int, r.value.split(b","))) for r in
                broker.consume_all(out_topic, isolation_level="read_committed", timeout=300)]
        missing, duplicated = compare(seen, a.records)
        emit({"bench": "kafka_exactly_once", "records": a.records, "parallelism": a.parallelism,
              "interval_ms": a.interval_ms, "kills": len(killed), "restarts": status["restarts"],
              "job_s": round(job_s, 2), "events_per_s": round(a.records / job_s),
              "ray_start_s": round(ray_s, 2), "peak_rss_mb": sampler.peak_mb,
              "output_records": len(seen), "missing": sum(missing.values()),
              "duplicated": sum(duplicated.values()),
              "exactly_once": not missing and not duplicated})


if __name__ == "__main__":
    main()
