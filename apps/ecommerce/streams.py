"""The apps' input streams: clicks, purchases and product versions, from the generator, Kafka or CDC."""

from __future__ import annotations

from typing import Any

from rayflink.apps.ecommerce.config import AppConfig
from rayflink.apps.ecommerce.generate import GeneratorSource
from rayflink.common import Duration, WatermarkStrategy
from rayflink.common.serialization import JsonRowDeserializationSchema
from rayflink.datastream import DataStream, StreamExecutionEnvironment


def event_time(cfg: AppConfig, timestamp: Any = None) -> WatermarkStrategy:
    """Timestamps from the ``ts`` field (or ``timestamp(record)``); watermarks ``out-of-orderness``
    behind; a split without records for ``idleness`` stops holding the watermark back."""
    assigner = (lambda e, _ts: e["ts"]) if timestamp is None else (lambda e, _ts: timestamp(e))
    return (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(cfg.out_of_orderness_ms))
            .with_timestamp_assigner(assigner).with_idleness(Duration.of_millis(cfg.idleness_ms)))


def _is(kind: str):
    return lambda e: e["type"] == kind


def inputs(env: StreamExecutionEnvironment, cfg: AppConfig, kinds: tuple[str, ...]) -> dict[str, DataStream]:
    """The streams the app needs, by kind (``click``, ``purchase``, ``product``)."""
    out: dict[str, DataStream] = {}
    generated = [k for k in kinds if k in ("click", "purchase") and cfg.source == "generator"]
    if "product" in kinds and cfg.products_source == "generator":
        generated.append("product")
    if generated:
        source = GeneratorSource(cfg.generator, tuple(generated), cfg.ticks_per_second)
        events = env.from_source(source, event_time(cfg), "generator").uid("generator")
        for kind in generated:
            out[kind] = events.filter(_is(kind)).name(f"{kind}s").uid(f"{kind}s")
        if "product" in out:
            out["product"] = out["product"].map(lambda e: e["after"]).name("product versions").uid("product-versions")
    for kind in ("click", "purchase"):
        if kind in kinds and kind not in out:
            out[kind] = _kafka(env, cfg, cfg.clicks_topic if kind == "click" else cfg.purchases_topic, kind)
    if "product" in kinds and "product" not in out:
        out["product"] = _products_cdc(env, cfg)
    return out


def _kafka(env: StreamExecutionEnvironment, cfg: AppConfig, topic: str, kind: str) -> DataStream:
    from rayflink.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    starting = (KafkaOffsetsInitializer.earliest() if cfg.starting_offsets == "earliest"
                else KafkaOffsetsInitializer.latest())
    source = (KafkaSource.builder().set_bootstrap_servers(cfg.kafka_servers).set_topics(topic)
              .set_group_id(cfg.group_id).set_starting_offsets(starting)
              .set_value_only_deserializer(JsonRowDeserializationSchema.builder().build()).build())
    return env.from_source(source, event_time(cfg), f"kafka {topic}").uid(f"kafka-{kind}s")


def product_version(change: dict) -> dict | None:
    """The product row a CDC change makes valid (None for a delete: a deleted product keeps its last version)."""
    after = change.get("after")
    if change.get("op") == "d" or after is None:
        return None
    return {"product_id": int(after["product_id"]), "name": after["name"], "category": after["category"],
            "price": float(after["price"]), "version": int(after["version"]), "valid_from": int(after["valid_from"]),
            "updated_at": int(after["updated_at"])}


def _products_cdc(env: StreamExecutionEnvironment, cfg: AppConfig) -> DataStream:
    from rayflink.connectors.mysql_cdc import MySqlSource

    source = (MySqlSource.builder().hostname(cfg.mysql_host).port(cfg.mysql_port)
              .database_list(cfg.mysql_database).table_list(f"{cfg.mysql_database}.products")
              .username(cfg.mysql_user).password(cfg.mysql_password or "").build())
    # watermarks at the source, where idleness is detected: product updates are sporadic
    changes = env.from_source(source, event_time(cfg, _changed_at), "products cdc").uid("products-cdc")
    return (changes.map(product_version).name("product versions").uid("product-versions")
            .filter(lambda row: row is not None).name("upserts").uid("product-upserts"))


def _changed_at(change: dict) -> int:
    return int((change.get("after") or change["before"])["updated_at"])
