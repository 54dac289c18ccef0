"""Avro schemas for files: PyFlink's ``AvroSchema``, the type of its records
(``GenericRecordAvroTypeInfo``), Avro container files of such records (``AvroBulkWriters``) and
Parquet files of them (``AvroParquetReaders``, ``AvroParquetWriters``).

A generic record is a ``dict`` of the schema's fields, as PyFlink hands Avro records to Python.
The Parquet columns are the record's fields, typed by mapping Avro to Arrow: ``int``/``long``
to int32/int64, ``float``/``double``, ``boolean``, ``string``, ``bytes``/``fixed`` to binary,
``enum`` to string, ``array``/``map``/``record`` to list/map/struct, a union with ``null`` to its
other branch (nullable), and the logical types ``date``, ``time-millis``, ``timestamp-millis``,
``timestamp-micros`` and ``decimal``.

>>> schema = AvroSchema.parse_string('{"type": "record", "name": "Order", "fields": ['
...     '{"name": "id", "type": "long"}, {"name": "note", "type": ["null", "string"]}]}')
>>> schema.arrow_schema()
id: int64 not null
note: string
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from rayflink.common.serialization import BulkWriterFactory
from rayflink.common.typeinfo import TypeInformation
from rayflink.connectors.file import BulkFormat, BulkWriter, FileConnectorError, ParquetBulkWriters

__all__ = ["AvroBulkWriters", "AvroParquetReaders", "AvroParquetWriters", "AvroSchema", "GenericRecordAvroTypeInfo"]

_PRIMITIVES = {"null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(),
               "float": pa.float32(), "double": pa.float64(), "bytes": pa.binary(), "string": pa.string()}
_LOGICAL = {"date": pa.date32(), "time-millis": pa.time32("ms"), "time-micros": pa.time64("us"),
            "timestamp-millis": pa.timestamp("ms"), "timestamp-micros": pa.timestamp("us")}


class AvroSchema:
    """An Avro schema (PyFlink's ``AvroSchema``), parsed and checked by fastavro.

    Raises ``ValueError`` for text that is not JSON or not a valid schema.
    """

    def __init__(self, schema: dict | str) -> None:
        import fastavro

        self.schema = schema
        try:
            self.parsed = fastavro.parse_schema(schema)
        except Exception as exc:  # noqa: BLE001 - fastavro raises several types for bad schemas
            raise ValueError(f"not a valid Avro schema: {exc}") from None

    @staticmethod
    def parse_string(json_schema: str) -> AvroSchema:
        """The schema written as JSON in ``json_schema``."""
        try:
            schema = json.loads(json_schema)
        except json.JSONDecodeError as exc:
            raise ValueError(f"an Avro schema is JSON: {exc}") from None
        return AvroSchema(schema)

    @staticmethod
    def parse_file(file_path: str) -> AvroSchema:
        """The schema in the JSON file ``file_path`` (an ``.avsc``)."""
        with open(file_path, encoding="utf-8") as f:
            return AvroSchema.parse_string(f.read())

    def field_names(self) -> list[str]:
        """The fields of a record schema."""
        return [f["name"] for f in self._record()["fields"]]

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of a record schema's fields (the columns of its Parquet files)."""
        named = self.parsed.get("__named_schemas", {}) if isinstance(self.parsed, dict) else {}
        return pa.schema([pa.field(f["name"], _arrow_type(f["type"], named), _nullable(f["type"]))
                          for f in self._record()["fields"]])

    def _record(self) -> dict:
        if not (isinstance(self.parsed, dict) and self.parsed.get("type") == "record"):
            raise ValueError(f"expected an Avro record schema, got {self}")
        return self.parsed

    def __str__(self) -> str:
        return json.dumps(self.schema) if not isinstance(self.schema, str) else self.schema

    def __repr__(self) -> str:
        return f"AvroSchema({self})"


class GenericRecordAvroTypeInfo(TypeInformation):
    """The type of the generic records (dicts) of an Avro record schema, e.g. the output type of
    a map that produces them for ``AvroParquetWriters``."""

    def __init__(self, schema: AvroSchema) -> None:
        super().__init__(f"GenericRecord<{schema.parsed.get('name', '?')}>",
                         pa.struct(list(schema.arrow_schema())), dict)
        object.__setattr__(self, "_avro_schema", schema)

    def get_avro_schema(self) -> AvroSchema:
        return self._avro_schema  # type: ignore[attr-defined]


class AvroBulkWriters:
    """Writes generic records of an Avro schema as Avro container files (``FileSink.for_bulk_format``).

    >>> sink = FileSink.for_bulk_format("/data/out", AvroBulkWriters.for_generic_record(schema)).build()
    ... # doctest: +SKIP
    """

    @staticmethod
    def for_generic_record(schema: AvroSchema) -> AvroBulkWriterFactory:
        """Each part file an Avro container file of ``schema``; a record that does not fit fails the sink."""
        return AvroBulkWriterFactory(schema)


class AvroBulkWriterFactory(BulkWriterFactory):
    """What ``AvroBulkWriters.for_generic_record`` returns: a writer per part file."""

    def __init__(self, schema: AvroSchema) -> None:
        self.schema = schema

    def create(self, path: str) -> BulkWriter:
        return _AvroPartWriter(path, self.schema)


class _AvroPartWriter(BulkWriter):
    def __init__(self, path: str, schema: AvroSchema) -> None:
        from fastavro.write import Writer

        self.schema = schema
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.writer = Writer(self.file, schema.parsed, validator=True)

    def add_elements(self, records: list) -> int:
        from fastavro.validation import ValidationError

        start = self.file.tell()
        try:
            for record in records:
                self.writer.write(record)
            self.writer.flush()
        except (ValidationError, ValueError, TypeError) as exc:
            raise FileConnectorError(f"FileSink: a record does not match the Avro schema "
                                     f"{self.schema.parsed.get('name')}: {exc}") from exc
        return self.file.tell() - start

    def close(self) -> None:
        self.writer.flush()
        self.file.close()


class AvroParquetReaders:
    """Reads Parquet files as generic records of an Avro schema (``FileSource.for_bulk_file_format``)."""

    @staticmethod
    def for_generic_record(schema: AvroSchema) -> BulkFormat:
        """Each row a dict of the schema's fields (the file's other columns are not read), maps
        as dicts."""
        return BulkFormat(tuple(schema.field_names()), maps_as_dicts=True)


class AvroParquetWriters:
    """Writes generic records of an Avro schema as Parquet files (``FileSink.for_bulk_format``)."""

    @staticmethod
    def for_generic_record(schema: AvroSchema) -> ParquetBulkWriters:
        """Columns typed by the schema's fields; a record that does not fit fails the sink."""
        return ParquetBulkWriters(schema.arrow_schema())


def _nullable(avro: Any) -> bool:
    return avro == "null" or (isinstance(avro, list) and "null" in avro)


def _arrow_type(avro: Any, named: dict) -> pa.DataType:
    """The Arrow type of an Avro type (``named``: the schema's named types, by full name)."""
    if isinstance(avro, list):  # a union: nullable when it has null, else one branch only
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise ValueError(f"Avro unions other than [null, T] have no Arrow type: {avro}")
        return _arrow_type(branches[0], named)
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        if avro in named:
            return _arrow_type(named[avro], named)
        raise ValueError(f"unknown Avro type {avro!r}")
    logical = avro.get("logicalType")
    if logical == "decimal":
        return pa.decimal128(avro["precision"], avro.get("scale", 0))
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    kind = avro["type"]
    if kind == "record":
        return pa.struct([pa.field(f["name"], _arrow_type(f["type"], named), _nullable(f["type"]))
                          for f in avro["fields"]])
    if kind == "array":
        return pa.list_(_arrow_type(avro["items"], named))
    if kind == "map":
        return pa.map_(pa.string(), _arrow_type(avro["values"], named))
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary(avro["size"])
    return _arrow_type(kind, named)
