"""The ``fraud`` app: purchases enriched with the product version valid at purchase time, and fraud alerts.

    python -m rayflink.apps.ecommerce.fraud [--conf fraud.yaml] [-D key=value ...]
    rayflink run apps/ecommerce/fraud.py --conf apps/ecommerce/conf/fraud.yaml

Purchases come from the in-process generator or Kafka (``ecommerce.source``), product versions from
the generator or the ``products`` table through CDC (``ecommerce.products.source``). Enriched
purchases and alerts go to Delta Lake; alerts also to Kafka (exactly once, when
``ecommerce.sink.kafka-alerts`` is on), the dashboard, and the terminal.
"""

from __future__ import annotations

from rayflink.apps.ecommerce.config import AppConfig, app_main
from rayflink.apps.ecommerce.fraud_pattern import fraud_alerts
from rayflink.apps.ecommerce.sinks import alerts_to_kafka, printed, to_dashboard, to_delta
from rayflink.apps.ecommerce.streams import inputs
from rayflink.apps.ecommerce.temporal_join import enrich_purchases
from rayflink.datastream import DataStream, StreamExecutionEnvironment

JOB_NAME = "ecommerce-fraud"


def metrics(env: StreamExecutionEnvironment, cfg: AppConfig) -> dict[str, DataStream]:
    """The app's result streams: ``enriched`` purchases and fraud ``alerts``."""
    events = inputs(env, cfg, ("purchase", "product"))
    enriched = enrich_purchases(events["purchase"], events["product"])
    return {"enriched": enriched,
            "alerts": fraud_alerts(enriched, cfg.fraud_threshold, cfg.fraud_count, cfg.fraud_within_ms)}


def job(env: StreamExecutionEnvironment, cfg: AppConfig) -> dict[str, DataStream]:
    """The whole app on ``env``: the metrics and their sinks."""
    streams = metrics(env, cfg)
    to_delta(streams["enriched"], cfg, "purchases_enriched")
    to_delta(streams["alerts"], cfg, "fraud_alerts")
    if cfg.kafka_alerts:
        alerts_to_kafka(streams["alerts"], cfg)
    to_dashboard(streams["alerts"], cfg, "alerts", "fraud")
    printed(streams["alerts"], cfg, "fraud")
    return streams


main = app_main(job, JOB_NAME, __doc__)


if __name__ == "__main__":  # no sys.exit: under `rayflink run` this module is the job script
    main()
