"""PyFlink path for the Kafka connector (the code lives in ``connectors.kafka``)."""
from rayflink.connectors.kafka import *  # noqa: F401,F403 - one line, PyFlink's import path
from rayflink.connectors.kafka import (  # noqa: F401 - the builders PyFlink also exports
    KafkaRecordSerializationSchemaBuilder,
    KafkaSinkBuilder,
    KafkaSourceBuilder,
)
