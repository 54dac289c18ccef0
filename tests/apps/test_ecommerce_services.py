"""Both apps against the services, exactly once across executor kills.

Given the tansu Kafka broker (topics ``clicks``/``purchases``), the session's MariaDB with the binlog
on (the ``products`` table, read through CDC) and the machine's Redis, the revenue and fraud apps
run with checkpoints while the generator writes a run and ``chaos`` kills task executors after
checkpoints. Then: the fraud alerts in Kafka (read committed) and the rows of every Delta table
each appear once and equal the ground truth and the brute-force answers, the Redis dashboard holds
exactly the expected values, and purchases carry the product version valid at their time.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
import redis

from rayflink.apps.ecommerce import fraud, oracle, revenue
from rayflink.apps.ecommerce.__main__ import read_table
from rayflink.apps.ecommerce.config import AppConfig
from rayflink.apps.ecommerce.generate import EventGenerator, write
from rayflink.common.configuration import Configuration
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.testing.exactly_once import chaos, completed_checkpoints
from rayflink.testing.services import unique_name, wait_until

pytestmark = pytest.mark.integration  # every test here runs jobs on Ray

REDIS_URL = "redis://127.0.0.1:6379/0"
MINUTES = 14  # of event time, over a 5-minute day
TAIL_S = 90  # written after the compared run, so that its last windows close


def _config(tmp_path, broker, db, prefix: str) -> tuple[Configuration, AppConfig]:
    options = {
        "parallelism.default": 2, "execution.checkpointing.interval": "1 s",
        "execution.checkpointing.dir": f"file://{tmp_path}/checkpoints",
        "restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": 20,
        "restart-strategy.fixed-delay.delay": "100 ms",
        "ecommerce.source": "kafka", "ecommerce.products.source": "mysql-cdc",
        "ecommerce.kafka.bootstrap-servers": broker.bootstrap_servers,
        "ecommerce.kafka.clicks-topic": f"{prefix}-clicks", "ecommerce.kafka.purchases-topic": f"{prefix}-purchases",
        "ecommerce.kafka.alerts-topic": f"{prefix}-alerts", "ecommerce.kafka.group-id": prefix,
        "ecommerce.mysql.hostname": db.host, "ecommerce.mysql.port": db.port, "ecommerce.mysql.database": "shop",
        "ecommerce.sink.delta-path": f"{tmp_path}/delta", "ecommerce.sink.redis-url": REDIS_URL,
        "ecommerce.sink.kafka-alerts": "true", "ecommerce.sink.print": "false",
        "ecommerce.dashboard.key-prefix": prefix, "ecommerce.dashboard.ttl": "10 min",
        "ecommerce.day": "5 min", "ecommerce.idleness": "30 s",  # no split idles while the writer runs
        "ecommerce.generator.duration": f"{MINUTES * 60 + TAIL_S} s",
        "ecommerce.generator.clicks-per-second": 40, "ecommerce.generator.purchases-per-second": 15,
        "ecommerce.generator.fraud-bursts-per-hour": 15, "ecommerce.generator.price-lead-ms": 240_000,
        "ecommerce.generator.product-updates-per-minute": 6,
    }
    conf = Configuration(options)
    return conf, AppConfig.from_options(conf.to_dict())


def test_both_apps_on_the_services(tmp_path, kafka_broker, mariadb_binlog):
    run_on_services(tmp_path, kafka_broker, mariadb_binlog, kills=0)


def test_both_apps_on_the_services_exactly_once_across_executor_kills(tmp_path, kafka_broker, mariadb_binlog):
    run_on_services(tmp_path, kafka_broker, mariadb_binlog, kills=3)


def cdc_streaming(client) -> bool:
    """Whether the products CDC source of ``client``'s job has read its snapshot and reads the binlog."""
    return any(sub["operators"].get("products-cdc", {}).get("is_stream_reading") == 1
               for v in client.get_metrics()["vertices"] for sub in v["subtasks"])


