"""Purchases enriched with the product version valid at purchase time: an event-time temporal join.

Flink SQL's ``FOR SYSTEM_TIME AS OF purchase.ts`` against a versioned table, on the DataStream
API: purchases and product versions are connected and keyed by product. Versions are kept in
keyed state by ``valid_from``; a purchase waits in state until the watermark passes its timestamp
(an event-time timer), then joins the version with the greatest ``valid_from <= ts``. When the
watermark passes, versions older than the one valid at the watermark can never be needed again
and are removed: the state holds one version per product plus those not yet valid.

A product without any version yet still goes through, with ``product_version`` None.
"""

from __future__ import annotations

from rayflink.common import Types
from rayflink.datastream import DataStream, KeyedCoProcessFunction
from rayflink.datastream.state import MapStateDescriptor


class VersionedProductJoin(KeyedCoProcessFunction):
    """Input 1: purchases; input 2: product versions (``product_id, valid_from, price, ...``)."""

    def open(self, runtime_context):
        self.versions = runtime_context.get_map_state(
            MapStateDescriptor("versions", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
        self.pending = runtime_context.get_map_state(
            MapStateDescriptor("pending", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))

    def process_element1(self, purchase, ctx, out):
        ts = purchase["ts"]
        waiting = self.pending.get(ts)
        self.pending.put(ts, [purchase] if waiting is None else waiting + [purchase])
        ctx.timer_service().register_event_time_timer(ts)

    def process_element2(self, version, ctx, out):
        self.versions.put(version["valid_from"], version)

    def on_timer(self, timestamp, ctx, out):
        due = sorted(ts for ts in self.pending.keys() if ts <= timestamp)
        valid_from = sorted(self.versions.keys())
        for ts in due:
            version = None
            for v in valid_from:
                if v > ts:
                    break
                version = v
            row = self.versions.get(version) if version is not None else None
            for purchase in self.pending.get(ts):
                out.collect(enrich(purchase, row))
            self.pending.remove(ts)
        # versions superseded before the watermark are never read again
        current = [v for v in valid_from if v <= timestamp]
        for v in current[:-1]:
            self.versions.remove(v)


def enrich(purchase: dict, version: dict | None) -> dict:
    """The purchase with the product's name, category, list price and version (None when unknown)."""
    return {**purchase, "product_name": version and version["name"], "category": version and version["category"],
            "list_price": version and version["price"], "product_version": version and version["version"]}


def enrich_purchases(purchases: DataStream, products: DataStream) -> DataStream:
    """Each purchase with the product version valid at its timestamp (see the module docstring)."""
    return (purchases.connect(products).key_by(lambda p: p["product_id"], lambda v: v["product_id"])
            .process(VersionedProductJoin()).name("purchases x product versions (temporal join)")
            .uid("temporal-join-products"))
