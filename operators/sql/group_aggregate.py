"""``GroupAggregate``: a regular GROUP BY over an insert-only input, one accumulator per key in
keyed state. STREAMING emits a changelog (``+I`` for a new key, ``-U``/``+U`` when its result
changes); BATCH emits each key's final row at the end of input."""

from __future__ import annotations

import pyarrow as pa

from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for
from rayflink.operators.sql.accumulators import merge, partial_aggregates, results
from rayflink.sql.logical import ROWKIND

INSERT, UPDATE_BEFORE, UPDATE_AFTER, DELETE = 0, 1, 2, 3  # Flink's RowKind byte values

_STATE = "sql-group-accumulators"


class GroupAggregateOperator(KeyedStateOperator):
    """params: ``keys`` (KeyColumns of the input), ``aggs`` (AggCalls), ``schema`` (keys then aggregates)."""

    def open(self) -> None:
        from rayflink.datastream.state import ValueStateDescriptor

        self.key_columns = self.params["keys"]
        self.aggs = self.params["aggs"]
        self.schema: pa.Schema = self.params["schema"]
        self.keyed_backend = keyed_backend_for(self)
        self.state = self.keyed_backend.get_partitioned_state(ValueStateDescriptor(_STATE, None))

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = [b for b in (self.aggregate(batch) for batch in values) if b is not None]
        self.output.emit(out, None)

    def aggregate(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
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
                after = results(aggs, acc)
                if before is None:
                    rows.append(key_values + after)
                    kinds.append(INSERT)
                elif before != after:
                    rows += [key_values + before, key_values + after]
                    kinds += [UPDATE_BEFORE, UPDATE_AFTER]
        return self.changelog(rows, kinds) if rows else None

    def changelog(self, rows: list[list], kinds: list[int] | None) -> pa.RecordBatch:
        columns = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
        if kinds is None:
            return pa.RecordBatch.from_arrays(columns, schema=self.schema)
        columns.append(pa.array(kinds, type=pa.int8()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema.append(pa.field(ROWKIND, pa.int8())))

    def end_input(self) -> None:
        if not self.ctx.batch_mode:
            return
        backend, state, rows = self.keyed_backend, self.state, []
        for key in backend.keys(_STATE):
            backend.set_current_key(key)
            key_values = list(key) if len(self.key_columns.indices) != 1 else [key]
            rows.append(key_values + results(self.aggs, state.value()))
        if rows:
            self.output.emit([self.changelog(rows, None)], None)
