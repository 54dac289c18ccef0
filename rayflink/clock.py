"""The processing-time clock: wall-clock milliseconds since the epoch, read in one place."""

from __future__ import annotations

import time


def current_time_ms() -> int:
    """Processing time now, in epoch milliseconds (Flink's ``currentProcessingTime``)."""
    return time.time_ns() // 1_000_000
