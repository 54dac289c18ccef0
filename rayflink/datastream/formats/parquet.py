"""PyFlink's path ``pyflink.datastream.formats.parquet`` (the code lives in the file connector and
``rayflink.connectors.avro_files``)."""

from rayflink.connectors.avro_files import AvroParquetReaders, AvroParquetWriters
from rayflink.connectors.file import ParquetBulkWriters, ParquetColumnarRowInputFormat

__all__ = ["AvroParquetReaders", "AvroParquetWriters", "ParquetBulkWriters", "ParquetColumnarRowInputFormat"]
