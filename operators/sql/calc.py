"""``Calc``: projections and a filter over Arrow record batches, evaluated with pyarrow.compute."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.expressions import as_array, evaluate
from rayflink.sql.logical import ROWKIND


@register_operator(OperatorKind.SQL_CALC)
class CalcOperator(OneInputStreamOperator):
    """params: ``projections`` (Exprs), ``condition`` (Expr or None), ``schema`` (the output's).

    The row kind column of a changelog passes through unchanged."""

    def open(self) -> None:
        self.projections = self.params.projections
        self.condition = self.params.condition
        self.schema: pa.Schema = self.params.schema
        self.changelog_schema = self.schema.append(pa.field(ROWKIND, pa.int8()))

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = []
        for batch in values:
            try:
                result = self.calc(batch)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise self.ctx.failure(exc, batch.slice(0, 3).to_pylist(), what="a SQL expression") from exc
            if result is not None:
                out.append(result)
        self.output.emit(out, None)

    def calc(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        if self.condition is not None:
            mask = as_array(evaluate(self.condition, batch), batch.num_rows)
            batch = batch.filter(pc.fill_null(mask, False))
        n = batch.num_rows
        if n == 0:
            return None
        columns = []
        for expr, field in zip(self.projections, self.schema):
            column = as_array(evaluate(expr, batch), n)
            if column.type != field.type:
                column = column.cast(field.type)
            columns.append(column)
        if batch.schema.names[-1] == ROWKIND:
            columns.append(batch.column(batch.num_columns - 1))
            return pa.RecordBatch.from_arrays(columns, schema=self.changelog_schema)
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)
