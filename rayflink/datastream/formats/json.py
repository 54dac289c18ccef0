"""PyFlink's path ``pyflink.datastream.formats.json`` (the code lives in ``rayflink.common.serialization``)."""

from rayflink.common.serialization import (
    JsonRowDeserializationSchema,
    JsonRowSerializationSchema,
)

__all__ = ["JsonRowDeserializationSchema", "JsonRowSerializationSchema"]
