"""PyFlink's path ``pyflink.datastream.formats.avro`` (the code lives in ``rayflink.common.serialization``
and ``rayflink.connectors.avro_files``)."""

from rayflink.common.serialization import (
    AvroRowDeserializationSchema,
    AvroRowSerializationSchema,
)
from rayflink.connectors.avro_files import AvroBulkWriters, AvroSchema, GenericRecordAvroTypeInfo

__all__ = ["AvroBulkWriters", "AvroRowDeserializationSchema", "AvroRowSerializationSchema", "AvroSchema",
           "GenericRecordAvroTypeInfo"]
