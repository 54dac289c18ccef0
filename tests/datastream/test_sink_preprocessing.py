"""Sinks with a pre-processing topology (PyFlink's SupportsPreprocessing / StreamTransformer):
``sink_to`` writes the stream the sink's transformer makes (unit tests, no Ray)."""

from __future__ import annotations

import pytest

from rayflink.common import Encoder
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.connectors.base import Sink, SinkWriter, StreamTransformer, SupportsPreprocessing
from rayflink.datastream.connectors.file_system import FileSink
from rayflink.datastream.connectors.kafka import KafkaSink
from rayflink.errors import GraphBuildError


class Keep(SinkWriter):
    def write(self, records, timestamps):
        pass


class Upper(StreamTransformer):
    def apply(self, ds):
        return ds.map(str.upper).name("upper")


class UpperSink(Sink, SupportsPreprocessing):
    def __init__(self, transformer):
        self.transformer = transformer

    def create_writer(self, subtask_index, parallelism):
        return Keep()

    def get_transformer(self):
        return self.transformer


def words():
    return StreamExecutionEnvironment.get_execution_environment().from_collection(["a", "b"])


def test_sink_to_writes_the_stream_the_transformer_makes():
    stream = words()
    sink = stream.sink_to(UpperSink(Upper()))
    [upstream] = sink._t.inputs
    assert upstream is not stream._t and upstream.name == "upper" and upstream.inputs == [stream._t]
    # without a transformer the sink writes the stream itself
    assert stream.sink_to(UpperSink(None))._t.inputs == [stream._t]


def test_a_transformer_must_return_a_stream():
    class Broken(StreamTransformer):
        def apply(self, ds):
            return [ds]

    with pytest.raises(GraphBuildError, match=r"UpperSink.*Broken.apply\(\) returned list"):
        words().sink_to(UpperSink(Broken()))


def test_file_and_kafka_sinks_need_no_preprocessing():
    file_sink = FileSink.for_row_format("/tmp/out", Encoder.simple_string_encoder()).build()
    kafka_sink = KafkaSink.builder().set_bootstrap_servers("localhost:9092").set_record_serializer(
        _topic_serializer()).build()
    for sink in (file_sink, kafka_sink):
        assert isinstance(sink, SupportsPreprocessing) and sink.get_transformer() is None
        stream = words()
        assert stream.sink_to(sink)._t.inputs == [stream._t]


def _topic_serializer():
    from rayflink.common.serialization import SimpleStringSchema
    from rayflink.datastream.connectors.kafka import KafkaRecordSerializationSchema

    return KafkaRecordSerializationSchema.builder().set_topic("out") \
        .set_value_serialization_schema(SimpleStringSchema()).build()
