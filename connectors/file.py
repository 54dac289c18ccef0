"""File connector: ``FileSource`` (text, CSV, JSON lines, Parquet; bounded or monitoring) and ``FileSink``."""

from __future__ import annotations

import os
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.common.serialization import CsvRowDeserializationSchema, Encoder, JsonRowDeserializationSchema
from rayflink.common.typeinfo import TypeInformation
from rayflink.common.types import Row
from rayflink.datastream.connectors.base import (
    Sink,
    SinkWriter,
    Source,
    SourceReader,
    SourceSplit,
    SplitBatch,
    StreamTransformer,
    SupportsPreprocessing,
)
from rayflink.errors import RayflinkError

__all__ = ["BucketAssigner", "BulkFormat", "BulkWriter", "DefaultRollingPolicy", "Encoder", "FileCommittable",
           "FileCompactStrategy", "FileCompactor",
           "FileConnectorError", "FileSink", "FileSource", "FileSourceSplit", "OnCheckpointRollingPolicy",
           "OutputFileConfig", "ParquetBulkWriters", "ParquetColumnarRowInputFormat", "RollingPolicy",
           "StreamFormat", "StreamingFileSink"]

_CHUNK = 1 << 20  # bytes read per call for line formats


class FileConnectorError(RayflinkError):
    """A path is missing or a file cannot be read or written."""


def _millis(duration: Any) -> int:
    to_ms = getattr(duration, "to_milliseconds", None)
    return int(to_ms()) if callable(to_ms) else int(duration)


# ---- formats ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamFormat:
    """A record-per-line format: ``decode`` turns a batch of lines (bytes, no line end) into records.

    >>> StreamFormat.text_line_format()
    >>> StreamFormat.csv_format(Types.ROW_NAMED(["id", "name"], [Types.INT(), Types.STRING()]), skip_header=True)
    >>> StreamFormat.json_lines_format()
    """

    decode: Callable[[list[bytes]], list]
    skip_header: bool = False
    type_info: TypeInformation | None = None
    skip_lines: int = 0  # lines skipped at the start of each file after the header
    check_header: Callable[[bytes], None] | None = None  # called with each file's header (skip_header)

    @staticmethod
    def text_line_format(charset: str = "UTF-8") -> "StreamFormat":
        """Each line as a string (PyFlink's ``StreamFormat.text_line_format``)."""
        return StreamFormat(lambda lines: [line.decode(charset) for line in lines])

    @staticmethod
    def csv_format(type_info: TypeInformation, field_delimiter: str = ",", skip_header: bool = False,
                   ) -> "StreamFormat":
        """Each line as a ``Row`` of the ``Types.ROW_NAMED`` fields."""
        schema = CsvRowDeserializationSchema(type_info, field_delimiter=field_delimiter)
        return StreamFormat(schema.deserialize_batch, skip_header, type_info)

    @staticmethod
    def json_lines_format(type_info: TypeInformation | None = None) -> "StreamFormat":
        """Each line a JSON object: a ``Row`` of ``type_info``'s fields, or a dict without it."""
        builder = JsonRowDeserializationSchema.builder()
        if type_info is not None:
            builder.type_info(type_info)
        return StreamFormat(builder.build().deserialize_batch, False, type_info)


@dataclass(frozen=True)
class BulkFormat:
    """A columnar file format read in Arrow record batches (Parquet through pyarrow).

    ``arrow_batches=True`` hands each ``pyarrow.RecordBatch`` on as one record (no per-row
    Python objects: map it with ``pyarrow.compute``); otherwise every row becomes a dict.

    >>> BulkFormat.parquet(columns=["id", "amount"])
    """

    columns: tuple[str, ...] | None = None
    batch_size: int = 65_536
    arrow_batches: bool = False
    rows: bool = False  # each row a ``Row`` named by ``columns`` instead of a dict
    case_sensitive: bool = True  # False: ``columns`` match the file's columns in any case
    maps_as_dicts: bool = False  # map columns read as dicts (else lists of key-value tuples, Arrow's form)

    @staticmethod
    def parquet(columns: list[str] | None = None, batch_size: int = 65_536,
                arrow_batches: bool = False) -> "BulkFormat":
        return BulkFormat(tuple(columns) if columns else None, batch_size, arrow_batches)

    def file_columns(self, names: list[str]) -> list[str] | None:
        """The columns to read of a file whose columns are ``names``."""
        if self.columns is None or self.case_sensitive:
            return list(self.columns) if self.columns else None
        by_lower = {name.lower(): name for name in names}
        return [by_lower.get(column.lower(), column) for column in self.columns]


