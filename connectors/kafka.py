"""Kafka connector: ``KafkaSource`` (partitions as splits, per-partition watermarks) and ``KafkaSink``."""

from __future__ import annotations

import logging
import re
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from rayflink.common.serialization import DeserializationSchema, SerializationSchema
from rayflink.datastream.connectors.base import (
    DeliveryGuarantee,
    Sink,
    SinkWriter,
    Source,
    SourceReader,
    SourceSplit,
    SplitBatch,
    StreamTransformer,
    SupportsPreprocessing,
)
from rayflink.errors import RayflinkError, truncate

__all__ = ["DeadLetter", "DeliveryGuarantee", "KafkaCommittable", "KafkaConnectorError", "KafkaConsumerRecord",
           "KafkaOffsetResetStrategy", "KafkaOffsetsInitializer", "KafkaPartitionSplit",
           "KafkaRecordDeserializationSchema", "KafkaRecordSerializationSchema", "KafkaSink", "KafkaSource",
           "KafkaTopicPartition", "KafkaTopicSelector"]

# Settings the bench found best against a Kafka broker (bench/KAFKA.md); user properties override them.
_CONSUMER_DEFAULTS = {
    "fetch.queue.backoff.ms": 10,
    "fetch.wait.max.ms": 10,
    "enable.auto.commit": False,
    "enable.partition.eof": True,
}
# Flink's KafkaSource options: read by rayflink, never passed to the Kafka client.
_SOURCE_OPTIONS = ("partition.discovery.interval.ms", "commit.offsets.on.checkpoint", "default.api.timeout.ms",
                   "client.id.prefix")
_LOG = logging.getLogger(__name__)
_CONSUME_BATCH = 1000  # bench/KAFKA.md: consume(1000) is the fastest batch size


class KafkaConnectorError(RayflinkError):
    """Kafka cannot be reached, a topic is unknown, or a record cannot be read or written."""


class KafkaOffsetResetStrategy(Enum):
    """Where to start when a committed or given offset is missing."""

    EARLIEST = "earliest"
    LATEST = "latest"
    NONE = "none"


@dataclass(frozen=True)
class KafkaTopicPartition:
    """A topic partition, as a key of ``KafkaOffsetsInitializer.offsets({...})``."""

    topic: str
    partition: int


@dataclass(frozen=True)
class KafkaOffsetsInitializer:
    """Where each partition starts (or, with ``set_bounded``, stops).

    >>> KafkaOffsetsInitializer.earliest()
    >>> KafkaOffsetsInitializer.timestamp(1_700_000_000_000)
    >>> KafkaOffsetsInitializer.offsets({KafkaTopicPartition("orders", 0): 42})
    """

    kind: str
    timestamp_ms: int | None = None
    offsets_map: tuple = ()
    reset: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.EARLIEST

    @staticmethod
    def earliest() -> "KafkaOffsetsInitializer":
        return KafkaOffsetsInitializer("earliest")

    @staticmethod
    def latest() -> "KafkaOffsetsInitializer":
        return KafkaOffsetsInitializer("latest")

    @staticmethod
    def committed_offsets(
            offset_reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.NONE,
    ) -> "KafkaOffsetsInitializer":
        """The consumer group's committed offsets (needs ``set_group_id``)."""
        return KafkaOffsetsInitializer("committed", reset=offset_reset_strategy)

    @staticmethod
    def timestamp(timestamp_ms: int) -> "KafkaOffsetsInitializer":
        """The first record whose timestamp is >= ``timestamp_ms``."""
        return KafkaOffsetsInitializer("timestamp", timestamp_ms=int(timestamp_ms))

    @staticmethod
    def offsets(offsets: dict, offset_reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.EARLIEST,
                ) -> "KafkaOffsetsInitializer":
        """Explicit offsets per ``KafkaTopicPartition``; other partitions use the reset strategy."""
        pairs = tuple(sorted(((tp.topic, tp.partition), int(o)) for tp, o in offsets.items()))
        return KafkaOffsetsInitializer("offsets", offsets_map=pairs, reset=offset_reset_strategy)


@dataclass(frozen=True)
class KafkaPartitionSplit:
    """A partition's position: the next offset to read (None: not resolved yet) and where to stop."""

    topic: str
    partition: int
    offset: int | None = None
    stopping_offset: int | None = None


