"""Decides, from the job's restart strategy options, whether a failed job restarts and after how long."""

from __future__ import annotations

import random
import time

from rayflink.common.configuration import checkpoint_interval_ms


class RestartBackoff:
    """Flink's restart strategies: none, fixed-delay, exponential-delay, failure-rate.

    With checkpointing on and no strategy set, Flink restarts without limit after 1 s: so do we.
    """

    def __init__(self, config: dict) -> None:
        self.config = config
        checkpointing = checkpoint_interval_ms(config) > 0
        self.kind = config.get("restart-strategy.type") or ("fixed-delay" if checkpointing else "none")
        self.failures: list[float] = []
        self.restarts = 0
        self.last_failure = 0.0
        self.backoff = None

    def _get(self, key: str, default: float) -> float:
        value = self.config.get(key)
        return default if value is None else float(value)

    def next_delay(self) -> float | None:
        """Seconds to wait before restarting after a failure now, or None: the job fails for good."""
        now = time.monotonic()
        self.failures.append(now)
        if self.kind in ("none", "disable", "off"):
            return None
        if self.kind == "fixed-delay":
            attempts = self._get("restart-strategy.fixed-delay.attempts", 2**31 - 1)
            if self.restarts >= attempts:
                return None
            self.restarts += 1
            return self._get("restart-strategy.fixed-delay.delay", 1000) / 1000
        if self.kind == "failure-rate":
            window = self._get("restart-strategy.failure-rate.failure-rate-interval", 60_000) / 1000
            recent = [t for t in self.failures if now - t <= window]
            if len(recent) > self._get("restart-strategy.failure-rate.max-failures-per-interval", 1):
                return None
            self.restarts += 1
            return self._get("restart-strategy.failure-rate.delay", 1000) / 1000
        if self.kind == "exponential-delay":
            initial = self._get("restart-strategy.exponential-delay.initial-backoff", 1000) / 1000
            maximum = self._get("restart-strategy.exponential-delay.max-backoff", 60_000) / 1000
            multiplier = self._get("restart-strategy.exponential-delay.backoff-multiplier", 2.0)
            reset = self._get("restart-strategy.exponential-delay.reset-backoff-threshold", 3_600_000) / 1000
            attempts = self._get("restart-strategy.exponential-delay.attempts-before-reset-backoff", 2**31 - 1)
            if self.backoff is None or (self.last_failure and now - self.last_failure > reset):
                self.backoff = initial
            else:
                self.backoff = min(maximum, self.backoff * multiplier)
            self.last_failure = now
            if self.restarts >= attempts:
                return None
            self.restarts += 1
            jitter = self._get("restart-strategy.exponential-delay.jitter-factor", 0.0)
            return self.backoff * (1 + random.uniform(-jitter, jitter))
        raise ValueError(f"restart-strategy.type {self.kind!r} is not one of none, fixed-delay, "
                         "exponential-delay, failure-rate")
