"""Decides, from the job's restart strategy options, whether a failed job restarts and after how long."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from rayflink.common import config_options as options
from rayflink.common.configuration import checkpoint_interval_ms


class RestartBackoff:
    """Flink's restart strategies: none, fixed-delay, exponential-delay, failure-rate.

    With checkpointing on and no strategy set, Flink restarts without limit after 1 s: so do we.
    Every option is read (and checked) here, when the job starts, not at its first failure.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        checkpointing = checkpoint_interval_ms(config) > 0
        self.kind = options.get(config, options.RESTART_STRATEGY_TYPE) or ("fixed-delay" if checkpointing else "none")

        def get(option: options.ConfigOption) -> Any:
            return options.get(config, option)

        if self.kind == "fixed-delay":
            self.attempts = get(options.FIXED_DELAY_ATTEMPTS)
            self.delay_s = get(options.FIXED_DELAY_DELAY) / 1000
        elif self.kind == "failure-rate":
            self.window_s = get(options.FAILURE_RATE_INTERVAL) / 1000
            self.max_failures = get(options.FAILURE_RATE_MAX_FAILURES)
            self.delay_s = get(options.FAILURE_RATE_DELAY) / 1000
        elif self.kind == "exponential-delay":
            self.initial_s = get(options.EXPONENTIAL_DELAY_INITIAL_BACKOFF) / 1000
            self.maximum_s = get(options.EXPONENTIAL_DELAY_MAX_BACKOFF) / 1000
            self.multiplier = get(options.EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)
            self.reset_s = get(options.EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD) / 1000
            self.attempts = get(options.EXPONENTIAL_DELAY_ATTEMPTS)
            self.jitter = get(options.EXPONENTIAL_DELAY_JITTER_FACTOR)
        self.failures: list[float] = []
        self.restarts = 0
        self.last_failure = 0.0
        self.backoff: float | None = None

    def next_delay(self) -> float | None:
        """Seconds to wait before restarting after a failure now, or None: the job fails for good."""
        now = time.monotonic()
        self.failures.append(now)
        if self.kind == "none":
            return None
        if self.kind == "fixed-delay":
            if self.restarts >= self.attempts:
                return None
            self.restarts += 1
            return self.delay_s
        if self.kind == "failure-rate":
            recent = [t for t in self.failures if now - t <= self.window_s]
            if len(recent) > self.max_failures:
                return None
            self.restarts += 1
            return self.delay_s
        # exponential-delay
        if self.backoff is None or (self.last_failure and now - self.last_failure > self.reset_s):
            self.backoff = self.initial_s
        else:
            self.backoff = min(self.maximum_s, self.backoff * self.multiplier)
        self.last_failure = now
        if self.restarts >= self.attempts:
            return None
        self.restarts += 1
        return self.backoff * (1 + random.uniform(-self.jitter, self.jitter))
