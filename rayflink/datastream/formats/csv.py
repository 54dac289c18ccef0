"""PyFlink's path ``pyflink.datastream.formats.csv`` (the code lives in ``rayflink.common.serialization``)."""

from rayflink.common.serialization import (
    CsvRowDeserializationSchema,
    CsvRowSerializationSchema,
)

__all__ = ["CsvRowDeserializationSchema", "CsvRowSerializationSchema"]