@dataclass(frozen=True)
class _KafkaRecord:
    """A record read from Kafka: where it stands (topic, partition, offset), its timestamp, key and value."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class KafkaConsumerRecord(_KafkaRecord):
    """What a ``KafkaRecordDeserializationSchema`` sees."""

    headers: list | None = None


@dataclass(frozen=True)
class DeadLetter(_KafkaRecord):
    """A record that failed to deserialize, as emitted to the dead-letter side output."""

    error: str


class KafkaRecordDeserializationSchema:
    """Turns a whole consumer record (key, value, headers, offset) into a record.

    >>> class WithKey(KafkaRecordDeserializationSchema):
    ...     def deserialize(self, record): return (record.key, record.value)
    """

    def deserialize(self, record: KafkaConsumerRecord) -> Any:
        raise NotImplementedError

    @staticmethod
    def value_only(schema: DeserializationSchema) -> "KafkaRecordDeserializationSchema":
        return _ValueOnly(schema)


class _ValueOnly(KafkaRecordDeserializationSchema):
    def __init__(self, schema: DeserializationSchema) -> None:
        self.schema = schema

    def deserialize(self, record: KafkaConsumerRecord) -> Any:
        return self.schema.deserialize(record.value)


def split_id(topic: str, partition: int) -> str:
    """The split id of a partition (Flink's ``topic-partition``): watermarks are tracked per id."""
    return f"{topic}-{partition}"


def split_owner(topic: str, partition: int, parallelism: int) -> int:
    """The subtask that reads a partition discovered after the job started (stable across processes)."""
    return (zlib.crc32(topic.encode()) + partition) % parallelism


# ---- source ----------------------------------------------------------------------------------


class KafkaSource(Source):
    """Reads Kafka topics; every partition is a split with its own watermark.

    >>> source = KafkaSource.builder().set_bootstrap_servers("localhost:9092") \\
    ...     .set_topics("orders").set_starting_offsets(KafkaOffsetsInitializer.earliest()) \\
    ...     .set_value_only_deserializer(SimpleStringSchema()).build()
    >>> env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka")

    The partitions found when the job starts are dealt to the source subtasks in
    (topic, partition) order; partitions found later (every ``partition.discovery.interval.ms``,
    5 minutes by default for unbounded sources, off for bounded ones) are read by subtask
    :func:`split_owner`. Raises :class:`KafkaConnectorError` at job start when the brokers
    do not answer within ``default.api.timeout.ms`` (60 s) or a topic does not exist.
    """

    def __init__(self, bootstrap_servers: str, topics: tuple[str, ...], topic_pattern: str | None,
                 group_id: str | None, starting: KafkaOffsetsInitializer,
                 stopping: KafkaOffsetsInitializer | None, deserializer: KafkaRecordDeserializationSchema,
                 properties: dict, dead_letter_tag: Any, partitions: tuple[KafkaTopicPartition, ...] = ()) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.partitions = partitions  # set_partitions(...): exactly these (else topics or a pattern)
        self.topic_pattern = topic_pattern
        self.group_id = group_id
        self.starting = starting
        self.stopping = stopping
        self.deserializer = deserializer
        self.properties = properties
        self.dead_letter_tag = dead_letter_tag
        self.enumerated: frozenset | None = None  # set by create_splits; rides to the readers with the source

    @staticmethod
    def builder() -> "KafkaSourceBuilder":
        return KafkaSourceBuilder()

    def is_bounded(self) -> bool:
        return self.stopping is not None

    def output_type(self) -> Any:
        schema = getattr(self.deserializer, "schema", None)
        return schema.output_type() if schema is not None else None

    def option(self, name: str, default: int) -> int:
        return int(self.properties.get(name, default))

    def client_config(self) -> dict:
        """The Kafka client settings (without rayflink's own source options)."""
        return {"bootstrap.servers": self.bootstrap_servers,
                **{k: v for k, v in self.properties.items() if k not in _SOURCE_OPTIONS}}

    def list_partitions(self, metadata: Any) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this source reads, from a cluster metadata answer."""
        if self.partitions:
            return self._assigned_partitions(metadata)
        if self.topic_pattern is not None:
            pattern = re.compile(self.topic_pattern)
            names = [t for t in metadata.topics if pattern.fullmatch(t) and not t.startswith("__")]
        else:
            names = list(self.topics)
        out = []
        for name in names:
            md = metadata.topics.get(name)
            if md is None or md.error is not None:
                known = sorted(t for t in metadata.topics if not t.startswith("__"))
                raise KafkaConnectorError(
                    f"KafkaSource: topic {name!r} does not exist on {self.bootstrap_servers} "
                    f"(error {md.error if md else 'UNKNOWN_TOPIC_OR_PART'}; topics there: {truncate(known, 300)}); "
                    "create it or fix set_topics(...)")
            out.extend((name, p) for p in md.partitions)
        return sorted(out)

    def _assigned_partitions(self, metadata: Any) -> list[tuple[str, int]]:
        out = []
        for tp in self.partitions:
            md = metadata.topics.get(tp.topic)
            if md is None or md.error is not None or tp.partition not in md.partitions:
                have = sorted(md.partitions) if md is not None and md.error is None else "no such topic"
                raise KafkaConnectorError(
                    f"KafkaSource: partition {tp.partition} of topic {tp.topic!r} does not exist on "
                    f"{self.bootstrap_servers} (partitions there: {have}); fix set_partitions(...)")
            out.append((tp.topic, tp.partition))
        return sorted(out)

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        timeout_ms = self.option("default.api.timeout.ms", 60_000)
        admin = AdminClient({**self.client_config(), "socket.connection.setup.timeout.ms": timeout_ms})
        try:
            metadata = admin.list_topics(timeout=timeout_ms / 1000)
        except KafkaException as exc:
            raise KafkaConnectorError(
                f"KafkaSource: no answer from the Kafka brokers at {self.bootstrap_servers!r} within "
                f"{timeout_ms} ms ({exc.args[0]}); check set_bootstrap_servers(...) or raise "
                "set_property('default.api.timeout.ms', ...)") from None
        partitions = self.list_partitions(metadata)
        self.enumerated = frozenset(partitions)
        return [SourceSplit(split_id(t, p), KafkaPartitionSplit(t, p)) for t, p in partitions]

    def restore_splits(self, splits: list[SourceSplit]) -> None:
        self.enumerated = frozenset((s.payload.topic, s.payload.partition) for s in splits)

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return KafkaSourceReader(self, [s.payload for s in splits], subtask_index, parallelism)


_Builder = TypeVar("_Builder", bound="_KafkaBuilder")


class _KafkaBuilder:
    """What the Kafka source and sink builders share: the brokers and the client properties."""

    def __init__(self) -> None:
        self._bootstrap: str | None = None
        self._properties: dict = {}

    def set_bootstrap_servers(self: _Builder, bootstrap_servers: str) -> _Builder:
        self._bootstrap = bootstrap_servers
        return self

    def set_property(self: _Builder, key: str, value: Any) -> _Builder:
        """A Kafka client setting; a source also reads Flink's source options here
        (``partition.discovery.interval.ms``, ``commit.offsets.on.checkpoint``,
        ``default.api.timeout.ms``, ``client.id.prefix``)."""
        self._properties[key] = value
        return self

    def _check_bootstrap(self, where: str) -> str:
        if not self._bootstrap:
            raise ValueError(f"{where}: call set_bootstrap_servers('host:port')")
        return self._bootstrap


class KafkaSourceBuilder(_KafkaBuilder):
    """Builder of :class:`KafkaSource` (PyFlink's ``KafkaSourceBuilder``)."""

    def __init__(self) -> None:
        super().__init__()
        self._topics: tuple[str, ...] = ()
        self._pattern: str | None = None
        self._partitions: tuple[KafkaTopicPartition, ...] = ()
        self._group_id: str | None = None
        self._starting = KafkaOffsetsInitializer.earliest()
        self._stopping: KafkaOffsetsInitializer | None = None
        self._deserializer: KafkaRecordDeserializationSchema | None = None
        self._dead_letter: Any = None

    def set_topics(self, *topics: str) -> "KafkaSourceBuilder":
        self._topics = tuple(t for arg in topics for t in ([arg] if isinstance(arg, str) else arg))
        return self

    def set_topic_pattern(self, topic_pattern: str) -> "KafkaSourceBuilder":
        """Read every topic whose whole name matches the regular expression (new ones are discovered)."""
        self._pattern = topic_pattern
        return self

    def set_partitions(self, partitions: set[KafkaTopicPartition]) -> "KafkaSourceBuilder":
        """Read exactly these partitions (no others are discovered)."""
        parts = set(partitions)
        if not parts or not all(isinstance(tp, KafkaTopicPartition) for tp in parts):
            raise TypeError(f"set_partitions: expected a non-empty set of KafkaTopicPartition, got {partitions!r:.200}")
        self._partitions = tuple(sorted(parts, key=lambda tp: (tp.topic, tp.partition)))
        return self

    def set_group_id(self, group_id: str) -> "KafkaSourceBuilder":
        self._group_id = group_id
        return self

    def set_client_id_prefix(self, prefix: str) -> "KafkaSourceBuilder":
        self._properties["client.id.prefix"] = prefix
        return self

    def set_starting_offsets(self, initializer: KafkaOffsetsInitializer) -> "KafkaSourceBuilder":
        self._starting = initializer
        return self

    def set_bounded(self, stopping_offsets: KafkaOffsetsInitializer) -> "KafkaSourceBuilder":
        """Stop every partition at these offsets; the job then finishes."""
        self._stopping = stopping_offsets
        return self

    def set_unbounded(self, stopping_offsets: KafkaOffsetsInitializer | None = None) -> "KafkaSourceBuilder":
        """Read forever (the default)."""
        self._stopping = None
        return self

    def set_value_only_deserializer(self, schema: DeserializationSchema) -> "KafkaSourceBuilder":
        self._deserializer = KafkaRecordDeserializationSchema.value_only(schema)
        return self

    def set_deserializer(self, deserializer: KafkaRecordDeserializationSchema | Callable) -> "KafkaSourceBuilder":
        """A ``KafkaRecordDeserializationSchema`` or a function of a ``KafkaConsumerRecord``."""
        if not isinstance(deserializer, KafkaRecordDeserializationSchema):
            if not callable(deserializer):
                raise TypeError(f"set_deserializer: expected a KafkaRecordDeserializationSchema or a function, "
                                f"got {type(deserializer).__name__}")
            fn = deserializer
            deserializer = type("_FnDeserializer", (KafkaRecordDeserializationSchema,),
                                {"deserialize": lambda self, record: fn(record)})()
        self._deserializer = deserializer
        return self

    def set_dead_letter_output(self, output_tag: Any) -> "KafkaSourceBuilder":
        """Send records that fail to deserialize to a side output instead of failing the job.

        Each is a :class:`DeadLetter` (topic, partition, offset, key, value, error); the job's
        metrics count them (``side_records_out``).

        >>> DLQ = OutputTag("dead-letters")
        >>> stream = env.from_source(KafkaSource.builder()...set_dead_letter_output(DLQ).build(), ...)
        >>> stream.get_side_output(DLQ).sink_to(dlq_sink)
        """
        self._dead_letter = output_tag
        return self

    def set_properties(self, properties: dict) -> "KafkaSourceBuilder":
        self._properties.update(properties)
        return self

    def build(self) -> KafkaSource:
        where = "KafkaSource.builder()"
        bootstrap = self._check_bootstrap(where)
        if sum(map(bool, (self._topics, self._pattern, self._partitions))) != 1:
            raise ValueError(f"{where}: call exactly one of set_topics(...), set_topic_pattern(...) or "
                             "set_partitions(...)")
        if self._deserializer is None:
            raise ValueError(f"{where}: call set_value_only_deserializer(...) or set_deserializer(...)")
        group_id = self._group_id or self._properties.get("group.id")
        if "committed" in (self._starting.kind, getattr(self._stopping, "kind", None)) and not group_id:
            raise ValueError(f"{where}: committed_offsets() needs set_group_id(...)")
        return KafkaSource(bootstrap, self._topics, self._pattern, group_id, self._starting, self._stopping,
                           self._deserializer, dict(self._properties), self._dead_letter, self._partitions)


class KafkaSourceReader(SourceReader):
    """Reads the partitions of one source subtask with an ``assign``-ed consumer, in batches."""

    def __init__(self, source: KafkaSource, splits: list[KafkaPartitionSplit], subtask_index: int,
                 parallelism: int) -> None:
        from confluent_kafka import Consumer

        self.source = source
        self.subtask_index = subtask_index
        self.parallelism = parallelism
        conf = {**_CONSUMER_DEFAULTS, **source.client_config(),
                "group.id": source.group_id or f"rayflink-{uuid.uuid4().hex[:12]}",
                "error_cb": self._on_client_error}
        prefix = source.properties.get("client.id.prefix")
        if prefix:
            conf["client.id"] = f"{prefix}-{subtask_index}"
        self.consumer = Consumer(conf)
        self.timeout_s = source.option("default.api.timeout.ms", 60_000) / 1000
        default_interval = -1 if source.is_bounded() else 300_000
        self.discovery_ms = source.option("partition.discovery.interval.ms", default_interval)
        self.next_discovery = time.monotonic() + self.discovery_ms / 1000
        self.known: set = set(source.enumerated or ())
        self.known.update((s.topic, s.partition) for s in splits)
        self.positions: dict[tuple[str, int], int] = {}
        self.stops: dict[tuple[str, int], int | None] = {}
        self.finished: set = set()
        self.not_before: dict[tuple[str, int], int] = {}  # timestamp-initialized partitions not yet started
        self.ids: dict[tuple[str, int], str] = {}
        self.dead_letters = 0
        self.num_records_in_errors = 0  # messages the value schema skipped (None), as Flink's numRecordsInErrors
        self._got_data = False
        self.just_finished: list[str] = []
        self.brokers_down_since: float | None = None  # set by librdkafka's "all brokers down" error
        self.brokers_down_error = ""
        self._add_splits(splits, self.source.starting)

    # ---- assignment ------------------------------------------------------------------------

    def _add_splits(self, splits: list[KafkaPartitionSplit], starting: KafkaOffsetsInitializer) -> None:
        from confluent_kafka import TopicPartition

        if not splits:
            return
        tps = [(s.topic, s.partition) for s in splits]
        unresolved = [tp for s, tp in zip(splits, tps) if s.offset is None]
        starts = self._resolve(starting, unresolved, stopping=False) if unresolved else {}
        unresolved_stops = [tp for s, tp in zip(splits, tps) if s.stopping_offset is None]
        stops = (self._resolve(self.source.stopping, unresolved_stops, stopping=True)
                 if self.source.stopping is not None and unresolved_stops else {})
        assign = []
        for s, tp in zip(splits, tps):
            position = s.offset if s.offset is not None else starts[tp]
            stop = s.stopping_offset if s.stopping_offset is not None else stops.get(tp)
            self.positions[tp] = position
            self.stops[tp] = stop
            self.ids[tp] = split_id(*tp)
            if stop is not None and position >= stop:
                self.finished.add(tp)
                self.just_finished.append(self.ids[tp])
            else:
                assign.append(TopicPartition(tp[0], tp[1], position))
        if assign:
            self.consumer.incremental_assign(assign)

    def _resolve(self, init: KafkaOffsetsInitializer, tps: list, stopping: bool) -> dict:
        """Concrete offsets for ``tps`` under ``init``."""
        from confluent_kafka import KafkaException, TopicPartition

        consumer, timeout = self.consumer, self.timeout_s
        try:
            if init.kind == "earliest":
                return {tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=timeout)[0] for tp in tps}
            if init.kind == "latest":
                return self._end_offsets(tps)
            if init.kind == "timestamp":
                found = consumer.offsets_for_times([TopicPartition(t, p, init.timestamp_ms) for t, p in tps],
                                                   timeout=timeout)
                ends = self._end_offsets(tps)
                out = {}
                for tp, r in zip(tps, found):
                    out[tp] = r.offset if r.offset >= 0 else ends[tp]
                    if not stopping:  # refine client-side: some brokers answer with the batch's first offset
                        self.not_before[tp] = init.timestamp_ms
                return out
            if init.kind == "committed":
                found = consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=timeout)
                given = {(r.topic, r.partition): r.offset for r in found if r.offset >= 0}
            else:
                given = dict(init.offsets_map)
        except KafkaException as exc:
            raise KafkaConnectorError(f"KafkaSource subtask {self.subtask_index + 1}: cannot resolve "
                                      f"{init.kind} offsets of {truncate(tps, 200)} on "
                                      f"{self.source.bootstrap_servers!r}: {exc.args[0]}") from None
        missing = [tp for tp in tps if tp not in given]
        if missing and init.reset is KafkaOffsetResetStrategy.NONE:
            raise KafkaConnectorError(
                f"KafkaSource: no {init.kind} offset for {truncate(missing, 200)} (group {self.source.group_id!r}); "
                "pass an offset_reset_strategy (KafkaOffsetResetStrategy.EARLIEST or LATEST)")
        if missing:
            kind = "earliest" if init.reset is KafkaOffsetResetStrategy.EARLIEST else "latest"
            given.update(self._resolve(KafkaOffsetsInitializer(kind), missing, stopping))
        return {tp: given[tp] for tp in tps}

    def _end_offsets(self, tps: list) -> dict:
        """Each partition's end (high watermark) as a fetch reports it.

        The ListOffsets answer is only a lower bound on some brokers (tansu answers the last
        batch's base offset + 1), so a fetch from there reads to the partition-EOF event,
        whose offset is the exact end.
        """
        from confluent_kafka import KafkaError, TopicPartition

        probe = {tp: self.consumer.get_watermark_offsets(TopicPartition(*tp), timeout=self.timeout_s)[1]
                 for tp in tps}
        self.consumer.incremental_assign([TopicPartition(t, p, probe[(t, p)]) for t, p in tps])
        pending = set(tps)
        deadline = time.monotonic() + self.timeout_s
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise KafkaConnectorError(f"KafkaSource: no end of partitions {sorted(pending)} reported by "
                                              f"{self.source.bootstrap_servers!r} within {self.timeout_s:.0f} s")
                for m in self.consumer.consume(_CONSUME_BATCH, 0.1):
                    err = m.error()
                    if err is not None and err.code() == KafkaError._PARTITION_EOF:
                        tp = (m.topic(), m.partition())
                        if tp in pending:
                            probe[tp] = m.offset()
                            pending.discard(tp)
        finally:
            self.consumer.incremental_unassign([TopicPartition(t, p) for t, p in tps])
        return probe

    def _discover(self) -> None:
        from confluent_kafka import KafkaException

        self.next_discovery = time.monotonic() + self.discovery_ms / 1000
        try:
            metadata = self.consumer.list_topics(timeout=min(self.timeout_s, 5.0))
            current = self.source.list_partitions(metadata)
        except (KafkaException, KafkaConnectorError):
            return  # a topic of a pattern may vanish, a broker may be briefly away: retry next interval
        new = [tp for tp in current if tp not in self.known]
        self.known.update(new)
        mine = [KafkaPartitionSplit(t, p) for t, p in new if split_owner(t, p, self.parallelism) == self.subtask_index]
        # Flink reads a partition that appears while the job runs from its earliest offset
        self._add_splits(mine, KafkaOffsetsInitializer.earliest())

    # ---- broker outages -------------------------------------------------------------------

    def _on_client_error(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        if err.code() == KafkaError._ALL_BROKERS_DOWN and self.brokers_down_since is None:
            self.brokers_down_since = time.monotonic()
            self.brokers_down_error = err.str()

    def _check_brokers(self) -> None:
        """librdkafka reconnects by itself; after ``default.api.timeout.ms`` without a broker the
        subtask fails, so that the job restarts from its last checkpoint under its restart strategy."""
        from confluent_kafka import KafkaException

        if time.monotonic() - self.brokers_down_since < self.timeout_s:
            return
        try:
            self.consumer.list_topics(timeout=1.0)
        except KafkaException:
            raise KafkaConnectorError(
                f"KafkaSource subtask {self.subtask_index + 1}: no Kafka broker at "
                f"{self.source.bootstrap_servers!r} answered for {self.timeout_s * 1000:.0f} ms "
                f"(default.api.timeout.ms; {self.brokers_down_error})") from None
        self.brokers_down_since = None  # back, though no record arrived since

    # ---- reading ---------------------------------------------------------------------------

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        from confluent_kafka import KafkaError

        if self.discovery_ms >= 0 and time.monotonic() >= self.next_discovery:
            self._discover()
        if self.source.is_bounded() and len(self.finished) == len(self.positions):
            return None
        if len(self.finished) == len(self.positions):
            self._got_data = False
            return []
        messages = self.consumer.consume(min(max_records, 10 * _CONSUME_BATCH), 0)
        self._got_data = bool(messages)
        by_split: dict[tuple[str, int], list] = {}
        current_tp, current = None, None
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._on_eof((m.topic(), m.partition()), m.offset())
                    continue
                if err.fatal() or err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART,
                                                 KafkaError.TOPIC_AUTHORIZATION_FAILED):
                    raise KafkaConnectorError(f"KafkaSource subtask {self.subtask_index + 1} on "
                                              f"{self.source.bootstrap_servers!r}: {err.str()}")
                continue  # transient (broker away): librdkafka retries
            tp = (m.topic(), m.partition())
            if tp != current_tp:
                current_tp = tp
                current = by_split.get(tp)
                if current is None:
                    current = by_split[tp] = []
            current.append(m)
        if self.brokers_down_since is not None:
            if by_split:
                self.brokers_down_since = None
            else:
                self._check_brokers()
        out = []
        for tp, msgs in by_split.items():
            stop = self.stops.get(tp)
            if stop is not None and msgs[-1].offset() >= stop:
                msgs = [m for m in msgs if m.offset() < stop]
            floor = self.not_before.get(tp)
            if floor is not None:
                msgs = self._skip_before(tp, msgs, floor)
            if msgs:
                self.positions[tp] = msgs[-1].offset() + 1
                out.extend(self._deserialize(tp, msgs))
            if stop is not None and self.positions[tp] >= stop:
                self._finish(tp)
        return out

    def _skip_before(self, tp: tuple[str, int], msgs: list, floor: int) -> list:
        for i, m in enumerate(msgs):
            if m.timestamp()[1] >= floor:
                del self.not_before[tp]
                return msgs[i:]
        self.positions[tp] = msgs[-1].offset() + 1
        return []

    def _on_eof(self, tp: tuple[str, int], end: int) -> None:
        if tp in self.not_before:  # nothing at or after the timestamp yet: start at the end
            self.positions[tp] = max(self.positions[tp], end)
        stop = self.stops.get(tp)
        if stop is not None and end >= stop and tp not in self.finished:
            self.positions[tp] = max(self.positions[tp], stop)  # the rest were control records
            self._finish(tp)

    def _finish(self, tp: tuple[str, int]) -> None:
        from confluent_kafka import TopicPartition

        if tp not in self.finished:
            self.finished.add(tp)
            self.just_finished.append(self.ids[tp])
            self.consumer.incremental_unassign([TopicPartition(*tp)])

    def _deserialize(self, tp: tuple[str, int], msgs: list) -> list[SplitBatch]:
        deserializer = self.source.deserializer
        stamps = [m.timestamp()[1] for m in msgs]
        schema = getattr(deserializer, "schema", None)
        try:
            if schema is not None:
                records = schema.deserialize_batch([m.value() for m in msgs])
            else:
                records = [deserializer.deserialize(_consumer_record(m)) for m in msgs]
        except Exception:  # noqa: BLE001 - find the failing record(s) one by one below
            pass
        else:
            if schema is not None:
                records, stamps = self._skip_none(records, stamps)
            return [SplitBatch(self.ids[tp], records, stamps)] if records else []
        good, good_stamps, dead = [], [], []
        for m, ts in zip(msgs, stamps):
            try:
                good.append(schema.deserialize(m.value()) if schema is not None
                            else deserializer.deserialize(_consumer_record(m)))
                good_stamps.append(ts)
            except Exception as exc:  # noqa: BLE001 - user deserializers raise anything
                error = f"{type(exc).__name__}: {exc}"
                if self.source.dead_letter_tag is None:
                    raise KafkaConnectorError(
                        f"KafkaSource: cannot deserialize the record at topic {m.topic()!r} partition "
                        f"{m.partition()} offset {m.offset()} (value {truncate(m.value(), 120)}): {error}; "
                        "fix the data or the deserializer, or route such records to a side output with "
                        "set_dead_letter_output(OutputTag(...))") from exc
                dead.append(DeadLetter(m.topic(), m.partition(), m.offset(), ts, m.key(), m.value(), error))
        self.dead_letters += len(dead)
        if schema is not None:
            good, good_stamps = self._skip_none(good, good_stamps)
        out = [SplitBatch(self.ids[tp], good, good_stamps)] if good else []
        if dead:
            out.append(SplitBatch(self.ids[tp], dead, [d.timestamp for d in dead],
                                  side_output=self.source.dead_letter_tag))
        return out

    def _skip_none(self, records: list, stamps: list) -> tuple[list, list]:
        """A value deserialization schema returns None for a message it skips (Flink's contract;
        ``ignore_parse_errors()``): drop those records and count them in ``num_records_in_errors``."""
        kept = [r for r in records if r is not None]  # `is`, not `in`: records may define __eq__
        if len(kept) == len(records):
            return records, stamps
        self.num_records_in_errors += len(records) - len(kept)
        return kept, [ts for r, ts in zip(records, stamps) if r is not None]

    def metrics(self) -> dict[str, int]:
        return {"num_records_in_errors": self.num_records_in_errors}

    def wait_time(self) -> float:
        return 0.0 if self._got_data else 0.005

    def finished_splits(self) -> list[str]:
        done, self.just_finished = self.just_finished, []
        return done

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(self.ids[tp], KafkaPartitionSplit(tp[0], tp[1], pos, self.stops[tp]))
                for tp, pos in self.positions.items()]

    def notify_checkpoint_complete(self, checkpoint_id: int, splits: list[SourceSplit]) -> None:
        """Commit the completed checkpoint's positions to the consumer group, for monitoring and for
        ``committed_offsets()`` starts, as Flink does with ``commit.offsets.on.checkpoint`` (needs a
        group id). Asynchronous: a broker that is away does not stall the task."""
        from confluent_kafka import TopicPartition

        if self.source.group_id is None or str(self.source.properties.get(
                "commit.offsets.on.checkpoint", "true")).lower() != "true":
            return
        tps = [TopicPartition(s.payload.topic, s.payload.partition, s.payload.offset) for s in splits
               if s.payload.offset is not None]
        if tps:
            self.consumer.commit(offsets=tps, asynchronous=True)

    def close(self) -> None:
        self.consumer.close()


