"""``WindowAggregate``: GROUP BY key and event-time window (TUMBLE, HOP, CUMULATE). Accumulators
are keyed state in the namespace of the window's end with an event-time timer at the window's last millisecond; when
the watermark passes it the window's row is emitted once (insert-only) and its state cleared.

Rows are buffered (up to ``BUFFERED_ROWS``) and aggregated together when a watermark or a barrier
comes: results only leave at watermarks, so buffering changes nothing but the cost."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.accumulators import merge, partial_aggregates
from rayflink.operators.sql.keyed import WindowSqlOperator
from rayflink.operators.sql.windows import assign_windows, window_start
from rayflink.runtime.registry import register_operator

_STATE = "sql-window-accumulators"
BUFFERED_ROWS = 65_536  # rows buffered between watermarks before they are aggregated together


@register_operator(OperatorKind.SQL_WINDOW_AGGREGATE)
class WindowAggregateOperator(WindowSqlOperator):
    """params: ``keys`` (KeyColumns), ``time`` (field index), ``window`` (WindowSpec), ``aggs``,
    ``schema`` (keys, window_start, window_end, window_time, aggregates)."""

    STATE = _STATE

    def open(self) -> None:
        super().open()
        self.window = self.params.window
        self.buffer: list[pa.RecordBatch] = []
        self.buffered_rows = 0

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        for batch in values:
            self.buffer.append(batch)
            self.buffered_rows += batch.num_rows
        if self.buffered_rows >= BUFFERED_ROWS:
            self.flush()

    def flush(self) -> None:
        """Assign the buffered rows: one grouping, one state access per key and window for all of them."""
        if self.buffer:
            batches, self.buffer, self.buffered_rows = self.buffer, [], 0
            self.assign(batches[0] if len(batches) == 1 else
                        pa.Table.from_batches(batches).combine_chunks().to_batches()[0])

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        self.flush()  # the checkpoint's state holds every row before its barrier

    def assign(self, batch: pa.RecordBatch) -> None:
        """Add each row to its windows (``assign_windows``); rows whose windows all ended are dropped."""
        times = batch.column(self.time)
        valid = pc.is_valid(times)
        if times.null_count:
            batch, times = batch.filter(valid), times.filter(valid)
        ts = np.asarray(times.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        rows, ends = assign_windows(self.window, ts)
        on_time = ends - 1 > self.current_watermark
        if not on_time.all():
            self.late_records_dropped += int(len(ts) - len(np.unique(rows[on_time])))
            ends, rows = ends[on_time], rows[on_time]
        if len(rows) == 0:
            return
        expanded = batch.take(pa.array(rows)) if len(rows) != batch.num_rows else batch
        group = [expanded.column(i) for i in self.key_columns.indices] + [pa.array(ends, type=pa.int64())]
        groups, partials = partial_aggregates(expanded, group, self.aggs)
        backend, state, aggs, timers = self.keyed_backend, self.state, self.aggs, self.timers
        key_of = self.key_columns.key
        window_ends = groups[-1]
        for g in range(len(window_ends)):
            key = key_of([column[g] for column in groups[:-1]])
            end = window_ends[g]
            backend.set_current_key(key)
            backend.set_current_namespace(end)
            state.update(merge(aggs, state.value(), [p[g] for p in partials]))
            timers.event_time.add(end - 1, key, end)

    def take_window(self, end: int) -> tuple[int, list] | None:
        self.keyed_backend.set_current_namespace(end)
        acc = self.state.value()
        self.state.clear()
        return None if acc is None else (window_start(self.window, end), acc)

    def fire(self, watermark: int) -> None:
        super().fire(watermark)
        self.keyed_backend.set_current_namespace(None)
