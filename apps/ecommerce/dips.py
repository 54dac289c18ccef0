"""Metric 3: an alert when a minute's revenue falls more than 30% below the same minute a day before.

Keyed by region, a ``MapState`` holds each window's revenue (in cents) by window start. When a
window's revenue arrives, the entry of the same window one ``day`` earlier is read and removed; an
alert is emitted when ``revenue < (1 - threshold) * previous``. Entries never read again (a window
with no revenue the next day) expire through state TTL (two days, processing time, as Flink's TTL),
so the state holds about a day of windows per region.
"""

from __future__ import annotations

from rayflink.common import Time, Types
from rayflink.datastream import DataStream, KeyedProcessFunction
from rayflink.datastream.state import MapStateDescriptor, StateTtlConfig


class RevenueDipAlert(KeyedProcessFunction):
    """Emits ``{region, window_start, revenue, previous_revenue, drop}`` for each dipped window."""

    def __init__(self, day_ms: int, threshold: float) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"RevenueDipAlert: threshold must be in (0, 1) (ecommerce.revenue.dip-threshold), "
                             f"got {threshold}")
        self.day_ms = day_ms
        self.threshold = threshold

    def open(self, runtime_context):
        descriptor = MapStateDescriptor("revenue_by_window", Types.LONG(), Types.LONG())
        descriptor.enable_time_to_live(StateTtlConfig.new_builder(Time.milliseconds(2 * self.day_ms)).build())
        self.history = runtime_context.get_map_state(descriptor)

    def process_element(self, row, ctx, out):
        start, revenue = row["window_start"], row["revenue_cents"]
        self.history.put(start, revenue)
        previous = self.history.get(start - self.day_ms)
        if previous is None:
            return
        self.history.remove(start - self.day_ms)
        if revenue < (1 - self.threshold) * previous:
            out.collect({"kind": "revenue-dip", "region": row["region"], "window_start": start,
                         "revenue": revenue / 100, "previous_revenue": previous / 100,
                         "drop": round(1 - revenue / previous, 4)})


def revenue_dips(revenue: DataStream, day_ms: int, threshold: float = 0.3) -> DataStream:
    """Dip alerts from the revenue-per-region rows (see ``RevenueDipAlert``)."""
    return (revenue.key_by(lambda r: r["region"]).process(RevenueDipAlert(day_ms, threshold))
            .name("revenue dip alert").uid("revenue-dips"))