def _consumer_record(m: Any) -> KafkaConsumerRecord:
    return KafkaConsumerRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                               m.headers())


# ---- sink ------------------------------------------------------------------------------------


class KafkaRecordSerializationSchema:
    """How a record becomes a Kafka record: topic, value bytes, optional key bytes.

    >>> KafkaRecordSerializationSchema.builder().set_topic("out") \\
    ...     .set_value_serialization_schema(SimpleStringSchema()).build()
    """

    def __init__(self, topic: str | None, topic_selector: Callable[[Any], str] | None,
                 value_schema: SerializationSchema, key_schema: SerializationSchema | None,
                 partitioner: Callable[[Any], int] | None) -> None:
        self.topic = topic
        self.topic_selector = topic_selector
        self.value_schema = value_schema
        self.key_schema = key_schema
        self.partitioner = partitioner

    @staticmethod
    def builder() -> "KafkaRecordSerializationSchemaBuilder":
        return KafkaRecordSerializationSchemaBuilder()


class KafkaRecordSerializationSchemaBuilder:
    """Builder of :class:`KafkaRecordSerializationSchema`."""

    def __init__(self) -> None:
        self._topic: str | None = None
        self._selector: Callable[[Any], str] | None = None
        self._value: SerializationSchema | None = None
        self._key: SerializationSchema | None = None
        self._partitioner: Callable[[Any], int] | None = None

    def set_topic(self, topic: str) -> "KafkaRecordSerializationSchemaBuilder":
        self._topic = topic
        return self

    def set_topic_selector(self, selector: Callable[[Any], str]) -> "KafkaRecordSerializationSchemaBuilder":
        """The topic of each record, from the record."""
        self._selector = selector
        return self

    def set_value_serialization_schema(self, schema: SerializationSchema) -> "KafkaRecordSerializationSchemaBuilder":
        self._value = schema
        return self

    def set_key_serialization_schema(self, schema: SerializationSchema) -> "KafkaRecordSerializationSchemaBuilder":
        """A schema given the whole record, returning the key bytes (as in Flink)."""
        self._key = schema
        return self

    def set_partitioner(self, partitioner: Callable[[Any], int]) -> "KafkaRecordSerializationSchemaBuilder":
        """The partition of each record (default: Kafka's, by key)."""
        self._partitioner = partitioner
        return self

    def build(self) -> KafkaRecordSerializationSchema:
        if bool(self._topic) == bool(self._selector):
            raise ValueError("KafkaRecordSerializationSchema.builder(): call exactly one of set_topic(...) "
                             "or set_topic_selector(...)")
        if self._value is None:
            raise ValueError("KafkaRecordSerializationSchema.builder(): call set_value_serialization_schema(...)")
        return KafkaRecordSerializationSchema(self._topic, self._selector, self._value, self._key, self._partitioner)


