"""``RestartStrategies``: whether and when a failed job restarts from its latest checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RestartStrategyConfiguration:
    """A restart strategy as Flink options (``restart-strategy.type`` and its settings)."""

    options: dict

    def to_options(self) -> dict:
        return dict(self.options)

    def get_description(self) -> str:
        """The strategy in words, e.g. ``fixed-delay (attempts=3, delay=1000)``."""
        kind = self.options.get("restart-strategy.type", "cluster default (fallback)")
        prefix = f"restart-strategy.{kind}."
        settings = ", ".join(f"{k[len(prefix):]}={v}" for k, v in self.options.items() if k.startswith(prefix))
        return f"{kind} ({settings})" if settings else kind


def _ms(value: Any) -> int:
    to_ms = getattr(value, "to_milliseconds", None)
    return int(to_ms()) if callable(to_ms) else int(value)


class RestartStrategies:
    """PyFlink's restart strategy factory.

    >>> env.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 1000))
    """

    # PyFlink's configuration classes, one per strategy (all are RestartStrategyConfiguration here)
    NoRestartStrategyConfiguration = RestartStrategyConfiguration
    FixedDelayRestartStrategyConfiguration = RestartStrategyConfiguration
    FailureRateRestartStrategyConfiguration = RestartStrategyConfiguration
    FallbackRestartStrategyConfiguration = RestartStrategyConfiguration

    @staticmethod
    def fall_back_restart() -> RestartStrategyConfiguration:
        """Use the strategy of the configuration (``restart-strategy.type`` set elsewhere)."""
        return RestartStrategyConfiguration({})

    @staticmethod
    def no_restart() -> RestartStrategyConfiguration:
        return RestartStrategyConfiguration({"restart-strategy.type": "none"})

    @staticmethod
    def fixed_delay_restart(restart_attempts: int, delay_between_attempts: Any) -> RestartStrategyConfiguration:
        return RestartStrategyConfiguration({
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": int(restart_attempts),
            "restart-strategy.fixed-delay.delay": _ms(delay_between_attempts)})

    @staticmethod
    def exponential_delay_restart(initial_backoff: Any, max_backoff: Any, backoff_multiplier: float,
                                  reset_backoff_threshold: Any, jitter_factor: float = 0.0,
                                  attempts: int = 2**31 - 1) -> RestartStrategyConfiguration:
        return RestartStrategyConfiguration({
            "restart-strategy.type": "exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff": _ms(initial_backoff),
            "restart-strategy.exponential-delay.max-backoff": _ms(max_backoff),
            "restart-strategy.exponential-delay.backoff-multiplier": float(backoff_multiplier),
            "restart-strategy.exponential-delay.reset-backoff-threshold": _ms(reset_backoff_threshold),
            "restart-strategy.exponential-delay.jitter-factor": float(jitter_factor),
            "restart-strategy.exponential-delay.attempts-before-reset-backoff": int(attempts)})

    @staticmethod
    def failure_rate_restart(failure_rate: int, failure_interval: Any,
                             delay_interval: Any) -> RestartStrategyConfiguration:
        return RestartStrategyConfiguration({
            "restart-strategy.type": "failure-rate",
            "restart-strategy.failure-rate.max-failures-per-interval": int(failure_rate),
            "restart-strategy.failure-rate.failure-rate-interval": _ms(failure_interval),
            "restart-strategy.failure-rate.delay": _ms(delay_interval)})
