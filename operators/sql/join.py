"""``Join``: a regular equi-join of two insert-only inputs, both kept in keyed state (per join key,
a map of row -> occurrences). INNER emits each match once; LEFT emits a left row padded with
NULLs while it has no match, and retracts it (``-D``) when the first right row of its key comes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.keyed import DELETE, INSERT
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.expressions import as_array, evaluate
from rayflink.sql.logical import ROWKIND


@register_operator(OperatorKind.SQL_JOIN)
class JoinOperator(TwoInputStreamOperator):
    """params: ``keys`` (KeyColumns of the left and right input), ``kind`` (INNER | LEFT),
    ``condition`` (Expr over the joined fields, or None), ``schema`` (left's fields then right's)."""

    def open(self) -> None:
        from rayflink.datastream.state import MapStateDescriptor

        self.keys = self.params.keys
        self.left_join = self.params.kind == "LEFT"
        self.condition = self.params.condition
        self.schema: pa.Schema = self.params.schema
        self.keyed_state_backend()
        self.sides = [self.keyed_backend.get_partitioned_state(MapStateDescriptor(f"sql-join-{side}", None, None))
                      for side in ("left", "right")]
        # BATCH: a LEFT join pads its unmatched left rows once, at the end, instead of retracting
        self.pad_now = self.left_join and not self.ctx.batch_mode

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = [b for b in (self.join(batch, input_index) for batch in values) if b is not None]
        self.output.emit(out, None)

    def join(self, batch: pa.RecordBatch, side: int) -> pa.RecordBatch | None:
        backend, mine, other = self.keyed_backend, self.sides[side], self.sides[1 - side]
        key_columns = self.keys[side]
        width = len(self.schema) - batch.num_columns if side == 0 else batch.num_columns
        nulls = (None,) * width  # the other side's fields of an unmatched left row
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        by_key: dict = {}
        rows: list[tuple] = []
        kinds: list[int] = []
        for row in zip(*columns):
            key_values = [row[i] for i in key_columns.indices]
            if None in key_values:  # NULL equals nothing: never stored, never matched
                if side == 0 and self.left_join:  # (in BATCH too: it can never be retracted)
                    rows.append(row + nulls)
                    kinds.append(INSERT)
                continue
            by_key.setdefault(key_columns.key(key_values), []).append(row)
        for key, new_rows in by_key.items():
            backend.set_current_key(key)
            matches = other.items()
            if side == 0:
                for row in new_rows:
                    if matches:
                        for match, count in matches:
                            rows += [row + match] * count
                            kinds += [INSERT] * count
                    elif self.pad_now:
                        rows.append(row + nulls)
                        kinds.append(INSERT)
            else:
                unmatched_before = self.pad_now and not mine.items()
                for left, count in matches:
                    if unmatched_before:
                        rows += [left + nulls] * count
                        kinds += [DELETE] * count
                    for row in new_rows:
                        rows += [left + row] * count
                        kinds += [INSERT] * count
            for row in new_rows:
                mine.put(row, (mine.get(row) or 0) + 1)
        if not rows:
            return None
        return self.output_batch(rows, kinds)

    def end_input(self) -> None:
        if not self.left_join or self.pad_now:
            return
        backend, left, right = self.keyed_backend, self.sides[0], self.sides[1]
        width = len(self.schema)
        rows: list[tuple] = []
        for key in backend.keys("sql-join-left"):
            backend.set_current_key(key)
            if not right.items():
                for row, count in left.items():
                    rows += [row + (None,) * (width - len(row))] * count
        if rows:
            result = self.output_batch(rows, [INSERT] * len(rows))
            if result is not None:
                self.output.emit([result], None)

    def output_batch(self, rows: list[tuple], kinds: list[int]) -> pa.RecordBatch | None:
        columns = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
        if self.left_join:
            columns.append(pa.array(kinds, type=pa.int8()))
            batch = pa.RecordBatch.from_arrays(columns, schema=self.schema.append(pa.field(ROWKIND, pa.int8())))
        else:
            batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        if self.condition is not None:
            batch = batch.filter(pc.fill_null(as_array(evaluate(self.condition, batch), batch.num_rows), False))
        return batch if batch.num_rows else None
