"""FileSource (text, CSV, JSON lines, Parquet, continuous monitoring) and FileSink (row and Parquet parts)."""

from __future__ import annotations

import json
import os
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rayflink.common import Duration, Row, Types, WatermarkStrategy
from rayflink.common.serialization import DeserializationError, JsonRowSerializationSchema
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.file_system import (
    BulkFormat,
    Encoder,
    FileSink,
    FileSource,
    OutputFileConfig,
    ParquetBulkWriters,
    RollingPolicy,
    StreamFormat,
)
from rayflink.errors import JobCancelledError, JobExecutionError
from rayflink.testing import checkpointed_env, collect

ROW = Types.ROW_NAMED(["id", "name", "amount"], [Types.LONG(), Types.STRING(), Types.DOUBLE()])


def env(parallelism: int = 2) -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(parallelism)
    return e


def read(source: FileSource, parallelism: int = 2) -> list:
    return collect(env(parallelism).from_source(source, WatermarkStrategy.no_watermarks(), "files"))


@pytest.mark.integration
def test_text_lines_of_every_file_in_a_directory_tree(tmp_path) -> None:
    # Given 3 files (one nested, one without a final line end, one CRLF) and a hidden in-progress file,
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a1\na2\n")
    (tmp_path / "sub" / "b.txt").write_text("b1\nb2\nb3")
    (tmp_path / "c.txt").write_bytes(b"c1\r\nc2\r\n")
    (tmp_path / ".d.txt.inprogress").write_text("hidden\n")
    # when the directory is read at parallelism 2,
    got = read(FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(tmp_path)).build())
    # then every line of every visible file arrives once.
    assert sorted(got) == ["a1", "a2", "b1", "b2", "b3", "c1", "c2"]


@pytest.mark.integration
def test_csv_with_header_and_json_lines_as_typed_rows(tmp_path) -> None:
    (tmp_path / "in.csv").write_text('id,name,amount\n1,"ana, b",2.5\n2,bo,\n')
    csv_src = FileSource.for_record_stream_format(StreamFormat.csv_format(ROW, skip_header=True),
                                                  str(tmp_path / "in.csv")).build()
    assert sorted(read(csv_src), key=lambda r: r["id"]) == [
        Row(id=1, name="ana, b", amount=2.5), Row(id=2, name="bo", amount=None)]
    lines = [json.dumps({"id": i, "name": f"n{i}", "amount": i}) for i in range(100)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    json_src = FileSource.for_record_stream_format(StreamFormat.json_lines_format(ROW),
                                                   str(tmp_path / "in.jsonl")).build()
    assert sorted(r["id"] for r in read(json_src)) == list(range(100))
    assert all(isinstance(r["amount"], float) for r in read(json_src))


@pytest.mark.integration
def test_a_bad_csv_field_fails_the_job_naming_file_field_and_value(tmp_path) -> None:
    (tmp_path / "bad.csv").write_text("1,ana,2.5\nx,bo,1\n")
    src = FileSource.for_record_stream_format(StreamFormat.csv_format(ROW), str(tmp_path / "bad.csv")).build()
    with pytest.raises(JobExecutionError, match=r"bad\.csv.*field 'id': expected LONG, got 'x'"):
        read(src, 1)


@pytest.mark.integration
def test_missing_path_is_a_clear_error(tmp_path) -> None:
    src = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(tmp_path / "nope")).build()
    with pytest.raises(Exception, match=r"path '.*nope' does not exist"):
        read(src, 1)