@dataclass(frozen=True)
class KafkaCommittable:
    """The records one sink subtask received before a checkpoint's barrier, serialized, to be written
    in one Kafka transaction once the checkpoint completes.

    ``marker_group`` is a consumer group that the same transaction commits ``checkpoint_id`` to, as
    an offset: a committable whose checkpoint id is not above the group's committed offset was
    written already, which makes committing again after a restore harmless.
    """

    marker_group: str
    checkpoint_id: int
    records: tuple  # (topic, partition | None, key | None, value, timestamp | None)


class KafkaSink(Sink, SupportsPreprocessing):
    """Writes records to Kafka.

    >>> sink = KafkaSink.builder().set_bootstrap_servers("localhost:9092") \\
    ...     .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic("out")
    ...         .set_value_serialization_schema(SimpleStringSchema()).build()) \\
    ...     .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build()
    >>> stream.sink_to(sink)

    ``AT_LEAST_ONCE`` waits for every record's acknowledgement at each flush (checkpoint
    barrier, end of input) and fails on a delivery error; ``NONE`` does not wait before the
    end of input; ``EXACTLY_ONCE`` writes each checkpoint's records in one Kafka transaction
    (``<prefix>-<subtask>-<checkpoint>``), committed when the checkpoint completes.
    """

    write_timestamps = True  # each record's timestamp goes to Kafka (FlinkKafkaProducer: off unless set)
    flush_on_checkpoint = True  # AT_LEAST_ONCE waits for acknowledgements at every checkpoint barrier
    log_failures_only = False  # a failed delivery is logged instead of failing the sink

    def __init__(self, bootstrap_servers: str, serializer: KafkaRecordSerializationSchema,
                 guarantee: DeliveryGuarantee, transactional_id_prefix: str | None, properties: dict) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.serializer = serializer
        self.guarantee = guarantee
        self.transactional_id_prefix = transactional_id_prefix
        self.properties = properties

    @staticmethod
    def builder() -> "KafkaSinkBuilder":
        return KafkaSinkBuilder()

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return KafkaSinkWriter(self, subtask_index)

    def get_transformer(self) -> StreamTransformer | None:
        """None: the writer itself picks each record's topic (the serializer's topic selector)."""
        return None


