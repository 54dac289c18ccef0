"""Between the DataStream API and SQL: Python records to record batches and back to Rows."""

from __future__ import annotations

import pyarrow as pa

from rayflink.common.time import Instant
from rayflink.graph.transformations import OperatorKind
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.types import epoch_millis


@register_operator(OperatorKind.SQL_RECORDS_TO_BATCH)
class RecordsToBatchOperator(OneInputStreamOperator):
    """params: ``schema``: each incoming batch of records (Rows, tuples, lists or dicts) becomes one
    record batch; a record that does not fit names itself and the schema."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        schema: pa.Schema = self.params.schema
        names = schema.names
        rows = [v if isinstance(v, dict) else dict(zip(names, v)) for v in values]
        try:
            batch = pa.RecordBatch.from_pylist(rows, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            try:  # Types.INSTANT values (PyFlink's Instant) in timestamp columns, as their epoch time
                batch = pa.RecordBatch.from_pylist(_instants_as_epoch(rows, schema), schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                bad = next((r for r in rows if not _fits(r, schema)), rows[0])
                raise self.ctx.failure(exc, bad, what=f"converting records to the table schema ({schema})") from exc
        self.output.emit([batch], None)


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _instants_as_epoch(rows: list[dict], schema: pa.Schema) -> list[dict]:
    """The rows with each ``Instant`` in a timestamp column as an integer of the column's unit."""
    units = {f.name: _PER_SECOND[f.type.unit] for f in schema if pa.types.is_timestamp(f.type)}
    if not units:
        return rows
    out = []
    for row in rows:
        row = dict(row)
        for name, per_second in units.items():
            v = row.get(name)
            if isinstance(v, Instant):
                row[name] = v.seconds * per_second + v.nanos * per_second // 1_000_000_000
        out.append(row)
    return out


def _fits(row: dict, schema: pa.Schema) -> bool:
    try:
        pa.RecordBatch.from_pylist([row], schema=schema)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False


@register_operator(OperatorKind.SQL_BATCHES_TO_ROWS)
class BatchesToRowsOperator(OneInputStreamOperator):
    """Record batches to ``Row`` s (with their ``RowKind``) for ``to_data_stream``/``to_changelog_stream``;
    params ``rowtime``: the field whose epoch milliseconds become the records' timestamps (or None)."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        from rayflink.table.table_result import rows_of

        rowtime = self.params.rowtime
        out: list = []
        stamps: list | None = [] if rowtime is not None else None
        for batch in values:
            out += rows_of(batch)
            if stamps is not None:
                stamps += epoch_millis(batch.column(rowtime))
        self.output.emit(out, stamps)
