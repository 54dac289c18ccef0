"""``WindowAggregate``: GROUP BY key and window (TUMBLE, HOP, CUMULATE) on slices, as Flink SQL's
``SlicingWindowOperator`` does.

Time is cut into slices of the window's slide (HOP, whose size is a multiple of its slide), step
(CUMULATE) or size (TUMBLE), so every window is a run of whole slices. A row updates one
accumulator, that of its key and slice, however many windows hold it (five for q5's HOP of 10 s
by 2 s); when the watermark passes a window's last millisecond its slices are merged and its rows
emitted once (insert-only). A slice is dropped when the last window holding it has fired; a row
whose windows have all fired is late, dropped and counted.

The accumulators are columnar: per slice, Arrow tables of the key columns and the partial
aggregates (``slice_partials``), added per batch and merged by Arrow's hash aggregation
(``merge_slices``), for a window's slices as for a slice's pieces. No Python runs per key or
window but for COUNT(DISTINCT) and AVG's results. A checkpoint holds each slice's table and the
watermark windows have fired up to; a restore keeps the rows of the key groups it owns.

Rows are buffered (up to ``BUFFERED_ROWS``) and aggregated together when a watermark or a barrier
comes: results only leave at watermarks, so buffering changes nothing but the cost.

In processing time (``window.proctime``, a window on a ``PROCTIME()`` attribute) a row belongs to
the slice of the operator's clock when it arrives (never late), rows are aggregated as they come,
and a processing-time timer fires each window when the clock passes its end. At the end of a
bounded input every window fires, as in Flink."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayflink.clock import current_time_ms
from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.accumulators import merge_slices, slice_partials, slice_results
from rayflink.operators.sql.keys import KeyColumns
from rayflink.operators.sql.windows import last_window_end, slice_ends, window_start
from rayflink.runtime.messages import MAX_WATERMARK, MIN_WATERMARK
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.state.backend import StateError

BUFFERED_ROWS = 65_536  # rows buffered between watermarks before they are aggregated together
COMPACTED_PIECES = 16  # a slice's pieces (one per aggregated buffer) merged into one at this many


@register_operator(OperatorKind.SQL_WINDOW_AGGREGATE)
class WindowAggregateOperator(OneInputStreamOperator):
    """params: ``keys`` (KeyColumns), ``time`` (field index), ``window`` (WindowSpec), ``aggs``,
    ``schema`` (keys, window_start, window_end, window_time, aggregates)."""

    def open(self) -> None:
        params = self.params
        self.window, self.aggs, self.time, self.schema = params.window, params.aggs, params.time, params.schema
        self.key_indices: tuple[int, ...] = params.keys.indices
        self.state_keys = KeyColumns(tuple(range(len(self.key_indices))))  # the keys in a slice's table
        self.slices: dict[int, list[pa.Table]] = {}  # slice end -> its pieces
        self.fired_until = MIN_WATERMARK  # every window ending at or before this + 1 has fired
        self.buffer: list[pa.RecordBatch] = []
        self.buffered_rows = 0
        self.late_records_dropped = 0
        self.windows_fired = 0
        self.clock = current_time_ms  # processing time (windows on a PROCTIME() attribute)

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.late_records_dropped, "num_windows_fired": self.windows_fired}

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        if self.window.proctime:
            now = max(self.clock(), self.fired_until + 1)
            for batch in values:
                self.assign(batch, np.full(batch.num_rows, now, dtype=np.int64))
            return
        for batch in values:
            self.buffer.append(batch)
            self.buffered_rows += batch.num_rows
        if self.buffered_rows >= BUFFERED_ROWS:
            self.flush()

    def process_watermark(self, watermark: int) -> None:
        if not self.window.proctime:
            self.flush()
            self.fire(watermark)
        super().process_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        """The last millisecond of the first window that holds a slice and has not fired (processing time)."""
        if not self.window.proctime or not self.slices:
            return None
        return max(min(self.slices), self.first_unfired_end()) - 1

    def first_unfired_end(self) -> int:
        """The end of the first window that has not fired (windows end where slices end)."""
        if self.fired_until == MIN_WATERMARK:
            return MIN_WATERMARK
        return int(slice_ends(self.window, self.fired_until + 1))

    def on_processing_time(self, now_ms: int) -> None:
        self.fire(now_ms)

    def end_input(self) -> None:
        self.flush()
        self.fire(MAX_WATERMARK)  # BATCH: no watermarks came, every window ends with the input

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        self.flush()  # the checkpoint's state holds every row before its barrier

    def flush(self) -> None:
        """Aggregate the buffered rows into their slices: one hash aggregation for all of them."""
        if self.buffer:
            batches, self.buffer, self.buffered_rows = self.buffer, [], 0
            batch = batches[0] if len(batches) == 1 else \
                pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
            times = batch.column(self.time)
            if times.null_count:
                batch = batch.filter(pc.is_valid(times))
                times = batch.column(self.time)
            self.assign(batch, np.asarray(times.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64))

    def assign(self, batch: pa.RecordBatch, ts: np.ndarray) -> None:
        """Add each row (of time ``ts``) to its key's slice; rows whose windows have all fired are dropped."""
        ends = slice_ends(self.window, ts)
        on_time = last_window_end(self.window, ends) - 1 > self.fired_until
        if not on_time.all():
            self.late_records_dropped += int(len(ts) - on_time.sum())
            batch, ends = batch.filter(pa.array(on_time)), ends[on_time]
        if batch.num_rows == 0:
            return
        nkeys = len(self.key_indices)
        group = [batch.column(i) for i in self.key_indices] + [pa.array(ends, type=pa.int64())]
        partials = slice_partials(batch, group, self.aggs)
        of_slice = partials.column(nkeys).to_numpy()
        partials = partials.remove_column(nkeys)
        uniques = np.unique(of_slice)
        for end in uniques.tolist():
            piece = partials if len(uniques) == 1 else partials.filter(pa.array(of_slice == end))
            pieces = self.slices.setdefault(end, [])
            pieces.append(piece)
            if len(pieces) >= COMPACTED_PIECES:
                self.compacted(end)

    def compacted(self, end: int) -> pa.Table:
        """The slice ending at ``end`` as one table (its pieces merged): one row per key."""
        pieces = self.slices[end]
        if len(pieces) > 1:
            pieces[:] = [merge_slices(pieces, len(self.key_indices), self.aggs)]
        return pieces[0]

    def fire(self, watermark: int) -> None:
        """Emit every window whose last millisecond is at or before ``watermark`` (and after the
        last watermark), then drop the slices no later window holds."""
        if watermark <= self.fired_until:
            return
        window, step = self.window, self.window.slide_ms
        first = self.first_unfired_end()
        due = sorted({end for s in self.slices
                      for end in range(max(s, first), min(int(last_window_end(window, s)), watermark + 1) + 1, step)})
        self.fired_until = watermark
        out = []
        for end in due:
            start = window_start(window, end)
            members = [self.compacted(s) for s in sorted(self.slices) if start < s <= end]
            merged = members[0] if len(members) == 1 else merge_slices(members, len(self.key_indices), self.aggs)
            out.append(self.window_rows(merged, start, end))
        for s in [s for s in self.slices if last_window_end(window, s) - 1 <= watermark]:
            del self.slices[s]
        if out:
            self.windows_fired += sum(t.num_rows for t in out)
            self.output.emit(pa.concat_tables(out).combine_chunks().to_batches(), None)

    def window_rows(self, merged: pa.Table, start: int, end: int) -> pa.Table:
        """The result rows of the window [``start``, ``end``): keys, window fields, aggregates."""
        nkeys, n = len(self.key_indices), merged.num_rows
        fields = list(self.schema)
        bounds = [pa.array(np.full(n, v, dtype=np.int64)).cast(f.type)
                  for v, f in zip((start, end, end - 1), fields[nkeys:nkeys + 3])]
        aggregates = slice_results(self.aggs, merged, nkeys, [f.type for f in fields[nkeys + 3:]])
        return pa.Table.from_arrays([*merged.columns[:nkeys], *bounds, *aggregates], schema=self.schema)

    def snapshot_state(self) -> dict:
        return {"slices": {end: self.compacted(end) for end in list(self.slices)}, "fired_until": self.fired_until}

    def restore_state(self, states: list) -> None:
        """Load the slices' rows of the key groups this subtask owns. Aligned checkpoints give every
        old subtask the same watermark at the barrier, so their ``fired_until`` agree."""
        if not states:
            return
        if any("slices" not in state for state in states):
            raise StateError("the window aggregate's state holds an accumulator per window (written before "
                             "windows were sliced), not per slice; drain the job or start it without that state")
        self.fired_until = min(state["fired_until"] for state in states)
        owned = self.ctx.key_groups()
        for state in states:
            for end, table in state["slices"].items():
                if table.num_rows == 0:
                    continue
                groups = self.state_keys.key_groups_of(table.combine_chunks().to_batches()[0], self.ctx.max_parallelism)
                kept = table.filter(pa.array((groups >= owned.start) & (groups < owned.stop)))
                if kept.num_rows:
                    self.slices.setdefault(end, []).append(kept)
