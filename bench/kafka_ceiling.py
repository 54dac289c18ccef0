"""Bare confluent-kafka produce and consume ceilings against a local tansu broker.

Run:  python bench/kafka_ceiling.py [--messages 200000] [--storage-engine memory://tansu/]

Starts tansu (via ``tests/services.py``), produces N small JSON messages to a
4-partition topic, then reads them all back with fresh ``assign``-ed consumers
under several settings and prints the best of ``--repeat`` runs in messages/s, each
run's rate and its longest gap between two ``consume`` calls (a fetch stall). Results: bench/KAFKA.md.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from rayflink.testing.services import running_tansu, unique_name

PARTITIONS = 4

# name -> (consumer settings, messages per consume() call; 1 means poll())
CONSUMER_SETTINGS: dict[str, tuple[dict[str, Any], int]] = {
    "defaults, poll()": ({}, 1),
    "defaults, consume(1000)": ({}, 1000),
    "defaults, consume(10000)": ({}, 10_000),
    "fetch.wait.max.ms=10 fetch.min.bytes=1, consume(10000)": (
        {"fetch.wait.max.ms": 10, "fetch.min.bytes": 1}, 10_000),
    "fetch.min.bytes=1MB fetch.wait.max.ms=100, consume(10000)": (
        {"fetch.min.bytes": 1 << 20, "fetch.wait.max.ms": 100}, 10_000),
    "max.partition.fetch.bytes=8MB fetch.max.bytes=64MB, consume(10000)": (
        {"max.partition.fetch.bytes": 8 << 20, "fetch.max.bytes": 64 << 20}, 10_000),
    "queued.min.messages=1M + 8MB partition fetch, consume(10000)": (
        {"queued.min.messages": 1_000_000, "max.partition.fetch.bytes": 8 << 20,
         "fetch.max.bytes": 64 << 20}, 10_000),
    "fetch.queue.backoff.ms=10, consume(10000)": ({"fetch.queue.backoff.ms": 10}, 10_000),
    "fetch.queue.backoff.ms=10 queued.min.messages=1M, consume(10000)": (
        {"fetch.queue.backoff.ms": 10, "queued.min.messages": 1_000_000}, 10_000),
    "fetch.queue.backoff.ms=10, consume(1000)": ({"fetch.queue.backoff.ms": 10}, 1000),
    "max.partition.fetch.bytes=64KB, consume(10000)": (
        {"max.partition.fetch.bytes": 64 << 10}, 10_000),
}


def produce(bootstrap: str, topic: str, n: int) -> float:
    """Produce ``n`` JSON messages round-robin over the partitions; return msgs/s."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "batch.num.messages": 10_000, "queue.buffering.max.messages": 1_000_000})
    failed = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal failed
        failed += err is not None

    start = time.perf_counter()
    for i in range(n):
        value = json.dumps({"order_id": i, "user": f"u{i % 997}", "amount": i % 500 / 10}).encode()
        while True:
            try:
                producer.produce(topic, value, partition=i % PARTITIONS, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60) or failed:
        raise RuntimeError(f"produce: {failed} failed deliveries")
    return n / (time.perf_counter() - start)


def consume(bootstrap: str, topic: str, n: int, settings: dict[str, Any], batch: int) -> tuple[float, float]:
    """Read all ``n`` messages with a fresh assigned consumer; return (msgs/s, longest stall in s)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("bench"),
                         "enable.auto.commit": False, **settings})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = 0
    start = last = time.perf_counter()
    stall = 0.0
    deadline = start + 300
    while seen < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"consumed {seen}/{n} in 300 s with {settings}")
        msgs = [consumer.poll(1.0)] if batch == 1 else consumer.consume(batch, 1.0)
        now = time.perf_counter()
        if seen:  # the first fetch is connection set-up, not a stall
            stall = max(stall, now - last)
        last = now
        for m in msgs:
            if m is None:
                continue
            err = m.error()
            if err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(str(err))
            if err is None:
                seen += 1
    rate = n / (time.perf_counter() - start)
    consumer.close()
    return rate, stall


def group_join_seconds(bootstrap: str, topic: str, settings: dict[str, Any]) -> float:
    """Seconds from ``subscribe`` to the first record for a new consumer group."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("join"),
                         "auto.offset.reset": "earliest", **settings})
    consumer.subscribe([topic])
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < 120:
            if any(m.error() is None for m in consumer.consume(100, 0.1)):
                return time.perf_counter() - start
        return float("inf")
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--storage-engine", default="memory://tansu/")
    parser.add_argument("--repeat", type=int, default=3, help="consumer runs per setting; best is shown")
    parser.add_argument("--skip-group-join", action="store_true")
    args = parser.parse_args()
    n = args.messages
    with running_tansu(storage_engine=args.storage_engine) as broker:
        topic = broker.create_topic(unique_name("bench"), PARTITIONS)
        print(f"tansu {args.storage_engine} at {broker.bootstrap_servers}, {n} messages, "
              f"{PARTITIONS} partitions", flush=True)
        rate = produce(broker.bootstrap_servers, topic, n)
        print(f"{'produce (linger.ms=5, batch.num.messages=10000)':<72} {rate:>12,.0f} msgs/s", flush=True)
        for name, (settings, batch) in CONSUMER_SETTINGS.items():
            runs = [consume(broker.bootstrap_servers, topic, n, settings, batch) for _ in range(args.repeat)]
            spread = "/".join(f"{r / 1000:.0f}k" for r, _ in runs)
            stalls = "/".join(f"{s:.2f}" for _, s in runs)
            print(f"consume: {name:<63} {max(r for r, _ in runs):>12,.0f} msgs/s  "
                  f"(runs {spread}; longest stall s {stalls})", flush=True)
        if not args.skip_group_join:
            for settings in ({}, {"session.timeout.ms": 6000},
                             {"session.timeout.ms": 1000, "heartbeat.interval.ms": 300}):
                secs = group_join_seconds(broker.bootstrap_servers, topic, settings)
                shown = settings or "defaults (session.timeout.ms=45000)"
                print(f"subscribe() to first record, {shown}: {secs:.1f} s", flush=True)


if __name__ == "__main__":
    main()