class ParquetColumnarRowInputFormat(BulkFormat):
    """PyFlink's reader of Parquet files as ``Row``s of ``row_type`` (a ``DataTypes.ROW``), for
    ``FileSource.for_bulk_file_format``: the row type's fields are read by name (in any case
    unless ``is_case_sensitive``), ``batch_size`` rows at a time.

    >>> fmt = ParquetColumnarRowInputFormat(DataTypes.ROW([DataTypes.FIELD("id", DataTypes.BIGINT())]))
    ... # doctest: +SKIP

    There is no Hadoop here: ``hadoop_config`` is not read. Timestamps are read as stored (as
    pyarrow reads them), which is ``is_utc_timestamp=True``'s reading.
    """

    def __init__(self, row_type: Any, hadoop_config: Any = None, batch_size: int = 2048,
                 is_utc_timestamp: bool = False, is_case_sensitive: bool = True) -> None:
        names = tuple(name for name, _ in row_type.fields)
        super().__init__(names, batch_size, False, True, is_case_sensitive)
        object.__setattr__(self, "row_type", row_type)


# ---- source ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileSourceSplit:
    """A file and how far it was read: bytes for line formats, rows for Parquet."""

    path: str
    position: int = 0


class FileSource(Source):
    """Reads files: one split per file, files spread over the source subtasks.

    >>> source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), "/data/in") \\
    ...     .monitor_continuously(Duration.of_seconds(10)).build()
    >>> env.from_source(source, WatermarkStrategy.no_watermarks(), "files")

    Directories are listed recursively; names starting with ``.`` or ``_`` are skipped (in-progress
    files). When monitoring, a file that appears later is read by subtask ``crc32(path) % parallelism``;
    files must appear complete (written elsewhere, then renamed in), as Flink assumes. Raises
    :class:`FileConnectorError` at job start when a path does not exist.
    """

    def __init__(self, paths: tuple[str, ...], stream_format: StreamFormat | None, bulk_format: BulkFormat | None,
                 discovery_interval_ms: int | None) -> None:
        self.paths = paths
        self.stream_format = stream_format
        self.bulk_format = bulk_format
        self.discovery_interval_ms = discovery_interval_ms
        self.enumerated: frozenset | None = None  # set by create_splits; rides to the readers with the source

    @staticmethod
    def for_record_stream_format(stream_format: StreamFormat, *paths: str) -> "FileSourceBuilder":
        return FileSourceBuilder(tuple(map(str, paths)), stream_format, None)

    @staticmethod
    def for_bulk_file_format(bulk_format: BulkFormat, *paths: str) -> "FileSourceBuilder":
        return FileSourceBuilder(tuple(map(str, paths)), None, bulk_format)

    def is_bounded(self) -> bool:
        return self.discovery_interval_ms is None

    def output_type(self) -> Any:
        return self.stream_format.type_info if self.stream_format is not None else None

    def list_files(self) -> list[str]:
        """Every readable file under the source's paths, sorted."""
        out = []
        for path in self.paths:
            if os.path.isfile(path):
                out.append(os.path.abspath(path))
                continue
            if not os.path.isdir(path):
                raise FileConnectorError(f"FileSource: path {path!r} does not exist; fix the path given to "
                                         "FileSource.for_record_stream_format(...)/for_bulk_file_format(...)")
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                out.extend(os.path.abspath(os.path.join(root, f)) for f in files if not f.startswith((".", "_")))
        return sorted(out)

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        files = self.list_files()
        self.enumerated = frozenset(files)
        return [SourceSplit(f, FileSourceSplit(f)) for f in files]

    def restore_splits(self, splits: list[SourceSplit]) -> None:
        self.enumerated = frozenset(s.payload.path for s in splits)

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return FileSourceReader(self, [s.payload for s in splits if not s.finished],
                                [s.payload for s in splits if s.finished], subtask_index, parallelism)


class FileSourceBuilder:
    """Builder of :class:`FileSource` (PyFlink's ``FileSourceBuilder``)."""

    def __init__(self, paths: tuple[str, ...], stream_format: StreamFormat | None,
                 bulk_format: BulkFormat | None) -> None:
        if not paths:
            raise ValueError("FileSource: give at least one file or directory path")
        self._paths = paths
        self._stream_format = stream_format
        self._bulk_format = bulk_format
        self._interval: int | None = None

    def monitor_continuously(self, discovery_interval: Any) -> "FileSourceBuilder":
        """Keep listing the paths every ``discovery_interval`` (a Duration) and read new files (unbounded)."""
        ms = _millis(discovery_interval)
        if ms <= 0:
            raise ValueError(f"monitor_continuously: the interval must be > 0, got {ms} ms")
        self._interval = ms
        return self

    def process_static_file_set(self) -> "FileSourceBuilder":
        """Read the files there at the start, then finish (the default)."""
        self._interval = None
        return self

    def build(self) -> FileSource:
        return FileSource(self._paths, self._stream_format, self._bulk_format, self._interval)


