"""E-commerce revenue per category per minute of event time, on the embedded defaults.

    python -m rayflink.apps.ecommerce_revenue [--orders 200000] [--parallelism 2]

Orders come from a deterministic generator (no service to install); the job keys them by
category, keeps a running revenue per (category, minute) in keyed state, and emits each
minute's total when the watermark passes the end of the minute (an event-time timer).
While it runs it prints its progress; at the end, the revenue of the top categories.
"""

from __future__ import annotations

import argparse
import time

from rayflink.common import Duration, Types, WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource
from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from rayflink.datastream.state import MapStateDescriptor

CATEGORIES = ["books", "electronics", "garden", "toys", "fashion", "food", "sports", "music"]
MINUTE_MS = 60_000
START_MS = 1_764_000_000_000  # event time of the first order


def order(i: int) -> dict:
    """The i-th order: about 40 orders per second of event time, up to 3 s out of order."""
    return {
        "order_id": i,
        "category": CATEGORIES[(i * 7919) % len(CATEGORIES)],
        "amount": round(5 + (i * 2654435761 % 20000) / 100, 2),
        "ts": START_MS + i * 25 - (i * 104729 % 3000),
    }


class RevenuePerMinute(KeyedProcessFunction):
    """Sums each category's revenue per minute; emits (category, minute_start, revenue, orders)."""

    def open(self, runtime_context):
        self.minutes = runtime_context.get_map_state(
            MapStateDescriptor("revenue_per_minute", Types.LONG(), Types.TUPLE([Types.DOUBLE(), Types.LONG()])))

    def process_element(self, o, ctx, out):
        minute = o["ts"] - o["ts"] % MINUTE_MS
        revenue, count = self.minutes.get(minute) or (0.0, 0)
        self.minutes.put(minute, (revenue + o["amount"], count + 1))
        ctx.timer_service().register_event_time_timer(minute + MINUTE_MS - 1)

    def on_timer(self, timestamp, ctx, out):
        minute = timestamp + 1 - MINUTE_MS
        revenue, count = self.minutes.get(minute)
        self.minutes.remove(minute)
        out.collect((ctx.get_current_key(), minute, round(revenue, 2), count))


def build(env: StreamExecutionEnvironment, orders: int):
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5))
                .with_timestamp_assigner(lambda o, _ts: o["ts"]))
    source = DataGeneratorSource(order, orders)
    return (env.from_source(source, strategy, "orders")
            .filter(lambda o: o["amount"] > 0).name("valid orders")
            .key_by(lambda o: o["category"])
            .process(RevenuePerMinute()).name("revenue per minute").uid("revenue-per-minute"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--parallelism", type=int, default=2)
    args = ap.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    print(f"starting: {args.orders:,} orders, parallelism {args.parallelism} (local Ray starts first)")
    t0 = time.perf_counter()
    totals: dict[str, float] = {}
    minutes = 0
    with build(env, args.orders).execute_and_collect("ecommerce-revenue") as results:
        last = time.perf_counter()
        for category, _minute, revenue, _count in results:
            totals[category] = totals.get(category, 0.0) + revenue
            minutes += 1
            if time.perf_counter() - last > 1.0:
                last = time.perf_counter()
                print(f"  ... {minutes:,} category-minutes closed")
    seconds = time.perf_counter() - t0
    print(f"done: {args.orders:,} orders -> {minutes:,} category-minutes in {seconds:.1f} s")
    for category, revenue in sorted(totals.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {category:<12} {revenue:>14,.2f}")


if __name__ == "__main__":
    main()
