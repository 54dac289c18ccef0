"""Options of SQL jobs at Flink's names (``SET 'key' = 'value'``), read with their defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rayflink.sql.errors import SqlValidationError

_UNITS_MS = {"": 1, "ms": 1, "milli": 1, "millis": 1, "s": 1000, "sec": 1000, "second": 1000, "seconds": 1000,
             "min": 60_000, "minute": 60_000, "minutes": 60_000, "h": 3_600_000, "hour": 3_600_000,
             "hours": 3_600_000}


def duration_ms(value: object, key: str) -> int:
    """A Flink duration (``500 ms``, ``5 s``, ``1 min``, or a number of ms) in milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", str(value).lower())
    if not m or m.group(2) not in _UNITS_MS:
        raise SqlValidationError(f"option {key!r}: cannot read {value!r} as a duration; write e.g. '500 ms', "
                                 "'5 s' or '1 min'")
    return int(float(m.group(1)) * _UNITS_MS[m.group(2)])


@dataclass(frozen=True)
class MiniBatch:
    """``table.exec.mini-batch.enabled`` / ``.allow-latency`` / ``.size``: a regular aggregation
    buffers input until ``size`` rows or ``latency_ms`` passed, then updates each key once."""

    enabled: bool
    latency_ms: int
    size: int

    @staticmethod
    def of(config: dict) -> "MiniBatch":
        enabled = str(config.get("table.exec.mini-batch.enabled", "false")).strip().lower() == "true"
        latency = duration_ms(config.get("table.exec.mini-batch.allow-latency", "0 ms"),
                              "table.exec.mini-batch.allow-latency")
        size = int(config.get("table.exec.mini-batch.size", 5000))
        if enabled and (latency <= 0 or size <= 0):
            raise SqlValidationError("table.exec.mini-batch.enabled needs a positive "
                                     "'table.exec.mini-batch.allow-latency' (e.g. '1 s') and "
                                     "'table.exec.mini-batch.size' (e.g. '5000')")
        return MiniBatch(enabled, latency, size)