class FileSourceReader(SourceReader):
    """Reads the files of one subtask one after the other."""

    def __init__(self, source: FileSource, splits: list[FileSourceSplit], finished: list[FileSourceSplit],
                 subtask_index: int, parallelism: int) -> None:
        self.source = source
        self.subtask_index = subtask_index
        self.parallelism = parallelism
        self.queue: list[FileSourceSplit] = list(splits)
        self.finished: list[FileSourceSplit] = list(finished)
        self.just_finished: list[str] = []
        self.known: set[str] = set(source.enumerated or ()) | {s.path for s in splits + finished}
        self.next_discovery = time.monotonic()
        self._file: Any = None  # open file (line formats) or batch iterator (Parquet) of queue[0]
        self._tail = b""
        self._skip_header = False
        self._skip_lines = 0
        self.num_records_in_errors = 0

    def metrics(self) -> dict[str, int]:
        return {"num_records_in_errors": self.num_records_in_errors}

    def _discover(self) -> None:
        self.next_discovery = time.monotonic() + self.source.discovery_interval_ms / 1000
        for path in self.source.list_files():
            if path not in self.known:
                self.known.add(path)
                if zlib.crc32(path.encode()) % self.parallelism == self.subtask_index:
                    self.queue.append(FileSourceSplit(path))

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        if self.source.discovery_interval_ms is not None and time.monotonic() >= self.next_discovery:
            self._discover()
        if not self.queue:
            return None if self.source.is_bounded() else []
        split = self.queue[0]
        try:
            records = (self._read_bulk(split, max_records) if self.source.bulk_format is not None
                       else self._read_lines(split, max_records))
        except OSError as exc:
            raise FileConnectorError(f"FileSource subtask {self.subtask_index + 1}: cannot read {split.path!r}: "
                                     f"{exc}") from exc
        if records is None:  # the file is done
            self._close_file()
            self.finished.append(self.queue.pop(0))
            self.just_finished.append(self.finished[-1].path)
            return []
        return [SplitBatch(split.path, records)] if records else []

    def _read_lines(self, split: FileSourceSplit, max_records: int) -> list | None:
        fmt = self.source.stream_format
        if self._file is None:
            self._file = open(split.path, "rb")
            self._file.seek(split.position)
            self._tail = b""
            self._skip_header = fmt.skip_header and split.position == 0
            self._skip_lines = fmt.skip_lines if split.position == 0 else 0
        chunk = self._file.read(_CHUNK)
        if not chunk:
            if not self._tail:
                return None
            lines, self._tail = [self._tail], b""  # a last line without a line end
        else:
            lines = (self._tail + chunk).split(b"\n")
            self._tail = lines.pop()
        consumed = sum(len(line) + 1 for line in lines) if chunk else len(lines[0])
        self.queue[0] = FileSourceSplit(split.path, split.position + consumed)
        if self._skip_header and lines:
            header, lines = lines[0], lines[1:]
            self._skip_header = False
            if fmt.check_header is not None:
                try:
                    fmt.check_header(header[:-1] if header.endswith(b"\r") else header)
                except ValueError as exc:
                    raise FileConnectorError(f"FileSource: the header of {split.path!r}: {exc}") from None
        if self._skip_lines and lines:
            skipped = min(self._skip_lines, len(lines))
            lines, self._skip_lines = lines[skipped:], self._skip_lines - skipped
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines if line]
        try:
            records = fmt.decode(lines)
        except Exception as exc:  # noqa: BLE001 - name the file; the format names the field and value
            raise FileConnectorError(f"FileSource: cannot read a record of {split.path!r} (bytes "
                                     f"{split.position}..{split.position + consumed}): {exc}") from exc
        kept = [r for r in records if r is not None]  # lines the schema skipped (ignore_parse_errors)
        self.num_records_in_errors += len(records) - len(kept)
        return kept

    def _read_bulk(self, split: FileSourceSplit, max_records: int) -> list | None:
        import pyarrow.parquet as pq

        fmt = self.source.bulk_format
        if self._file is None:
            pf = pq.ParquetFile(split.path)
            self._file = pf.iter_batches(batch_size=fmt.batch_size,
                                         columns=fmt.file_columns(pf.schema_arrow.names))
            self._skip_rows = split.position
        for batch in self._file:
            if self._skip_rows:  # restored mid-file: drop the rows already read
                cut = min(self._skip_rows, batch.num_rows)
                batch, self._skip_rows = batch.slice(cut), self._skip_rows - cut
                if batch.num_rows == 0:
                    continue
            self.queue[0] = FileSourceSplit(split.path, self.queue[0].position + batch.num_rows)
            if fmt.arrow_batches:
                return [batch]
            if fmt.rows:  # a column the file lacks reads as None (Flink's reading)
                names = fmt.columns or tuple(batch.schema.names)
                present = dict(zip(fmt.file_columns(batch.schema.names) or names, names))
                by_name = {present[n]: c.to_pylist() for n, c in zip(batch.schema.names, batch.columns)
                           if n in present}
                columns = [by_name.get(name, [None] * batch.num_rows) for name in names]
                return [_named_row(names, values) for values in zip(*columns)]
            return batch.to_pylist(maps_as_pydicts="strict" if fmt.maps_as_dicts else None)
        return None

    def _close_file(self) -> None:
        if self._file is not None and hasattr(self._file, "close"):
            self._file.close()
        self._file = None

    def wait_time(self) -> float:
        if self.queue or self.source.discovery_interval_ms is None:
            return 0.0
        return max(0.0, self.next_discovery - time.monotonic())

    def finished_splits(self) -> list[str]:
        done, self.just_finished = self.just_finished, []
        return done

    def snapshot_state(self) -> list[SourceSplit]:
        return ([SourceSplit(s.path, s, finished=True) for s in self.finished]
                + [SourceSplit(s.path, s) for s in self.queue])

    def close(self) -> None:
        self._close_file()


