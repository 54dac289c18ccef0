"""The ``revenue`` app: revenue per region per minute, click -> purchase conversion, revenue dip alerts.

    python -m rayflink.apps.ecommerce.revenue [--conf revenue.yaml] [-D key=value ...]
    rayflink run apps/ecommerce/revenue.py --conf apps/ecommerce/conf/revenue.yaml

Clicks and purchases come from the in-process generator or Kafka (``ecommerce.source``); every
metric goes to Delta Lake, the dashboard (Redis or local files) gets the current values, and dip
alerts are printed.
"""

from __future__ import annotations

from rayflink.apps.ecommerce.config import AppConfig, app_main
from rayflink.apps.ecommerce.conversion import conversion
from rayflink.apps.ecommerce.dips import revenue_dips
from rayflink.apps.ecommerce.revenue_per_region import revenue_per_region
from rayflink.apps.ecommerce.sinks import printed, to_dashboard, to_delta
from rayflink.apps.ecommerce.streams import inputs
from rayflink.datastream import DataStream, StreamExecutionEnvironment

JOB_NAME = "ecommerce-revenue"


def metrics(env: StreamExecutionEnvironment, cfg: AppConfig) -> dict[str, DataStream]:
    """The app's result streams: ``revenue``, ``conversion`` and ``dips``."""
    events = inputs(env, cfg, ("click", "purchase"))
    revenue = revenue_per_region(events["purchase"], cfg.window_ms)
    return {"revenue": revenue,
            "conversion": conversion(events["click"], events["purchase"], cfg.window_ms, cfg.conversion_within_ms),
            "dips": revenue_dips(revenue, cfg.day_ms, cfg.dip_threshold)}


def job(env: StreamExecutionEnvironment, cfg: AppConfig) -> dict[str, DataStream]:
    """The whole app on ``env``: the metrics and their sinks."""
    streams = metrics(env, cfg)
    to_delta(streams["revenue"], cfg, "revenue_per_region")
    to_delta(streams["conversion"], cfg, "conversion")
    to_delta(streams["dips"], cfg, "revenue_dips")
    to_dashboard(streams["revenue"], cfg, "revenue", "revenue")
    to_dashboard(streams["conversion"], cfg, "conversion", "revenue")
    to_dashboard(streams["dips"], cfg, "alerts", "revenue")
    printed(streams["dips"], cfg, "revenue dip")
    return streams


main = app_main(job, JOB_NAME, __doc__)


if __name__ == "__main__":  # no sys.exit: under `rayflink run` this module is the job script
    main()
