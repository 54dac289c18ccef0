"""Where the apps' results go: Delta Lake (every metric), Kafka (fraud alerts), the dashboard (Redis or files).

The dashboard layout, shared by the writers here and the readers in ``dashboard.py``:

- Redis (``ecommerce.sink.redis-url`` set): ``dashboard:revenue:{region}:{window_start}`` and
  ``dashboard:conversion:{region}:{window_start}`` are JSON strings, ``dashboard:alerts`` a sorted
  set of alert JSON scored by event time (``dashboard`` is ``ecommerce.dashboard.key-prefix``);
  every key expires after ``ecommerce.dashboard.ttl`` (5 minutes), so Redis holds the last
  minutes' metrics. Values are deterministic, so a replay after a failure writes the same values
  again and the dashboard converges.
- Files (no Redis): ``{dashboard-path}/{metric}-{app}-{subtask}.json``, each subtask's rows of the last
  5 minutes of event time (alerts: the last 50), replaced atomically at every checkpoint, at the
  end of input and at most once a second while rows arrive.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pyarrow as pa

from rayflink.apps.ecommerce.config import AppConfig
from rayflink.common import Duration
from rayflink.datastream import DataStream
from rayflink.datastream.connectors.base import Sink, SinkWriter

ALERTS_KEPT = 50
_FLUSH_INTERVAL_S = 1.0

TABLES: dict[str, pa.Schema] = {
    "revenue_per_region": pa.schema([("region", pa.string()), ("window_start", pa.int64()),
                                     ("window_end", pa.int64()), ("revenue", pa.float64()),
                                     ("revenue_cents", pa.int64()), ("orders", pa.int64())]),
    "conversion": pa.schema([("region", pa.string()), ("window_start", pa.int64()), ("window_end", pa.int64()),
                             ("clicks", pa.int64()), ("purchases", pa.int64()), ("converted", pa.int64()),
                             ("conversion_rate", pa.float64())]),
    "revenue_dips": pa.schema([("kind", pa.string()), ("region", pa.string()), ("window_start", pa.int64()),
                               ("revenue", pa.float64()), ("previous_revenue", pa.float64()), ("drop", pa.float64())]),
    "fraud_alerts": pa.schema([("kind", pa.string()), ("alert_id", pa.string()), ("user_id", pa.int64()),
                               ("region", pa.string()), ("purchase_ids", pa.list_(pa.string())),
                               ("amounts", pa.list_(pa.float64())), ("categories", pa.list_(pa.string())),
                               ("total", pa.float64()), ("first_ts", pa.int64()), ("last_ts", pa.int64())]),
    "purchases_enriched": pa.schema([("purchase_id", pa.string()), ("user_id", pa.int64()),
                                     ("product_id", pa.int64()), ("quantity", pa.int64()), ("amount", pa.float64()),
                                     ("region", pa.string()), ("ts", pa.int64()), ("product_name", pa.string()),
                                     ("category", pa.string()), ("list_price", pa.float64()),
                                     ("product_version", pa.int64())]),
}


def to_delta(stream: DataStream, cfg: AppConfig, table: str) -> None:
    """Append ``stream``'s rows to the Delta table ``{delta-path}/{table}`` (exactly once with checkpoints)."""
    from rayflink.connectors.delta import DeltaSink

    path = cfg.delta_path.rstrip("/") + "/" + table
    stream.sink_to(DeltaSink.builder(path).set_schema(TABLES[table]).build()).name(f"delta {table}") \
        .uid(f"delta-{table.replace('_', '-')}")


def alerts_to_kafka(alerts: DataStream, cfg: AppConfig) -> None:
    """Fraud alerts as JSON to ``ecommerce.kafka.alerts-topic``, keyed by user, exactly once."""
    from rayflink.common.serialization import JsonRowSerializationSchema
    from rayflink.connectors.kafka import DeliveryGuarantee, KafkaRecordSerializationSchema, KafkaSink

    serializer = (KafkaRecordSerializationSchema.builder().set_topic(cfg.alerts_topic)
                  .set_value_serialization_schema(JsonRowSerializationSchema.builder().build()).build())
    sink = (KafkaSink.builder().set_bootstrap_servers(cfg.kafka_servers).set_record_serializer(serializer)
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(f"{cfg.group_id}-fraud-alerts").build())
    alerts.sink_to(sink).name("kafka fraud alerts").uid("kafka-fraud-alerts")