# ---- sink ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollingPolicy:
    """When a part file is closed and a new one begun. Every checkpoint also rolls (exactly-once)."""

    part_size: int | None = 128 << 20
    rollover_interval_ms: int | None = 60_000
    inactivity_interval_ms: int | None = 60_000

    @staticmethod
    def default_rolling_policy(part_size: int = 128 << 20, rollover_interval: int = 60_000,
                               inactivity_interval: int = 60_000) -> "RollingPolicy":
        """Roll at ``part_size`` bytes, after ``rollover_interval`` ms open or ``inactivity_interval`` ms idle."""
        return RollingPolicy(part_size, rollover_interval, inactivity_interval)

    @staticmethod
    def on_checkpoint_rolling_policy() -> "RollingPolicy":
        """Roll only at checkpoints (and at the end of input)."""
        return RollingPolicy(None, None, None)

    def should_roll(self, size: int, opened_ms: int, last_write_ms: int, now_ms: int) -> bool:
        return ((self.part_size is not None and size >= self.part_size)
                or (self.rollover_interval_ms is not None and now_ms - opened_ms >= self.rollover_interval_ms)
                or (self.inactivity_interval_ms is not None and now_ms - last_write_ms >= self.inactivity_interval_ms))


class DefaultRollingPolicy:
    """Java-style builder of the default :class:`RollingPolicy`."""

    @staticmethod
    def builder() -> "DefaultRollingPolicy":
        return DefaultRollingPolicy()

    def __init__(self) -> None:
        self._policy = RollingPolicy()

    def with_max_part_size(self, size: int) -> "DefaultRollingPolicy":
        self._policy = RollingPolicy(size, self._policy.rollover_interval_ms, self._policy.inactivity_interval_ms)
        return self

    def with_rollover_interval(self, interval: Any) -> "DefaultRollingPolicy":
        self._policy = RollingPolicy(self._policy.part_size, _millis(interval), self._policy.inactivity_interval_ms)
        return self

    def with_inactivity_interval(self, interval: Any) -> "DefaultRollingPolicy":
        self._policy = RollingPolicy(self._policy.part_size, self._policy.rollover_interval_ms, _millis(interval))
        return self

    def build(self) -> RollingPolicy:
        return self._policy


class OnCheckpointRollingPolicy:
    """Rolls only at checkpoints (the policy of bulk formats)."""

    @staticmethod
    def build() -> RollingPolicy:
        return RollingPolicy.on_checkpoint_rolling_policy()


@dataclass(frozen=True)
class OutputFileConfig:
    """Prefix and suffix of finished part files: ``<prefix>-<uuid>-<subtask>-<n><suffix>``.

    >>> config = OutputFileConfig.builder().with_part_prefix("orders").with_part_suffix(".jsonl").build()
    >>> config.get_part_prefix(), config.get_part_suffix()
    ('orders', '.jsonl')
    """

    part_prefix: str = "part"
    part_suffix: str = ""

    @staticmethod
    def builder() -> "OutputFileConfig.OutputFileConfigBuilder":
        return OutputFileConfig.OutputFileConfigBuilder()

    def get_part_prefix(self) -> str:
        return self.part_prefix

    def get_part_suffix(self) -> str:
        return self.part_suffix

    class OutputFileConfigBuilder:
        """Builds an ``OutputFileConfig`` (prefix ``part`` and no suffix unless set)."""

        def __init__(self) -> None:
            self.part_prefix = "part"
            self.part_suffix = ""

        def with_part_prefix(self, prefix: str) -> "OutputFileConfig.OutputFileConfigBuilder":
            self.part_prefix = prefix
            return self

        def with_part_suffix(self, suffix: str) -> "OutputFileConfig.OutputFileConfigBuilder":
            self.part_suffix = suffix
            return self

        def build(self) -> "OutputFileConfig":
            return OutputFileConfig(self.part_prefix, self.part_suffix)


class BulkWriter:
    """Writes one in-progress part file of a bulk format (Flink's ``BulkWriter``)."""

    def add_elements(self, records: list) -> int:
        """Write ``records``; return about how many bytes they took (for the rolling policy)."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (a bulk file is complete only once closed)."""
        raise NotImplementedError


class ParquetBulkWriters:
    """Parquet part files through pyarrow (PyFlink's ``ParquetBulkWriters``)."""

    @staticmethod
    def for_row_type(type_info: TypeInformation) -> "ParquetBulkWriters":
        """Rows are dicts (or tuples in field order) of a ``Types.ROW_NAMED`` type."""
        import pyarrow as pa

        if not isinstance(type_info.arrow_type, pa.StructType):
            raise ValueError(f"ParquetBulkWriters.for_row_type: needs Types.ROW_NAMED(...) of Arrow-typed "
                             f"fields, got {type_info}")
        return ParquetBulkWriters(pa.schema(list(type_info.arrow_type)))

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    def create(self, path: str) -> BulkWriter:
        """The writer of the part file at ``path``."""
        return _ParquetPartWriter(path, self.schema)


