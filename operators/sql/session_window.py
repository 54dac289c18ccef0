"""Session windows (``GROUP BY SESSION(ts, INTERVAL gap), key``): per key, the open sessions and
their accumulators in keyed state. A batch is cut into sessions per key on whole columns (sorted
by key and time, a new session where the key changes or the gap is reached); each is merged
with the stored sessions it overlaps. A session is emitted once when the watermark passes its
end (last row + gap); timers of sessions merged away find nothing and are skipped."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.accumulators import merge, merge_accumulators, partial_aggregates, results
from rayflink.operators.sql.keyed import KeyedSqlOperator
from rayflink.runtime.messages import MAX_WATERMARK
from rayflink.runtime.registry import register_operator

_STATE = "sql-session-windows"


@register_operator(OperatorKind.SQL_SESSION_WINDOW_AGGREGATE)
class SessionWindowAggregateOperator(KeyedSqlOperator):
    """params as ``WindowAggregateOperator``'s (``keys``, ``time``, ``window``, ``aggs``, ``schema``:
    keys, window_start, window_end, window_time, aggregates); ``window.size_ms`` is the gap."""

    STATE = _STATE

    def open(self) -> None:
        super().open()
        self.time = self.params.time
        self.aggs = self.params.aggs
        self.gap = self.params.window.size_ms
        self.window_timers = self.internal_timer_service()
        self.late_records_dropped = 0
        self.windows_fired = 0

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.late_records_dropped, "num_windows_fired": self.windows_fired}

    def process_watermark(self, watermark: int) -> None:
        self.fire(watermark)
        super().process_watermark(watermark)

    def end_input(self) -> None:
        self.fire(MAX_WATERMARK)  # BATCH: no watermarks came, every session ends with the input

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        for batch in values:
            self.assign(batch)

    def assign(self, batch: pa.RecordBatch) -> None:
        times = batch.column(self.time)
        ts = times.cast(pa.int64())
        on_time = pc.fill_null(pc.greater(pc.add(ts, self.gap - 1), self.current_watermark), False)
        batch, ts = batch.filter(on_time), ts.filter(on_time)
        self.late_records_dropped += len(on_time) - batch.num_rows
        if batch.num_rows == 0:
            return
        keys = [batch.column(i) for i in self.key_columns.indices]
        order = pc.sort_indices(pa.table({**{f"k{i}": k for i, k in enumerate(keys)}, "ts": ts}),
                                sort_keys=[*[(f"k{i}", "ascending") for i in range(len(keys))], ("ts", "ascending")])
        batch, ts = batch.take(order), ts.take(order)
        t = np.asarray(ts.to_numpy(zero_copy_only=False), dtype=np.int64)
        starts = np.ones(len(t), dtype=bool)
        starts[1:] = np.diff(t) >= self.gap
        for k in (batch.column(i) for i in self.key_columns.indices):
            a, b = k.slice(1), k.slice(0, len(k) - 1)
            changed = pc.fill_null(pc.not_equal(a, b), True)
            both_null = pc.and_(pc.is_null(a), pc.is_null(b))
            starts[1:] |= np.asarray(pc.and_not(changed, both_null).to_numpy(zero_copy_only=False), dtype=bool)
        session_ids = pa.array(np.cumsum(starts), type=pa.int64())
        groups, partials = partial_aggregates(batch, [session_ids], self.aggs)
        bounds = pa.table({"s": session_ids, "t": ts}).group_by("s", use_threads=False).aggregate(
            [("t", "min"), ("t", "max")])
        first_rows = np.flatnonzero(starts)
        key_values = [[col[i] for i in first_rows] for col in (k.to_pylist() for k in
                                                               (batch.column(i) for i in self.key_columns.indices))]
        span = dict(zip(bounds.column("s").to_pylist(), zip(bounds.column("t_min").to_pylist(),
                                                           bounds.column("t_max").to_pylist())))
        backend, state, aggs, gap = self.backend, self.state, self.aggs, self.gap
        for g, session in enumerate(groups[0]):
            key = self.key_columns.key([column[session - 1] for column in key_values])
            low, high = span[session]
            start, end = low, high + gap
            acc = merge(aggs, None, [p[g] for p in partials])
            backend.set_current_key(key)
            kept = []
            for s_start, s_end, s_acc in state.value() or []:
                if s_start < end and start < s_end:  # overlaps: grows into one session
                    start, end = min(start, s_start), max(end, s_end)
                    acc = merge_accumulators(aggs, acc, s_acc)
                else:
                    kept.append((s_start, s_end, s_acc))
            kept.append((start, end, acc))
            state.update(kept)
            self.window_timers.event_time.add(end - 1, key, end)

    def fire(self, watermark: int) -> None:
        """Emit and clear every session whose last millisecond is at or before ``watermark``."""
        backend = self.backend
        single = len(self.key_columns.indices) == 1
        rows = []
        for _, key, end in self.window_timers.event_time.pop_due(watermark):
            backend.set_current_key(key)
            session = self.take_session(end)
            if session is None:
                continue
            start, acc = session
            key_values = [key] if single else list(key)
            rows.append(key_values + [start, end, end - 1] + results(self.aggs, acc))
        self.windows_fired += len(rows)
        if rows:
            window_fields = range(len(self.key_columns.indices), len(self.key_columns.indices) + 3)
            columns = [pa.array([r[i] for r in rows], type=pa.int64()).cast(f.type) if i in window_fields
                       else pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
            self.output.emit([pa.RecordBatch.from_arrays(columns, schema=self.schema)], None)

    def take_session(self, end: int) -> tuple[int, list] | None:
        """The start and accumulator of the current key's session ending at ``end``, taken out of
        its state (None: it was merged into a longer session since)."""
        state = self.state
        sessions = state.value() or []
        done = [s for s in sessions if s[1] == end]
        if not done:
            return None  # merged into a longer session since
        rest = [s for s in sessions if s[1] != end]
        if rest:
            state.update(rest)
        else:
            state.clear()
        start, _, acc = done[0]
        return start, acc
