"""SQL table factories: ``WITH ('connector' = ...)`` options to the connectors' own sources and
sinks, reading and writing Arrow record batches (Flink's ``DynamicTableSourceFactory`` and
``DynamicTableSinkFactory``, one per connector, keyed by the ``connector`` option).

- ``datagen``: ``number-of-rows`` (unbounded without), ``rows-per-second`` (10000; ``0``: unlimited),
  ``fields.<name>.kind`` (``random`` | ``sequence``), ``.min``, ``.max``, ``.length``, ``.start``, ``.end``
- ``filesystem``: ``path``, ``format`` (``csv`` | ``json`` | ``parquet``: record batches as they are,
  a part file per checkpoint), ``csv.field-delimiter``; ``source.monitor-interval`` keeps reading
  new files (unbounded)
- ``kafka``: ``topic``, ``properties.bootstrap.servers``, ``properties.group.id``, ``properties.*``,
  ``format`` (``json`` | ``csv`` | ``debezium-json``: a changelog read and written as Debezium's
  changes), ``scan.startup.mode`` (``earliest-offset`` | ``latest-offset`` |
  ``group-offsets`` | ``timestamp`` with ``scan.startup.timestamp-millis``), ``scan.bounded.mode``
  (``unbounded`` | ``latest-offset``), ``sink.delivery-guarantee``, ``sink.transactional-id-prefix``
- ``upsert-kafka``: ``topic``, ``properties.*``, ``key.format`` and ``value.format`` (``json``),
  ``scan.bounded.mode``: written, each row under its PRIMARY KEY and a deleted key as a tombstone
  (no value); read from the topic's start as upserts, normalized into a full changelog
- ``jdbc`` (sink; a lookup join's dimension table): ``url`` (``jdbc:postgresql://...`` or
  ``jdbc:mysql://...``), ``table-name``,
  ``username``, ``password``, ``sink.buffer-flush.max-rows``, ``sink.buffer-flush.interval``,
  ``sink.max-retries``; with a PRIMARY KEY it upserts and takes updates (``-D`` deletes)
- ``mysql-cdc`` (source of a changelog): Flink CDC's ``hostname``, ``port`` (3306), ``username``,
  ``password``, ``database-name``, ``table-name``, ``server-id``, ``scan.startup.mode``
  (``initial`` | ``latest-offset``): a snapshot of the table, then its binlog, as ``+I``/``-U``/``+U``/``-D``
- ``redis`` (sink; a lookup join's dimension table): ``host`` (127.0.0.1), ``port`` (6379),
  ``database`` (0), ``username``, ``password``, ``data-type`` (``hash``: a field per value column,
  a NULL one left out | ``string``: the one value column's text, a NULL deletes the key),
  ``key-prefix`` (''), ``key-delimiter`` (``:``), ``ttl`` (e.g. ``'1 h'``: keys expire),
  ``sink.buffer-flush.max-rows`` (1000). The Redis key of a row is the prefix and its PRIMARY KEY
  values joined by the delimiter (without a PRIMARY KEY: its first column, and inserts only). With
  a PRIMARY KEY it upserts and takes updates (``-D`` deletes). Looked up by that key, with the
  ``lookup.*`` options below
- ``delta`` (sink; bounded source): ``table-path``; written append-only, or with a PRIMARY KEY
  merged on it (updates upsert, ``-D`` deletes), each checkpoint's rows in one Delta commit (exactly
  once; without checkpoints at the end of input); ``PARTITIONED BY (...)`` columns are the Delta
  table's partition columns; read at the table's latest version, or ``versionAsOf``. In S3
  (``'table-path' = 's3://bucket/path'``) with Flink's ``s3.endpoint``, ``s3.access-key``,
  ``s3.secret-key``, ``s3.region`` (else the ``AWS_*`` environment variables)
- ``print``: ``print-identifier``; takes updates (prints ``+I``/``-U``/``+U``/``-D``)
- ``blackhole``: drops everything; takes updates

A lookup join's dimension table (``jdbc``, ``redis``) takes Flink's cache options: ``lookup.cache``
(``NONE`` | ``PARTIAL``), ``lookup.partial-cache.max-rows`` (10000),
``lookup.partial-cache.expire-after-write`` and ``lookup.max-retries`` (3).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from rayflink.datastream.connectors.base import Source, SourceReader, SplitBatch, WrappedReader, WrappedSource
from rayflink.operators.sql.scan import ROWS_PER_BATCH
from rayflink.sql.catalog import LOOKUP_CONNECTORS, CatalogTable
from rayflink.sql.errors import SqlValidationError, closest
from rayflink.sql.logical import ROWKIND
from rayflink.sql.types import column_of

CONNECTORS = ("datagen", "filesystem", "kafka", "upsert-kafka", "jdbc", "mysql-cdc", "redis", "delta", "print",
              "blackhole")


def _option(table: CatalogTable, key: str, default: Any = None, *, required: bool = False) -> Any:
    if key in table.options:
        return table.options[key]
    if required:
        raise SqlValidationError(f"table {table.name!r} ('connector' = '{table.connector()}') needs the option "
                                 f"'{key}'; add it to WITH (...)")
    return default


_PARTITIONED_CONNECTORS = ("delta",)  # the connectors that write a PARTITIONED BY table's partitions


def _check_connector(table: CatalogTable) -> str:
    name = table.connector()
    if name not in CONNECTORS:
        raise SqlValidationError(f"table {table.name!r}: connector {name!r} is not supported"
                                 + closest(name, CONNECTORS) + f" (supported: {', '.join(CONNECTORS)})")
    if table.partition_keys and name not in _PARTITIONED_CONNECTORS:
        raise SqlValidationError(f"table {table.name!r}: PARTITIONED BY ({', '.join(table.partition_keys)}) is not "
                                 f"supported by connector {name!r}; partitioned tables: "
                                 + ", ".join(f"'{c}'" for c in _PARTITIONED_CONNECTORS))
    return name


# ---- sources -----------------------------------------------------------------------------------

def create_table_source(table: CatalogTable, read: pa.Schema | None = None) -> Any:
    """A ``Source`` whose records are ``pyarrow.RecordBatch`` es of ``table.physical_schema``, or of
    ``read`` (the columns and ROW fields a query uses) where the format can read no more (JSON, Parquet)."""
    name = _check_connector(table)
    read = table.physical_schema if read is None else read
    if name == "datagen":
        return _datagen_source(table)
    if name == "filesystem":
        return _filesystem_source(table, read)
    if name == "kafka":
        return _kafka_source(table, read)
    if name == "mysql-cdc":
        return _mysql_cdc_source(table)
    if name == "upsert-kafka":
        return _upsert_kafka_source(table)
    if name == "delta":
        return _delta_source(table)
    raise SqlValidationError(f"table {table.name!r}: connector {name!r} is a sink only; it cannot be read")


@dataclass(frozen=True)
class _FieldGenerator:
    kind: str
    type: pa.DataType
    low: float
    high: float
    length: int


class DataGenBatches:
    """Rows ``i * rows .. (i + 1) * rows`` of a datagen table: random fields drawn from a generator
    seeded by the batch index (a batch read again after a restore is the same), sequences by row."""

    def __init__(self, table: CatalogTable, rows_per_batch: int, total: int | None) -> None:
        self.schema = table.physical_schema
        self.rows_per_batch = rows_per_batch
        self.total = total
        self.fields = []
        for f in self.schema:
            def opt(key: str, default: Any = None, field: str = f.name) -> Any:
                return table.options.get(f"fields.{field}.{key}", default)

            kind = opt("kind", "random")
            if kind not in ("random", "sequence"):
                raise SqlValidationError(f"table {table.name!r}: 'fields.{f.name}.kind' = {kind!r}; "
                                         "use 'random' or 'sequence'")
            low = float(opt("start" if kind == "sequence" else "min", 0))
            high = float(opt("end" if kind == "sequence" else "max", 2**31 - 1 if kind == "random" else 2**62))
            self.fields.append(_FieldGenerator(kind, f.type, low, high, int(opt("length", 10))))

    def __call__(self, index: int) -> pa.RecordBatch:
        start = index * self.rows_per_batch
        n = self.rows_per_batch if self.total is None else min(self.rows_per_batch, self.total - start)
        rng = np.random.default_rng(index)
        rows = np.arange(start, start + n, dtype=np.int64)
        return pa.RecordBatch.from_arrays([self.column(g, rng, rows) for g in self.fields], schema=self.schema)

    def column(self, g: _FieldGenerator, rng: np.random.Generator, rows: np.ndarray) -> pa.Array:
        n, t = len(rows), g.type
        if pa.types.is_timestamp(t):
            return pa.array(np.full(n, time.time_ns() // 1_000_000, dtype=np.int64)).cast(t)
        if g.kind == "sequence":
            values = (g.low + rows).astype(np.int64)
            return pa.array(values.astype(str)) if pa.types.is_string(t) else pa.array(values).cast(t)
        if pa.types.is_string(t):
            letters = rng.integers(0, 16, size=(n, g.length))
            return pa.array(["".join("0123456789abcdef"[c] for c in row) for row in letters])
        if pa.types.is_boolean(t):
            return pa.array(rng.integers(0, 2, size=n).astype(bool))
        if pa.types.is_integer(t):
            info = np.iinfo(t.to_pandas_dtype())
            return pa.array(rng.integers(max(int(g.low), info.min), min(int(g.high), info.max), size=n,
                                         endpoint=True)).cast(t)
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return pa.array(rng.uniform(g.low, g.high, size=n)).cast(t, safe=False)
        if pa.types.is_date(t):
            return pa.array(np.full(n, int(time.time() // 86400), dtype=np.int32)).cast(t)
        raise SqlValidationError(f"datagen cannot generate type {t}")


def _datagen_source(table: CatalogTable) -> Any:
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy

    total = _option(table, "number-of-rows")
    total = None if total is None else int(total)
    rate = float(_option(table, "rows-per-second", 10000))
    rows = ROWS_PER_BATCH if total is None else max(1, min(ROWS_PER_BATCH, total))
    if rate:  # about ten batches a second, so that a rate-limited table flows evenly
        rows = max(1, min(rows, int(rate // 10)))
    batches = None if total is None else -(-total // rows)
    limiter = RateLimiterStrategy.per_second(rate / rows) if rate else None
    return DataGeneratorSource(DataGenBatches(table, rows, total), batches, limiter)


class ArrowLines:
    """Decodes lines of a CSV or JSON-lines file into one record batch of ``schema``."""

    def __init__(self, schema: pa.Schema, fmt: str, delimiter: str = ",") -> None:
        self.schema = schema
        self.fmt = fmt
        self.delimiter = delimiter

    def __call__(self, lines: list[bytes]) -> list[pa.RecordBatch]:
        if not lines:
            return []
        data = b"\n".join(lines) + b"\n"
        if self.fmt == "csv":
            import pyarrow.csv as csv

            table = csv.read_csv(io.BytesIO(data), read_options=csv.ReadOptions(column_names=self.schema.names),
                                 parse_options=csv.ParseOptions(delimiter=self.delimiter),
                                 convert_options=csv.ConvertOptions(column_types=self.schema,
                                                                    strings_can_be_null=True,
                                                                    timestamp_parsers=["%Y-%m-%d %H:%M:%S",
                                                                                       "%Y-%m-%dT%H:%M:%S",
                                                                                       csv.ISO8601]))
        else:
            import pyarrow.json as pj

            table = pj.read_json(io.BytesIO(data), parse_options=pj.ParseOptions(
                explicit_schema=self.schema, unexpected_field_behavior="ignore"))
        table = table.select(self.schema.names).cast(self.schema)
        return table.combine_chunks().to_batches()


def _lines(table: CatalogTable, fmt: str, read: pa.Schema) -> ArrowLines:
    """The decoder of the table's JSON or CSV lines: JSON by name, only the columns and ROW fields
    ``read``; CSV by position, every physical column."""
    return ArrowLines(read if fmt == "json" else table.physical_schema, fmt,
                      _option(table, "csv.field-delimiter", ","))


class ArrowRowsSchema:
    """A Kafka value schema: message values (JSON or CSV lines) to one record batch per poll."""

    def __init__(self, lines: ArrowLines) -> None:
        self.lines = lines

    def deserialize(self, message: bytes) -> pa.RecordBatch:
        return self.lines([message])[0]

    def deserialize_batch(self, messages: list[bytes]) -> list[pa.RecordBatch]:
        return self.lines([m for m in messages if m is not None])


class DebeziumJsonChanges:
    """A Kafka value schema for ``debezium-json``: each message a change dict (``op``, ``before``,
    ``after``, also inside Debezium's ``payload`` envelope); a tombstone (no value) is no change."""

    def deserialize(self, message: bytes | None) -> dict:
        if message is None:
            return {}
        change = json.loads(message)
        return change.get("payload", change) if "op" not in change else change

    def deserialize_batch(self, messages: list) -> list[dict]:
        return [self.deserialize(m) for m in messages]


def upsert_json_change(record: Any) -> dict:
    """An ``upsert-kafka`` record as a change: its value a row of the key (an upsert), no value a
    deletion of the key (a tombstone); ChangelogNormalize makes the full changelog of them."""
    if record.value is None:
        return {"op": "d", "before": json.loads(record.key) if record.key else {}, "after": None}
    return {"op": "c", "before": None, "after": json.loads(record.value)}


def _upsert_kafka_source(table: CatalogTable) -> Any:
    """Every record of the topic from the start (an upsert topic is a table's history)."""
    from rayflink.connectors.kafka import KafkaOffsetsInitializer

    for key in ("key.format", "value.format"):
        _format(table, key, formats=("json",))
    builder = (_kafka_source_builder(table).set_starting_offsets(KafkaOffsetsInitializer.earliest())
               .set_deserializer(upsert_json_change))
    return ChangelogBatches(builder.build(), table)


def _kafka_source_builder(table: CatalogTable) -> Any:
    """A KafkaSource builder of the table's brokers, topics, group, ``scan.bounded.mode`` and
    ``properties.*`` (the records' deserializer and starting offsets are the caller's)."""
    from rayflink.connectors.kafka import KafkaSource

    builder = (KafkaSource.builder()
               .set_bootstrap_servers(_option(table, "properties.bootstrap.servers", required=True))
               .set_topics(*_option(table, "topic", required=True).split(";"))
               .set_group_id(_option(table, "properties.group.id", f"rayflink-sql-{table.name}")))
    _bounded(table, builder)
    _properties(table, builder, ("properties.bootstrap.servers", "properties.group.id"))
    return builder


def _bounded(table: CatalogTable, builder: Any) -> None:
    from rayflink.connectors.kafka import KafkaOffsetsInitializer

    bounded = _option(table, "scan.bounded.mode", "unbounded")
    if bounded == "latest-offset":
        builder.set_bounded(KafkaOffsetsInitializer.latest())
    elif bounded != "unbounded":
        raise SqlValidationError(f"table {table.name!r}: 'scan.bounded.mode' = {bounded!r}; use 'unbounded' "
                                 "or 'latest-offset'")


def _properties(table: CatalogTable, builder: Any, own: tuple[str, ...]) -> None:
    """The table's ``properties.*`` options as Kafka client settings (but ``own``, taken already)."""
    for key, value in table.options.items():
        if key.startswith("properties.") and key not in own:
            builder.set_property(key[len("properties."):], value)


def _kafka_source(table: CatalogTable, read: pa.Schema) -> Any:
    from rayflink.connectors.kafka import KafkaOffsetsInitializer

    fmt = _format(table, formats=_KAFKA_FORMATS)
    values = DebeziumJsonChanges() if fmt == "debezium-json" else ArrowRowsSchema(_lines(table, fmt, read))
    builder = _kafka_source_builder(table).set_value_only_deserializer(values)
    mode = _option(table, "scan.startup.mode", "group-offsets")
    starts = {"earliest-offset": KafkaOffsetsInitializer.earliest, "latest-offset": KafkaOffsetsInitializer.latest,
              "group-offsets": KafkaOffsetsInitializer.committed_offsets}
    if mode == "timestamp":
        builder.set_starting_offsets(KafkaOffsetsInitializer.timestamp(
            int(_option(table, "scan.startup.timestamp-millis", required=True))))
    elif mode in starts:
        builder.set_starting_offsets(starts[mode]())
    else:
        raise SqlValidationError(f"table {table.name!r}: 'scan.startup.mode' = {mode!r}; use one of "
                                 f"{', '.join([*starts, 'timestamp'])}" + closest(mode, [*starts, "timestamp"]))
    return (ChangelogBatches if fmt == "debezium-json" else MessageBatches)(builder.build(), table)


def _mysql_cdc_source(table: CatalogTable) -> Any:
    from rayflink.connectors.mysql_cdc import MySqlSource, StartupOptions

    db = _option(table, "database-name", required=True)
    builder = (MySqlSource.builder().hostname(_option(table, "hostname", required=True))
               .port(int(_option(table, "port", 3306))).username(_option(table, "username", required=True))
               .password(_option(table, "password", "")).database_list(db)
               .table_list(f"{db}.{_option(table, 'table-name', required=True)}"))
    if "server-id" in table.options:
        builder = builder.server_id(table.options["server-id"])
    mode = _option(table, "scan.startup.mode", "initial")
    modes = {"initial": StartupOptions.initial, "latest-offset": StartupOptions.latest}
    if mode not in modes:
        raise SqlValidationError(f"table {table.name!r}: 'scan.startup.mode' = {mode!r}; use 'initial' or "
                                 "'latest-offset'" + closest(mode, list(modes)))
    return ChangelogBatches(builder.startup_options(modes[mode]()).build(), table)


class MessageBatches(WrappedSource):
    """A source of messages (Kafka records, CDC changes) read by the SQL scan a batch of rows at a
    time: the scan asks for ``max_records`` batches, so this reader polls ``ROWS_PER_BATCH`` messages
    for each, and ``to_batches`` turns a split's messages of one poll into record batches."""

    def __init__(self, source: Source, table: CatalogTable) -> None:
        super().__init__(source)
        self.table_name = table.name
        self.schema = table.physical_schema

    def wrap(self, reader: SourceReader) -> SourceReader:
        return _MessageReader(reader, self)

    def to_batches(self, records: list) -> list[pa.RecordBatch]:
        return records  # the value format made them batches already (ArrowRowsSchema)


class ChangelogBatches(MessageBatches):
    """A source of Debezium-shaped changes (``op``, ``before``, ``after``) as record batches of a
    table's physical columns plus the row kind column: ``c``/``r`` give ``+I``, ``u`` gives
    ``-U`` and ``+U``, ``d`` gives ``-D``."""

    def to_batches(self, changes: list[dict]) -> list[pa.RecordBatch]:
        from rayflink.connectors.mysql_cdc import change_kinds

        rows, kinds = [], []
        for c in changes:
            if not c:  # a tombstone: no change
                continue
            for kind, row in change_kinds(c):
                rows.append(row)
                kinds.append(kind.value)
        columns = [column_of([r.get(f.name) for r in rows], f.type, f"table {self.table_name!r}: column {f.name!r}")
                   for f in self.schema]
        columns.append(pa.array(kinds, pa.int8()))
        return [pa.RecordBatch.from_arrays(columns, schema=self.schema.append(pa.field(ROWKIND, pa.int8())))]


class _MessageReader(WrappedReader):
    def __init__(self, reader: SourceReader, source: MessageBatches) -> None:
        super().__init__(reader)
        self.source = source

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        batches = self.reader.poll(max(1, max_records) * ROWS_PER_BATCH)
        if not batches:
            return batches
        out = [SplitBatch(b.split_id, [r for r in self.source.to_batches(b.records) if r.num_rows], None,
                          b.side_output) for b in batches if b.records]
        return [b for b in out if b.records]


class _PairPart:
    """A Kafka sink's key or value schema over (key, value) pairs: the UTF-8 bytes of one part (None stays None)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def serialize(self, pair: tuple) -> bytes | None:
        part = pair[self.index]
        return None if part is None else part.encode()


def _kafka_sink(table: CatalogTable, upsert: bool = False) -> Any:
    from rayflink.common.serialization import SimpleStringSchema
    from rayflink.connectors.kafka import DeliveryGuarantee, KafkaRecordSerializationSchema, KafkaSink

    records = KafkaRecordSerializationSchema.builder().set_topic(_option(table, "topic", required=True))
    if upsert:  # (key, value or None) pairs of the upsert-json rows
        records = records.set_key_serialization_schema(_PairPart(0)).set_value_serialization_schema(_PairPart(1))
    else:
        records = records.set_value_serialization_schema(SimpleStringSchema())
    serializer = records.build()
    guarantee = _option(table, "sink.delivery-guarantee", "at-least-once")
    try:
        delivery = DeliveryGuarantee(guarantee)
    except ValueError:
        raise SqlValidationError(f"table {table.name!r}: 'sink.delivery-guarantee' = {guarantee!r}; use "
                                 "'exactly-once', 'at-least-once' or 'none'") from None
    builder = (KafkaSink.builder().set_bootstrap_servers(_option(table, "properties.bootstrap.servers", required=True))
               .set_record_serializer(serializer).set_delivery_guarantee(delivery))
    if delivery == DeliveryGuarantee.EXACTLY_ONCE:
        builder.set_transactional_id_prefix(_option(table, "sink.transactional-id-prefix", f"rayflink-{table.name}"))
    _properties(table, builder, ("properties.bootstrap.servers",))
    return builder.build()


def _duration_ms(table: CatalogTable, key: str, value: str) -> int:
    from rayflink.common.config_options import parse_duration_ms

    try:
        return parse_duration_ms(value)
    except Exception:  # noqa: BLE001 - the parser's own error names no table
        raise SqlValidationError(f"table {table.name!r}: {key!r} = {value!r} is not a duration; write e.g. "
                                 "'10 s', '500 ms' or '1 min'") from None


def _jdbc_connection(table: CatalogTable) -> Any:
    from rayflink.connectors.jdbc import JdbcConnectionOptions

    connection = JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(_option(table, "url", required=True))
    if "username" in table.options:
        connection = connection.with_user_name(table.options["username"])
    if "password" in table.options:
        connection = connection.with_password(table.options["password"])
    return connection.build()


def create_table_lookup(table: CatalogTable, key: list[str]) -> Any:
    """The lookup source of ``table`` by its columns ``key`` (a lookup join's dimension table):
    jdbc or redis, with Flink's cache options ``lookup.cache`` (NONE | PARTIAL),
    ``lookup.partial-cache.max-rows`` and ``lookup.partial-cache.expire-after-write``, and
    ``lookup.max-retries``."""
    from rayflink.connectors.lookup import LookupCache

    name = _check_connector(table)
    if not table.lookup:
        raise SqlValidationError(f"table {table.name!r} ('connector' = '{name}') cannot be looked up; "
                                 "a lookup join (FOR SYSTEM_TIME AS OF a processing time) reads a "
                                 + " or ".join(f"'{c}'" for c in LOOKUP_CONNECTORS) + " table")
    cache = str(_option(table, "lookup.cache", "NONE")).upper()
    if cache not in ("NONE", "PARTIAL"):
        raise SqlValidationError(f"table {table.name!r}: 'lookup.cache' = {cache!r}; use 'NONE' or 'PARTIAL'")
    max_rows = _int_option(table, "lookup.partial-cache.max-rows", 10_000) if cache == "PARTIAL" else 0
    ttl = _option(table, "lookup.partial-cache.expire-after-write")
    ttl_ms = _duration_ms(table, "lookup.partial-cache.expire-after-write", ttl) if ttl else None
    options = LookupCache(max_rows, ttl_ms)
    retries = _int_option(table, "lookup.max-retries", 3)
    if name == "redis":
        return _redis_lookup(table, key, options, retries)
    from rayflink.connectors.jdbc import JdbcLookup

    return JdbcLookup(_jdbc_connection(table), _option(table, "table-name", required=True),
                      table.physical_schema.names, key, options, retries)


def _int_option(table: CatalogTable, key: str, default: int, minimum: int = 0) -> int:
    value = _option(table, key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise SqlValidationError(f"table {table.name!r}: {key!r} = {value!r} is not a whole number >= {minimum}")
    return number


_REDIS_DATA_TYPES = ("hash", "string")


def _redis_url(table: CatalogTable) -> str:
    from urllib.parse import quote

    host = _option(table, "host", "127.0.0.1")
    port = _int_option(table, "port", 6379, minimum=1)
    database = _int_option(table, "database", 0)
    user, password = _option(table, "username", ""), _option(table, "password")
    auth = "" if password is None else f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"redis://{auth}{host}:{port}/{database}"


def _redis_write(table: CatalogTable) -> Any:
    """What a row of the table is in Redis: a hash or a string under the key its key columns give."""
    from rayflink.connectors.redis import RedisWrite

    names = table.physical_schema.names
    key = list(table.primary_key) or names[:1]
    for k in key:
        if not k.isidentifier():
            raise SqlValidationError(f"table {table.name!r}: key column {k!r} cannot be part of a Redis key "
                                     "template; name it with letters, digits and '_'")
    values = [n for n in names if n not in key]
    data_type = _option(table, "data-type", "hash")
    if data_type not in _REDIS_DATA_TYPES:
        raise SqlValidationError(f"table {table.name!r}: 'data-type' = {data_type!r}; use 'hash' or 'string'"
                                 + closest(data_type, list(_REDIS_DATA_TYPES)))
    if not values or (data_type == "string" and len(values) != 1):
        raise SqlValidationError(f"table {table.name!r}: 'data-type' = '{data_type}' stores "
                                 f"{'one value column' if data_type == 'string' else 'value columns'} beside the "
                                 f"key ({', '.join(key)}), the table has {len(values)} ({', '.join(values)})"
                                 + ("; use 'hash'" if data_type == "string" and values else ""))

    def escaped(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    template = escaped(_option(table, "key-prefix", "")) + escaped(_option(table, "key-delimiter", ":")).join(
        f"{{{k}}}" for k in key)
    if data_type == "string":
        return RedisWrite("string", template, value_field=values[0])
    return RedisWrite("hash", template, fields=tuple(values))


def _redis_lookup(table: CatalogTable, key: list[str], cache: Any, max_retries: int) -> Any:
    from rayflink.connectors.redis import RedisLookup

    stored = list(table.primary_key) or table.physical_schema.names[:1]
    if sorted(key) != sorted(stored):
        raise SqlValidationError(f"table {table.name!r} ('connector' = 'redis') is looked up by its key "
                                 f"({', '.join(stored)}); the join's condition gives ({', '.join(key)}): join on "
                                 "exactly the key's columns")
    return RedisLookup(_redis_url(table), _redis_write(table), table.physical_schema, key, cache, max_retries,
                       f"table {table.name!r}")


def _redis_sink(table: CatalogTable) -> Any:
    from rayflink.connectors.redis import RedisSink, RedisSinkBuilder

    builder: RedisSinkBuilder = RedisSink.builder(_redis_url(table))
    write = _redis_write(table)
    builder = builder.string(write.key, write.value_field) if write.kind == "string" \
        else builder.hash(write.key, list(write.fields))
    if "ttl" in table.options:
        builder = builder.with_ttl(_duration_ms(table, "ttl", table.options["ttl"]) / 1000)
    return builder.with_batch_size(_int_option(table, "sink.buffer-flush.max-rows", 1000, minimum=1)).build()


def _delta_sink(table: CatalogTable) -> Any:
    """Appends; with a PRIMARY KEY, merges on it (a changelog's -D rows delete); PARTITIONED BY
    columns are the Delta table's partition columns."""
    from rayflink.connectors.delta import DeltaSink, storage_options_of

    builder = (DeltaSink.builder(_option(table, "table-path", required=True)).set_schema(table.physical_schema)
               .set_storage_options(storage_options_of(table.options)))
    if table.primary_key:
        builder = builder.set_mode("merge").set_merge_keys(list(table.primary_key))
    return builder.set_partition_columns(list(table.partition_keys)).build()


def _delta_source(table: CatalogTable) -> Any:
    from rayflink.connectors.delta import DeltaSource, DeltaSourceError, storage_options_of

    builder = (DeltaSource.for_bounded(_option(table, "table-path", required=True))
               .set_schema(table.physical_schema).set_batch_size(ROWS_PER_BATCH)
               .set_storage_options(storage_options_of(table.options)))
    if "versionAsOf" in table.options:
        builder = builder.version_as_of(_int_option(table, "versionAsOf", 0))
    try:
        return builder.build()
    except DeltaSourceError as exc:
        raise SqlValidationError(f"table {table.name!r} ('connector' = 'delta'): {exc}") from None


def _jdbc_sink(table: CatalogTable) -> Any:
    """Upserts on the PRIMARY KEY (a changelog's -D rows delete), else plain INSERTs."""
    from rayflink.connectors.jdbc import JdbcExecutionOptions, JdbcSink

    connection = _jdbc_connection(table)
    execution = JdbcExecutionOptions.builder().with_batch_size(int(_option(table, "sink.buffer-flush.max-rows", 100)))
    if "sink.buffer-flush.interval" in table.options:
        execution = execution.with_batch_interval_ms(_duration_ms(table, "sink.buffer-flush.interval",
                                                                  table.options["sink.buffer-flush.interval"]))
    execution = execution.with_max_retries(int(_option(table, "sink.max-retries", 3))).build()
    target = _option(table, "table-name", required=True)
    columns = table.physical_schema.names
    if table.primary_key:
        return JdbcSink.upsert(target, columns, list(table.primary_key), connection, execution)
    placeholders = ", ".join("?" for _ in columns)
    return JdbcSink.sink(f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({placeholders})", None,
                         connection, execution)


def _format(table: CatalogTable, key: str = "format", formats: tuple[str, ...] = ("csv", "json")) -> str:
    fmt = _option(table, key, required=True)
    if fmt not in formats:
        raise SqlValidationError(f"table {table.name!r}: {key!r} = {fmt!r} is not supported here; use "
                                 + " or ".join(f"'{f}'" for f in formats) + closest(fmt, list(formats)))
    return fmt


_KAFKA_FORMATS = ("csv", "json", "debezium-json")
_FILE_FORMATS = ("csv", "json", "parquet")


def _filesystem_source(table: CatalogTable, read: pa.Schema) -> Any:
    from rayflink.common.time import Duration
    from rayflink.connectors.file import FileSource, StreamFormat

    fmt = _format(table, formats=_FILE_FORMATS)
    path = _option(table, "path", required=True)
    if fmt == "parquet":  # record batches of the table's columns, read by name
        from rayflink.connectors.file import BulkFormat

        columns = BulkFormat.parquet(read.names, ROWS_PER_BATCH, arrow_batches=True)
        builder = FileSource.for_bulk_file_format(columns, path)
    else:
        decode = _lines(table, fmt, read)
        builder = FileSource.for_record_stream_format(StreamFormat(decode), path)
    interval = _option(table, "source.monitor-interval")
    if interval is not None:
        builder = builder.monitor_continuously(Duration.of_millis(_duration_ms(table, "source.monitor-interval",
                                                                               interval)))
    return builder.build()


# ---- sinks -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableSink:
    """How a table is written: ``attach(stream)`` adds the sink after a stream of record batches."""

    table: CatalogTable
    accepts_updates: bool
    attach: Callable[[Any], Any]
    updates_hint: str = ("write it to a sink that takes updates ('print', 'blackhole') or aggregate over a "
                         "window instead")  # what to do when it does not take the query's updates


_UPSERT_HINT = ("declare the table's PRIMARY KEY (... NOT ENFORCED): its rows are then upserted by the key and "
                "deleted by -D")


def create_table_sink(table: CatalogTable) -> TableSink:
    """The sink of ``table``; ``accepts_updates`` says whether it takes an updating changelog."""
    from rayflink.graph.transformations import OperatorKind, OperatorSpec, SqlFormatRowsParams, SqlRowsParams

    name = _check_connector(table)
    label = f"Sink: {table.name}"

    def rows(stream: Any, fmt: str, delimiter: str = ",") -> Any:
        spec = OperatorSpec(OperatorKind.SQL_FORMAT_ROWS, SqlFormatRowsParams(fmt, delimiter))
        return stream._one_input(f"{label} rows", spec, None)

    if name == "print":
        identifier = _option(table, "print-identifier")
        return TableSink(table, True, lambda s: rows(s, "print").print(identifier).name(label))
    if name == "blackhole":
        from rayflink.connectors.discarding import DiscardingSink

        return TableSink(table, True, lambda s: s.sink_to(DiscardingSink()).name(label))
    if name == "filesystem":
        from rayflink.connectors.file import Encoder, FileSink, ParquetBulkWriters

        fmt = _format(table, formats=_FILE_FORMATS)
        path = _option(table, "path", required=True)
        if fmt == "parquet":  # the record batches as they are, a part file per checkpoint
            sink = FileSink.for_bulk_format(path, ParquetBulkWriters(table.physical_schema)).build()
            return TableSink(table, False, lambda s: s.sink_to(sink).name(label))
        delimiter = _option(table, "csv.field-delimiter", ",")
        sink = FileSink.for_row_format(path, Encoder.simple_string_encoder()).build()
        return TableSink(table, False, lambda s: rows(s, fmt, delimiter).sink_to(sink).name(label))
    if name in ("jdbc", "redis"):  # rows, upserted (and -D deleted) by PRIMARY KEY
        as_rows = OperatorSpec(OperatorKind.SQL_BATCHES_TO_ROWS, SqlRowsParams())
        sink = (_jdbc_sink if name == "jdbc" else _redis_sink)(table)
        return TableSink(table, bool(table.primary_key),
                         lambda s: s._one_input(f"{label} rows", as_rows, None).sink_to(sink).name(label),
                         _UPSERT_HINT)
    if name == "delta":
        sink = _delta_sink(table)
        return TableSink(table, bool(table.primary_key), lambda s: s.sink_to(sink).name(label), _UPSERT_HINT)
    if name == "kafka":
        sink = _kafka_sink(table)
        fmt, delimiter = _format(table, formats=_KAFKA_FORMATS), _option(table, "csv.field-delimiter", ",")
        return TableSink(table, fmt == "debezium-json", lambda s: rows(s, fmt, delimiter).sink_to(sink).name(label))
    if name == "upsert-kafka":
        if not table.primary_key:
            raise SqlValidationError(f"table {table.name!r}: 'upsert-kafka' needs a PRIMARY KEY (the Kafka key)")
        for key in ("key.format", "value.format"):
            _format(table, key, formats=("json",))
        sink = _kafka_sink(table, upsert=True)
        spec = OperatorSpec(OperatorKind.SQL_FORMAT_ROWS, SqlFormatRowsParams("upsert-json", key=table.primary_key))
        return TableSink(table, True, lambda s: s._one_input(f"{label} rows", spec, None).sink_to(sink).name(label))
    raise SqlValidationError(f"table {table.name!r}: connector {name!r} is a source only; it cannot be written")