@pytest.mark.integration
def test_parquet_as_rows_and_as_arrow_batches(tmp_path) -> None:
    # Given two Parquet files of 5,000 rows each,
    for part in range(2):
        ids = list(range(part * 5000, (part + 1) * 5000))
        pq.write_table(pa.table({"id": ids, "name": [f"n{i}" for i in ids], "amount": [i / 2 for i in ids]}),
                       tmp_path / f"p{part}.parquet", row_group_size=1000)
    # rows become dicts (only the asked columns),
    rows = read(FileSource.for_bulk_file_format(BulkFormat.parquet(columns=["id", "amount"]), str(tmp_path)).build())
    assert sorted(r["id"] for r in rows) == list(range(10_000)) and set(rows[0]) == {"id", "amount"}
    # and with arrow_batches the record batches travel whole, summed without per-row Python objects.
    fmt = BulkFormat.parquet(batch_size=2048, arrow_batches=True)
    stream = env(2).from_source(FileSource.for_bulk_file_format(fmt, str(tmp_path)).build(),
                                WatermarkStrategy.no_watermarks(), "parquet")
    sums = collect(stream.map(lambda b: (b.num_rows, pc.sum(b.column("id")).as_py())))
    assert sum(n for n, _ in sums) == 10_000 and sum(s for _, s in sums) == sum(range(10_000))


@pytest.mark.integration
def test_monitoring_a_directory_reads_files_that_appear_later(tmp_path) -> None:
    (tmp_path / "first.txt").write_text("one\n")
    src = (FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(tmp_path))
           .monitor_continuously(Duration.of_millis(100)).build())
    got: list = []
    with env(2).from_source(src, WatermarkStrategy.no_watermarks(), "files").execute_and_collect() as results:
        timer = threading.Timer(30, results.close)
        timer.start()
        for line in results:
            got.append(line)
            if line == "one":  # a file written elsewhere, then renamed in (as monitored directories expect)
                (tmp_path / ".tmp").write_text("two\nthree\n")
                os.replace(tmp_path / ".tmp", tmp_path / "second.txt")
            if len(got) == 3:
                break
        timer.cancel()
    assert sorted(got) == ["one", "three", "two"]


@pytest.mark.integration
def test_row_format_sink_rolls_parts_and_commits_them_at_the_end_of_input(tmp_path) -> None:
    # Given 1,000 JSON records written at parallelism 2 with parts rolled every ~4 KB,
    out = tmp_path / "out"
    encoder = Encoder.from_serialization_schema(JsonRowSerializationSchema.builder().build())
    sink = (FileSink.for_row_format(str(out), encoder)
            .with_rolling_policy(RollingPolicy.default_rolling_policy(part_size=4096))
            .with_output_file_config(OutputFileConfig.builder().with_part_prefix("orders").with_part_suffix(".jsonl"))
            .build())
    e = env(2)
    e.from_collection([{"id": i, "pad": "x" * 20} for i in range(1000)]).rebalance().sink_to(sink)
    e.execute("file sink")
    # then only finished parts remain, named as Flink names them, and they hold every record once.
    names = sorted(os.listdir(out))
    assert names and all(n.startswith("orders-") and n.endswith(".jsonl") for n in names)
    assert len(names) > 2  # rolled by size
    subtasks = {n.split("-")[2] for n in names}
    assert subtasks == {"0", "1"}
    ids = [json.loads(line)["id"] for n in names for line in (out / n).read_text().splitlines()]
    assert sorted(ids) == list(range(1000))


@pytest.mark.integration
def test_parquet_sink_round_trip_through_the_parquet_source(tmp_path) -> None:
    out = tmp_path / "pq"
    e = env(2)
    e.from_collection([{"id": i, "name": f"n{i}", "amount": i * 1.5} for i in range(500)]) \
        .sink_to(FileSink.for_bulk_format(str(out), ParquetBulkWriters.for_row_type(ROW)).build())
    e.execute("parquet sink")
    rows = read(FileSource.for_bulk_file_format(BulkFormat.parquet(), str(out)).build())
    assert sorted(rows, key=lambda r: r["id"]) == [{"id": i, "name": f"n{i}", "amount": i * 1.5} for i in range(500)]


def test_file_sink_two_phase_commit_hooks(tmp_path) -> None:
    # Given a writer driven as the checkpoint hooks drive it,
    sink = FileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder()).build()
    writer = sink.create_writer(3, 4)
    writer.write(["a", "b"], None)
    prepared = writer.prepare_commit(1)  # barrier 1: the part is pending (hidden)
    writer.write(["c"], None)  # after the barrier: a new in-progress part
    visible = lambda: sorted(n for n in os.listdir(tmp_path) if not n.startswith("."))  # noqa: E731
    assert visible() == [] and len(os.listdir(tmp_path)) == 2
    writer.commit([prepared])  # checkpoint 1 complete: the part is finished
    writer.commit([prepared])  # and again after a restore: nothing changes
    assert len(visible()) == 1 and visible()[0].endswith("-3-0")
    assert (tmp_path / visible()[0]).read_text() == "a\nb\n"
    writer.close()  # a failure now: the in-progress part is dropped, its records replay
    assert len(os.listdir(tmp_path)) == 1


