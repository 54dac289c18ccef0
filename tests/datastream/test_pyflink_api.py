"""PyFlink's API as PyFlink programs use it: Row, Types, count windows, window function
signatures, partition_custom, and the options rayflink records."""

from __future__ import annotations

import logging
import pickle
import random
from collections.abc import Iterable

import cloudpickle
import pytest

from rayflink.common import (
    ByteArraySchema,
    Configuration,
    Duration,
    Encoder,
    Instant,
    Row,
    RowKind,
    Types,
    WatermarkStrategy,
)
from rayflink.common.serialization import RowFieldExtractorSchema, SerializationError
from rayflink.common.watermark_strategy import TimestampAssigner
from rayflink.datastream import (
    AllWindowFunction,
    CheckpointingMode,
    EmbeddedRocksDBStateBackend,
    FileSystemCheckpointStorage,
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    Partitioner,
    PredefinedOptions,
    ProcessWindowFunction,
    RuntimeContext,
    Trigger,
    WindowAssigner,
    WindowFunction,
)
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.window import (
    CountSlidingWindowAssigner,
    CountTumblingWindowAssigner,
    CountWindow,
    EventTimeTrigger,
    GlobalWindows,
    MergingWindowAssigner,
    TimeWindow,
    TimeWindowSerializer,
)
from rayflink.errors import GraphBuildError, JobExecutionError
from rayflink.testing import collect, env

# ---------------------------------------------------------------------------- Row and RowKind

def test_row_positional_and_named_fields():
    named = Row(name="Alice", age=11)
    assert (named.name, named["age"], named[0], len(named), list(named)) == ("Alice", 11, "Alice", 2, ["Alice", 11])
    assert named.as_dict() == {"name": "Alice", "age": 11}
    assert "name" in named and "wrong" not in named
    assert repr(named) == "Row(name='Alice', age=11)"
    positional = Row(1, "a")
    assert positional[1] == "a" and repr(positional) == "<Row(1, 'a')>"
    with pytest.raises(TypeError):
        positional.as_dict()
    with pytest.raises(AttributeError):
        _ = named.missing
    with pytest.raises(ValueError):
        Row(1, name="x")


def test_row_class_builds_named_rows_and_nested_dicts():
    Person = Row("name", "age")
    bob = Person("Bob", 7)
    assert bob == Row(name="Bob", age=7) and bob.age == 7
    nested = Row(key=1, value=Row(name="a", age=2))
    assert nested.as_dict(recursive=True) == {"key": 1, "value": {"name": "a", "age": 2}}
    assert nested.as_dict()["value"] == Row(name="a", age=2)


def test_row_kind_equality_hashing_and_mutation():
    row = Row(a=1, b=2)
    assert row.get_row_kind() is RowKind.INSERT and str(RowKind.UPDATE_BEFORE) == "-U"
    same_other_order = Row(b=2, a=1)
    assert row == same_other_order  # named rows compare by field name
    deleted = Row.of_kind(RowKind.DELETE, a=1, b=2)
    assert row != deleted and hash(row) == hash(deleted) == hash((1, 2))
    assert Row(1, 2) != Row(a=1, b=2)
    row["a"] = 5
    row[1] = 6
    assert row.as_dict() == {"a": 5, "b": 6}
    row.set_row_kind(RowKind.UPDATE_AFTER)
    assert row.get_row_kind() is RowKind.UPDATE_AFTER
    with pytest.raises(AttributeError):
        row.a = 3  # fields are set by item, as in PyFlink
    assert row.get_fields_by_names(["b", "a"]) == [6, 5]


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_row_pickles_with_names_and_kind(dumps):
    row = Row.of_kind(RowKind.UPDATE_BEFORE, id=1, tags=["x"])
    back = pickle.loads(dumps(row))
    assert back == row and back.id == 1 and back.get_row_kind() is RowKind.UPDATE_BEFORE
    assert pickle.loads(dumps(Row(1, 2))) == Row(1, 2)


# ---------------------------------------------------------------------------- Types

