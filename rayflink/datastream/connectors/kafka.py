"""PyFlink path for the Kafka connector (the code lives in ``connectors.kafka``)."""

from rayflink.connectors.kafka import *  # noqa: F401,F403 - one line, PyFlink's import path