def test_type_mismatches_name_the_field_and_value() -> None:
    from rayflink.common.serialization import (
        CsvRowSerializationSchema,
        JsonRowDeserializationSchema,
        SerializationError,
    )

    schema = JsonRowDeserializationSchema.builder().type_info(ROW).build()
    with pytest.raises(DeserializationError, match=r"field 'amount': expected DOUBLE, got 'lots' \(str\)"):
        schema.deserialize(b'{"id": 1, "name": "a", "amount": "lots"}')
    ser = JsonRowSerializationSchema.builder().with_type_info(ROW).build()
    assert json.loads(ser.serialize((1, "a", 2))) == {"id": 1, "name": "a", "amount": 2.0}
    with pytest.raises(SerializationError, match=r"field 'id': expected LONG, got '7'"):
        ser.serialize({"id": "7", "name": "a", "amount": 1.0})
    csv_ser = CsvRowSerializationSchema.Builder(ROW).set_field_delimiter(";").build()
    assert csv_ser.serialize({"id": 1, "name": "a;b", "amount": None}) == b'1;"a;b";'


def test_avro_round_trip_names_the_bad_field() -> None:
    pytest.importorskip("fastavro")
    from rayflink.common.serialization import (
        AvroRowDeserializationSchema,
        AvroRowSerializationSchema,
        SerializationError,
    )

    schema = json.dumps({"type": "record", "name": "Order", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]})
    data = AvroRowSerializationSchema(schema).serialize({"id": 7, "name": "ana"})
    assert AvroRowDeserializationSchema(schema).deserialize(data) == {"id": 7, "name": "ana"}
    with pytest.raises(SerializationError, match="id"):
        AvroRowSerializationSchema(schema).serialize({"id": "seven", "name": "ana"})


def _lines_until(results, last: str) -> list:
    got = []
    for line in results:
        got.append(line)
        if line == last:
            return got
    raise AssertionError(f"the job ended before {last!r}: {got}")


@pytest.mark.integration
def test_a_monitoring_source_resumed_from_a_savepoint_does_not_read_finished_files_again(tmp_path) -> None:
    # Given a directory monitored at parallelism 2 that read a.txt, then b.txt written later,
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_text("a1\n")

    def job(parallelism: int, savepoint: str | None = None):
        e = checkpointed_env(parallelism, tmp_path / "chk", savepoint)
        src = (FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(data))
               .monitor_continuously(Duration.of_millis(50)).build())
        return e.from_source(src, WatermarkStrategy.no_watermarks(), "files").uid("files").execute_and_collect()

    with job(2) as results:
        assert _lines_until(results, "a1") == ["a1"]
        (data / "b.txt").write_text("b1\n")
        assert _lines_until(results, "b1") == ["b1"]
        savepoint = results.client.stop_with_savepoint(f"file://{tmp_path}/sp")
        assert list(results) == []
    # when the job resumes from its savepoint at parallelism 3 and c.txt appears,
    (data / "c.txt").write_text("c1\n")
    with job(3, savepoint) as results:
        got = _lines_until(results, "c1")
        results.client.stop_with_savepoint(f"file://{tmp_path}/sp2")
        got += list(results)
    # then only c.txt is read: the finished files stay known through the savepoint.
    assert got == ["c1"]


