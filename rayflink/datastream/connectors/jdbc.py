"""PyFlink path for the JDBC connector (the code lives in ``rayflink.connectors.jdbc``)."""

from rayflink.connectors.jdbc import (
    JdbcConnectionOptions,
    JdbcExecutionOptions,
    JdbcSink,
)

__all__ = ["JdbcConnectionOptions", "JdbcExecutionOptions", "JdbcSink"]
