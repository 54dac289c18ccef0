"""Brute-force answers for the e-commerce apps, computed from the generator's events alone (tests, bench).

Independent of the operators: plain loops over every event, as the metrics are defined.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

MINUTE_MS = 60_000


def events_of(cfg) -> tuple[list[dict], list[dict]]:
    """Every click and purchase of a bounded generator run."""
    from rayflink.apps.ecommerce.generate import EventGenerator

    clicks: list[dict] = []
    purchases: list[dict] = []
    for _s, batch in EventGenerator(cfg, ("click", "purchase")).ticks():
        for e in batch:
            (clicks if e["type"] == "click" else purchases).append(e)
    return clicks, purchases


def conversion(clicks: list[dict], purchases: list[dict], within_ms: int, window_ms: int = MINUTE_MS) -> dict:
    """(region, window_start) -> (clicks, purchases, converted): a purchase converts when the same
    user clicked the same product in [ts - within, ts]."""
    by_pair: dict = defaultdict(list)
    for c in clicks:
        by_pair[(c["user_id"], c["product_id"])].append(c["ts"])
    for times in by_pair.values():
        times.sort()
    out: dict = defaultdict(lambda: [0, 0, 0])
    for c in clicks:
        out[(c["region"], c["ts"] - c["ts"] % window_ms)][0] += 1
    for p in purchases:
        cell = out[(p["region"], p["ts"] - p["ts"] % window_ms)]
        cell[1] += 1
        times = by_pair.get((p["user_id"], p["product_id"]), [])
        i = bisect.bisect_left(times, p["ts"] - within_ms)
        cell[2] += i < len(times) and times[i] <= p["ts"]
    return {k: tuple(v) for k, v in out.items()}


def dips(revenue_cents: dict, day_ms: int, threshold: float) -> set:
    """(region, window_start) whose revenue is below (1 - threshold) of the same window a day before."""
    return {(r, m) for (r, m), c in revenue_cents.items()
            if (r, m - day_ms) in revenue_cents and c < (1 - threshold) * revenue_cents[(r, m - day_ms)]}


def fraud(purchases: list[dict], threshold: float, count: int, within_ms: int) -> list[tuple]:
    """The matches of ``count`` purchases over ``threshold`` within ``within_ms`` per user, relaxed
    contiguity, skip past the last event: (user, purchase ids) in order."""
    large: dict = defaultdict(list)
    for p in purchases:
        if p["amount"] > threshold:
            large[p["user_id"]].append(p)
    out = []
    for user, ps in large.items():
        ps.sort(key=lambda p: p["ts"])
        start = 0
        for j in range(len(ps)):
            i = j - count + 1
            if i >= start and ps[j]["ts"] - ps[i]["ts"] < within_ms:
                out.append((user, tuple(p["purchase_id"] for p in ps[i:j + 1])))
                start = j + 1
    return sorted(out)
