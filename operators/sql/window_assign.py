"""``WindowTableFunction``: a window TVF not followed by an aggregation (``SELECT * FROM
TABLE(TUMBLE(...))``): each row once per window it belongs to, with window_start, window_end and
window_time (the window's last millisecond, the output's event-time attribute)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.windows import assign_windows, window_start
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator


@register_operator(OperatorKind.SQL_WINDOW_ASSIGN)
class WindowAssignOperator(OneInputStreamOperator):
    """params: ``time`` (field index), ``window`` (WindowSpec), ``schema`` (input fields + the three)."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        spec, schema = self.params.window, self.params.schema
        time_type = schema.field("window_time").type
        out = []
        for batch in values:
            times = batch.column(self.params.time)
            if times.null_count:
                batch = batch.filter(pc.is_valid(times))
                times = batch.column(self.params.time)
            ts = np.asarray(times.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
            rows, ends = assign_windows(spec, ts)
            if len(rows) == 0:
                continue
            starts = ends - spec.size_ms if spec.kind != "CUMULATE" else \
                np.array([window_start(spec, int(e)) for e in ends], dtype=np.int64)
            expanded = batch.take(pa.array(rows))
            columns = [*expanded.columns] + [pa.array(v, pa.int64()).cast(time_type) for v in (starts, ends, ends - 1)]
            out.append(pa.RecordBatch.from_arrays(columns, schema=schema))
        self.output.emit(out, None)