def run_on_services(tmp_path, kafka_broker, mariadb_binlog, kills: int) -> None:
    """Both apps on the services while ``chaos`` kills ``kills`` executors; every result checked."""
    prefix = unique_name("shop")
    conf, cfg = _config(tmp_path, kafka_broker, mariadb_binlog, prefix)
    for topic in (cfg.clicks_topic, cfg.purchases_topic):
        kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.create_topic(cfg.alerts_topic, partitions=1)
    conn = mariadb_binlog.connect("shop")
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS products")
    gen = EventGenerator(cfg.generator)
    from rayflink.apps.ecommerce.generate import write_products_table

    write_products_table(conn, gen.initial_products())  # the catalog the CDC snapshot reads
    # when both apps run with checkpoints every second,
    clients = []
    for app in (revenue, fraud):
        env = StreamExecutionEnvironment.get_execution_environment(conf)
        app.job(env, cfg)
        clients.append(env.execute_async(app.JOB_NAME))
    # (the fraud app's CDC source has read the catalog, and a checkpoint taken since holds it: a
    # restore in the middle of the catalog would read the rest as the generator has changed it,
    # without the versions before, as Flink CDC would; the second checkpoint after the switch to the
    # binlog was triggered after it)
    wait_until(lambda: cdc_streaming(clients[1]), timeout=120, what="the fraud app's CDC source to read the binlog")
    taken = completed_checkpoints(clients[1])
    wait_until(lambda: completed_checkpoints(clients[1]) > taken + 1, timeout=120,
               what="a checkpoint after the catalog")
    # and the generator writes the run (a minute of event time per 2 s) while executors are killed,
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.extend(chaos(clients[0], kills, stop, seed=17)))
    killer.start()
    producer = kafka_broker.producer(**{"linger.ms": 5, "enable.idempotence": True})  # no duplicate on a retry
    truth, stats = write(cfg.generator, producer, cfg.clicks_topic,
                         cfg.purchases_topic, conn, ticks_per_second=30)
    cutoff = cfg.generator.start_ms + MINUTES * 60_000  # windows and matches before it are complete
    expected_revenue = {k: c for k, c in truth.revenue_cents.items() if k[1] < cutoff}
    clicks, purchases = oracle.events_of(cfg.generator)
    by_id = {p["purchase_id"]: p for p in purchases}
    expected_fraud = [m for m in oracle.fraud(purchases, cfg.fraud_threshold, cfg.fraud_count, cfg.fraud_within_ms)
                      if max(by_id[p]["ts"] for p in m[1]) < cutoff]

    def revenue_rows() -> list:
        try:
            return [r for r in read_table(cfg, "revenue_per_region") if r["window_start"] < cutoff]
        except Exception:  # noqa: BLE001 - the table is not created yet
            return []

    def fraud_rows() -> list:
        try:
            return [r for r in read_table(cfg, "fraud_alerts") if r["last_ts"] < cutoff]
        except Exception:  # noqa: BLE001
            return []

    expected_conversion = {k: v for k, v in oracle.conversion(clicks, purchases, cfg.conversion_within_ms).items()
                           if k[1] < cutoff}

    def conversion_rows() -> list:
        try:
            return [r for r in read_table(cfg, "conversion") if r["window_start"] < cutoff]
        except Exception:  # noqa: BLE001 - the table is not created yet
            return []

    def progress() -> bool:  # every app's results before the cutoff are in (the conversion windows lag most)
        windows, matches = len({(r["region"], r["window_start"]) for r in revenue_rows()}), len(fraud_rows())
        converted = len({(r["region"], r["window_start"]) for r in conversion_rows()})
        return windows >= len(expected_revenue) and matches >= len(expected_fraud) and \
            converted >= len(expected_conversion)

    try:
        wait_until(progress, timeout=600, what="the apps' results in Delta")
    finally:
        stop.set()
        killer.join()
    # then the topics hold each event once (what the ground truth counts),
    assert len(kafka_broker.consume_all(cfg.purchases_topic)) == stats.purchases
    # every Delta row is there once and equal to the ground truth,
    rows = revenue_rows()
    assert Counter((r["region"], r["window_start"]) for r in rows).most_common(1)[0][1] == 1
    assert {(r["region"], r["window_start"]): r["revenue_cents"] for r in rows} == expected_revenue
    alerts = fraud_rows()
    assert sorted((a["user_id"], tuple(a["purchase_ids"])) for a in alerts) == expected_fraud
    assert expected_fraud and all(b["last_ts"] >= cutoff or tuple(b["purchase_ids"]) in
                                  {tuple(a["purchase_ids"]) for a in alerts} for b in truth.fraud_bursts)
    conv = {(r["region"], r["window_start"]): (r["clicks"], r["purchases"], r["converted"])
            for r in conversion_rows()}
    assert conv == expected_conversion
    # the Kafka alerts appear once each (read committed),
    def committed_alerts() -> list:
        records = kafka_broker.consume_all(cfg.alerts_topic, isolation_level="read_committed")
        return [json.loads(r.value) for r in records]
    wait_until(lambda: len([a for a in committed_alerts() if a["last_ts"] < cutoff]) >= len(expected_fraud),
               timeout=120, what="the fraud alerts in Kafka")
    in_kafka = [a for a in committed_alerts() if a["last_ts"] < cutoff]
    assert sorted((a["user_id"], tuple(a["purchase_ids"])) for a in in_kafka) == expected_fraud
    # purchases carry the product version valid at their time (through CDC),
    enriched = [p for p in read_table(cfg, "purchases_enriched") if p["ts"] < cutoff]
    assert Counter(p["purchase_id"] for p in enriched).most_common(1)[0][1] == 1
    for p in enriched:
        assert (p["product_version"], p["list_price"]) == gen_version(cfg, p), p
    # and the Redis dashboard holds exactly the expected revenue values.
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        for (region, start), cents in expected_revenue.items():
            value = client.get(f"{prefix}:revenue:{region}:{start}")
            assert value is not None and json.loads(value)["revenue_cents"] == cents
        members = client.zrange(f"{prefix}:alerts", 0, -1)
        fraud_members = [json.loads(m) for m in members if json.loads(m)["kind"] == "fraud"]
        assert sorted((a["user_id"], tuple(a["purchase_ids"])) for a in fraud_members
                      if a["last_ts"] < cutoff) == expected_fraud
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        for c in clients:
            c.cancel()
    assert bool(killed) == bool(kills), f"{len(killed)} of {kills} executors killed: the run ended first"
    assert stats.purchases == len(purchases)


_VERSIONS: dict = {}


def gen_version(cfg: AppConfig, purchase: dict) -> tuple:
    if "gen" not in _VERSIONS:
        gen = EventGenerator(cfg.generator, ("purchase",))
        for _ in gen.ticks():
            pass
        _VERSIONS["gen"] = gen
    price, version = _VERSIONS["gen"].version_at(purchase["product_id"], purchase["ts"])
    return version, price