def test_every_pyflink_type_factory():
    basic = ["STRING", "BYTE", "BOOLEAN", "SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "CHAR", "BIG_INT", "BIG_DEC",
             "INSTANT", "SQL_DATE", "SQL_TIME", "SQL_TIMESTAMP", "PICKLED_BYTE_ARRAY"]
    for name in basic:
        assert getattr(Types, name)().name == name
    for name in ["PRIMITIVE_ARRAY", "BASIC_ARRAY", "OBJECT_ARRAY", "LIST"]:
        t = getattr(Types, name)(Types.INT())
        assert t.name.startswith(name) and t.accepts([1, 2])
    assert Types.MAP(Types.STRING(), Types.LONG()).accepts({"a": 1})
    assert Types.PRIMITIVE_ARRAY(Types.BYTE()).accepts(b"\x01") and not Types.PRIMITIVE_ARRAY(Types.BYTE()).accepts([1])
    assert Types.INSTANT().accepts(Instant.of_epoch_milli(1500))
    assert Instant.of_epoch_milli(1500).to_epoch_milli() == 1500


def test_row_types_convert_to_rows_and_print_like_flink():
    named = Types.ROW_NAMED(["id", "info"], [Types.INT(), Types.STRING()])
    row = named.from_internal_type((1, "x"))
    assert isinstance(row, Row) and row.info == "x" and named.get_field_names() == ["id", "info"]
    assert named.to_internal_type(row) == (1, "x") and named.need_conversion()
    assert Types.ROW([Types.INT()]).from_internal_type([3]) == Row(3)
    assert not named.accepts((1,)) and named.accepts(Row(1, "a"))
    assert Types.TUPLE([Types.STRING(), Types.INT()]).to_print_string(("hi", 4)) == "(hi,4)"
    assert named.to_print_string(Row.of_kind(RowKind.DELETE, 1, None)) == "-D[1, null]"
    assert Types.BOOLEAN().to_print_string(True) == "true"
    assert Types.ROW([Types.INT(), Types.STRING()]).to_print_string({"f0": 1, "f1": "hi"}) == "+I[1, hi]"
    doubles = Types.TUPLE([Types.DOUBLE(), Types.DOUBLE(), Types.DOUBLE(), Types.FLOAT()])
    assert doubles.to_print_string((12345678.9, 1e-4, 2.5, 100.0)) == "(1.23456789E7,1.0E-4,2.5,100.0)"
    assert Types.INSTANT().to_print_string(Instant.of_epoch_milli(1500)) == "1970-01-01T00:00:01.500Z"
    import datetime

    assert Types.SQL_TIMESTAMP().to_print_string(datetime.datetime(2024, 1, 7, 10, 30)) == "2024-01-07 10:30:00.0"


@pytest.mark.integration
def test_records_typed_as_rows_arrive_as_rows():
    e = env(1)
    ds = e.from_collection([(1, "a"), (2, "b")],
                           type_info=Types.ROW_NAMED(["id", "info"], [Types.INT(), Types.STRING()]))
    out = collect(ds.map(lambda r: (r.info, r.id * 10),
                         output_type=Types.ROW_NAMED(["name", "score"], [Types.STRING(), Types.INT()]))
                  .map(lambda r: f"{r.name}:{r.score}"))
    assert out == ["a:10", "b:20"]


# ---------------------------------------------------------------------------- window functions

def test_window_classes_are_generic_as_in_pyflink():
    class Sum(WindowFunction[tuple, tuple, str, CountWindow]):
        def apply(self, key, window, inputs):
            return [(key, sum(i[0] for i in inputs))]

    assert Sum().apply("k", None, [(1,), (2,)]) == [("k", 3)]
    assert ProcessWindowFunction[tuple, tuple, str, TimeWindow] and AllWindowFunction[tuple, int, TimeWindow]
    assert WindowAssigner[tuple, TimeWindow] and Trigger[tuple, TimeWindow]
    assert ProcessWindowFunction.Context.__abstractmethods__ >= {"window", "current_watermark"}


class _PyFlinkApply(WindowFunction[tuple, tuple, str, CountWindow]):
    def apply(self, key: str, window, inputs: Iterable[tuple]):
        assert type(window) is CountWindow
        return [(key, window.id, tuple(v for v, _ in inputs))]


class _CollectingApply(WindowFunction):
    def apply(self, key, window, inputs, out):
        out.collect((key, tuple(v for v, _ in inputs)))


