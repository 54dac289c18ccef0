"""Deserialization schemas that skip malformed messages: the sources drop and count them (Flink's
``ignore-parse-errors``), so no ``None`` record reaches the operators downstream."""

from __future__ import annotations

import pytest

from rayflink.common import Row, Types, WatermarkStrategy
from rayflink.common.serialization import CsvRowDeserializationSchema, JsonRowDeserializationSchema
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.file_system import FileSource, StreamFormat

ROW = Types.ROW_NAMED(["id", "name"], [Types.LONG(), Types.STRING()])


def test_a_skipping_schema_gives_none_in_place_of_each_malformed_message():
    json_schema = JsonRowDeserializationSchema.builder().type_info(ROW).ignore_parse_errors().build()
    assert json_schema.deserialize_batch([b'{"id": 1, "name": "a"}', b"{oops", b'{"id": "x"}']) == [
        Row(id=1, name="a"), None, None]
    csv_schema = CsvRowDeserializationSchema.Builder(ROW).set_ignore_parse_errors().build()
    assert csv_schema.deserialize_batch([b"1,a", b"1,a,extra", b"x,b", b"3,c"]) == [
        Row(id=1, name="a"), None, None, Row(id=3, name="c")]


def test_typed_json_and_csv_give_rows_with_named_fields_as_pyflink():
    # Given a row type with a nested row and a list of rows,
    item = Types.ROW_NAMED(["sku", "qty"], [Types.STRING(), Types.INT()])
    order = Types.ROW_NAMED(["id", "buyer", "items"],
                            [Types.LONG(), Types.ROW_NAMED(["name"], [Types.STRING()]), Types.LIST(item)])
    # when JSON is read with it, then every level is a Row read by name, attribute or position,
    row = JsonRowDeserializationSchema.builder().type_info(order).build().deserialize(
        b'{"items": [{"sku": "x", "qty": 2}], "buyer": {"name": "ana"}, "id": 7}')
    assert row == Row(id=7, buyer=Row(name="ana"), items=[Row(sku="x", qty=2)])
    assert (row.id, row["buyer"].name, row[2][0].qty) == (7, "ana", 2)
    assert row.as_dict(recursive=True) == {"id": 7, "buyer": {"name": "ana"}, "items": [{"sku": "x", "qty": 2}]}
    # and Types.ROW names its fields f0, f1, ... in JSON and CSV alike.
    unnamed = Types.ROW([Types.INT(), Types.STRING()])
    assert JsonRowDeserializationSchema.builder().type_info(unnamed).build().deserialize(b'{"f0": 1, "f1": "a"}') \
        == Row(f0=1, f1="a")
    csv_row = CsvRowDeserializationSchema.Builder(unnamed).build().deserialize(b"1,a")
    assert csv_row == Row(f0=1, f1="a") and csv_row.f1 == "a"
    # Without a type (rayflink's extension; PyFlink requires one), JSON stays as parsed.
    assert JsonRowDeserializationSchema.builder().build().deserialize(b'{"a": [1]}') == {"a": [1]}


def source_metric(results, name: str) -> int:
    """The sum of a source operator metric over the job's subtasks."""
    metrics = results.client.get_metrics()
    return sum(op.get(name, 0) for v in metrics["vertices"] for s in v["subtasks"]
               for op in s["operators"].values())


@pytest.mark.integration
def test_the_file_source_skips_and_counts_what_the_schema_could_not_parse(tmp_path):
    # Given JSON lines, 2 of 6 malformed, read with a schema that ignores parse errors,
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1, "name": "a"}\n{oops\n{"id": 2, "name": "b"}\n'
                    '{"id": "three", "name": "c"}\n{"id": 4, "name": "d"}\n{"id": 5, "name": "e"}\n')
    schema = JsonRowDeserializationSchema.builder().type_info(ROW).ignore_parse_errors().build()
    src = FileSource.for_record_stream_format(StreamFormat(schema.deserialize_batch, False, ROW), str(path)).build()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    # when a job reads them into a map that uses every record,
    stream = env.from_source(src, WatermarkStrategy.no_watermarks(), "jsonl").map(lambda r: r["id"])
    with stream.execute_and_collect() as results:
        out = list(results)
        # then the good records arrive, the malformed ones are skipped (no None) and counted.
        assert sorted(out) == [1, 2, 4, 5]
        assert source_metric(results, "num_records_in_errors") == 2
