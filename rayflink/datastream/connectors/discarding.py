"""PyFlink-style path for ``DiscardingSink``."""

from rayflink.connectors.discarding import DiscardingSink
