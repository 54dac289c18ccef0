"""``RestartStrategies``: whether and when a failed job restarts from its latest checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayflink.common import config_options as options


@dataclass(frozen=True)
class RestartStrategyConfiguration:
    """A restart strategy as Flink options (``restart-strategy.type`` and its settings), checked."""

    options: dict

    def to_options(self) -> dict:
        return dict(self.options)

    def get_description(self) -> str:
        """The strategy in words, e.g. ``fixed-delay (attempts=3, delay=1000)``."""
        kind = self.options.get(options.RESTART_STRATEGY_TYPE.key) or "cluster default (fallback)"
        prefix = f"restart-strategy.{kind}."
        settings = ", ".join(f"{k[len(prefix):]}={v}" for k, v in self.options.items() if k.startswith(prefix))
        return f"{kind} ({settings})" if settings else kind


def _strategy(kind: str, values: dict[options.ConfigOption, Any]) -> RestartStrategyConfiguration:
    """The options of a strategy, each value parsed as its option reads it (a ``Time``, a
    ``Duration``, ``1000`` or ``"1 s"`` for a delay): a wrong value fails here, naming the option."""
    parsed = {options.RESTART_STRATEGY_TYPE.key: kind}
    for option, value in values.items():
        parsed[option.key] = option.parse(value)
    return RestartStrategyConfiguration(parsed)


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
        return _strategy("none", {})

    @staticmethod
    def fixed_delay_restart(restart_attempts: int, delay_between_attempts: Any) -> RestartStrategyConfiguration:
        """Restart up to ``restart_attempts`` times, ``delay_between_attempts`` (ms or a ``Time``) apart."""
        return _strategy("fixed-delay", {options.FIXED_DELAY_ATTEMPTS: restart_attempts,
                                         options.FIXED_DELAY_DELAY: delay_between_attempts})

    @staticmethod
    def exponential_delay_restart(initial_backoff: Any, max_backoff: Any, backoff_multiplier: float,
                                  reset_backoff_threshold: Any, jitter_factor: float = 0.0,
                                  attempts: int = 2**31 - 1) -> RestartStrategyConfiguration:
        """Restart with waits growing from ``initial_backoff`` by ``backoff_multiplier`` up to ``max_backoff``."""
        return _strategy("exponential-delay", {
            options.EXPONENTIAL_DELAY_INITIAL_BACKOFF: initial_backoff,
            options.EXPONENTIAL_DELAY_MAX_BACKOFF: max_backoff,
            options.EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER: backoff_multiplier,
            options.EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD: reset_backoff_threshold,
            options.EXPONENTIAL_DELAY_JITTER_FACTOR: jitter_factor,
            options.EXPONENTIAL_DELAY_ATTEMPTS: attempts})

    @staticmethod
    def failure_rate_restart(failure_rate: int, failure_interval: Any,
                             delay_interval: Any) -> RestartStrategyConfiguration:
        """Restart unless more than ``failure_rate`` failures happen within ``failure_interval``."""
        return _strategy("failure-rate", {options.FAILURE_RATE_MAX_FAILURES: failure_rate,
                                          options.FAILURE_RATE_INTERVAL: failure_interval,
                                          options.FAILURE_RATE_DELAY: delay_interval})
