"""PyFlink's path ``pyflink.datastream.formats.csv`` (the code lives in ``rayflink.common.serialization``
and ``rayflink.connectors.csv_files``)."""

from rayflink.common.serialization import (
    CsvRowDeserializationSchema,
    CsvRowSerializationSchema,
)
from rayflink.connectors.csv_files import CsvBulkWriters, CsvReaderFormat, CsvSchema, CsvSchemaBuilder

__all__ = ["CsvBulkWriters", "CsvReaderFormat", "CsvRowDeserializationSchema", "CsvRowSerializationSchema",
           "CsvSchema", "CsvSchemaBuilder"]
