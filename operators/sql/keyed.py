"""What the keyed SQL operators share: their keys, schema and one ``ValueState``; changelog
batches (rows with their ``RowKind``)."""

from __future__ import annotations

import pyarrow as pa

from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.sql.logical import ROWKIND

INSERT, UPDATE_BEFORE, UPDATE_AFTER, DELETE = 0, 1, 2, 3  # Flink's RowKind byte values


def changelog_batch(schema: pa.Schema, rows: list, kinds: list[int] | None) -> pa.RecordBatch:
    """``rows`` (each a sequence of the schema's fields) as a batch; with ``kinds``, a changelog:
    the ``ROWKIND`` column appended."""
    columns = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)]
    if kinds is None:
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    columns.append(pa.array(kinds, type=pa.int8()))
    return pa.RecordBatch.from_arrays(columns, schema=schema.append(pa.field(ROWKIND, pa.int8())))


def changed(rows: list, kinds: list[int], key_values: list, before: list | None, after: list) -> None:
    """Append the changelog of a key whose result went from ``before`` (None: it had none) to
    ``after``: ``+I``, or ``-U`` and ``+U`` when it differs."""
    if before is None:
        rows.append(key_values + after)
        kinds.append(INSERT)
    elif before != after:
        rows += [key_values + before, key_values + after]
        kinds += [UPDATE_BEFORE, UPDATE_AFTER]


class KeyedSqlOperator(OneInputStreamOperator):
    """A SQL operator keyed by ``params.keys`` (KeyColumns), writing ``params.schema``, keeping a
    ``ValueState`` named ``STATE`` per key."""

    STATE: str

    def open(self) -> None:
        from rayflink.datastream.state import ValueStateDescriptor

        self.key_columns = self.params.keys
        self.schema: pa.Schema = self.params.schema
        backend = self.keyed_state_backend()
        assert backend is not None  # keyed: the plan gives a SQL operator keys
        self.backend = backend
        self.state = backend.get_partitioned_state(ValueStateDescriptor(self.STATE, None))  # type: ignore[arg-type]
