"""PyFlink path for ``DataGeneratorSource`` and ``RateLimiterStrategy``."""

from connectors.datagen import DataGeneratorSource, RateLimiterStrategy  # noqa: F401