class _AllApply(AllWindowFunction[tuple, int, CountWindow]):
    def apply(self, window, inputs):
        yield sum(v for v, _ in inputs)


def _records(n: int, keys: str, seed: int) -> list[tuple[int, str]]:
    rnd = random.Random(seed)
    return [(i, rnd.choice(keys)) for i in range(n)]


def _model(records: list, size: int, slide: int, ids: bool = False) -> list:
    """Brute force: per key, after the c-th record (1-based) a window of the last ``size`` fires
    when c >= size and (c - size) % slide == 0 (tumbling: slide == size); with ``ids``, each
    with its number as PyFlink's ``CountWindow`` has it: (c - size) // slide."""
    seen: dict[str, list[int]] = {}
    fired = []
    for v, k in records:
        seen.setdefault(k, []).append(v)
        c = len(seen[k])
        if c >= size and (c - size) % slide == 0:
            window = tuple(seen[k][c - size:c])
            fired.append((k, (c - size) // slide, window) if ids else (k, window))
    return fired


@pytest.mark.integration
@pytest.mark.parametrize("size,slide,seed", [(2, 0, 1), (3, 0, 2), (3, 1, 3), (4, 2, 4), (2, 3, 5)])
def test_count_windows_against_a_brute_force_model(size, slide, seed):
    records = _records(60, "abcd", seed)
    e = env(2)
    stream = e.from_collection(records).key_by(lambda r: r[1]).count_window(size, slide)
    out = collect(stream.apply(_PyFlinkApply()))
    expected = _model(records, size, slide or size, ids=True)
    assert sorted(out) == sorted(expected)
    # per key the windows come in order, numbered as PyFlink numbers its CountWindows
    for key in "abcd":
        assert [w for k, *w in out if k == key] == [w for k, *w in expected if k == key]


@pytest.mark.integration
def test_count_window_assigners_through_window_and_collecting_apply():
    records = _records(30, "xy", 7)
    e = env(2)
    keyed = e.from_collection(records).key_by(lambda r: r[1])
    tumbling = collect(keyed.window(CountTumblingWindowAssigner.of(4)).apply(_CollectingApply()))
    assert sorted(tumbling) == sorted(_model(records, 4, 4))
    e = env(2)
    keyed = e.from_collection(records).key_by(lambda r: r[1])
    sliding = collect(keyed.window(CountSlidingWindowAssigner.of(3, 2)).reduce(lambda a, b: (a[0] + b[0], a[1])))
    assert sorted(sliding) == sorted((sum(w), k) for k, w in _model(records, 3, 2))
    assert CountTumblingWindowAssigner.of(2).get_window_serializer().__class__.__name__ == "CountWindowSerializer"
    with pytest.raises(GraphBuildError):
        CountSlidingWindowAssigner.of(3, 0)


@pytest.mark.integration
def test_all_window_function_apply_without_out():
    records = _records(20, "z", 8)
    e = env(2)
    out = collect(e.from_collection(records).window_all(CountTumblingWindowAssigner.of(5)).apply(_AllApply()))
    assert sorted(out) == [sum(range(i, i + 5)) for i in range(0, 20, 5)]  # the collect sink has 2 subtasks


def test_default_trigger_takes_the_environment():
    e = env(1)
    assert type(CountTumblingWindowAssigner.of(3).get_default_trigger(e)).__name__ == "PurgingTrigger"
    assert type(GlobalWindows.create().get_default_trigger()).__name__ == "NeverTrigger"


# ---------------------------------------------------------------------------- partition_custom

class _ByModulo(Partitioner):
    def partition(self, key, num_partitions):
        return key % num_partitions


class _WhereAmI(MapFunction):
    def open(self, runtime_context: RuntimeContext):
        self.index = runtime_context.get_index_of_this_subtask()

    def map(self, value):
        return (self.index, value)


@pytest.mark.integration
@pytest.mark.parametrize("partitioner", [_ByModulo(), lambda key, n: (key * 7) % n])
def test_partition_custom_routes_every_record_where_the_partitioner_says(partitioner):
    e = env(1)
    values = list(range(50))
    routed = e.from_collection(values).partition_custom(partitioner, lambda v: v)
    out = collect(routed.map(_WhereAmI()).set_parallelism(3))
    assert sorted(v for _, v in out) == values
    choose = partitioner.partition if isinstance(partitioner, Partitioner) else partitioner
    assert all(subtask == choose(v, 3) for subtask, v in out)


@pytest.mark.integration
def test_partition_custom_refuses_out_of_range_and_keyed_streams():
    e = env(1)
    bad = e.from_collection([1, 2]).partition_custom(lambda key, n: n, lambda v: v).map(lambda v: v).set_parallelism(2)
    with pytest.raises(JobExecutionError, match="expected an int in 0..1"):
        collect(bad)
    with pytest.raises(GraphBuildError):
        env(1).from_collection([1]).key_by(lambda v: v).partition_custom(lambda k, n: 0, lambda v: v)


# ---------------------------------------------------------------------------- stream properties and options

@pytest.mark.integration
def test_set_description_appears_in_the_plan_and_cache_keeps_results():
    e = env(1)
    ds = e.from_collection([3, 1, 2]).map(lambda v: v * 2).set_description("doubles every value")
    assert '"description": "doubles every value"' in e.get_execution_plan()
    cached = ds.cache()
    cached.invalidate()
    assert sorted(collect(cached)) == [2, 4, 6]


@pytest.mark.integration
def test_project_keeps_the_chosen_fields():
    e = env(1)
    ds = e.from_collection([(1, "a", 2.5)], type_info=Types.TUPLE([Types.INT(), Types.STRING(), Types.DOUBLE()]))
    projected = ds.project(2, 0)
    assert repr(projected.get_type()) == "TUPLE<DOUBLE, INT>"
    assert collect(projected) == [(2.5, 1)]


def test_add_jars_is_accepted_with_one_note(caplog):
    e = env(1)
    with caplog.at_level(logging.WARNING):
        e.add_jars("file:///opt/flink-sql-connector-kafka.jar")
        e.add_classpaths("file:///opt/x.jar")
    notes = [r for r in caplog.records if "no JVM" in r.getMessage()]
    assert len(notes) == 1 and "flink-sql-connector-kafka" in notes[0].getMessage()


def test_unaligned_checkpoint_options_are_flink_options():
    e = env(1)
    e.enable_checkpointing(1000, CheckpointingMode.EXACTLY_ONCE)
    config = e.get_checkpoint_config()
    config.enable_unaligned_checkpoints()
    assert config.is_unaligned_checkpoints_enabled() and e.is_unaligned_checkpoints_enabled()
    assert e.get_config().get_boolean("execution.checkpointing.unaligned.enabled", False)
    config.set_aligned_checkpoint_timeout(Duration.of_seconds(3))
    assert config.get_aligned_checkpoint_timeout() == Duration.of_seconds(3)
    assert e.get_config().get_integer("execution.checkpointing.aligned-checkpoint-timeout") == 3000
    config.set_checkpoint_storage(FileSystemCheckpointStorage("file:///tmp/ckpt-x"))
    assert config.get_checkpoint_storage_dir() == "file:///tmp/ckpt-x"
    assert e.get_checkpointing_mode() is CheckpointingMode.EXACTLY_ONCE


def test_watermark_alignment_is_kept_on_the_strategy():
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(20)) \
        .with_watermark_alignment("group-1", Duration.of_seconds(20), Duration.of_seconds(1)) \
        .with_idleness(Duration.of_seconds(5))
    assert (strategy.alignment.watermark_group, strategy.alignment.max_allowed_drift_ms,
            strategy.alignment.update_interval_ms, strategy.idleness_ms) == ("group-1", 20_000, 1000, 5000)
    with pytest.raises(GraphBuildError):
        WatermarkStrategy.for_monotonous_timestamps().with_watermark_alignment("", Duration.of_seconds(1))


def test_predefined_rocksdb_options(tmp_path):
    backend = EmbeddedRocksDBStateBackend()
    assert backend.get_predefined_options() is PredefinedOptions.DEFAULT
    backend.set_predefined_options(PredefinedOptions.SPINNING_DISK_OPTIMIZED_HIGH_MEM)
    assert backend.get_predefined_options() is PredefinedOptions.SPINNING_DISK_OPTIMIZED_HIGH_MEM
    keyed = backend.create_keyed_state_backend(operator_uid="op", max_parallelism=4, key_groups=range(4),
                                               working_dir=str(tmp_path))
    try:
        assert keyed._memory[:2] == (256 << 20, 64 << 20)  # the profile's block cache and write buffers
    finally:
        keyed.dispose()
    explicit = EmbeddedRocksDBStateBackend(block_cache_size=8 << 20)
    explicit.set_predefined_options(PredefinedOptions.SPINNING_DISK_OPTIMIZED_HIGH_MEM)
    keyed = explicit.create_keyed_state_backend(operator_uid="op", max_parallelism=4, key_groups=range(4),
                                                working_dir=str(tmp_path / "b"))
    try:
        assert keyed._memory[0] == 8 << 20  # an explicit setting wins over the profile
    finally:
        keyed.dispose()
    with pytest.raises(ValueError):
        backend.set_predefined_options("HIGH_MEM")


def test_configuration_pyflink_methods():
    conf = Configuration.from_dict({"a.b": "1", "rate": "0.5"})
    assert conf.key_set() == {"a.b", "rate"} and conf.get_float("rate", 0.0) == 0.5
    conf.set_bytearray("blob", bytearray(b"\x01\x02"))
    assert conf.get_bytearray("blob") == bytearray(b"\x01\x02")
    target: dict = {}
    conf.set_boolean("flag", True)
    conf.add_all_to_dict(target)
    assert target["flag"] == "true" and target["a.b"] == "1"
    assert conf.remove_config("a.b") and not conf.remove_config("a.b")
    assert Configuration.parse_list_value("[x, y]") == ["x", "y"]
    assert Configuration.parse_list_value("x;y") == ["x", "y"]
    assert Configuration().add_all(conf, "p.").contains_key("p.rate")


def test_byte_schemas_and_encoder():
    assert ByteArraySchema().deserialize(b"\x00") == b"\x00" and ByteArraySchema().serialize(b"k") == b"k"
    key, value = RowFieldExtractorSchema(0), RowFieldExtractorSchema(1)
    row = Row(b"k", b"v")
    assert (key.serialize(row), value.serialize(row)) == (b"k", b"v")
    with pytest.raises(SerializationError, match="not bytes"):
        RowFieldExtractorSchema(0).serialize(Row("k"))
    with pytest.raises(ValueError):
        RowFieldExtractorSchema(-1)
    assert Encoder.simple_string_encoder().encode(("a", 1)) == b"('a', 1)\n"


class _Threshold(MapFunction):
    def open(self, runtime_context: RuntimeContext):
        self.threshold = int(runtime_context.get_job_parameter("threshold", "0"))

    def map(self, value):
        return value > self.threshold


@pytest.mark.integration
def test_execution_config_is_the_jobs_options_and_job_parameters_reach_functions():
    e = env(1)
    config = e.get_config()
    config.set_global_job_parameters({"threshold": 2}).set_auto_watermark_interval(500)
    assert config.get_integer("pipeline.auto-watermark-interval") == 500  # one set of options
    assert config.get_global_job_parameters() == {"threshold": "2"}
    config.set_parallelism(2)
    assert e.get_parallelism() == 2 and config.get_max_parallelism() == 128
    ds = e.from_collection([1, 2, 3, 4])
    assert ds.get_execution_config() is config
    assert sorted(collect(ds.map(_Threshold()))) == [False, False, True, True]


def test_row_records_serialize_to_json_csv_and_avro():
    from rayflink.datastream.formats.avro import (
        AvroRowDeserializationSchema,
        AvroRowSerializationSchema,
    )
    from rayflink.datastream.formats.csv import CsvRowSerializationSchema
    from rayflink.datastream.formats.json import (
        JsonRowDeserializationSchema,
        JsonRowSerializationSchema,
    )

    unnamed = Types.ROW([Types.INT(), Types.STRING()])  # PyFlink names its fields f0, f1
    json_out = JsonRowSerializationSchema.Builder().with_type_info(unnamed).build()
    assert json_out.serialize(Row(1, "hi")) == b'{"f0":1,"f1":"hi"}'
    named = Types.ROW_NAMED(["id", "name"], [Types.INT(), Types.STRING()])
    assert JsonRowSerializationSchema.builder().with_type_info(named).build().serialize(Row(name="a", id=2)) \
        == b'{"id":2,"name":"a"}'
    assert JsonRowDeserializationSchema.Builder().type_info(unnamed).build().deserialize(b'{"f0":3,"f1":"x"}') \
        == Row(f0=3, f1="x")
    assert CsvRowSerializationSchema.Builder(unnamed).build().serialize(Row(4, "y")) == b"4,y"
    schema = ('{"type": "record", "name": "T", '
              '"fields": [{"name": "id", "type": "int"}, {"name": "n", "type": "string"}]}')
    avro = AvroRowSerializationSchema(avro_schema_string=schema).serialize(Row(5, "z"))
    assert AvroRowDeserializationSchema(avro_schema_string=schema).deserialize(avro) == {"id": 5, "n": "z"}


def test_slot_sharing_groups_by_object_separate_chains_like_names():
    from rayflink.datastream import MemorySize, SlotSharingGroup

    group = SlotSharingGroup.builder("heavy").set_cpu_cores(2).set_task_heap_memory_mb(100) \
        .set_external_resource("gpu", 1).build()
    assert (group.get_name(), group.get_cpu_cores(), group.get_task_heap_memory().get_mebi_bytes(),
            group.get_external_resources()) == ("heavy", 2.0, 100, {"gpu": 1.0})
    assert MemorySize.of_mebi_bytes(1) < MemorySize.of_mebi_bytes(2)
    e = env(1)
    e.register_slot_sharing_group(group)
    e.from_collection([1, 2]).map(lambda v: v + 1).slot_sharing_group(group).map(lambda v: v * 2)
    import json

    plan = json.loads(e.get_execution_plan())
    assert len(plan["tasks"]) == 3  # source | heavy map | default-group map: no chaining across groups


def test_kafka_topic_selector_is_a_topic_function():
    from rayflink.common import SimpleStringSchema
    from rayflink.datastream.connectors.kafka import (
        KafkaRecordSerializationSchema,
        KafkaTopicSelector,
    )

    class ByPrefix(KafkaTopicSelector):
        def apply(self, record):
            return f"topic-{record[0]}"

    schema = KafkaRecordSerializationSchema.builder().set_topic_selector(ByPrefix()) \
        .set_value_serialization_schema(SimpleStringSchema()).build()
    assert schema.topic_selector("abc") == "topic-a"


class _PyFlinkStyleSessions(MergingWindowAssigner[tuple, TimeWindow]):
    """A custom merging assigner written as for PyFlink: context argument, get_default_trigger(env),
    get_window_serializer(), callback.merge(...)."""

    def __init__(self, gap: int) -> None:
        self.gap = gap

    def merge_windows(self, windows, callback: "MergingWindowAssigner.MergeCallback") -> None:
        ordered = sorted(windows, key=lambda w: w.start)
        group = [ordered[0]]
        for w in ordered[1:] + [None]:
            if w is not None and w.start <= max(g.end for g in group):
                group.append(w)
                continue
            if len(group) > 1:
                callback.merge(group, TimeWindow(min(g.start for g in group), max(g.end for g in group)))
            group = [w]

    def assign_windows(self, element, timestamp, context: "WindowAssigner.WindowAssignerContext"):
        assert context.get_current_processing_time() > 0 and context.get_runtime_context() is not None
        return [TimeWindow(timestamp, timestamp + self.gap)]

    def get_default_trigger(self, env):
        return EventTimeTrigger()

    def get_window_serializer(self):
        return TimeWindowSerializer()

    def is_event_time(self) -> bool:
        return True


class _CountPerWindow(ProcessWindowFunction[tuple, tuple, str, TimeWindow]):
    def process(self, key, context: ProcessWindowFunction.Context[TimeWindow], elements):
        return [(key, context.window().start, context.window().end, len(list(elements)))]


class _Ts(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp) -> int:
        return value[1]


@pytest.mark.integration
def test_a_pyflink_style_custom_merging_assigner():
    e = env(1)
    data = [("a", 1), ("a", 2), ("a", 10), ("b", 3), ("a", 11), ("b", 20)]
    ds = e.from_collection(data, type_info=Types.TUPLE([Types.STRING(), Types.INT()])) \
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(_Ts()))
    out = collect(ds.key_by(lambda r: r[0]).window(_PyFlinkStyleSessions(5)).process(_CountPerWindow()))
    assert sorted(out) == [("a", 1, 7, 2), ("a", 10, 16, 2), ("b", 3, 8, 1), ("b", 20, 25, 1)]


