"""The whole e-commerce system on embedded defaults: no service to start.

    python -m rayflink.apps.ecommerce [--conf FILE] [-D key=value ...]

The generator runs in-process (30 minutes of event time over a 10-minute "day", so the dip alert
has previous days to compare with); the ``revenue`` and ``fraud`` apps run side by side on a local
Ray; Delta tables go to ``./ecommerce-output/delta``, the dashboard's values to
``./ecommerce-output/dashboard`` (serve them with ``python -m rayflink.apps.ecommerce.dashboard``);
alerts are printed as they come. At the end, the results are checked against the generator's
ground truth.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from rayflink.apps.ecommerce import fraud, revenue
from rayflink.apps.ecommerce.config import AppConfig, load
from rayflink.apps.ecommerce.generate import ground_truth
from rayflink.apps.ecommerce.sinks import TABLES
from rayflink.common.config_options import PARALLELISM_DEFAULT
from rayflink.datastream import StreamExecutionEnvironment

DEMO_OPTIONS = {"parallelism.default": 2, "ecommerce.day": "10 min", "ecommerce.generator.duration": "30 min"}


def clear_outputs(cfg: AppConfig) -> None:
    """Remove a previous run's tables and dashboard files (only those this system writes)."""
    for table in TABLES:
        shutil.rmtree(os.path.join(cfg.delta_path, table), ignore_errors=True)
    if os.path.isdir(cfg.dashboard_path):
        for name in os.listdir(cfg.dashboard_path):
            if name.endswith(".json") and name.split("-")[0] in ("revenue", "conversion", "alerts"):
                os.remove(os.path.join(cfg.dashboard_path, name))


def read_table(cfg: AppConfig, table: str) -> list[dict]:
    """Every row of one of the apps' Delta tables."""
    from deltalake import DeltaTable

    return DeltaTable(os.path.join(cfg.delta_path, table)).to_pyarrow_table().to_pylist()


def summary(cfg: AppConfig) -> list[str]:
    """The run's results from the Delta tables, checked against the generator's ground truth."""
    truth = ground_truth(cfg.generator)
    revenue_rows = read_table(cfg, "revenue_per_region")
    got = {(r["region"], r["window_start"]): r["revenue_cents"] for r in revenue_rows}
    exact = got == dict(truth.revenue_cents) and len(got) == len(revenue_rows)
    per_region: dict[str, int] = {}
    for (region, _), c in got.items():
        per_region[region] = per_region.get(region, 0) + c
    conv = read_table(cfg, "conversion")
    clicks, converted = sum(r["clicks"] for r in conv), sum(r["converted"] for r in conv)
    dips = {(r["region"], r["window_start"]) for r in read_table(cfg, "revenue_dips")}
    alerts = read_table(cfg, "fraud_alerts")
    alerted = {tuple(sorted(a["purchase_ids"])) for a in alerts}
    caught = sum(tuple(sorted(b["purchase_ids"])) in alerted for b in truth.fraud_bursts)
    lines = [f"revenue per region and minute: {len(revenue_rows)} windows, "
             f"{'equal to' if exact else 'DIFFERENT FROM'} the generator's ground truth"]
    lines += [f"  {region:<11} {cents / 100:>14,.2f}" for region, cents in sorted(per_region.items())]
    lines.append(f"conversion: {converted:,} of {clicks:,} clicks' purchases converted "
                 f"({converted / max(clicks, 1):.1%}) over {len(conv)} windows")
    lines.append(f"revenue dips: {len(dips)} alerted, {len(truth.dips & dips)} of {len(truth.dips)} injected")
    lines.append(f"fraud: {len(alerts)} alerts, {caught} of {len(truth.fraud_bursts)} injected bursts caught")
    return lines


def main(argv: list[str] | None = None) -> int:
    conf, cfg, _ = load(argv, __doc__, DEMO_OPTIONS)
    clear_outputs(cfg)
    g = cfg.generator
    span = "unbounded" if g.duration_s is None else f"{g.duration_s // 60} minutes of"
    print(f"generating {span} event time ({g.clicks_per_second:g} clicks/s, "
          f"{g.purchases_per_second:g} purchases/s, a {cfg.day_ms // 60_000}-minute day); "
          f"revenue and fraud apps at parallelism {conf.get(PARALLELISM_DEFAULT.key)} "
          "(a local Ray starts first)")
    started = time.perf_counter()
    clients = []
    for app in (revenue, fraud):
        env = StreamExecutionEnvironment.get_execution_environment(conf)
        app.job(env, cfg)
        clients.append(env.execute_async(app.JOB_NAME))
    for client in clients:
        client.get_job_execution_result()
    print(f"both apps done in {time.perf_counter() - started:.1f} s; Delta tables in {cfg.delta_path}, "
          f"dashboard values in {cfg.redis_url or cfg.dashboard_path}")
    for line in summary(cfg):
        print(line)
    print("see the dashboard: python -m rayflink.apps.ecommerce.dashboard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
