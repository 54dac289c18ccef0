"""Deserialization schemas that skip malformed messages: the sources drop and count them (Flink's
``ignore-parse-errors``), so no ``None`` record reaches the operators downstream."""

from __future__ import annotations

from conftest import collect

from rayflink.common import Types, WatermarkStrategy
from rayflink.common.serialization import CsvRowDeserializationSchema, JsonRowDeserializationSchema
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.file_system import FileSource, StreamFormat

ROW = Types.ROW_NAMED(["id", "name"], [Types.LONG(), Types.STRING()])


def test_a_skipping_schema_gives_none_in_place_of_each_malformed_message():
    json_schema = JsonRowDeserializationSchema.builder().type_info(ROW).ignore_parse_errors().build()
    assert json_schema.deserialize_batch([b'{"id": 1, "name": "a"}', b"{oops", b'{"id": "x"}']) == [
        {"id": 1, "name": "a"}, None, None]
    csv_schema = CsvRowDeserializationSchema.Builder(ROW).set_ignore_parse_errors().build()
    assert csv_schema.deserialize_batch([b"1,a", b"1,a,extra", b"x,b", b"3,c"]) == [
        {"id": 1, "name": "a"}, None, None, {"id": 3, "name": "c"}]


def source_metric(results, name: str) -> int:
    """The sum of a source operator metric over the job's subtasks."""
    metrics = results.client.get_metrics()
    return sum(op.get(name, 0) for v in metrics["vertices"] for s in v["subtasks"]
               for op in s["operators"].values())


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
