"""``LookupJoin``: each row joined with the dimension table's rows as they are when it passes (Flink's
processing-time lookup join): the batch's distinct keys are looked up together (one query per
batch, through the source's cache), then joined; LEFT pads rows without a match with NULLs."""

from __future__ import annotations

import pyarrow as pa

from rayflink.graph.transformations import OperatorKind
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.types import column_of


@register_operator(OperatorKind.SQL_LOOKUP_JOIN)
class LookupJoinOperator(OneInputStreamOperator):
    """params: ``lookup`` (open, fetch(keys) -> {key: rows}, close), ``left_keys``, ``kind``, ``schema``."""

    def open(self) -> None:
        p = self.params
        self.lookup = p.lookup
        self.left_keys = p.left_keys
        self.left_join = p.kind == "LEFT"
        self.schema: pa.Schema = p.schema
        self.lookup.open()
        self.lookups = 0

    def metrics(self) -> dict[str, int | float]:
        return {"num_lookups": self.lookups}

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = [b for b in (self.join(batch) for batch in values) if b is not None]
        if out:
            self.output.emit(out, None)

    def join(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        width = len(self.schema) - batch.num_columns
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows = list(zip(*columns))
        keys = [tuple(row[i] for i in self.left_keys) for row in rows]
        wanted = list({k for k in keys if None not in k})
        found = self.lookup.fetch(wanted) if wanted else {}
        self.lookups += len(wanted)
        out: list[tuple] = []
        nulls = (None,) * width
        for row, key in zip(rows, keys):
            matches = found.get(key) or ()
            out += [row + m for m in matches]
            if not matches and self.left_join:
                out.append(row + nulls)
        if not out:
            return None
        arrays = [column_of([r[i] for r in out], f.type, f"lookup join: column {f.name!r}")
                  for i, f in enumerate(self.schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def close(self) -> None:
        self.lookup.close()
        super().close()
