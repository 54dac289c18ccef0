"""What the keyed SQL operators share: their keys, schema and one ``ValueState``; changelog
batches (rows with their ``RowKind``); and, for the window aggregates, emitting fired windows."""

from __future__ import annotations

import pyarrow as pa

from rayflink.operators.sql.accumulators import results
from rayflink.runtime.messages import MAX_WATERMARK
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


class WindowSqlOperator(KeyedSqlOperator):
    """A window aggregate: ``params.time`` (the event-time field), ``params.aggs``, event-time timers;
    its output rows are the keys, window_start, window_end, window_time, then the aggregates."""

    def open(self) -> None:
        super().open()
        self.time = self.params.time
        self.aggs = self.params.aggs
        self.window_timers = self.internal_timer_service()
        self.late_records_dropped = 0
        self.windows_fired = 0

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.late_records_dropped, "num_windows_fired": self.windows_fired}

    def flush(self) -> None:
        """Aggregate the rows buffered (none unless an operator buffers)."""

    def process_watermark(self, watermark: int) -> None:
        self.flush()
        self.fire(watermark)
        super().process_watermark(watermark)

    def end_input(self) -> None:
        self.flush()
        self.fire(MAX_WATERMARK)  # BATCH: no watermarks came, every window ends with the input

    def take_window(self, end: int) -> tuple[int, list] | None:
        """The start and accumulator of the current key's window ending at ``end``, its state
        cleared (None: there is no such window any more)."""
        raise NotImplementedError

    def fire(self, watermark: int) -> None:
        """Emit and clear every window whose last millisecond is at or before ``watermark``."""
        backend = self.backend
        single = len(self.key_columns.indices) == 1
        rows = []
        for _, key, end in self.window_timers.event_time.pop_due(watermark):
            backend.set_current_key(key)
            window = self.take_window(end)
            if window is None:
                continue
            start, acc = window
            key_values = [key] if single else list(key)
            rows.append(key_values + [start, end, end - 1] + results(self.aggs, acc))
        self.emit_windows(rows)

    def emit_windows(self, rows: list[list]) -> None:
        """Emit the rows of fired windows (their window fields in epoch ms) and count them."""
        self.windows_fired += len(rows)
        if rows:
            window_fields = range(len(self.key_columns.indices), len(self.key_columns.indices) + 3)
            columns = [pa.array([r[i] for r in rows], type=pa.int64()).cast(f.type) if i in window_fields
                       else pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
            self.output.emit([pa.RecordBatch.from_arrays(columns, schema=self.schema)], None)
