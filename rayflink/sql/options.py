"""SQL job options read from a job's configuration (declared in ``rayflink.common.config_options``)."""

from __future__ import annotations

from dataclasses import dataclass

from rayflink.common import config_options as options
from rayflink.sql.errors import SqlValidationError


@dataclass(frozen=True)
class MiniBatch:
    """``table.exec.mini-batch.enabled`` / ``.allow-latency`` / ``.size``: a regular aggregation
    buffers input until ``size`` rows or ``latency_ms`` passed, then updates each key once."""

    enabled: bool
    latency_ms: int
    size: int

    @staticmethod
    def of(config: dict) -> "MiniBatch":
        enabled = options.get(config, options.MINI_BATCH_ENABLED)
        latency = options.get(config, options.MINI_BATCH_ALLOW_LATENCY)
        if enabled and latency <= 0:
            raise SqlValidationError("table.exec.mini-batch.enabled needs a positive "
                                     "'table.exec.mini-batch.allow-latency' (e.g. '1 s')")
        return MiniBatch(enabled, latency, options.get(config, options.MINI_BATCH_SIZE))
