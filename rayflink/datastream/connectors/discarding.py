"""PyFlink-style path for ``DiscardingSink``."""

from connectors.discarding import DiscardingSink  # noqa: F401
