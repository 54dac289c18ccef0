"""PyFlink path for ``NumberSequenceSource``."""

from connectors.number_seq import NumberSequenceSource  # noqa: F401
