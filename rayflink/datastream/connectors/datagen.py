"""PyFlink path for ``DataGeneratorSource`` and ``RateLimiterStrategy``."""

from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
