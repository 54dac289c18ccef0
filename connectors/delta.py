"""Delta Lake sink: one Delta commit per checkpoint per subtask, exactly once (the deltalake package);
and a bounded source of a table's version (``DeltaSource``, at the end).

How exactly-once works here (Flink's two-phase commit over Delta's own transaction ids):

- Between checkpoints a writer buffers its rows. At a checkpoint barrier (``prepare_commit``) it
  writes them as Parquet files inside the table's directory. Files that no commit references are
  invisible to Delta readers (and ``VACUUM`` removes them if the job never commits them).
- When the checkpoint completes (``commit``), the writer adds those files to the table in one
  Delta commit that carries a transaction id: the application id plus the writer's subtask as
  Delta's ``appId`` and the checkpoint id as its ``version`` (Delta's ``txn`` action).
- After a failure, the job restores the last checkpoint and commits its committables again. A
  commit whose ``appId`` already has that ``version`` (or a later one) in the table is skipped, so
  every checkpoint's rows land once, whichever process commits them. Each built sink has its own
  application id, so a second job (a second ``INSERT INTO``) writing the table is no replay.

Modes: ``append`` (every row is added) and ``merge`` (upsert on ``merge_keys``: within one
checkpoint the last change of a key wins; +I/+U rows replace the row with their key, -D rows
delete it, and so does a -U that is its key's last change: a row that left an updating result).
Partition columns become Delta partitions.

Tables live on a local disk (a path, or ``file://``) or in S3 (``s3://bucket/path``, with
deltalake's ``storage_options``: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``, ...; or the ``AWS_*`` environment
variables). The data files are written through the checkpoints' storage layer
(``rayflink.checkpoint.storage``: boto3 with timeouts and retries), the Delta log by deltalake.
On a Ray cluster of several machines a local path must be a shared one.

>>> sink = DeltaSink.builder("/data/revenue").set_partition_columns(["region"]).build()
>>> stream.sink_to(sink)
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.common.types import RowKind, row_kind_of
from rayflink.datastream.connectors.base import Sink, SinkWriter, Source, SourceReader, SourceSplit, SplitBatch
from rayflink.errors import RayflinkError
from rayflink.sql.logical import ROWKIND
from rayflink.sql.types import conform_batch

_COMMIT_ATTEMPTS = 20  # tries of one checkpoint's commit against other subtasks' concurrent ones

_OP_COLUMN = "__rayflink_op"  # the change kind of a row in merge mode (0 +I, 1 -U, 2 +U, 3 -D)
_DELETE, _UPDATE_BEFORE = RowKind.DELETE.value, RowKind.UPDATE_BEFORE.value  # values in the op column


class DeltaSinkError(RayflinkError):
    """A Delta Lake write or commit failed, or rows do not fit the table."""


@dataclass(frozen=True)
class DeltaCommittable:
    """The files one writer wrote for one checkpoint, to add to the table in one commit."""

    app_id: str
    checkpoint_id: int
    files: tuple[tuple[str, int, tuple[tuple[str, str | None], ...], int], ...]  # (path, size, partition, rows)
    schema: bytes  # the Arrow schema of the rows (IPC), for the table's creation


class DeltaSink(Sink):
    """Writes rows (dicts, ``Row`` objects, tuples with ``set_column_names``, or Arrow record batches)
    to a Delta table."""

    def __init__(self, table_uri: str, mode: str, partition_columns: tuple[str, ...], merge_keys: tuple[str, ...],
                 schema: pa.Schema | None, column_names: tuple[str, ...] | None, application_id: str,
                 storage_options: dict[str, str]) -> None:
        self.table_uri = table_uri
        self.mode = mode
        self.partition_columns = partition_columns
        self.merge_keys = merge_keys
        self.schema = schema
        self.column_names = column_names
        self.application_id = application_id
        self.storage_options = storage_options

    @staticmethod
    def builder(table_uri: str) -> "DeltaSinkBuilder":
        """A builder for a sink writing to ``table_uri`` (a local path or ``file://`` URI)."""
        return DeltaSinkBuilder(str(table_uri))

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return DeltaSinkWriter(self, subtask_index)


class DeltaSinkBuilder:
    """Builder of :class:`DeltaSink`."""

    def __init__(self, table_uri: str) -> None:
        self._uri = _table_uri(table_uri)
        self._mode = "append"
        self._partitions: tuple[str, ...] = ()
        self._keys: tuple[str, ...] = ()
        self._schema: pa.Schema | None = None
        self._names: tuple[str, ...] | None = None
        self._app_id = "rayflink-" + uuid.uuid4().hex[:12]  # one per sink: another job's checkpoint ids are its own
        self._storage: dict[str, str] = {}

    def set_mode(self, mode: str) -> "DeltaSinkBuilder":
        """``append`` (default) or ``merge`` (upsert and delete on the merge keys)."""
        if mode not in ("append", "merge"):
            raise ValueError(f"DeltaSink: mode {mode!r} is not 'append' or 'merge'")
        self._mode = mode
        return self

    def set_merge_keys(self, keys: list[str]) -> "DeltaSinkBuilder":
        """The columns that identify a row in merge mode (the table's primary key)."""
        self._keys = tuple(keys)
        return self

    def set_partition_columns(self, columns: list[str]) -> "DeltaSinkBuilder":
        self._partitions = tuple(columns)
        return self

    def set_schema(self, schema: pa.Schema) -> "DeltaSinkBuilder":
        """The rows' Arrow schema (otherwise taken from the table, or from the first rows)."""
        self._schema = schema
        return self

    def set_column_names(self, names: list[str]) -> "DeltaSinkBuilder":
        """Column names of tuple rows."""
        self._names = tuple(names)
        return self

    def set_application_id(self, app_id: str) -> "DeltaSinkBuilder":
        """Delta's transaction ``appId`` prefix (default: a new one per built sink). A committable restored
        from a checkpoint carries the id it was written under, so its replay is recognised whatever the
        restored sink's id; two jobs writing one table must not share an id (their checkpoint ids would
        collide and one job's commits would be skipped as replays)."""
        self._app_id = app_id
        return self

    def set_storage_options(self, options: dict[str, str]) -> "DeltaSinkBuilder":
        self._storage = dict(options)
        return self

    def build(self) -> DeltaSink:
        if self._mode == "merge" and not self._keys:
            raise ValueError("DeltaSink: merge mode needs set_merge_keys([...]) (the table's primary key)")
        return DeltaSink(self._uri, self._mode, self._partitions, self._keys, self._schema, self._names,
                         self._app_id, self._storage)


class DeltaSinkWriter(SinkWriter):
    """One sink subtask: buffers rows, writes Parquet files at a barrier, commits them on completion."""

    def __init__(self, sink: DeltaSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index
        self.app_id = f"{sink.application_id}-{subtask_index}"
        self.rows: list[dict] = []
        self.batches: list[pa.RecordBatch] = []
        self.written = 0
        self.files = CheckpointStorage.from_uri(sink.table_uri, _file_options(sink.storage_options))

    # ---- rows ------------------------------------------------------------------------------------

    def _as_dict(self, row: Any) -> dict:
        if isinstance(row, dict):
            out = dict(row)
        elif hasattr(row, "as_dict"):
            out = row.as_dict()
        elif hasattr(row, "_asdict"):
            out = row._asdict()
        elif isinstance(row, (tuple, list)) and self.sink.column_names:
            if len(row) != len(self.sink.column_names):
                raise DeltaSinkError(f"DeltaSink {self.sink.table_uri}: row {str(row)[:200]} has {len(row)} "
                                     f"fields, set_column_names gave {len(self.sink.column_names)}")
            out = dict(zip(self.sink.column_names, row))
        else:
            raise DeltaSinkError(f"DeltaSink {self.sink.table_uri}: cannot write a {type(row).__name__} row "
                                 f"({str(row)[:200]}); give dicts, Row objects, or tuples with set_column_names")
        if self.sink.mode == "merge":
            out[_OP_COLUMN] = row_kind_of(row).value
        return out

    def write(self, records: list, timestamps: list | None) -> None:
        if records and isinstance(records[0], pa.RecordBatch):  # a SQL table's rows, kept columnar
            self.batches.extend(records)
        else:
            self.rows.extend(self._as_dict(r) for r in records)

    def _table(self) -> pa.Table:
        schema = self.sink.schema
        if schema is not None and self.sink.mode == "merge":
            schema = schema.append(pa.field(_OP_COLUMN, pa.int8()))
        try:
            parts = [pa.Table.from_pylist(self.rows, schema=schema)] if self.rows else []
            parts += [self._batch_table(b, schema) for b in self.batches]
            return pa.concat_tables(parts)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DeltaSinkError(f"DeltaSink {self.sink.table_uri}: rows do not fit the schema "
                                 f"{schema or 'of the first rows'}: {exc}") from exc

    def _batch_table(self, batch: pa.RecordBatch, schema: pa.Schema | None) -> pa.Table:
        """A record batch's rows; its ``_rowkind`` column (a SQL changelog's) is merge mode's change kinds,
        and in append mode must hold inserts only."""
        table = pa.Table.from_batches([batch])
        if ROWKIND in table.column_names:
            kinds = table[ROWKIND]
            table = table.drop_columns([ROWKIND])
            if self.sink.mode == "merge":
                table = table.append_column(_OP_COLUMN, kinds)
            elif pc.any(pc.not_equal(kinds, RowKind.INSERT.value)).as_py():
                raise DeltaSinkError(f"DeltaSink {self.sink.table_uri}: append mode takes inserts only, "
                                     "got updates or deletes; use set_mode('merge') with merge keys")
        elif self.sink.mode == "merge":
            table = table.append_column(_OP_COLUMN, pa.array([RowKind.INSERT.value] * table.num_rows, pa.int8()))
        return table if schema is None else table.select(schema.names).cast(schema)

    # ---- two-phase commit ------------------------------------------------------------------------

    def prepare_commit(self, checkpoint_id: int) -> DeltaCommittable | None:
        """At a barrier: write this checkpoint's rows as Parquet files, not yet in the table."""
        if not self.rows and not self.batches:
            return None
        table = self._table()
        self.rows, self.batches = [], []
        if self.sink.mode == "merge":
            table = _last_change_per_key(table, self.sink.merge_keys)
        files = []
        # merge mode stages the rows in one file outside the table's data; append mode writes the
        # table's own data files, one per partition
        parts = [([], table)] if self.sink.mode == "merge" else _partitions(table, self.sink.partition_columns)
        for values, part in parts:
            directory = "/".join(f"{c}={'__HIVE_DEFAULT_PARTITION__' if v is None else v}" for c, v in values)
            name = f"part-{uuid.uuid4().hex}-{self.subtask_index}-{checkpoint_id}.parquet"
            relpath = (f"_rayflink_staging/{name}" if self.sink.mode == "merge"
                       else f"{directory}/{name}" if directory else name)
            buffer = pa.BufferOutputStream()
            pq.write_table(part, buffer)
            data = buffer.getvalue().to_pybytes()
            self.files.write_bytes(relpath, data)
            files.append((relpath, len(data), tuple(values), part.num_rows))
        self.written += table.num_rows
        return DeltaCommittable(self.app_id, checkpoint_id, tuple(files), table.schema.serialize().to_pybytes())

    def commit(self, committables: list[DeltaCommittable | None]) -> None:
        """Add each committable's files in one Delta commit, unless the table has it already; a
        commit that loses to another subtask's concurrent one is retried on the new version."""
        from deltalake.exceptions import CommitFailedError

        for c in sorted((c for c in committables if c is not None), key=lambda c: c.checkpoint_id):
            for attempt in itertools.count(1):
                try:
                    self._commit_one(c)
                    break
                except CommitFailedError as exc:  # another subtask committed first: retry on its version
                    if attempt == _COMMIT_ATTEMPTS:
                        raise DeltaSinkError(
                            f"DeltaSink {self.sink.table_uri}: commit of checkpoint {c.checkpoint_id} by "
                            f"{c.app_id} failed {attempt} times on concurrent commits: {exc}") from exc
                    time.sleep(random.uniform(0.01, 0.05) * attempt)

    def _commit_one(self, c: DeltaCommittable) -> None:
        from deltalake import DeltaTable
        from deltalake.exceptions import CommitFailedError, TableNotFoundError
        from deltalake.transaction import CommitProperties, Transaction

        schema = pa.ipc.read_schema(pa.py_buffer(c.schema))
        table_schema = schema.remove(schema.get_field_index(_OP_COLUMN)) \
            if schema.get_field_index(_OP_COLUMN) >= 0 else schema
        try:
            dt = DeltaTable(self.sink.table_uri, storage_options=self.sink.storage_options or None)
        except TableNotFoundError:
            dt = _create(self.sink, table_schema)
        done = dt.transaction_version(c.app_id)
        if done is not None and done >= c.checkpoint_id:
            return  # committed before a failure: the replay is recognised and skipped
        props = CommitProperties(app_transactions=[Transaction(c.app_id, c.checkpoint_id)])
        try:
            if self.sink.mode == "merge":
                self._merge(dt, c, props)
            else:
                self._append(dt, c, table_schema, props)
        except CommitFailedError:
            raise
        except Exception as exc:
            raise DeltaSinkError(f"DeltaSink {self.sink.table_uri}: commit of checkpoint {c.checkpoint_id} "
                                 f"by {c.app_id} failed: {type(exc).__name__}: {exc}") from exc

    def _append(self, dt: Any, c: DeltaCommittable, schema: pa.Schema, props: Any) -> None:
        from deltalake.transaction import AddAction

        now_ms = int(time.time() * 1000)
        actions = [AddAction(path, size, dict(part), now_ms, True, json.dumps({"numRecords": rows}))
                   for path, size, part, rows in c.files]
        dt.create_write_transaction(actions, mode="append", schema=schema,
                                    partition_by=list(self.sink.partition_columns) or None, commit_properties=props)

    def _merge(self, dt: Any, c: DeltaCommittable, props: Any) -> None:
        source = pa.concat_tables([pq.read_table(pa.BufferReader(self.files.read_bytes(path))) for path, *_ in c.files])
        columns = [n for n in source.column_names if n != _OP_COLUMN]
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in self.sink.merge_keys)
        assign = {n: f"s.{n}" for n in columns}
        (dt.merge(source, predicate=predicate, source_alias="s", target_alias="t", commit_properties=props)
         .when_matched_delete(predicate=f"s.{_OP_COLUMN} IN ({_DELETE}, {_UPDATE_BEFORE})")
         .when_matched_update(updates=assign)
         .when_not_matched_insert(updates=assign, predicate=f"s.{_OP_COLUMN} NOT IN ({_DELETE}, {_UPDATE_BEFORE})")
         .execute())
        for path, *_ in c.files:  # staged rows, never part of the table
            self.files.delete(path)

    def flush(self, end_of_input: bool) -> None:
        """Rows become durable only through checkpoints (or at the end of a job without them)."""


class DeltaSource(Source):
    """A bounded source of a Delta table's rows at one version (Delta's ``DeltaSource.forBoundedRowData``
    with ``versionAsOf``): one split per data file of that version, read as Arrow record batches.

    The version is fixed when the source is built (the latest then, unless ``version_as_of``), so
    every subtask, and every restart, reads the same snapshot. A split's position is the number of
    batches it has emitted; a restored split skips those.

    >>> source = DeltaSource.for_bounded("/data/revenue").version_as_of(3).build()
    >>> env.from_source(source, WatermarkStrategy.no_watermarks(), "revenue")   # records: RecordBatches
    """

    def __init__(self, table_uri: str, version: int, schema: pa.Schema | None, batch_size: int,
                 storage_options: dict[str, str]) -> None:
        self.table_uri = table_uri
        self.version = version
        self.schema = schema
        self.batch_size = batch_size
        self.storage_options = storage_options

    @staticmethod
    def for_bounded(table_uri: str) -> "DeltaSourceBuilder":
        """A builder for a source reading the Delta table at ``table_uri`` (a local path or ``file://`` URI)."""
        return DeltaSourceBuilder(str(table_uri))

    def is_bounded(self) -> bool:
        return True

    def dataset(self) -> Any:
        """The table's files at the source's version, as a pyarrow dataset (partition values as columns)."""
        from deltalake import DeltaTable

        return DeltaTable(self.table_uri, version=self.version,
                          storage_options=self.storage_options or None).to_pyarrow_dataset()

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return [SourceSplit(f"delta-{f.path}", (f.path, 0)) for f in self.dataset().get_fragments()]

    def create_reader(self, splits: list[SourceSplit], subtask_index: int, parallelism: int) -> SourceReader:
        return _DeltaReader(self, splits)


class DeltaSourceBuilder:
    """Builder of :class:`DeltaSource`."""

    def __init__(self, table_uri: str) -> None:
        self._uri = _table_uri(table_uri)
        self._version: int | None = None
        self._schema: pa.Schema | None = None
        self._batch_size = 4096
        self._storage: dict[str, str] = {}

    def version_as_of(self, version: int) -> "DeltaSourceBuilder":
        """Read the table as it was at ``version`` (default: the latest when built)."""
        self._version = int(version)
        return self

    def set_schema(self, schema: pa.Schema) -> "DeltaSourceBuilder":
        """The columns to read, by name, cast to these types (default: all, as the table stores them)."""
        self._schema = schema
        return self

    def set_batch_size(self, rows: int) -> "DeltaSourceBuilder":
        self._batch_size = int(rows)
        return self

    def set_storage_options(self, options: dict[str, str]) -> "DeltaSourceBuilder":
        self._storage = dict(options)
        return self

    def build(self) -> DeltaSource:
        """The source; raises DeltaSourceError when the table, its version or a column does not exist."""
        from deltalake import DeltaTable

        try:
            dt = DeltaTable(self._uri, version=self._version, storage_options=self._storage or None)
        except Exception as exc:  # noqa: BLE001 - deltalake's errors name neither the source nor the fix
            at = "" if self._version is None else f" at version {self._version}"
            raise DeltaSourceError(f"DeltaSource {self._uri}: cannot open the Delta table{at}: "
                                   f"{type(exc).__name__}: {exc}") from exc
        if self._schema is not None:
            have = set(dt.schema().to_arrow().names)
            missing = [n for n in self._schema.names if n not in have]
            if missing:
                raise DeltaSourceError(f"DeltaSource {self._uri}: the table (version {dt.version()}) has no column "
                                       f"{missing[0]!r}; it has {', '.join(sorted(have))}")
        return DeltaSource(self._uri, dt.version(), self._schema, self._batch_size, self._storage)


class DeltaSourceError(RayflinkError):
    """A Delta table cannot be read: it, its version or a column does not exist, or a value does not fit."""


class _DeltaReader(SourceReader):
    """One subtask's files, read one after the other."""

    def __init__(self, source: DeltaSource, splits: list[SourceSplit]) -> None:
        self.source = source
        self.pending = [[s.split_id, *s.payload] for s in splits if not s.finished]  # [id, path, batches read]
        self.done = [s for s in splits if s.finished]
        self.just_finished: list[str] = []
        self.batches: Any = None  # the current file's batch iterator
        self.fragments: dict[str, Any] = {}
        self.dataset: Any = None

    def _open(self, path: str, skip: int) -> Any:
        if self.dataset is None:
            self.dataset = self.source.dataset()
            self.fragments = {f.path: f for f in self.dataset.get_fragments()}
        schema = self.source.schema
        batches = self.fragments[path].to_batches(schema=self.dataset.schema, batch_size=self.source.batch_size,
                                                  columns=None if schema is None else schema.names)
        return itertools.islice(batches, skip, None)

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        if not self.pending:
            return None
        split = self.pending[0]
        if self.batches is None:
            self.batches = self._open(split[1], split[2])
        want = max(1, max_records)
        taken = list(itertools.islice(self.batches, want))
        split[2] += len(taken)
        if len(taken) < want:  # the file is read to its end
            self.pending.pop(0)
            self.done.append(SourceSplit(split[0], (split[1], split[2]), finished=True))
            self.just_finished.append(split[0])
            self.batches = None
        out = [self._cast(b, split[1]) for b in taken if b.num_rows]
        return [SplitBatch(split[0], out)] if out else []

    def _cast(self, batch: pa.RecordBatch, path: str) -> pa.RecordBatch:
        schema = self.source.schema
        if schema is None:
            return batch
        try:
            return conform_batch(batch, schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DeltaSourceError(f"DeltaSource {self.source.table_uri} (version {self.source.version}), file "
                                   f"{path}: its columns do not cast to {schema}: {exc}") from exc

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(sid, (path, n)) for sid, path, n in self.pending] + list(self.done)

    def finished_splits(self) -> list[str]:
        out, self.just_finished = self.just_finished, []
        return out


def _table_uri(uri: str) -> str:
    """An S3 URI as it is; a local path made absolute (the tasks' working directory is not the driver's)."""
    if "://" in uri and not uri.startswith("file://"):
        return uri
    return os.path.abspath(uri.removeprefix("file://"))


# deltalake's S3 options, and the checkpoint storage's (Flink's) names for them
_S3_OPTIONS = {"AWS_ENDPOINT_URL": "s3.endpoint", "AWS_ACCESS_KEY_ID": "s3.access-key",
               "AWS_SECRET_ACCESS_KEY": "s3.secret-key", "AWS_REGION": "s3.region"}


def _file_options(storage_options: dict[str, str]) -> dict[str, str]:
    """The checkpoint storage's options for a table's ``storage_options`` (deltalake's keys)."""
    return {_S3_OPTIONS[k.upper()]: v for k, v in storage_options.items() if k.upper() in _S3_OPTIONS}


def storage_options_of(flink_options: dict[str, str]) -> dict[str, str]:
    """deltalake's ``storage_options`` for Flink's S3 options (``s3.endpoint``, ``s3.access-key``,
    ``s3.secret-key``, ``s3.region``), as a SQL table's WITH or a job's configuration gives them."""
    out = {key: flink_options[name] for key, name in _S3_OPTIONS.items() if name in flink_options}
    if str(out.get("AWS_ENDPOINT_URL", "")).startswith("http://"):
        out["AWS_ALLOW_HTTP"] = "true"
    return out


def _create(sink: DeltaSink, schema: pa.Schema) -> Any:
    from deltalake import DeltaTable

    try:
        return DeltaTable.create(sink.table_uri, schema=schema, partition_by=list(sink.partition_columns) or None,
                                 storage_options=sink.storage_options or None, mode="ignore")
    except Exception:  # noqa: BLE001 - another subtask created it first: open that one
        return DeltaTable(sink.table_uri, storage_options=sink.storage_options or None)


def _partitions(table: pa.Table, columns: tuple[str, ...]) -> list[tuple[list[tuple[str, str | None]], pa.Table]]:
    """``table`` split by the values of the partition ``columns`` (dropped from the parts)."""
    if not columns:
        return [([], table)]
    keys = table.select(list(columns)).group_by(list(columns)).aggregate([])
    out = []
    for row in keys.to_pylist():
        mask = None
        for c in columns:
            v = row[c]
            m = pc.is_null(table[c]) if v is None else pc.equal(table[c], v)
            mask = m if mask is None else pc.and_(mask, m)
        part = table.filter(mask).drop_columns(list(columns))
        out.append(([(c, _partition_value(row[c])) for c in columns], part))
    return out


def _partition_value(value: Any) -> str | None:
    """A partition value as the Delta protocol writes it: ``true``/``false``, ISO dates, timestamps
    as ``2024-05-01 10:00:00.000001``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _last_change_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """The last change of each key, in arrival order. A -U that is a key's last change deletes its
    row (it left the result, e.g. through a filter, as Flink's upsert sinks read it)."""
    if table.num_rows == 0:
        return table
    indexed = table.append_column("__rayflink_pos", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(keys)).aggregate([("__rayflink_pos", "max")])["__rayflink_pos_max"]
    return table.take(pc.take(last, pc.sort_indices(last)))