@pytest.mark.integration
def test_a_file_read_to_its_end_stops_holding_the_watermark_back(tmp_path) -> None:
    # Given a monitored directory read at parallelism 1 in event time, where a.txt (1-4 s) is read
    # to its end before b.txt (10-19 s) appears,
    from rayflink.common import Time
    from rayflink.datastream.window import TumblingEventTimeWindows

    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_text("".join(f"{s * 1000}\n" for s in range(1, 5)))
    e = env(1)
    src = (FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(data))
           .monitor_continuously(Duration.of_millis(50)).build())
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda line, ts: int(line))
    windows = (e.from_source(src, strategy, "files").map(lambda line: ("all", int(line) // 1000 // 5 * 5, 1))
               .key_by(lambda r: r[0]).window(TumblingEventTimeWindows.of(Time.seconds(5)))
               .reduce(lambda a, b: (a[0], a[1], a[2] + b[2])))
    got: list = []
    with windows.execute_and_collect() as results:
        (data / ".b").write_text("".join(f"{s * 1000}\n" for s in range(10, 20)))
        os.replace(data / ".b", data / "b.txt")
        timer = threading.Timer(30, results.close)
        timer.start()
        try:
            for window in results:
                got.append(window)
                if window[1] == 10:
                    break
        except JobCancelledError:
            pass  # the timer closed the iterator
        timer.cancel()
    # then the windows of both files fire: a.txt's finished split no longer holds the watermark at 4 s.
    assert got == [("all", 0, 4), ("all", 10, 5)]


def test_output_file_config_is_built_by_its_builder_and_read_by_its_getters(tmp_path) -> None:
    default = OutputFileConfig.builder().build()
    assert (default.get_part_prefix(), default.get_part_suffix()) == ("part", "")
    builder = OutputFileConfig.builder().with_part_prefix("orders")
    assert isinstance(builder, OutputFileConfig.OutputFileConfigBuilder)
    config = builder.with_part_suffix(".jsonl").build()
    assert (config.get_part_prefix(), config.get_part_suffix()) == ("orders", ".jsonl")
    assert config == OutputFileConfig("orders", ".jsonl")

    sink_builder = FileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder())
    assert sink_builder.with_output_file_config(config).build().file_config == config
    # a builder handed over unbuilt is built
    assert sink_builder.with_output_file_config(OutputFileConfig.builder().with_part_prefix("x")) \
        .build().file_config == OutputFileConfig("x", "")
    with pytest.raises(TypeError, match="expected an OutputFileConfig, got str"):
        sink_builder.with_output_file_config("orders")


def test_file_sink_builders_are_pyflinks_row_and_bulk_format_builders(tmp_path) -> None:
    row = FileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder())
    bulk = FileSink.for_bulk_format(str(tmp_path), ParquetBulkWriters.for_row_type(ROW))
    assert isinstance(row, FileSink.RowFormatBuilder) and isinstance(bulk, FileSink.BulkFormatBuilder)
    assert isinstance(row, FileSink.BaseBuilder) and isinstance(bulk, FileSink.BaseBuilder)

    policy = RollingPolicy.default_rolling_policy(part_size=1 << 10)
    sink = row.with_rolling_policy(policy).build()
    assert (sink.encoder is not None, sink.bulk, sink.rolling_policy) == (True, None, policy)

    on_checkpoint = RollingPolicy.on_checkpoint_rolling_policy()
    assert bulk.build().rolling_policy == on_checkpoint  # bulk formats roll at checkpoints
    assert bulk.with_rolling_policy(on_checkpoint).build().bulk is not None
    with pytest.raises(ValueError, match="bulk formats roll on checkpoints only"):
        bulk.with_rolling_policy(policy)


