"""Retry strategies of async I/O (PyFlink's ``pyflink.datastream.async_retry_strategies``).

``current_attempts`` counts the attempts made so far (1 after the first call); a strategy allows
another while ``current_attempts <= max_attempts``, as PyFlink's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayflink.datastream.functions import AsyncRetryPredicate, AsyncRetryStrategy

__all__ = ["ExponentialBackoffDelayRetryStrategy", "FixedDelayRetryStrategy", "NO_RETRY_STRATEGY",
           "NoRetryStrategy", "RetryPredicate"]


class RetryPredicate(AsyncRetryPredicate):
    """Retry on results for which ``result_predicate`` is true, on exceptions for which
    ``exception_predicate`` is true."""

    def __init__(self, result_predicate: Callable[[list], bool] | None,
                 exception_predicate: Callable[[Exception], bool] | None) -> None:
        self._result_predicate = result_predicate
        self._exception_predicate = exception_predicate

    def result_predicate(self) -> Callable[[list], bool] | None:
        return self._result_predicate

    def exception_predicate(self) -> Callable[[Exception], bool] | None:
        return self._exception_predicate


class NoRetryStrategy(AsyncRetryStrategy):
    """Never retry."""

    def can_retry(self, current_attempts: int) -> bool:
        return False

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return -1

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return RetryPredicate(None, None)


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a number greater than zero, not {value!r}")


class FixedDelayRetryStrategy(AsyncRetryStrategy):
    """Up to ``max_attempts`` retries, ``backoff_time_millis`` apart."""

    def __init__(self, max_attempts: int, backoff_time_millis: int,
                 result_predicate: Callable[[list], bool] | None = None,
                 exception_predicate: Callable[[Exception], bool] | None = None) -> None:
        _positive("max_attempts", max_attempts)
        _positive("backoff_time_millis", backoff_time_millis)
        self._max_attempts = max_attempts
        self._backoff = backoff_time_millis
        self._predicate = RetryPredicate(result_predicate, exception_predicate)

    def can_retry(self, current_attempts: int) -> bool:
        return current_attempts <= self._max_attempts

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return self._backoff

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return self._predicate


class ExponentialBackoffDelayRetryStrategy(AsyncRetryStrategy):
    """Up to ``max_attempts`` retries, the delay growing from ``initial_delay`` by ``multiplier`` up
    to ``max_retry_delay`` (ms). The delay is computed from the attempt count alone, so one
    strategy object serves every request in flight."""

    def __init__(self, max_attempts: int, initial_delay: int, max_retry_delay: int, multiplier: float,
                 result_predicate: Callable[[list], bool] | None = None,
                 exception_predicate: Callable[[Exception], bool] | None = None) -> None:
        for name, value in (("max_attempts", max_attempts), ("initial_delay", initial_delay),
                            ("max_retry_delay", max_retry_delay), ("multiplier", multiplier)):
            _positive(name, value)
        self._max_attempts = max_attempts
        self._initial = initial_delay
        self._max_delay = max_retry_delay
        self._multiplier = multiplier
        self._predicate = RetryPredicate(result_predicate, exception_predicate)

    def can_retry(self, current_attempts: int) -> bool:
        return current_attempts <= self._max_attempts

    def get_backoff_time_millis(self, current_attempts: int) -> int:
        return int(min(self._initial * self._multiplier ** max(0, current_attempts - 1), self._max_delay))

    def get_retry_predicate(self) -> AsyncRetryPredicate:
        return self._predicate


NO_RETRY_STRATEGY: AsyncRetryStrategy = NoRetryStrategy()
