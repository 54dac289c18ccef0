"""Metric 2: click -> purchase conversion per region and minute, through a 30-minute interval join.

A purchase *converts* a click when the same user clicked the same product at most
``within`` before buying it (a stream-stream interval join, ``between(-30 min, 0)`` on the purchase
side, bounds inclusive as Flink's). Each minute of purchase event time then gives, per region:
its clicks, its purchases, the purchases that converted a click (each counted once, however many
clicks it matched) and ``conversion_rate = converted / clicks``.

Counting by the purchase's minute, not the click's, keeps the metric final when the watermark
passes the end of the minute: attributing to the click's minute would hold every result 30
minutes, past the 5-minute SLA.
"""

from __future__ import annotations

from rayflink.common import Duration, Time
from rayflink.datastream import DataStream, ProcessJoinFunction
from rayflink.datastream.window import ProcessWindowFunction, TumblingEventTimeWindows

_CLICK, _PURCHASE, _CONVERTED = 0, 1, 2


class _Converted(ProcessJoinFunction):
    def process_element(self, purchase, click, ctx, out):
        out.collect((_CONVERTED, purchase["region"], purchase["purchase_id"]))


class _Counts:
    def create_accumulator(self) -> list:
        return [0, 0, set()]

    def add(self, tagged: tuple, acc: list) -> list:
        if tagged[0] == _CONVERTED:
            acc[2].add(tagged[2])
        else:
            acc[tagged[0]] += 1
        return acc

    def get_result(self, acc: list) -> tuple:
        return acc[0], acc[1], len(acc[2])

    def merge(self, a: list, b: list) -> list:
        return [a[0] + b[0], a[1] + b[1], a[2] | b[2]]


class _ConversionRow(ProcessWindowFunction):
    def process(self, region, context, counts):
        for clicks, purchases, converted in counts:
            window = context.window()
            yield {"region": region, "window_start": window.start, "window_end": window.end, "clicks": clicks,
                   "purchases": purchases, "converted": converted,
                   "conversion_rate": round(converted / clicks, 6) if clicks else 0.0}


def conversion(clicks: DataStream, purchases: DataStream, window_ms: int = 60_000,
               within_ms: int = 30 * 60_000) -> DataStream:
    """Rows ``{region, window_start, window_end, clicks, purchases, converted, conversion_rate}``, one per
    region and window of purchase time, emitted once when the watermark passes the window's end."""
    by_user_product = lambda e: (e["user_id"], e["product_id"])  # noqa: E731
    converted = (purchases.key_by(by_user_product)
                 .interval_join(clicks.key_by(by_user_product))
                 .between(Time.milliseconds(-within_ms), Time.milliseconds(0))
                 .process(_Converted()).name("click -> purchase join").uid("conversion-join"))
    tagged = (clicks.map(lambda c: (_CLICK, c["region"])).name("tag clicks").uid("tag-clicks")
              .union(purchases.map(lambda p: (_PURCHASE, p["region"])).name("tag purchases").uid("tag-purchases"),
                     converted))
    return (tagged.key_by(lambda t: t[1])
            .window(TumblingEventTimeWindows.of(Duration.of_millis(window_ms)))
            .aggregate(_Counts(), _ConversionRow())
            .name("conversion per region").uid("conversion-per-region"))
