"""PyFlink path for the Kafka connector (the code lives in ``connectors.kafka``)."""
from rayflink.connectors.kafka import *  # noqa: F401,F403 - one line, PyFlink's import path
from rayflink.connectors.kafka import (  # noqa: F401 - the builders PyFlink also exports
    KafkaRecordSerializationSchemaBuilder,
    KafkaSinkBuilder,
    KafkaSourceBuilder,
)


class KafkaTopicSelector:
    """Chooses the topic of each record for ``KafkaRecordSerializationSchema.builder()
    .set_topic_selector(...)``: override ``apply(record) -> topic`` (a plain function works too).

    >>> class ByRegion(KafkaTopicSelector):
    ...     def apply(self, record):
    ...         return f"orders-{record['region']}"
    """

    def apply(self, record: object) -> str:
        raise NotImplementedError(f"{type(self).__name__}.apply(record) must return the record's topic")

    def __call__(self, record: object) -> str:
        return self.apply(record)
