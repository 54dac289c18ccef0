"""The live dashboard: revenue per region, conversion and recent alerts, from Redis or the local files.

    python -m rayflink.apps.ecommerce.dashboard [--conf FILE] [-D key=value ...] [--port 8050]

A tiny starlette app: ``/`` is the page (it polls ``/api/metrics`` every two seconds), and
``/api/metrics`` is ``snapshot()``: what the apps last wrote (``sinks.py`` describes the layout).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Any

from rayflink.apps.ecommerce.config import AppConfig, load

WINDOWS_SHOWN = 5


def snapshot(cfg: AppConfig) -> dict[str, Any]:
    """``{"revenue": {region: [rows, newest first]}, "conversion": {...}, "alerts": [newest first]}``."""
    rows: dict[str, list] = {"revenue": [], "conversion": [], "alerts": []}
    if cfg.redis_url:
        import redis

        client = redis.Redis.from_url(cfg.redis_url, decode_responses=True)
        for metric in ("revenue", "conversion"):
            keys = list(client.scan_iter(f"{cfg.dashboard_prefix}:{metric}:*", count=1000))
            rows[metric] = [json.loads(v) for v in client.mget(keys) if v] if keys else []
        rows["alerts"] = [json.loads(str(m)) for m in client.zrevrange(f"{cfg.dashboard_prefix}:alerts", 0, 49)]
    else:
        for metric in rows:
            for path in glob.glob(os.path.join(cfg.dashboard_path, f"{metric}-*.json")):
                try:
                    with open(path, encoding="utf-8") as f:
                        rows[metric] += json.load(f)["rows"]
                except (OSError, ValueError):
                    continue  # being replaced: the next poll reads it
    out: dict[str, Any] = {}
    for metric in ("revenue", "conversion"):
        by_region: dict[str, list] = {}
        for row in sorted(rows[metric], key=lambda r: -r["window_start"]):
            by_region.setdefault(row["region"], []).append(row)
        out[metric] = {region: found[:WINDOWS_SHOWN] for region, found in sorted(by_region.items())}
    out["alerts"] = sorted(rows["alerts"], key=lambda a: -a.get("last_ts", a.get("window_start", 0)))[:20]
    out["source"] = f"redis {cfg.redis_url}" if cfg.redis_url else f"files in {cfg.dashboard_path}"
    return out


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rayflink e-commerce dashboard</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2733; background: #f6f8fa; }
 h1 { font-size: 20px; margin: 0 0 4px; } .src { color: #66727f; margin-bottom: 16px; }
 .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
 section { background: #fff; border: 1px solid #d8dee4; border-radius: 6px; padding: 12px 16px; }
 h2 { font-size: 15px; margin: 0 0 8px; } table { border-collapse: collapse; width: 100%; }
 td, th { text-align: right; padding: 3px 8px; border-bottom: 1px solid #eef1f4; }
 td:first-child, th:first-child { text-align: left; } .bar { background: #3b82f6; height: 10px; }
 .alert { padding: 4px 0; border-bottom: 1px solid #eef1f4; } .fraud { color: #b42318; } .dip { color: #b54708; }
 .wide { grid-column: 1 / span 2; }
</style></head>
<body>
<h1>rayflink e-commerce dashboard</h1><div class="src" id="src">loading…</div>
<div class="grid">
 <section><h2>Revenue per region (last closed minute)</h2>
  <table id="revenue"><thead><tr><th>region</th><th>minute (UTC)</th><th>revenue $</th><th>orders</th>
  <th></th></tr></thead><tbody></tbody></table></section>
 <section><h2>Click → purchase conversion (last closed minute)</h2>
  <table id="conversion"><thead><tr><th>region</th><th>clicks</th><th>purchases</th><th>converted</th>
  <th>rate</th></tr></thead><tbody></tbody></table></section>
 <section class="wide"><h2>Recent alerts</h2><div id="alerts"></div></section>
</div>
<script>
const fmt = (x, d = 2) => Number(x).toLocaleString('en-US', {minimumFractionDigits: d, maximumFractionDigits: d});
const minute = ms => new Date(ms).toISOString().slice(11, 16);
async function refresh() {
  const m = await (await fetch('api/metrics')).json();
  document.getElementById('src').textContent = 'from ' + m.source + ', updated ' + new Date().toLocaleTimeString();
  const rev = Object.entries(m.revenue).map(([r, rows]) => [r, rows[0]]);
  const top = Math.max(1, ...rev.map(([, x]) => x.revenue));
  document.querySelector('#revenue tbody').innerHTML = rev.map(([r, x]) =>
    `<tr><td>${r}</td><td>${minute(x.window_start)}</td><td class="num">${fmt(x.revenue)}</td><td>${x.orders}</td>` +
    `<td style="width:30%"><div class="bar" style="width:${100 * x.revenue / top}%"></div></td></tr>`).join('');
  document.querySelector('#conversion tbody').innerHTML = Object.entries(m.conversion).map(([r, rows]) =>
    `<tr><td>${r}</td><td>${rows[0].clicks}</td><td>${rows[0].purchases}</td><td>${rows[0].converted}</td>` +
    `<td class="num">${fmt(100 * rows[0].conversion_rate, 1)}%</td></tr>`).join('');
  document.getElementById('alerts').innerHTML = m.alerts.map(a => a.kind === 'fraud'
    ? `<div class="alert fraud">fraud · user ${a.user_id} (${a.region}) · ${a.purchase_ids.length} purchases, ` +
      `$${fmt(a.total)} · ${minute(a.first_ts)}–${minute(a.last_ts)}</div>`
    : `<div class="alert dip">revenue dip · ${a.region} · ${minute(a.window_start)} · $${fmt(a.revenue)} vs ` +
      `$${fmt(a.previous_revenue)} a day before (−${fmt(100 * a.drop, 0)}%)</div>`).join('') || 'none yet';
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""


def app(cfg: AppConfig) -> Any:
    """The starlette application serving the page and ``/api/metrics``."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    async def page(_request: Any) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def metrics(_request: Any) -> JSONResponse:
        return JSONResponse(snapshot(cfg))

    return Starlette(routes=[Route("/", page), Route("/api/metrics", metrics)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8050)
    known, rest = ap.parse_known_args(argv)
    _conf, cfg, _ = load(rest, __doc__)
    import uvicorn

    print(f"dashboard on http://{known.host}:{known.port}/ (values from "
          f"{cfg.redis_url or os.path.abspath(cfg.dashboard_path)})")
    uvicorn.run(app(cfg), host=known.host, port=known.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
