"""The e-commerce system's SLAs under load: the generator writes clicks and purchases through a tansu
Kafka broker at a paced rate while both apps run at parallelism 2; reported: the rate written and
consumed, consumer lag over time, per-metric latency (event -> result in its sink) against the SLAs
(revenue < 2 min after the window closes, fraud < 10 s, conversion < 5 min), peak RSS, correctness.

    python bench/ecommerce_sla.py [--duration 300] [--clicks-per-second 100000] [--purchases-per-second 10000]

Latency is measured from the wall time at which the writer wrote the event-time second that closes
a window (or holds a fraud match's last purchase) to the wall time the result is readable: a
committed Delta row (revenue, conversion; polled every second) or a committed Kafka alert (read
committed, consumed continuously). Product versions come from the in-process generator (paced at
the same speed), not MariaDB, to keep the bench to one service. The writer is one Python process:
when it cannot keep the pace, the rate written (reported) is what the apps received.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
import time

from harness import Opt, emit, parse_args, percentiles, rss_sampler, start_ray  # noqa: E402

from rayflink.testing.services import running_tansu  # noqa: E402

SLA_S = {"revenue": 120.0, "fraud": 10.0, "conversion": 300.0}


def main() -> None:
    args = parse_args(__doc__, duration=Opt(300, help="seconds of load (event time runs at wall speed)"),
                      clicks_per_second=Opt(100_000, type=float), purchases_per_second=Opt(10_000, type=float),
                      parallelism=2, drain=Opt(150, help="seconds to wait for the last results"),
                      fraud_bursts_per_hour=Opt(600, type=float))

    from confluent_kafka import Consumer, TopicPartition

    from rayflink.apps.ecommerce import fraud, oracle, revenue
    from rayflink.apps.ecommerce.__main__ import read_table
    from rayflink.apps.ecommerce.config import AppConfig
    from rayflink.apps.ecommerce.generate import write
    from rayflink.common.configuration import Configuration
    from rayflink.datastream import StreamExecutionEnvironment

    work = tempfile.mkdtemp(prefix="rayflink-ecommerce-sla-")
    rss = rss_sampler()
    with running_tansu() as broker:
        for topic in ("clicks", "purchases"):
            broker.create_topic(topic, partitions=args.parallelism)
        broker.create_topic("fraud-alerts", partitions=1)
        options = {
            "parallelism.default": args.parallelism, "execution.checkpointing.interval": "2 s",
            "execution.checkpointing.dir": f"file://{work}/checkpoints",
            "ecommerce.source": "kafka", "ecommerce.kafka.bootstrap-servers": broker.bootstrap_servers,
            "ecommerce.kafka.group-id": "sla", "ecommerce.sink.kafka-alerts": "true",
            "ecommerce.sink.print": "false", "ecommerce.sink.delta-path": f"{work}/delta",
            "ecommerce.sink.dashboard-path": f"{work}/dashboard", "ecommerce.idleness": "30 s",
            "ecommerce.day": "10 min", "ecommerce.generator.duration": f"{args.duration} s",
            "ecommerce.generator.clicks-per-second": args.clicks_per_second,
            "ecommerce.generator.purchases-per-second": args.purchases_per_second,
            "ecommerce.generator.users": max(100_000, int(args.purchases_per_second * 100)),
            "ecommerce.generator.fraud-bursts-per-hour": args.fraud_bursts_per_hour,
            "ecommerce.generator.ticks-per-second": 1,
        }
        conf = Configuration(options)
        cfg = AppConfig.from_options(conf.to_dict())
        ray_s = start_ray()
        clients = []
        for app in (revenue, fraud):  # a consumer group per app: its committed offsets give its lag
            env = StreamExecutionEnvironment.get_execution_environment(conf)
            app.job(env, dataclasses.replace(cfg, group_id=f"sla-{app.__name__.rsplit('.', 1)[1]}"))
            clients.append(env.execute_async(app.JOB_NAME))
        time.sleep(5)  # both jobs deployed: the fraud app's product generator starts with the writer
        written_at: dict[int, float] = {}
        large: list[dict] = []
        stop = threading.Event()

        def on_tick(s: int, events: list) -> None:
            written_at[s] = time.time()
            large.extend(e for e in events if e["type"] == "purchase" and e["amount"] > cfg.fraud_threshold)

        result: dict = {}

        def writer() -> None:
            producer = broker.producer(**{"linger.ms": 20, "queue.buffering.max.messages": 1_000_000,
                                          "enable.idempotence": True,
                                          "compression.type": "lz4"})
            result["truth"], result["stats"] = write(cfg.generator, producer, "clicks", "purchases", None,
                                                     ticks_per_second=1.0, on_tick=on_tick)

        seen: dict[str, dict] = {"revenue": {}, "conversion": {}, "fraud": {}}
        lag: list[tuple[float, int]] = []
        started = time.time()
        w = threading.Thread(target=writer)
        w.start()

        def alerts() -> None:
            consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "sla-reader",
                                 "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
            consumer.subscribe(["fraud-alerts"])
            while not stop.is_set():
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    a = json.loads(msg.value())
                    seen["fraud"].setdefault(a["alert_id"], (time.time(), a))
            consumer.close()

        threading.Thread(target=alerts, daemon=True).start()
        probes = {group: Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
                  for group in ("sla-revenue", "sla-fraud")}
        deadline = started + args.duration + args.drain
        while time.time() < deadline:
            now = time.time()
            for metric, table in (("revenue", "revenue_per_region"), ("conversion", "conversion")):
                try:
                    for r in read_table(cfg, table):
                        seen[metric].setdefault((r["region"], r["window_start"]), (now, r))
                except Exception:  # noqa: BLE001 - no commit yet
                    pass
            total = 0
            for group, topics in (("sla-revenue", ("clicks", "purchases")), ("sla-fraud", ("purchases",))):
                probe = probes[group]
                tps = [TopicPartition(topic, p) for topic in topics for p in range(args.parallelism)]
                for tp, committed in zip(tps, probe.committed(tps, timeout=5)):
                    high = probe.get_watermark_offsets(tp, timeout=5)[1]
                    total += high - max(committed.offset, 0)
            lag.append((round(now - started, 1), total))  # records written, not yet in a checkpoint
            if not w.is_alive() and total == 0 and now > started + args.duration + 10:
                break
            time.sleep(1.0)
        w.join()
        stop.set()
        for c in clients:
            c.cancel()
    rss.stop()

    truth, stats = result["truth"], result["stats"]
    start_ms = cfg.generator.start_ms

    def wall_of(event_ms: int) -> float | None:
        return written_at.get((event_ms - start_ms) // 1000)

    latency: dict[str, list[float]] = {}
    for metric in ("revenue", "conversion"):
        latency[metric] = [t - wall_of(r["window_end"]) for t, r in seen[metric].values()
                           if wall_of(r["window_end"]) is not None]
    latency["fraud"] = [t - wall_of(a["last_ts"]) for t, a in seen["fraud"].values() if wall_of(a["last_ts"])]
    last_ms = start_ms + (max(written_at) + 1) * 1000 if written_at else start_ms
    closed = {k: c for k, c in truth.revenue_cents.items() if k[1] + 60_000 <= last_ms - 60_000}
    got = {k: r["revenue_cents"] for k, (_, r) in seen["revenue"].items() if k in closed}
    expected_fraud = oracle.fraud(large, cfg.fraud_threshold, cfg.fraud_count, cfg.fraud_within_ms)
    by_id = {p["purchase_id"]: p for p in large}
    expected_fraud = [m for m in expected_fraud if max(by_id[p]["ts"] for p in m[1]) < last_ms - 30_000]
    alerted = sorted((a["user_id"], tuple(a["purchase_ids"])) for _, a in seen["fraud"].values()
                     if a["last_ts"] < last_ms - 30_000)
    events = stats.clicks + stats.purchases
    out = {
        "bench": "ecommerce_sla", "parallelism": args.parallelism, "duration_s": args.duration,
        "target_events_per_s": args.clicks_per_second + args.purchases_per_second,
        "written_events_per_s": round(events / max(stats.seconds, 1e-9)),
        "writer_behind_pace_s_max": max((b for _, b in stats.behind_s), default=0.0),
        "clicks": stats.clicks, "purchases": stats.purchases, "ray_start_s": round(ray_s, 1),
        "lag_every_10s": [x for x in lag if int(x[0]) % 10 == 0][:60],
        "latency_s": {m: {**percentiles(v), "n": len(v), "sla_s": SLA_S[m],
                          "within_sla": sum(x <= SLA_S[m] for x in v)} for m, v in latency.items()},
        "peak_rss_mb": round(rss.peak_mb), "revenue_windows_equal": f"{sum(got.get(k) == c for k, c in closed.items())}"
                                                                   f"/{len(closed)}",
        "fraud_alerts_equal_rule": alerted == expected_fraud, "fraud_alerts": len(alerted),
        "fraud_expected": len(expected_fraud), "injected_bursts": len(truth.fraud_bursts),
        "note": "other helpers share the 2 cores",
    }
    emit(out)


if __name__ == "__main__":
    main()