class KafkaSinkBuilder(_KafkaBuilder):
    """Builder of :class:`KafkaSink` (PyFlink's ``KafkaSinkBuilder``)."""

    def __init__(self) -> None:
        super().__init__()
        self._serializer: KafkaRecordSerializationSchema | None = None
        self._guarantee = DeliveryGuarantee.NONE
        self._prefix: str | None = None

    def set_record_serializer(self, serializer: KafkaRecordSerializationSchema) -> "KafkaSinkBuilder":
        self._serializer = serializer
        return self

    def set_delivery_guarantee(self, guarantee: DeliveryGuarantee) -> "KafkaSinkBuilder":
        self._guarantee = guarantee
        return self

    def set_transactional_id_prefix(self, prefix: str) -> "KafkaSinkBuilder":
        self._prefix = prefix
        return self

    def build(self) -> KafkaSink:
        where = "KafkaSink.builder()"
        bootstrap = self._check_bootstrap(where)
        if self._serializer is None:
            raise ValueError(f"{where}: call set_record_serializer(KafkaRecordSerializationSchema.builder()...build())")
        if self._guarantee is DeliveryGuarantee.EXACTLY_ONCE and not self._prefix:
            raise ValueError(f"{where}: DeliveryGuarantee.EXACTLY_ONCE needs set_transactional_id_prefix(...), "
                             "unique per job, so that a restarted job can fence and abort its old transactions")
        return KafkaSink(bootstrap, self._serializer, self._guarantee, self._prefix, dict(self._properties))


