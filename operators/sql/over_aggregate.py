"""``OverAggregate``: ``agg(...) OVER (PARTITION BY ... ORDER BY rowtime ROWS|RANGE BETWEEN ...
PRECEDING AND CURRENT ROW)`` in event time (Flink's four ``RowTime{Rows,Range}{Bounded,Unbounded}
PrecedingFunction`` s in one operator).

Per partition key, keyed state holds the rows waiting for the watermark (a map by time) and the
frame: its accumulator and, for a bounded frame, the rows still inside it (time and aggregate
arguments), to take them back out when they leave (so MIN and MAX use retracting accumulators
there). An event-time timer at each waiting time fires when the watermark passes it; the rows of
that time enter the frame in arrival order. In a ROWS frame each row sees the rows before it; in
a RANGE frame rows of equal time are peers and all see each other. Each row is emitted with its
frame's aggregates: insert-only, in time order.

A row whose time is at or before the watermark when it arrives, or at or before the last time
its key emitted (the watermark starts over after a restore; the frame keeps that time, as Flink's
bounded OVER functions do), is late: dropped and counted (``num_late_records_dropped``); rows
without a time are dropped. A RANGE frame's rows are removed once the watermark is past them by
more than the frame's length (a timer per time): no later row can see them. BATCH has no
watermarks: every row waits for the end of input.

Ordered by a processing-time attribute (``frame.proctime``, Flink's ``ProcTime*`` functions), a
row's time is the operator's clock when its batch arrives (strictly later than the batch before,
so the rows of one batch are the peers of a RANGE frame) and it is emitted at once: nothing is
late and no watermark is waited for.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.accumulators import merge, merge_retracting, results, retracting_results, row_partial
from rayflink.operators.sql.keyed import KeyedSqlOperator, changelog_batch
from rayflink.runtime.messages import MAX_WATERMARK, MIN_WATERMARK
from rayflink.runtime.registry import register_operator
from rayflink.sql.types import epoch_millis

_PENDING = "sql-over-pending"  # time -> rows waiting for the watermark
_EMIT, _EXPIRE = 0, 1  # timer namespaces: emit the rows of that time / drop RANGE rows no frame can see


@register_operator(OperatorKind.SQL_OVER_AGGREGATE)
class OverAggregateOperator(KeyedSqlOperator):
    """params: ``keys`` (KeyColumns of the PARTITION BY), ``time`` (field index), ``frame``
    (OverFrame), ``aggs``, ``schema`` (the input's fields, then the aggregates). The ``STATE``
    value of a key is its frame: ``[accumulator, deque of (time, arguments) of the rows in it
    (bounded frames), the last time emitted]``."""

    STATE = "sql-over-frame"

    def open(self) -> None:
        from rayflink.datastream.state import MapStateDescriptor

        super().open()
        p = self.params
        self.time, self.aggs = p.time, p.aggs
        self.rows_frame = p.frame.kind == "ROWS"
        self.preceding = p.frame.preceding  # rows or ms; None: unbounded (nothing ever leaves)
        self.width = len(self.schema) - len(self.aggs)
        self.pending = self.backend.get_partitioned_state(MapStateDescriptor(_PENDING, None, None))  # type: ignore[arg-type]
        self.event_timers = self.internal_timer_service().event_time
        self.late_records_dropped = 0
        self.proctime = p.frame.proctime
        self.clock = current_time_ms  # processing time (ORDER BY a PROCTIME() attribute)
        self.last_proctime = MIN_WATERMARK

    def metrics(self) -> dict[str, int | float]:
        return {"num_late_records_dropped": self.late_records_dropped}

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        watermark, indices, key_of = self.current_watermark, self.key_columns.indices, self.key_columns.key
        if self.proctime:  # every row of the batch at the clock's time: emitted at once below
            watermark = self.last_proctime = max(self.clock(), self.last_proctime + 1)
        for batch in values:
            columns = [batch.column(i).to_pylist() for i in range(self.width)]
            by_key: dict = {}  # key -> time -> rows, in arrival order: one state access per key and time
            times = [watermark] * batch.num_rows if self.proctime else epoch_millis(batch.column(self.time))
            for row, t in zip(zip(*columns), times):
                if t is None:
                    continue
                if t <= watermark and not self.proctime:
                    self.late_records_dropped += 1
                    continue
                by_key.setdefault(key_of([row[i] for i in indices]), {}).setdefault(t, []).append(row)
            for key, times in by_key.items():
                self.backend.set_current_key(key)
                frame = self.state.value()
                for t, rows in times.items():
                    if frame is not None and t <= frame[2]:
                        self.late_records_dropped += len(rows)
                        continue
                    waiting = self.pending.get(t)
                    self.pending.put(t, rows if waiting is None else waiting + rows)
                    self.event_timers.add(t, key, _EMIT)
        if self.proctime:
            self.fire(watermark)

    def process_watermark(self, watermark: int) -> None:
        if not self.proctime:
            self.fire(watermark)
        super().process_watermark(watermark)

    def end_input(self) -> None:
        self.fire(MAX_WATERMARK)  # BATCH (or a bounded stream's end): every waiting row is emitted

    def fire(self, watermark: int) -> None:
        out: list[tuple] = []
        for t, key, namespace in self.event_timers.pop_due(watermark):
            self.backend.set_current_key(key)
            if namespace == _EMIT:
                self.emit(t, out)
            else:
                self.expire(t)
        if out:
            self.output.emit([changelog_batch(self.schema, out, None)], None)

    def emit(self, t: int, out: list[tuple]) -> None:
        """The current key's rows of time ``t`` into its frame, and out with their aggregates."""
        rows = self.pending.get(t) or []
        self.pending.remove(t)
        aggs, n, bounded = self.aggs, self.preceding, self.preceding is not None
        frame = self.state.value()
        acc: Any = frame[0] if frame is not None else None  # None: no rows yet (merge starts one)
        kept: deque[tuple[int, list]] = frame[1] if frame is not None else deque()
        for row in rows:
            args = [None if c.arg is None else row[c.arg] for c in aggs]
            if not bounded:
                acc = merge(aggs, acc, row_partial(aggs, args, False))
            else:
                acc = merge_retracting(aggs, acc, 1, row_partial(aggs, args, True), 1)
                kept.append((t, args))
                if self.rows_frame and len(kept) > n + 1:  # the row and n preceding
                    acc = self.retract(acc, kept.popleft()[1])
            if self.rows_frame:
                out.append(row + tuple(self.results(acc)))
        if not self.rows_frame:
            while bounded and kept and kept[0][0] < t - n:
                acc = self.retract(acc, kept.popleft()[1])
            values = tuple(self.results(acc))
            out += [row + values for row in rows]
            if bounded:
                self.event_timers.add(t + n + 1, self.backend.get_current_key(), _EXPIRE)
        self.state.update([acc, kept, t])

    def expire(self, at: int) -> None:
        """Drop the current key's RANGE rows older than ``at`` - the frame's length: every row still
        to come is later than the watermark (>= ``at``), so its frame starts after them."""
        frame = self.state.value()
        if frame is None:
            return
        acc, kept, last = frame
        while kept and kept[0][0] < at - self.preceding:
            acc = self.retract(acc, kept.popleft()[1])
        self.state.update([acc if kept else None, kept, last])

    def retract(self, acc: list, args: list) -> list:
        return merge_retracting(self.aggs, acc, 1, row_partial(self.aggs, args, True), -1)

    def results(self, acc: list) -> list:
        return retracting_results(self.aggs, acc) if self.preceding is not None else results(self.aggs, acc)
