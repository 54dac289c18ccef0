"""PyFlink's ``pyflink.common.watermark.Watermark``: event time has reached ``timestamp``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Watermark:
    """What a ``WatermarkGenerator`` emits: ``output.emit_watermark(Watermark(ts))``."""

    timestamp: int

    def get_timestamp(self) -> int:
        return self.timestamp
