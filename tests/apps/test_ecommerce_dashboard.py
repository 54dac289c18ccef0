"""The dashboard: the same snapshot from Redis and from the local files, and the page in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading

import pytest
import redis

from rayflink.apps.ecommerce.config import AppConfig
from rayflink.apps.ecommerce.dashboard import app, snapshot
from rayflink.apps.ecommerce.generate import GeneratorConfig, ground_truth
from rayflink.apps.ecommerce.sinks import LocalDashboardSink
from rayflink.testing.services import unique_name, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_ENV = "RAYFLINK_DASHBOARD_SCREENSHOT"  # set to docs/dashboard.png to refresh the README's picture


def _rows() -> dict[str, list]:
    """Dashboard rows as the apps write them, for the last 5 minutes of a generated run."""
    gen = GeneratorConfig(duration_s=480, day_ms=240_000)
    truth = ground_truth(gen)
    revenue = [{"region": r, "window_start": m, "window_end": m + 60_000, "revenue": c / 100, "revenue_cents": c,
                "orders": truth.purchases[(r, m)]} for (r, m), c in sorted(truth.revenue_cents.items())]
    conversion = [{"region": r, "window_start": m, "window_end": m + 60_000, "clicks": truth.clicks[(r, m)],
                   "purchases": truth.purchases[(r, m)], "converted": truth.purchases[(r, m)] // 2,
                   "conversion_rate": round(truth.purchases[(r, m)] // 2 / truth.clicks[(r, m)], 6)}
                  for (r, m) in sorted(truth.revenue_cents)]
    alerts = [{"kind": "fraud", "alert_id": f"{b['user_id']}:{b['purchase_ids'][0]}", "user_id": b["user_id"],
               "region": "eu-west", "purchase_ids": b["purchase_ids"], "amounts": [700.0, 800.0, 900.0],
               "categories": ["home"] * 3, "total": 2400.0, "first_ts": b["first_ts"], "last_ts": b["last_ts"]}
              for b in truth.fraud_bursts]
    region, minute = sorted(truth.dips)[0] if truth.dips else ("us-east", gen.start_ms + 300_000)
    alerts.append({"kind": "revenue-dip", "region": region, "window_start": minute, "revenue": 1234.5,
                   "previous_revenue": 4321.0, "drop": 0.7143})
    return {"revenue": revenue, "conversion": conversion, "alerts": alerts}


def _cfg(**options) -> AppConfig:
    return AppConfig.from_options({f"ecommerce.{k}": v for k, v in options.items()})


def _write_files(cfg: AppConfig, rows: dict[str, list]) -> None:
    for metric, found in rows.items():
        for subtask in (0, 1):
            writer = LocalDashboardSink(cfg.dashboard_path, metric, "test", cfg.dashboard_ttl_ms) \
                .create_writer(subtask, 2)
            writer.write([r for i, r in enumerate(found) if i % 2 == subtask], None)
            writer.flush(True)


def test_redis_and_files_give_the_same_snapshot_of_the_last_five_minutes(tmp_path):
    from rayflink.connectors.redis import RedisSink

    rows = _rows()
    files = _cfg(**{"sink.dashboard-path": str(tmp_path)})
    _write_files(files, rows)
    prefix = unique_name("dash")
    in_redis = _cfg(**{"sink.redis-url": "redis://127.0.0.1:6379/0", "dashboard.key-prefix": prefix})
    for metric in ("revenue", "conversion"):
        sink = RedisSink.builder(in_redis.redis_url).string(f"{prefix}:{metric}:{{region}}:{{window_start}}").build()
        writer = sink.create_writer(0, 1)
        writer.write(rows[metric], None)
        writer.flush(True)
    writer = RedisSink.builder(in_redis.redis_url).sorted_set(f"{prefix}:alerts", "member", "score").build() \
        .create_writer(0, 1)
    writer.write([{"member": json.dumps(a, sort_keys=True), "score": a.get("last_ts", a.get("window_start"))}
                  for a in rows["alerts"]], None)
    writer.flush(True)
    try:
        a, b = snapshot(files), snapshot(in_redis)
    finally:
        client = redis.Redis.from_url(in_redis.redis_url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    newest = max(r["window_start"] for r in rows["revenue"])
    # the files keep the last 5 minutes of event time; the snapshot shows the newest 5 windows per region
    assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}
    assert sorted(a["revenue"]) == ["ap-south", "eu-central", "eu-west", "us-east", "us-west"]
    assert all(len(v) == 5 and v[0]["window_start"] == newest for v in a["revenue"].values())
    assert [x["kind"] for x in a["alerts"]].count("fraud") == len([x for x in rows["alerts"] if x["kind"] == "fraud"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    import uvicorn

    cfg = _cfg(**{"sink.dashboard-path": str(tmp_path)})
    _write_files(cfg, _rows())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app(cfg), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30, what="the dashboard server")
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_page_shows_revenue_conversion_and_alerts_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 640})
            page.goto(served)
            page.wait_for_function("() => document.querySelectorAll('#revenue tbody tr').length === 5",
                                   timeout=60_000)
            revenue = page.locator("#revenue tbody tr").all_inner_texts()
            conversion = page.locator("#conversion tbody tr").all_inner_texts()
            alerts = page.locator("#alerts .alert").all_inner_texts()
            shot = os.environ.get(SCREENSHOT_ENV) or str(tmp_path / "dashboard.png")
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
    # every region shows its last minute's revenue (a dollar amount), its conversion rate and the alerts
    assert all(any(ch.isdigit() for ch in row) and "." in row for row in revenue)
    assert {row.split()[0] for row in revenue} == {"ap-south", "eu-central", "eu-west", "us-east", "us-west"}
    assert len(conversion) == 5 and all(row.strip().endswith("%") for row in conversion)
    assert any(a.startswith("fraud") for a in alerts) and any(a.startswith("revenue dip") for a in alerts)
    assert os.path.getsize(shot) > 10_000