def test_window_serializers_round_trip():
    import io

    from rayflink.datastream.window import (
        CountWindowSerializer,
        GlobalWindow,
        GlobalWindowSerializer,
        TumblingEventTimeWindows,
    )

    buf = io.BytesIO()
    TimeWindowSerializer().serialize(TimeWindow(-5, 2**40), buf)
    GlobalWindowSerializer().serialize(GlobalWindow(), buf)
    CountWindowSerializer().serialize(CountWindow(7), buf)
    buf.seek(0)
    assert len(buf.getvalue()) == 25
    assert TimeWindowSerializer().deserialize(buf) == TimeWindow(-5, 2**40)
    assert GlobalWindowSerializer().deserialize(buf) == GlobalWindow()
    assert CountWindowSerializer().deserialize(buf) == CountWindow(7)
    assert repr(CountWindow(7)) == "CountWindow(id=7)" and CountWindow(7) != CountWindow(8)
    assert TumblingEventTimeWindows.of(5).get_window_serializer() == TimeWindowSerializer()


def test_every_class_pyflink_makes_generic_is_subscriptable():
    from rayflink.datastream.window import (
        ContinuousEventTimeTrigger,
        CountTrigger,
        EventTimeSessionWindows,
        PurgingTrigger,
        SlidingEventTimeWindows,
        TumblingEventTimeWindows,
    )

    for cls in (ContinuousEventTimeTrigger, CountTrigger, PurgingTrigger, EventTimeSessionWindows,
                SlidingEventTimeWindows, TumblingEventTimeWindows, CountTumblingWindowAssigner, GlobalWindows):
        assert cls[tuple] is not None
    assert TumblingEventTimeWindows[tuple].of(5).size == 5


