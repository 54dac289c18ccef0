"""PyFlink's path ``pyflink.datastream.formats.avro`` (the code lives in ``rayflink.common.serialization``)."""

from rayflink.common.serialization import (
    AvroRowDeserializationSchema,
    AvroRowSerializationSchema,
)

__all__ = ["AvroRowDeserializationSchema", "AvroRowSerializationSchema"]