def test_parquet_columnar_row_input_format_reads_rows_of_its_row_type(tmp_path) -> None:
    from rayflink.connectors.file import FileSourceReader, FileSourceSplit
    from rayflink.datastream.formats.parquet import ParquetColumnarRowInputFormat
    from rayflink.table.types import DataTypes

    pq.write_table(pa.table({"ID": [1, 2, 3], "Name": ["a", "b", "c"], "other": [0.5] * 3}), tmp_path / "p.parquet")
    row_type = DataTypes.ROW([DataTypes.FIELD("name", DataTypes.STRING()), DataTypes.FIELD("id", DataTypes.BIGINT())])

    def read_rows(fmt) -> list:
        source = FileSource.for_bulk_file_format(fmt, str(tmp_path / "p.parquet")).build()
        reader = FileSourceReader(source, [FileSourceSplit(str(tmp_path / "p.parquet"))], [], 0, 1)
        rows = []
        while (batches := reader.poll(100)) is not None:
            rows += [r for b in batches for r in b.records]
        return rows

    # fields by name in any case, in the row type's order, as PyFlink's Rows
    rows = read_rows(ParquetColumnarRowInputFormat(row_type, batch_size=2, is_case_sensitive=False))
    assert [tuple(r) for r in rows] == [("a", 1), ("b", 2), ("c", 3)]
    assert rows[0].name == "a" and rows[0]["id"] == 1 and rows[0].as_dict() == {"name": "a", "id": 1}
    # case-sensitive by default, as in Flink: "id" is not "ID", and a field the file lacks reads as None
    assert [tuple(r) for r in read_rows(ParquetColumnarRowInputFormat(row_type))] == [(None, None)] * 3


def test_streaming_file_sink_is_built_as_pyflink_builds_it(tmp_path) -> None:
    from rayflink.datastream.connectors.file_system import StreamingFileSink

    row = StreamingFileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder())
    assert isinstance(row, StreamingFileSink.DefaultRowFormatBuilder) and isinstance(row, StreamingFileSink.BaseBuilder)
    policy = RollingPolicy.default_rolling_policy(part_size=1 << 10)
    sink = row.with_rolling_policy(policy).with_output_file_config(OutputFileConfig("orders", ".txt")).build()
    assert type(sink) is StreamingFileSink and isinstance(sink, FileSink)
    assert (sink.rolling_policy, sink.file_config) == (policy, OutputFileConfig("orders", ".txt"))
    bulk = StreamingFileSink.for_bulk_format(str(tmp_path), ParquetBulkWriters.for_row_type(ROW))
    assert isinstance(bulk, StreamingFileSink.DefaultBulkFormatBuilder) and type(bulk.build()) is StreamingFileSink
    with pytest.raises(ValueError, match="bulk formats roll on checkpoints only"):
        bulk.with_rolling_policy(policy)


@pytest.mark.integration
def test_a_streaming_file_sink_added_with_add_sink_writes_every_record(tmp_path) -> None:
    from rayflink.datastream.connectors.file_system import StreamingFileSink

    e = env(2)
    e.from_collection([f"line-{i}" for i in range(100)]).add_sink(
        StreamingFileSink.for_row_format(str(tmp_path / "out"), Encoder.simple_string_encoder()).build())
    e.execute("streaming file sink")
    lines = [line for name in os.listdir(tmp_path / "out") for line in (tmp_path / "out" / name).read_text().split()]
    assert sorted(lines) == sorted(f"line-{i}" for i in range(100))


def test_bucket_assigners_name_buckets_by_the_processing_time() -> None:
    from rayflink.datastream.connectors.file_system import BucketAssigner

    hour = BucketAssigner.date_time_bucket_assigner(timezone_id="UTC")
    assert hour.bucket_id(0) == "1970-01-01--00" and hour.bucket_id(3_600_000) == "1970-01-01--01"
    partitioned = BucketAssigner.date_time_bucket_assigner("'dt='yyyyMMdd'/hour='HH", "Asia/Tokyo")
    assert partitioned.bucket_id(0) == "dt=19700101/hour=09"
    assert BucketAssigner.base_path_bucket_assigner().bucket_id(123) == ""
    with pytest.raises(ValueError, match="'EEE' is not supported"):
        BucketAssigner.date_time_bucket_assigner("EEE-HH")
    with pytest.raises(ValueError, match="unknown time zone"):
        BucketAssigner.date_time_bucket_assigner(timezone_id="Mars/Olympus")


