"""PyFlink's path ``pyflink.datastream.formats.parquet`` (the code lives in the file connector)."""

from rayflink.connectors.file import ParquetBulkWriters

__all__ = ["ParquetBulkWriters"]
