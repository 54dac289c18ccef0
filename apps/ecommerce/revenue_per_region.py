"""Metric 1: revenue per region per 1-minute tumbling event-time window.

Kept to this one function so the SQL planner can take it over: it is the statement

    SELECT region, window_start, window_end, SUM(amount) AS revenue, COUNT(*) AS orders
    FROM TABLE(TUMBLE(TABLE purchases, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
    GROUP BY region, window_start, window_end

Sums are kept in whole cents, so a window's revenue is exact whatever the order of its purchases.
"""

from __future__ import annotations

from rayflink.apps.ecommerce.generate import cents
from rayflink.common import Duration
from rayflink.datastream import DataStream
from rayflink.datastream.window import ProcessWindowFunction, TumblingEventTimeWindows


class _SumCents:
    def create_accumulator(self) -> list:
        return [0, 0]

    def add(self, purchase: dict, acc: list) -> list:
        acc[0] += cents(purchase["amount"])
        acc[1] += 1
        return acc

    def get_result(self, acc: list) -> tuple:
        return acc[0], acc[1]

    def merge(self, a: list, b: list) -> list:
        return [a[0] + b[0], a[1] + b[1]]


class _RevenueRow(ProcessWindowFunction):
    def process(self, region, context, sums):
        for revenue_cents, orders in sums:
            window = context.window()
            yield {"region": region, "window_start": window.start, "window_end": window.end,
                   "revenue": revenue_cents / 100, "revenue_cents": revenue_cents, "orders": orders}


def revenue_per_region(purchases: DataStream, window_ms: int = 60_000) -> DataStream:
    """Rows ``{region, window_start, window_end, revenue, revenue_cents, orders}``, one per region and
    window, emitted once when the watermark passes the window's end (append-only)."""
    return (purchases.key_by(lambda p: p["region"])
            .window(TumblingEventTimeWindows.of(Duration.of_millis(window_ms)))
            .aggregate(_SumCents(), _RevenueRow())
            .name("revenue per region").uid("revenue-per-region"))