def test_a_sink_writes_a_part_per_bucket_and_commits_them_all(tmp_path, monkeypatch) -> None:
    import rayflink.connectors.file as file_module
    from rayflink.datastream.connectors.file_system import BucketAssigner

    now = [0]
    monkeypatch.setattr(file_module, "current_time_ms", lambda: now[0])
    sink = (FileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder())
            .with_bucket_assigner(BucketAssigner.date_time_bucket_assigner("HH", "UTC"))
            .with_rolling_policy(RollingPolicy.default_rolling_policy(rollover_interval=10 * 3_600_000,
                                                                      inactivity_interval=2 * 3_600_000)).build())
    writer = sink.create_writer(0, 1)
    writer.write(["a", "b"], None)  # hour 00
    now[0] = 3_600_000
    writer.write(["c"], None)  # hour 01: a second bucket, the first one's part stays open
    assert sorted(writer.parts) == ["00", "01"]
    now[0] = 3 * 3_600_000
    writer.write(["d"], None)  # hour 03: the parts of 00 and 01 have been idle too long and roll
    assert sorted(writer.parts) == ["03"] and len(writer.pending) == 2
    committable = writer.prepare_commit(1)  # a checkpoint rolls every bucket's part
    assert writer.parts == {} and len(committable.files) == 3
    writer.commit([committable])

    def lines(bucket: str) -> list[str]:
        return [line for n in os.listdir(tmp_path / bucket) for line in (tmp_path / bucket / n).read_text().split()]

    assert (lines("00"), lines("01"), lines("03")) == (["a", "b"], ["c"], ["d"])
    assert not any(n.startswith(".") for b in ("00", "01", "03") for n in os.listdir(tmp_path / b))
    writer.write(["e"], None)
    writer.close()  # a part in progress is dropped (its records come again from the checkpoint)
    assert lines("03") == ["d"] and not [n for n in os.listdir(tmp_path / "03") if n.startswith(".")]
    with pytest.raises(TypeError, match="expected a BucketAssigner"):
        FileSink.for_row_format(str(tmp_path), Encoder.simple_string_encoder()).with_bucket_assigner("HH")


def test_compaction_merges_the_parts_of_a_checkpoint_before_they_are_committed(tmp_path) -> None:
    from rayflink.datastream.connectors.file_system import FileCompactor, FileCompactStrategy

    def run(strategy, compactor, out):
        sink = (FileSink.for_row_format(str(out), Encoder.simple_string_encoder())
                .with_rolling_policy(RollingPolicy.default_rolling_policy(part_size=10))  # a part per ~3 records
                .enable_compact(strategy, compactor).build())
        writer = sink.create_writer(0, 1)
        writer.write([f"r{i}" for i in range(12)], None)
        writer.commit([writer.prepare_commit(1)])
        return sorted(os.listdir(out))

    one = run(FileCompactStrategy.builder().build(), FileCompactor.concat_file_compactor(), tmp_path / "one")
    assert len(one) == 1 and one[0].startswith("compacted-part-")
    assert (tmp_path / "one" / one[0]).read_text().split() == [f"r{i}" for i in range(12)]
    bounded = run(FileCompactStrategy.builder().set_size_threshold(20).build(), FileCompactor.concat_file_compactor(),
                  tmp_path / "bounded")
    assert 1 < len(bounded) < 4  # merged up to ~20 bytes each: fewer files than the 4 parts
    assert sorted(line for n in bounded for line in (tmp_path / "bounded" / n).read_text().split()) == \
        sorted(f"r{i}" for i in range(12))
    kept = run(FileCompactStrategy.builder().build(), FileCompactor.identical_file_compactor(), tmp_path / "kept")
    assert len(kept) == 4 and not any(n.startswith("compacted-") for n in kept)

    with pytest.raises(ValueError, match="every checkpoint"):
        FileCompactStrategy.builder().enable_compaction_on_checkpoint(3)
    with pytest.raises(ValueError, match="cannot be concatenated"):
        FileSink.for_bulk_format(str(tmp_path), ParquetBulkWriters.for_row_type(ROW)).enable_compact(
            FileCompactStrategy.builder().build(), FileCompactor.concat_file_compactor())
    delimited = FileCompactor.concat_file_compactor(b"--\n")
    (tmp_path / "a").write_bytes(b"x\n")
    (tmp_path / "b").write_bytes(b"y\n")
    delimited.compact([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "ab"))
    assert (tmp_path / "ab").read_bytes() == b"x\n--\ny\n"