class _ParquetPartWriter(BulkWriter):
    def __init__(self, path: str, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.schema = schema
        self.writer = pq.ParquetWriter(path, schema)

    def add_elements(self, records: list) -> int:
        import pyarrow as pa

        schema = self.schema
        try:
            if records and isinstance(records[0], pa.RecordBatch):  # a SQL table's batches: the schema's columns
                from rayflink.sql.types import conform_batch

                table = pa.Table.from_batches([conform_batch(b, schema) for b in records], schema)
            else:
                rows = [r if isinstance(r, dict) else dict(zip(schema.names, r)) for r in records]
                table = pa.Table.from_pylist(rows, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise FileConnectorError(f"FileSink: rows do not match the Parquet schema {schema}: {exc}") from exc
        self.writer.write_table(table)
        return table.nbytes

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class FileCommittable:
    """Pending part files of one checkpoint: (pending path, final path) pairs."""

    files: tuple[tuple[str, str], ...]


_JAVA_DATE_FIELDS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


@dataclass(frozen=True)
class BucketAssigner:
    """Which bucket (a directory under the base path) a sink's part files go to (PyFlink's
    ``BucketAssigner``): the base path itself, or a directory named by the processing time.

    >>> BucketAssigner.date_time_bucket_assigner("yyyy-MM-dd--HH", "UTC").bucket_id(0)
    '1970-01-01--00'
    >>> BucketAssigner.base_path_bucket_assigner().bucket_id(0)
    ''
    """

    strftime_format: str | None = None  # None: the base path
    timezone_id: str | None = None  # None: the machine's time zone

    @staticmethod
    def base_path_bucket_assigner() -> "BucketAssigner":
        """Every part file directly in the base path (no buckets)."""
        return BucketAssigner()

    @staticmethod
    def date_time_bucket_assigner(format_str: str = "yyyy-MM-dd--HH", timezone_id: str | None = None
                                  ) -> "BucketAssigner":
        """A bucket per ``format_str`` (Java's date pattern: ``yyyy``, ``MM``, ``dd``, ``HH``, ``mm``,
        ``ss``, quoted ``'text'``) of the time a record is written, in ``timezone_id`` (e.g.
        ``Europe/Madrid``; default the machine's). Raises ``ValueError`` for other pattern letters
        or an unknown time zone."""
        if timezone_id is not None:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(timezone_id)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"date_time_bucket_assigner: unknown time zone {timezone_id!r}") from None
        return BucketAssigner(_strftime_of(format_str), timezone_id)

    def bucket_id(self, now_ms: int) -> str:
        """The bucket of a record written at ``now_ms`` ("" for the base path)."""
        if self.strftime_format is None:
            return ""
        import datetime
        import zoneinfo

        zone = zoneinfo.ZoneInfo(self.timezone_id) if self.timezone_id else None
        moment = datetime.datetime.fromtimestamp(now_ms / 1000, tz=zone)
        return moment.strftime(self.strftime_format)


def _strftime_of(pattern: str) -> str:
    """Java's date pattern as a strftime format."""
    import re

    out = []
    for token in re.finditer(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+", pattern):
        text = token.group(0)
        if text.startswith("'"):
            out.append(text[1:-1].replace("%", "%%") or "'")
        elif text[0].isalpha():
            if text not in _JAVA_DATE_FIELDS:
                raise ValueError(f"date_time_bucket_assigner: pattern {pattern!r}: {text!r} is not supported "
                                 f"(use {', '.join(_JAVA_DATE_FIELDS)})")
            out.append(_JAVA_DATE_FIELDS[text])
        else:
            out.append(text.replace("%", "%%"))
    return "".join(out)


@dataclass(frozen=True)
class FileCompactStrategy:
    """When a ``FileSink`` compacts its part files (PyFlink's ``FileCompactStrategy``): the part
    files a sink subtask wrote in a checkpoint, per bucket, are merged into compacted files
    (``compacted-<first part's name>``) of up to about ``size_threshold`` bytes (-1: one file)
    before they are committed.

    >>> FileCompactStrategy.builder().set_size_threshold(64 << 20).build().size_threshold
    67108864

    Departures from Flink: compaction happens at every checkpoint (``enable_compaction_on_checkpoint``
    takes 1 only: pending files are not kept across checkpoints), in the sink's own thread
    (``set_num_compact_threads`` is recorded, not used).
    """

    size_threshold: int = -1
    num_checkpoints_before_compaction: int = 1
    num_compact_threads: int = 1

    @staticmethod
    def builder() -> "FileCompactStrategy.Builder":
        return FileCompactStrategy.Builder()

    class Builder:
        def __init__(self) -> None:
            self._strategy = FileCompactStrategy()

        def enable_compaction_on_checkpoint(self, num_checkpoints_before_compaction: int
                                            ) -> "FileCompactStrategy.Builder":
            if num_checkpoints_before_compaction != 1:
                raise ValueError("enable_compaction_on_checkpoint: rayflink compacts the part files of every "
                                 f"checkpoint (1), not every {num_checkpoints_before_compaction}")
            return self

        def set_size_threshold(self, size_threshold: int) -> "FileCompactStrategy.Builder":
            """Compacted files grow up to this many bytes (-1: all of a checkpoint's parts in one)."""
            if not isinstance(size_threshold, int) or (size_threshold < 1 and size_threshold != -1):
                raise ValueError(f"set_size_threshold: bytes > 0 (or -1), got {size_threshold!r}")
            self._strategy = FileCompactStrategy(size_threshold, 1, self._strategy.num_compact_threads)
            return self

        def set_num_compact_threads(self, num_compact_threads: int) -> "FileCompactStrategy.Builder":
            self._strategy = FileCompactStrategy(self._strategy.size_threshold, 1, num_compact_threads)
            return self

        def build(self) -> "FileCompactStrategy":
            return self._strategy


@dataclass(frozen=True)
class FileCompactor:
    """How part files are merged (PyFlink's ``FileCompactor``): concatenated (row formats),
    ``file_delimiter`` between files, or left as they are (``identical_file_compactor``, for
    bulk formats, whose files cannot be concatenated)."""

    concat: bool = True
    file_delimiter: bytes | None = None

    @staticmethod
    def concat_file_compactor(file_delimiter: bytes | None = None) -> "FileCompactor":
        return FileCompactor(True, file_delimiter)

    @staticmethod
    def identical_file_compactor() -> "FileCompactor":
        return FileCompactor(False)

    def compact(self, sources: list[str], target: str) -> None:
        """Write the concatenation of ``sources`` to ``target``."""
        with open(target, "wb") as out:
            for i, source in enumerate(sources):
                if i and self.file_delimiter:
                    out.write(self.file_delimiter)
                with open(source, "rb") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)


class FileSink(Sink, SupportsPreprocessing):
    """Writes part files under ``base_path``: in-progress -> pending at a roll -> finished on commit.

    >>> sink = FileSink.for_row_format("/data/out", Encoder.simple_string_encoder()) \\
    ...     .with_rolling_policy(RollingPolicy.default_rolling_policy(part_size=1 << 20)).build()
    >>> stream.sink_to(sink)

    In-progress and pending files are hidden (``.part-<uuid>-<subtask>-<n>.inprogress``); a commit
    (checkpoint completion, or the end of input without checkpoints) renames them to
    ``part-<uuid>-<subtask>-<n>``. Readers of the directory see only finished files.
    """

    def __init__(self, base_path: str, encoder: Encoder | None, bulk: Any,
                 rolling_policy: RollingPolicy, file_config: OutputFileConfig) -> None:
        self.base_path = base_path
        self.encoder = encoder
        self.bulk = bulk
        self.rolling_policy = rolling_policy
        self.file_config = file_config
        self.bucket_assigner = BucketAssigner.base_path_bucket_assigner()
        self.compaction: tuple[FileCompactStrategy, FileCompactor] | None = None

    @staticmethod
    def for_row_format(base_path: str, encoder: Encoder) -> "FileSink.RowFormatBuilder":
        """Part files of records written one by one by ``encoder``."""
        return FileSink.RowFormatBuilder(str(base_path), encoder, None, RollingPolicy())

    @staticmethod
    def for_bulk_format(base_path: str, writer: Any) -> "FileSink.BulkFormatBuilder":
        """Part files written in bulk by ``writer`` (``ParquetBulkWriters``,
        ``AvroBulkWriters.for_generic_record`` or ``CsvBulkWriters.for_schema``), rolled at checkpoints."""
        on_checkpoint = RollingPolicy.on_checkpoint_rolling_policy()
        if callable(getattr(writer, "create", None)):  # a writer of whole files (Parquet, Avro)
            return FileSink.BulkFormatBuilder(str(base_path), None, writer, on_checkpoint)
        if callable(getattr(writer, "encoder", None)):  # a writer of lines (CSV)
            return FileSink.BulkFormatBuilder(str(base_path), writer.encoder(), None, on_checkpoint)
        raise TypeError(f"FileSink.for_bulk_format: expected ParquetBulkWriters, AvroBulkWriters or "
                        f"CsvBulkWriters, got {type(writer).__name__}")

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return FileSinkWriter(self, subtask_index)

    def get_transformer(self) -> StreamTransformer | None:
        """None: part files are written as the records come (no compaction topology)."""
        return None

    class BaseBuilder:
        """What both builders of a ``FileSink`` set: the output file names; ``build()``."""

        def __init__(self, base_path: str, encoder: Encoder | None, bulk: Any,
                     rolling_policy: RollingPolicy) -> None:
            self._args = [base_path, encoder, bulk]
            self._policy = rolling_policy
            self._config = OutputFileConfig()
            self._assigner = BucketAssigner.base_path_bucket_assigner()
            self._compaction: tuple[FileCompactStrategy, FileCompactor] | None = None

        def with_rolling_policy(self, policy: RollingPolicy) -> "FileSink.BaseBuilder":
            raise NotImplementedError

        def with_output_file_config(self, config: OutputFileConfig) -> "FileSink.BaseBuilder":
            """Name part files by ``config`` (an ``OutputFileConfig``, or its builder, built here)."""
            if isinstance(config, OutputFileConfig.OutputFileConfigBuilder):
                config = config.build()
            if not isinstance(config, OutputFileConfig):
                raise TypeError(f"with_output_file_config: expected an OutputFileConfig, got {type(config).__name__}")
            self._config = config
            return self

        def with_bucket_assigner(self, bucket_assigner: BucketAssigner) -> "FileSink.BaseBuilder":
            """Write part files into the buckets ``bucket_assigner`` names (default: the base path)."""
            if not isinstance(bucket_assigner, BucketAssigner):
                raise TypeError(f"with_bucket_assigner: expected a BucketAssigner, "
                                f"got {type(bucket_assigner).__name__}")
            self._assigner = bucket_assigner
            return self

        def enable_compact(self, strategy: FileCompactStrategy, compactor: FileCompactor) -> "FileSink.BaseBuilder":
            """Merge each checkpoint's part files (per bucket) as ``strategy`` and ``compactor`` say."""
            if not isinstance(strategy, FileCompactStrategy) or not isinstance(compactor, FileCompactor):
                raise TypeError("enable_compact: expected a FileCompactStrategy and a FileCompactor")
            if compactor.concat and self._args[2] is not None:
                raise ValueError("enable_compact: bulk files (Parquet, Avro) cannot be concatenated; use "
                                 "FileCompactor.identical_file_compactor()")
            self._compaction = (strategy, compactor)
            return self

        def disable_compact(self) -> "FileSink.BaseBuilder":
            self._compaction = None
            return self

        def build(self) -> "FileSink":
            sink = self._sink_type()(*self._args, self._policy, self._config)
            sink.bucket_assigner = self._assigner
            sink.compaction = self._compaction
            return sink

        def _sink_type(self) -> type:
            return FileSink

    class RowFormatBuilder(BaseBuilder):
        """Builder of a row-format ``FileSink`` (``FileSink.for_row_format``)."""

        def with_rolling_policy(self, policy: RollingPolicy) -> "FileSink.RowFormatBuilder":
            """Roll part files by size and time as ``policy`` says (and at every checkpoint)."""
            self._policy = policy
            return self

    class BulkFormatBuilder(BaseBuilder):
        """Builder of a bulk-format ``FileSink`` (``FileSink.for_bulk_format``): part files roll
        at checkpoints only, as in Flink."""

        def with_rolling_policy(self, policy: RollingPolicy) -> "FileSink.BulkFormatBuilder":
            """Only ``RollingPolicy.on_checkpoint_rolling_policy()`` (the default) is accepted."""
            if policy != RollingPolicy.on_checkpoint_rolling_policy():
                raise ValueError("FileSink.for_bulk_format: bulk formats roll on checkpoints only "
                                 "(RollingPolicy.on_checkpoint_rolling_policy())")
            self._policy = policy
            return self


class StreamingFileSink(FileSink):
    """PyFlink's legacy file sink, for ``ds.add_sink(...)``: the part files of ``FileSink``,
    built the same way.

    >>> ds.add_sink(StreamingFileSink.for_row_format("/data/out", Encoder.simple_string_encoder()).build())
    ... # doctest: +SKIP
    """

    @staticmethod
    def for_row_format(base_path: str, encoder: Encoder) -> "StreamingFileSink.DefaultRowFormatBuilder":
        return StreamingFileSink.DefaultRowFormatBuilder(str(base_path), encoder, None, RollingPolicy())

    @staticmethod
    def for_bulk_format(base_path: str, writer: Any) -> "StreamingFileSink.DefaultBulkFormatBuilder":
        bulk = FileSink.for_bulk_format(base_path, writer)
        return StreamingFileSink.DefaultBulkFormatBuilder(*bulk._args, bulk._policy)

    class BaseBuilder(FileSink.BaseBuilder):
        """What both builders of a ``StreamingFileSink`` set."""

        def _sink_type(self) -> type:
            return StreamingFileSink

    class DefaultRowFormatBuilder(BaseBuilder, FileSink.RowFormatBuilder):
        """Builder of a row-format ``StreamingFileSink``."""

    class DefaultBulkFormatBuilder(BaseBuilder, FileSink.BulkFormatBuilder):
        """Builder of a bulk-format ``StreamingFileSink`` (rolled at checkpoints)."""


class FileSinkWriter(SinkWriter):
    """One sink subtask's part files."""

    def __init__(self, sink: FileSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index
        self.uuid = uuid.uuid4().hex
        self.count = 0
        self.pending: list[tuple[str, str]] = []
        self.parts: dict[str, _Part] = {}  # the in-progress part of each bucket with one
        os.makedirs(sink.base_path, exist_ok=True)

    def _open(self, bucket: str) -> "_Part":
        cfg = self.sink.file_config
        name = f"{cfg.part_prefix}-{self.uuid}-{self.subtask_index}-{self.count}{cfg.part_suffix}"
        self.count += 1
        directory = os.path.join(self.sink.base_path, bucket) if bucket else self.sink.base_path
        os.makedirs(directory, exist_ok=True)
        final = os.path.join(directory, name)
        in_progress = os.path.join(directory, f".{name}.inprogress")
        file = self.sink.bulk.create(in_progress) if self.sink.bulk is not None else open(in_progress, "wb")  # noqa: SIM115
        part = self.parts[bucket] = _Part(file, (in_progress, final), current_time_ms())
        return part

    def _roll(self, bucket: str | None = None) -> None:
        """Close the in-progress part of ``bucket`` (of every bucket when None): it becomes pending."""
        for b in list(self.parts) if bucket is None else [bucket]:
            part = self.parts.pop(b, None)
            if part is not None:
                part.file.close()
                self.pending.append(part.paths)

    def write(self, records: list, timestamps: list | None) -> None:
        now_ms = current_time_ms()
        policy = self.sink.rolling_policy
        for b, part in list(self.parts.items()):  # every bucket's part rolls by size and time
            if policy.should_roll(part.size, part.opened_ms, part.last_write_ms, now_ms):
                self._roll(b)
        bucket = self.sink.bucket_assigner.bucket_id(now_ms)
        part = self.parts.get(bucket) or self._open(bucket)
        if self.sink.bulk is not None:
            part.size += part.file.add_elements(records)
        else:
            self._write_rows(bucket, [self.sink.encoder.encode(r) for r in records], policy.part_size)
        self.parts[bucket].last_write_ms = now_ms

    def _write_rows(self, bucket: str, rows: list[bytes], part_size: int | None) -> None:
        """Append encoded rows, rolling whenever the part reaches ``part_size`` bytes (as Flink, per record)."""
        start = 0
        part = self.parts[bucket]
        while start < len(rows):
            end, size = start, part.size
            while end < len(rows) and (part_size is None or size < part_size):
                size += len(rows[end])
                end += 1
            data = b"".join(rows[start:end])
            part.file.write(data)
            part.size += len(data)
            start = end
            if start < len(rows):
                self._roll(bucket)
                part = self._open(bucket)

    def flush(self, end_of_input: bool) -> None:
        if end_of_input:
            self._roll()
        elif self.sink.bulk is None:
            for part in self.parts.values():
                part.file.flush()

    def prepare_commit(self, checkpoint_id: int) -> FileCommittable:
        """At a barrier: roll the in-progress part; this checkpoint's pending parts (compacted, with
        compaction) are the committable."""
        self._roll()
        if self.sink.compaction is not None and self.sink.compaction[1].concat:
            self.pending = self._compacted(self.pending, *self.sink.compaction)
        committable = FileCommittable(tuple(self.pending))
        self.pending = []
        return committable

    @staticmethod
    def _compacted(pending: list[tuple[str, str]], strategy: FileCompactStrategy,
                   compactor: FileCompactor) -> list[tuple[str, str]]:
        """Merge the pending parts of each bucket into compacted parts of up to the size threshold."""
        groups: dict[str, list[list[tuple[str, str]]]] = {}
        for pair in pending:
            runs = groups.setdefault(os.path.dirname(pair[1]), [[]])
            size = sum(os.path.getsize(p) for p, _ in runs[-1])
            if runs[-1] and strategy.size_threshold != -1 and size >= strategy.size_threshold:
                runs.append([])
            runs[-1].append(pair)
        out = []
        for directory, runs in groups.items():
            for run in runs:
                if len(run) == 1:
                    out.append(run[0])
                    continue
                name = "compacted-" + os.path.basename(run[0][1])
                target = os.path.join(directory, f".{name}.inprogress")
                compactor.compact([p for p, _ in run], target)
                for p, _ in run:
                    os.remove(p)
                out.append((target, os.path.join(directory, name)))
        return out

    def commit(self, committables: list[FileCommittable | None]) -> None:
        """Rename pending parts to their finished names (again after a restore: idempotent)."""
        for c in committables:
            for pending, final in (c.files if c is not None else ()):
                if os.path.exists(pending):
                    os.replace(pending, final)
                elif not os.path.exists(final):
                    raise FileConnectorError(f"FileSink subtask {self.subtask_index + 1}: pending part {pending!r} "
                                             f"is gone and {final!r} does not exist")

    def close(self) -> None:
        """Drop the parts still in progress (their records come again from the last checkpoint)."""
        for part in self.parts.values():
            part.file.close()
            os.remove(part.paths[0])
        self.parts.clear()


@dataclass
class _Part:
    """A bucket's in-progress part file: its writer, (in-progress, final) paths, size and times."""

    file: Any  # an open file (row formats) or a BulkWriter
    paths: tuple[str, str]
    opened_ms: int
    size: int = 0
    last_write_ms: int = 0

    def __post_init__(self) -> None:
        self.last_write_ms = self.opened_ms


def _named_row(names: Any, values: tuple) -> Row:
    row = Row(*values)
    row.set_field_names(list(names))
    return row
