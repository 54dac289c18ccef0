"""Metric 4: fraud, three purchases over $500 within 5 minutes by one user (CEP).

The pattern ``large{3}`` with relaxed contiguity (other purchases between them are ignored) and
``within(5 min)`` of the first, keyed by user, in event time (events are matched in timestamp
order as the watermark passes them). After a match, ``skip_past_last_event`` starts afresh, so a
burst of purchases gives one alert per three, not one per overlapping triple.
"""

from __future__ import annotations

from rayflink.cep import CEP, AfterMatchSkipStrategy, Pattern, SimpleCondition
from rayflink.common import Duration
from rayflink.datastream import DataStream


class LargePurchase(SimpleCondition):
    """A purchase whose amount is over ``threshold``."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def filter(self, value: dict) -> bool:
        return value["amount"] > self.threshold


def fraud_pattern(threshold: float = 500.0, count: int = 3, within_ms: int = 300_000) -> Pattern:
    """``count`` purchases over ``threshold`` within ``within_ms`` of the first."""
    return (Pattern.begin("large", AfterMatchSkipStrategy.skip_past_last_event())
            .where(LargePurchase(threshold)).times(count)
            .within(Duration.of_millis(within_ms)))


def alert(match: dict) -> dict:
    """A fraud alert from a match: deterministic fields only, so a replay writes the same alert."""
    large = match["large"]
    return {"kind": "fraud", "alert_id": f"{large[0]['user_id']}:{large[0]['purchase_id']}",
            "user_id": large[0]["user_id"], "region": large[0]["region"],
            "purchase_ids": [p["purchase_id"] for p in large], "amounts": [p["amount"] for p in large],
            "categories": [p.get("category") for p in large], "total": round(sum(p["amount"] for p in large), 2),
            "first_ts": large[0]["ts"], "last_ts": large[-1]["ts"]}


def fraud_alerts(purchases: DataStream, threshold: float = 500.0, count: int = 3,
                 within_ms: int = 300_000) -> DataStream:
    """Fraud alerts (see ``alert``) from (enriched) purchases."""
    return (CEP.pattern(purchases.key_by(lambda p: p["user_id"]), fraud_pattern(threshold, count, within_ms))
            .select(alert).name("fraud pattern").uid("fraud-cep"))