@dataclass
class _Delivery:
    errors: list = field(default_factory=list)

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None and len(self.errors) < 10:  # name the record itself: deliveries fail late
            self.errors.append(f"{_describe_row(msg.topic(), msg.partition(), msg.key(), msg.value())}: "
                               f"{err.str()}")


def _describe_row(topic: str, partition: int | None, key: bytes | None, value: bytes | None,
                  record: Any = None) -> str:
    """A Kafka record as errors name it: the record (or its key and value bytes), size, topic."""
    where = f"topic {topic!r}" + (f" partition {partition}" if partition is not None and partition >= 0 else "")
    size = len(value or b"") + len(key or b"")
    if record is not None:
        return f"the record {truncate(record, 120)} ({size:,} bytes as key and value) for {where}"
    key_part = f" key {truncate(key, 40)}" if key is not None else ""
    return f"the record{key_part} value {truncate(value, 80)} ({size:,} bytes) for {where}"


class KafkaSinkWriter(SinkWriter):
    """One sink subtask's producer.

    EXACTLY_ONCE keeps the records of each checkpoint (in the checkpoint, as the committable) and
    writes them in one transaction when the checkpoint completes, with the checkpoint id committed
    to a marker group in the same transaction. A task that dies mid-transaction leaves it open;
    the next attempt's producer, with the same ``transactional.id``, fences and aborts it and writes
    the records again. librdkafka cannot resume another process's transaction, which is why the
    records wait in the checkpoint instead of in an open transaction as in Flink's KafkaSink.
    """

    def __init__(self, sink: KafkaSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index
        self.delivery = _Delivery()
        self.exactly_once = sink.guarantee is DeliveryGuarantee.EXACTLY_ONCE
        self.buffer: list = []
        # every writer (every attempt) has its own marker group, so that a job started afresh under
        # the same prefix, whose checkpoint ids start at 1 again, never takes its commits as done
        self.marker_group = f"{sink.transactional_id_prefix}-{subtask_index}-{uuid.uuid4().hex[:12]}"
        self.committed_up_to = -1  # the last checkpoint id this writer committed
        self.group_metadata: dict[str, Any] = {}
        self.producer = self._new_producer()

    def _new_producer(self) -> Any:
        from confluent_kafka import Producer

        sink = self.sink
        conf = {"bootstrap.servers": sink.bootstrap_servers, "linger.ms": 5, **sink.properties}
        conf.setdefault("acks", 1 if sink.guarantee is DeliveryGuarantee.NONE else "all")
        if not self.exactly_once:
            return Producer(conf)
        conf["transactional.id"] = f"{sink.transactional_id_prefix}-{self.subtask_index}"
        producer = Producer(conf)
        producer.init_transactions(self._timeout())  # fences (and aborts) a previous attempt's transaction
        return producer

    def _timeout(self) -> float:
        return float(self.sink.properties.get("transaction.timeout.ms", 60_000)) / 1000

    def write(self, records: list, timestamps: list | None) -> None:
        s = self.sink.serializer
        value_ser = s.value_schema.serialize
        key_ser = s.key_schema.serialize if s.key_schema is not None else None
        rows = [(s.topic or s.topic_selector(record),
                 s.partitioner(record) if s.partitioner is not None else None,
                 key_ser(record) if key_ser is not None else None,
                 value_ser(record),
                 timestamps[i] if timestamps is not None and self.sink.write_timestamps else None)
                for i, record in enumerate(records)]
        if self.exactly_once:
            self.buffer.extend(rows)
        else:
            self._produce(rows, records)

    def _produce(self, rows: list, records: list | None = None) -> None:
        """Hand ``rows`` to the producer; ``records`` (the rows' records, when known) name a failure."""
        from confluent_kafka import KafkaException

        produce, on_delivery, producer = self.producer.produce, self.delivery, self.producer
        for i, (topic, partition, key, value, timestamp) in enumerate(rows):
            kwargs = {"value": value, "on_delivery": on_delivery}
            if key is not None:
                kwargs["key"] = key
            if timestamp is not None:
                kwargs["timestamp"] = timestamp
            if partition is not None:
                kwargs["partition"] = partition
            try:
                produce(topic, **kwargs)
            except BufferError:  # the local queue is full
                self._wait_for_room(topic, kwargs)
            except KafkaException as exc:  # refused before sending, e.g. larger than message.max.bytes
                raise self._refused(exc, rows[i], None if records is None else records[i]) from None
        producer.poll(0)
        self._raise_delivery_errors()

    def _refused(self, exc: Any, row: tuple, record: Any) -> KafkaConnectorError:
        from confluent_kafka import KafkaError

        topic, partition, key, value, _ = row
        err = exc.args[0]
        which = _describe_row(topic, partition, key, value, record)
        hint = ""
        if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            limit = self.sink.properties.get("message.max.bytes", 1_000_000)
            hint = (f"; it is larger than the producer's message.max.bytes ({limit}): make the record smaller or "
                    "raise set_property('message.max.bytes', ...) on the KafkaSink builder (and the topic's "
                    "max.message.bytes on the broker)")
        return KafkaConnectorError(f"KafkaSink subtask {self.subtask_index + 1} on {self.sink.bootstrap_servers!r} "
                                   f"cannot write {which}: {err.str()}{hint}")

    def _wait_for_room(self, topic: str, kwargs: dict) -> None:
        """Serve deliveries until the record fits in the producer's queue; a broker that takes
        nothing for ``transaction.timeout.ms`` fails the subtask instead of hanging it."""
        deadline = time.monotonic() + self._timeout()
        while True:
            self.producer.poll(0.05)
            self._raise_delivery_errors()
            try:
                self.producer.produce(topic, **kwargs)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaConnectorError(
                        f"KafkaSink subtask {self.subtask_index + 1}: the producer's queue stayed full for "
                        f"{self._timeout():.0f} s (transaction.timeout.ms): {self.sink.bootstrap_servers!r} "
                        "takes no records") from None

    def _raise_delivery_errors(self) -> None:
        if self.delivery.errors and self.sink.log_failures_only:
            _LOG.warning("KafkaSink subtask %d on %r: delivery failed (logged only): %s", self.subtask_index + 1,
                         self.sink.bootstrap_servers, self.delivery.errors)
            self.delivery.errors.clear()
        if self.delivery.errors and self.sink.guarantee is not DeliveryGuarantee.NONE:
            raise KafkaConnectorError(f"KafkaSink subtask {self.subtask_index + 1} on "
                                      f"{self.sink.bootstrap_servers!r}: delivery failed: {self.delivery.errors}")

    def flush(self, end_of_input: bool) -> None:
        """Wait for acknowledgements (AT_LEAST_ONCE at barriers; every guarantee at the end of input)."""
        if self.exactly_once or (not end_of_input and (self.sink.guarantee is DeliveryGuarantee.NONE
                                                       or not self.sink.flush_on_checkpoint)):
            return
        timeout = self._timeout()
        left = self.producer.flush(timeout)
        if left:
            raise KafkaConnectorError(f"KafkaSink subtask {self.subtask_index + 1}: {left} records not "
                                      f"acknowledged by {self.sink.bootstrap_servers!r} within {timeout:.0f} s")
        self._raise_delivery_errors()

    def prepare_commit(self, checkpoint_id: int) -> KafkaCommittable | None:
        """At barrier ``checkpoint_id``: AT_LEAST_ONCE flushes; EXACTLY_ONCE hands the records over."""
        if not self.exactly_once:
            self.flush(False)
            return None
        committable = KafkaCommittable(self.marker_group, checkpoint_id, tuple(self.buffer))
        self.buffer = []
        return committable

    def commit(self, committables: list[KafkaCommittable | None]) -> None:
        """When the checkpoint completed (or again after a restore): write each committable's records
        in one transaction, unless its marker group says that was done."""
        from confluent_kafka import TopicPartition

        for c in committables:
            if c is None or not c.records or self._committed(c):
                continue
            producer, timeout = self.producer, self._timeout()
            producer.begin_transaction()
            self._produce(c.records)
            # the marker: the checkpoint id as the group's offset on partition 0 of each topic written
            markers = [TopicPartition(t, 0, c.checkpoint_id) for t in sorted({r[0] for r in c.records})]
            producer.send_offsets_to_transaction(markers, self._group_metadata(c.marker_group), timeout)
            producer.commit_transaction(timeout)  # flushes; raises on a failed delivery
            self._raise_delivery_errors()
            if c.marker_group == self.marker_group:
                self.committed_up_to = c.checkpoint_id

    def _committed(self, c: KafkaCommittable) -> bool:
        """Whether ``c`` was written: this writer's own are known; another attempt's are asked of Kafka."""
        if c.marker_group == self.marker_group:
            return c.checkpoint_id <= self.committed_up_to
        from confluent_kafka import TopicPartition

        consumer = self._marker_consumer(c.marker_group)
        try:
            found = consumer.committed([TopicPartition(t, 0) for t in {r[0] for r in c.records}],
                                       timeout=self._timeout())
        finally:
            consumer.close()
        return max((r.offset for r in found), default=-1) >= c.checkpoint_id

    def _group_metadata(self, group: str) -> Any:
        if group not in self.group_metadata:
            consumer = self._marker_consumer(group)
            self.group_metadata[group] = consumer.consumer_group_metadata()
            consumer.close()
        return self.group_metadata[group]

    def _marker_consumer(self, group: str) -> Any:
        """A consumer of marker group ``group``: never subscribes, only reads or names its offsets."""
        from confluent_kafka import Consumer

        return Consumer({"bootstrap.servers": self.sink.bootstrap_servers, "group.id": group,
                         "enable.auto.commit": False})

    def close(self) -> None:
        if not self.exactly_once:
            self.producer.flush(5)



# ---- PyFlink's legacy Kafka consumer and producer ---------------------------------------------


class FlinkKafkaConsumer(KafkaSource):
    """PyFlink's legacy Kafka consumer, for ``env.add_source(...)``: a ``KafkaSource`` of
    ``topics`` configured by Kafka ``properties`` (``bootstrap.servers``, ``group.id``, ...).

    >>> consumer = FlinkKafkaConsumer("orders", SimpleStringSchema(),
    ...                               {"bootstrap.servers": "localhost:9092", "group.id": "shop"})
    >>> env.add_source(consumer.set_start_from_earliest())  # doctest: +SKIP

    It starts from the group's committed offsets (``auto.offset.reset`` where there are none),
    commits its offsets at checkpoints, and after a restore reads only partitions of its topics.
    """

    def __init__(self, topics: str | list[str], deserialization_schema: DeserializationSchema,
                 properties: dict) -> None:
        config = {k: str(v) for k, v in dict(properties).items()}
        bootstrap = config.pop("bootstrap.servers", None)
        if not bootstrap:
            raise ValueError("FlinkKafkaConsumer: the properties need 'bootstrap.servers'")
        group_id = config.pop("group.id", None)
        topic_names = (topics,) if isinstance(topics, str) else tuple(topics)
        super().__init__(bootstrap, topic_names, None, group_id, KafkaOffsetsInitializer.earliest(), None,
                         KafkaRecordDeserializationSchema.value_only(deserialization_schema), config, None)
        self.filter_restored_partitions = True
        self.set_start_from_group_offsets()

    def set_start_from_group_offsets(self) -> "FlinkKafkaConsumer":
        """Start from the group's committed offsets; ``auto.offset.reset`` (default latest) where
        there are none, or when the consumer has no ``group.id``."""
        reset = KafkaOffsetResetStrategy(self.properties.get("auto.offset.reset", "latest").lower())
        self.starting = (KafkaOffsetsInitializer.committed_offsets(reset) if self.group_id else
                         KafkaOffsetsInitializer(reset.value if reset is not KafkaOffsetResetStrategy.NONE
                                                 else "earliest"))
        return self

    def set_start_from_earliest(self) -> "FlinkKafkaConsumer":
        self.starting = KafkaOffsetsInitializer.earliest()
        return self

    def set_start_from_latest(self) -> "FlinkKafkaConsumer":
        self.starting = KafkaOffsetsInitializer.latest()
        return self

    def set_start_from_timestamp(self, startup_offsets_timestamp: int) -> "FlinkKafkaConsumer":
        """Start at the first record of each partition whose timestamp is >= the given one (ms)."""
        self.starting = KafkaOffsetsInitializer.timestamp(startup_offsets_timestamp)
        return self

    def set_commit_offsets_on_checkpoints(self, commit_on_checkpoints: bool) -> "FlinkKafkaConsumer":
        """Commit the offsets to the group when a checkpoint completes (the default)."""
        self.properties["commit.offsets.on.checkpoint"] = "true" if commit_on_checkpoints else "false"
        return self

    def disable_filter_restored_partitions_with_subscribed_topics(self) -> "FlinkKafkaConsumer":
        """After a restore, also read restored partitions of topics no longer subscribed."""
        self.filter_restored_partitions = False
        return self

    def get_produced_type(self) -> Any:
        """The type of the records (the deserialization schema's)."""
        return self.output_type()

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        if self.filter_restored_partitions:
            splits = [s for s in splits if s.payload.topic in self.topics]
        return super().create_reader(splits, subtask_index, parallelism)


class Semantic(Enum):
    """The guarantee of a ``FlinkKafkaProducer`` (KafkaSink's ``DeliveryGuarantee``)."""

    EXACTLY_ONCE = 0
    AT_LEAST_ONCE = 1
    NONE = 2

    def delivery_guarantee(self) -> DeliveryGuarantee:
        return DeliveryGuarantee[self.name]


class FlinkKafkaProducer(KafkaSink):
    """PyFlink's legacy Kafka producer, for ``ds.add_sink(...)``: a ``KafkaSink`` writing every
    record to ``topic``, configured by Kafka ``producer_config`` (``bootstrap.servers``, ...).

    >>> producer = FlinkKafkaProducer("out", SimpleStringSchema(), {"bootstrap.servers": "localhost:9092"})
    >>> ds.add_sink(producer)  # doctest: +SKIP

    ``Semantic.EXACTLY_ONCE`` writes each checkpoint's records in one transaction (under the
    ``transactional.id`` of ``producer_config`` as prefix, else one made for this producer).
    ``kafka_producer_pool_size`` is not needed: each subtask has one producer, and its
    transactions are opened at commit time.
    """

    def __init__(self, topic: str, serialization_schema: SerializationSchema, producer_config: dict,
                 kafka_producer_pool_size: int = 5, semantic: Semantic = Semantic.AT_LEAST_ONCE) -> None:
        config = {k: str(v) for k, v in dict(producer_config).items()}
        bootstrap = config.pop("bootstrap.servers", None)
        if not bootstrap:
            raise ValueError("FlinkKafkaProducer: the producer config needs 'bootstrap.servers'")
        prefix = config.pop("transactional.id", None)
        if semantic is Semantic.EXACTLY_ONCE and not prefix:
            prefix = f"{topic}-producer-{uuid.uuid4().hex[:12]}"  # the same in every attempt of the job
        serializer = KafkaRecordSerializationSchema.builder().set_topic(topic) \
            .set_value_serialization_schema(serialization_schema).build()
        super().__init__(bootstrap, serializer, semantic.delivery_guarantee(), prefix, config)
        self.write_timestamps = False

    def set_write_timestamp_to_kafka(self, write_timestamp_to_kafka: bool) -> "FlinkKafkaProducer":
        """Give each Kafka record the stream record's timestamp (off by default)."""
        self.write_timestamps = bool(write_timestamp_to_kafka)
        return self

    def set_log_failures_only(self, log_failures_only: bool) -> "FlinkKafkaProducer":
        """Log failed deliveries instead of failing the job (records may then be lost)."""
        self.log_failures_only = bool(log_failures_only)
        return self

    def set_flush_on_checkpoint(self, flush_on_checkpoint: bool) -> "FlinkKafkaProducer":
        """Wait for every acknowledgement at checkpoints (the default; AT_LEAST_ONCE needs it)."""
        self.flush_on_checkpoint = bool(flush_on_checkpoint)
        return self

    def ignore_failures_after_transaction_timeout(self) -> "FlinkKafkaProducer":
        """Accepted for PyFlink's programs; nothing to ignore here: a transaction is opened only
        when its checkpoint has completed and is committed at once, so none can time out while
        the job is down."""
        return self

class KafkaTopicSelector:
    """Chooses the topic of each record for ``KafkaRecordSerializationSchema.builder()
    .set_topic_selector(...)``: override ``apply(record) -> topic`` (a plain function works too).

    >>> class ByRegion(KafkaTopicSelector):
    ...     def apply(self, record):
    ...         return f"orders-{record['region']}"
    """

    def apply(self, record: object) -> str:
        raise NotImplementedError(f"{type(self).__name__}.apply(record) must return the record's topic")

    def __call__(self, record: object) -> str:
        return self.apply(record)
