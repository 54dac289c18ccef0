"""Avro schemas for files (PyFlink's AvroSchema, GenericRecordAvroTypeInfo, AvroBulkWriters,
AvroParquetReaders, AvroParquetWriters): Avro types mapped to Arrow (unit tests), and one job round trip."""

from __future__ import annotations

import datetime
import decimal
import json
import os

import fastavro
import pyarrow as pa
import pytest

from rayflink.common import WatermarkStrategy
from rayflink.connectors.file import FileConnectorError
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.file_system import FileSink, FileSource
from rayflink.datastream.formats.avro import AvroBulkWriters, AvroSchema, GenericRecordAvroTypeInfo
from rayflink.datastream.formats.parquet import AvroParquetReaders, AvroParquetWriters

ORDER = {
    "type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "id", "type": "long"},
        {"name": "note", "type": ["null", "string"]},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "double"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"}, {"name": "vip", "type": "boolean"}]}},
        {"name": "billed_to", "type": "Customer"},  # a named type used again by name
    ]}


def test_a_schema_parses_from_a_string_or_a_file_and_refuses_bad_ones(tmp_path):
    schema = AvroSchema.parse_string(json.dumps(ORDER))
    path = tmp_path / "order.avsc"
    path.write_text(json.dumps(ORDER))
    assert AvroSchema.parse_file(str(path)).field_names() == schema.field_names()
    assert schema.field_names()[:3] == ["id", "note", "amount"] and json.loads(str(schema)) == ORDER
    with pytest.raises(ValueError, match="an Avro schema is JSON"):
        AvroSchema.parse_string("{not json")
    with pytest.raises(ValueError, match="not a valid Avro schema"):
        AvroSchema.parse_string('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(ValueError, match="expected an Avro record schema"):
        AvroSchema.parse_string('"string"').arrow_schema()


def test_avro_types_map_to_arrow_columns():
    customer = pa.struct([pa.field("name", pa.string(), False), pa.field("vip", pa.bool_(), False)])
    assert AvroSchema(ORDER).arrow_schema() == pa.schema([
        pa.field("id", pa.int64(), False), pa.field("note", pa.string(), True),
        pa.field("amount", pa.decimal128(10, 2), False), pa.field("at", pa.timestamp("ms"), False),
        pa.field("day", pa.date32(), False), pa.field("tags", pa.list_(pa.string()), False),
        pa.field("attrs", pa.map_(pa.string(), pa.float64()), False), pa.field("status", pa.string(), False),
        pa.field("customer", customer, False), pa.field("billed_to", customer, False)])
    with pytest.raises(ValueError, match=r"unions other than \[null, T\]"):
        AvroSchema({"type": "record", "name": "U", "fields": [{"name": "u", "type": ["int", "string"]}]}).arrow_schema()


def test_the_type_info_of_generic_records_is_a_dict_of_the_fields():
    info = GenericRecordAvroTypeInfo(AvroSchema(ORDER))
    assert repr(info) == "GenericRecord<shop.Order>" and info.get_avro_schema().field_names()[0] == "id"
    assert info.accepts({"id": 1}) and not info.accepts((1, "a"))
    assert not info.need_conversion() and info.from_internal_type({"id": 1}) == {"id": 1}
    assert isinstance(info.arrow_type, pa.StructType) and info.arrow_type.names[:2] == ["id", "note"]


def test_the_parquet_reader_and_writer_take_the_schemas_columns():
    schema = AvroSchema(ORDER)
    reader = AvroParquetReaders.for_generic_record(schema)
    assert reader.columns == tuple(schema.field_names()) and reader.maps_as_dicts  # Avro maps are dicts
    assert AvroParquetWriters.for_generic_record(schema).schema == schema.arrow_schema()


def test_the_avro_bulk_writer_writes_container_files_of_the_schema(tmp_path):
    schema = AvroSchema.parse_string('{"type": "record", "name": "R", "fields": [{"name": "id", "type": "long"}, '
                                     '{"name": "note", "type": ["null", "string"]}]}')
    factory = AvroBulkWriters.for_generic_record(schema)
    builder = FileSink.for_bulk_format(str(tmp_path), factory)
    assert isinstance(builder, FileSink.BulkFormatBuilder) and builder.build().bulk is factory
    writer = factory.create(str(tmp_path / "part"))
    assert writer.add_elements([{"id": 1, "note": None}, {"id": 2, "note": "b"}]) > 0
    with pytest.raises(FileConnectorError, match="does not match the Avro schema R"):
        writer.add_elements([{"id": "three"}])
    writer.close()
    with open(tmp_path / "part", "rb") as f:
        assert list(fastavro.reader(f)) == [{"id": 1, "note": None}, {"id": 2, "note": "b"}]


@pytest.mark.integration
def test_generic_records_round_trip_through_parquet_files(tmp_path):
    schema = AvroSchema(ORDER)
    records = [{"id": i, "note": None if i % 2 else f"n{i}", "amount": decimal.Decimal(f"{i}.25"),
                "at": datetime.datetime(2024, 1, 1, 0, 0, i), "day": datetime.date(2024, 1, 1 + i),
                "tags": ["a"] * i, "attrs": {"w": float(i)}, "status": "NEW",
                "customer": {"name": f"c{i}", "vip": i == 0}, "billed_to": {"name": "b", "vip": False}}
               for i in range(5)]
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    generic = env.from_collection(records, type_info=GenericRecordAvroTypeInfo(schema))
    generic.sink_to(FileSink.for_bulk_format(str(tmp_path / "out"), AvroParquetWriters.for_generic_record(schema))
                    .build())
    generic.sink_to(FileSink.for_bulk_format(str(tmp_path / "avro"), AvroBulkWriters.for_generic_record(schema))
                    .build())
    env.execute("write avro-parquet and avro")
    avro = []
    for name in os.listdir(tmp_path / "avro"):
        with open(tmp_path / "avro" / name, "rb") as f:
            avro += list(fastavro.reader(f))
    assert sorted(r["id"] for r in avro) == list(range(5)) and avro[0]["customer"]["name"].startswith("c")
    source = FileSource.for_bulk_file_format(AvroParquetReaders.for_generic_record(schema),
                                             str(tmp_path / "out")).build()
    with env.from_source(source, WatermarkStrategy.no_watermarks(), "read").execute_and_collect() as results:
        back = sorted(results, key=lambda r: r["id"])
    assert back == records