@pytest.mark.integration
def test_flat_map_with_a_row_output_type_gives_rows():
    e = env(1)
    named = Types.ROW_NAMED(["word", "n"], [Types.STRING(), Types.INT()])
    words = e.from_collection(["a b", "c"])
    yielded = words.flat_map(lambda line: ((w, 1) for w in line.split()), output_type=named)

    def collecting(line, out):
        for w in line.split():
            out.collect((w.upper(), 2))

    collected = words.flat_map(collecting, output_type=named)
    out = collect(yielded.union(collected).map(lambda r: f"{r.word}={r.n}"))
    assert sorted(out) == ["A=2", "B=2", "C=2", "a=1", "b=1", "c=1"]


class _Totals(KeyedProcessFunction):
    """Yields a running total per key and, on an event-time timer, a final row; side output too."""

    def open(self, runtime_context: RuntimeContext):
        self.total = runtime_context.get_state(ValueStateDescriptor("total", Types.LONG()))

    def process_element(self, value, ctx: "KeyedProcessFunction.Context"):
        total = (self.total.value() or 0) + value[1]
        self.total.update(total)
        ctx.timer_service().register_event_time_timer(100)
        yield value[0], total
        yield _SMALL, value[1]

    def on_timer(self, timestamp, ctx: "KeyedProcessFunction.OnTimerContext", out):
        out.collect((ctx.get_current_key(), -self.total.value()))


_SMALL = OutputTag("small", Types.LONG())


@pytest.mark.integration
def test_process_with_a_row_output_type_gives_rows_and_keeps_side_outputs():
    e = env(1)
    ds = e.from_collection([("a", 1), ("b", 2), ("a", 3)]) \
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda v, ts: v[1]))
    totals = ds.key_by(lambda v: v[0]).process(_Totals(), output_type=Types.ROW_NAMED(["k", "t"], [Types.STRING(),
                                                                                                  Types.LONG()]))
    main = totals.map(lambda r: (r.k, r.t))
    side = totals.get_side_output(_SMALL).map(lambda v: ("side", v))
    out = collect(main.union(side))
    assert sorted(out) == [("a", -4), ("a", 1), ("a", 4), ("b", -2), ("b", 2), ("side", 1), ("side", 2), ("side", 3)]
