"""``GroupAggregate``: a regular GROUP BY, one accumulator per key in keyed state; over an
updating input (a changelog) the accumulators also take rows back out (``retract``). STREAMING
emits a changelog (``+I`` for a new key, ``-U``/``+U`` when its result changes, ``-D`` when it
has no rows left); BATCH emits each key's final row at the end of input. With ``table.exec.mini-batch.*``
input is buffered and each key updated (and emitted) once per mini-batch."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.accumulators import (
    merge,
    merge_retracting,
    partial_aggregates,
    results,
    retracting_partials,
    retracting_results,
)
from rayflink.operators.sql.keyed import (  # noqa: F401 - the RowKind values are also reached here
    DELETE,
    INSERT,
    UPDATE_AFTER,
    UPDATE_BEFORE,
    KeyedSqlOperator,
    changed,
    changelog_batch,
)
from rayflink.runtime.registry import register_operator
from rayflink.sql.options import MiniBatch

_STATE = "sql-group-accumulators"


@register_operator(OperatorKind.SQL_GROUP_AGGREGATE)
class GroupAggregateOperator(KeyedSqlOperator):
    """params: ``keys`` (KeyColumns of the input), ``aggs`` (AggCalls), ``schema`` (keys then aggregates)."""

    STATE = _STATE

    def open(self) -> None:
        super().open()
        self.aggs = self.params.aggs
        # the input is a changelog with updates (in BATCH mode inputs are final rows)
        self.retract = self.params.retract and not self.ctx.batch_mode
        self.mini_batch = MiniBatch.of(self.ctx.config)
        self.buffer: list[pa.RecordBatch] = []
        self.buffered_rows = 0
        self.flush_at: int | None = None

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        if not self.mini_batch.enabled:
            self.output.emit([b for b in (self.aggregate(batch) for batch in values) if b is not None], None)
            return
        self.buffer += values
        self.buffered_rows += sum(b.num_rows for b in values)
        if self.flush_at is None:
            self.flush_at = time.time_ns() // 1_000_000 + self.mini_batch.latency_ms
        if self.buffered_rows >= self.mini_batch.size:
            self.flush()

    def flush(self) -> None:
        """Aggregate the buffered rows at once: each key is read, updated and emitted once."""
        self.flush_at = None
        if self.buffer:
            batches, self.buffer, self.buffered_rows = self.buffer, [], 0
            merged = pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
            result = self.aggregate(merged)
            if result is not None:
                self.output.emit([result], None)

    def next_processing_time_timer(self) -> int | None:
        return self.flush_at

    def on_processing_time(self, now_ms: int) -> None:
        if self.flush_at is not None and now_ms >= self.flush_at:
            self.flush()

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        self.flush()  # updates of the rows before the barrier go out before it

    def aggregate(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        if self.retract:
            return self.aggregate_changelog(batch)
        key_columns, aggs, backend, state = self.key_columns, self.aggs, self.keyed_backend, self.state
        groups, partials = partial_aggregates(batch, [batch.column(i) for i in key_columns.indices], aggs)
        emit = not self.ctx.batch_mode
        rows: list[list] = []
        kinds: list[int] = []
        n = len(partials[0]) if partials else (len(groups[0]) if groups else 1)
        for g in range(n):
            key_values = [column[g] for column in groups]
            backend.set_current_key(key_columns.key(key_values))
            acc = state.value()
            before = None if acc is None or not emit else results(aggs, acc)
            acc = merge(aggs, acc, [p[g] for p in partials])
            state.update(acc)
            if emit:
                changed(rows, kinds, key_values, before, results(aggs, acc))
        return self.changelog(rows, kinds) if rows else None

    def aggregate_changelog(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """An updating input: +I/+U rows add to their key's accumulator, -U/-D rows take out of it;
        a key left without rows is deleted (``-D``)."""
        key_columns, aggs, backend, state = self.key_columns, self.aggs, self.keyed_backend, self.state
        adds = pc.is_in(batch.column(batch.num_columns - 1), value_set=pa.array([INSERT, UPDATE_AFTER], pa.int8()))
        changes: dict = {}  # key -> (key values, [(rows, partials, sign)])
        for mask, sign in ((adds, 1), (pc.invert(adds), -1)):
            part = batch.filter(mask)
            if part.num_rows == 0:
                continue
            groups, counts, partials = retracting_partials(part, [part.column(i) for i in key_columns.indices], aggs)
            for g, rows in enumerate(counts):
                key_values = [column[g] for column in groups]
                entry = changes.setdefault(key_columns.key(key_values), (key_values, []))
                entry[1].append((rows, [p[g] for p in partials], sign))
        emit = not self.ctx.batch_mode
        out: list[list] = []
        kinds: list[int] = []
        for key, (key_values, updates) in changes.items():
            backend.set_current_key(key)
            acc = state.value()
            before = retracting_results(aggs, acc) if acc is not None and acc[0] > 0 else None
            for rows, partial, sign in updates:
                acc = merge_retracting(aggs, acc, rows, partial, sign)
            if acc[0] <= 0:
                state.clear()
                if emit and before is not None:
                    out.append(key_values + before)
                    kinds.append(DELETE)
                continue
            state.update(acc)
            if emit:
                changed(out, kinds, key_values, before, retracting_results(aggs, acc))
        return self.changelog(out, kinds) if out else None

    def changelog(self, rows: list[list], kinds: list[int] | None) -> pa.RecordBatch:
        return changelog_batch(self.schema, rows, kinds)

    def end_input(self) -> None:
        self.flush()
        if not self.ctx.batch_mode:
            return
        backend, state, rows = self.keyed_backend, self.state, []
        for key in backend.keys(_STATE):
            backend.set_current_key(key)
            key_values = list(key) if len(self.key_columns.indices) != 1 else [key]
            acc = state.value()
            rows.append(key_values + (retracting_results(self.aggs, acc) if self.retract
                                      else results(self.aggs, acc)))
        if rows:
            self.output.emit([self.changelog(rows, None)], None)
