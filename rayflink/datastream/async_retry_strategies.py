"""Retry strategies of async I/O at PyFlink's path ``pyflink.datastream.async_retry_strategies``.

``current_attempts`` counts the attempts made so far (1 after the first call); a strategy allows
another while ``current_attempts <= max_attempts``, as PyFlink's do. The classes live in
``rayflink.datastream.functions`` beside ``AsyncRetryStrategy``.
"""

from rayflink.datastream.functions import (
    NO_RETRY_STRATEGY,
    ExponentialBackoffDelayRetryStrategy,
    FixedDelayRetryStrategy,
    NoRetryStrategy,
    RetryPredicate,
)

__all__ = ["ExponentialBackoffDelayRetryStrategy", "FixedDelayRetryStrategy", "NO_RETRY_STRATEGY",
           "NoRetryStrategy", "RetryPredicate"]