def _alert_member(alert: dict) -> dict:
    return {"member": json.dumps(alert, sort_keys=True), "score": alert.get("last_ts", alert.get("window_start"))}


def to_dashboard(stream: DataStream, cfg: AppConfig, metric: str, app: str) -> None:
    """``metric`` is ``revenue``, ``conversion`` (rows per region and window) or ``alerts``; ``app``
    names the writer (``revenue``, ``fraud``), so that both apps' alerts have files of their own."""
    if metric not in ("revenue", "conversion", "alerts"):
        raise ValueError(f"to_dashboard: metric {metric!r} is not revenue, conversion or alerts")
    uid = f"dashboard-{metric}-{app}"
    if cfg.redis_url:
        from rayflink.connectors.redis import RedisSink

        builder = RedisSink.builder(cfg.redis_url).with_ttl(Duration.of_millis(cfg.dashboard_ttl_ms))
        if metric == "alerts":
            stream = stream.map(_alert_member).name("alert as member").uid(f"{uid}-member")
            builder = builder.sorted_set(f"{cfg.dashboard_prefix}:alerts", "member", "score")
        else:
            builder = builder.string(f"{cfg.dashboard_prefix}:{metric}:{{region}}:{{window_start}}")
        stream.add_sink(builder.build()).name(f"redis {metric}").uid(uid)
    else:
        stream.sink_to(LocalDashboardSink(cfg.dashboard_path, metric, app, cfg.dashboard_ttl_ms)) \
            .name(f"dashboard file {metric}").uid(uid)


class LocalDashboardSink(Sink):
    """The dashboard without Redis: JSON files in a folder (see the module docstring)."""

    def __init__(self, path: str, metric: str, app: str, keep_ms: int) -> None:
        self.path = path
        self.metric = metric
        self.app = app
        self.keep_ms = keep_ms

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return _LocalDashboardWriter(self, subtask_index)


class _LocalDashboardWriter(SinkWriter):
    def __init__(self, sink: LocalDashboardSink, subtask_index: int) -> None:
        self.sink = sink
        os.makedirs(sink.path, exist_ok=True)
        self.file = os.path.join(sink.path, f"{sink.metric}-{sink.app}-{subtask_index}.json")
        self.rows: dict[Any, dict] = {}
        self.written = 0.0

    def write(self, records: list, timestamps: list | None) -> None:
        for row in records:
            if self.sink.metric == "alerts":
                self.rows[json.dumps(row, sort_keys=True)] = row
            else:
                self.rows[(row["region"], row["window_start"])] = row
        if time.monotonic() - self.written > _FLUSH_INTERVAL_S:
            self.flush(False)

    def flush(self, end_of_input: bool) -> None:
        if self.sink.metric == "alerts":
            kept = sorted(self.rows.items(), key=lambda kv: _alert_time(kv[1]))[-ALERTS_KEPT:]
        else:
            newest = max((r["window_start"] for r in self.rows.values()), default=0)
            kept = [(k, r) for k, r in self.rows.items() if r["window_start"] > newest - self.sink.keep_ms]
        self.rows = dict(kept)
        tmp = f"{self.file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"metric": self.sink.metric, "rows": [r for _, r in kept]}, f)
        os.replace(tmp, self.file)
        self.written = time.monotonic()


def _alert_time(alert: dict) -> int:
    return alert.get("last_ts", alert.get("window_start", 0))


def printed(stream: DataStream, cfg: AppConfig, what: str) -> None:
    """Print ``stream`` (``subtask> row``) when ``ecommerce.sink.print`` is on."""
    if cfg.print_results:
        stream.print(what)
