"""PyFlink path for ``NumberSequenceSource``."""

from rayflink.connectors.number_seq import NumberSequenceSource  # noqa: F401
