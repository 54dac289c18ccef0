"""``TableSourceScan``: a connector's source of Arrow batches with the table's computed columns
added and only the fields the query reads kept; its watermark strategy evaluates the table's
``WATERMARK FOR rowtime AS expr`` over each batch."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.common.watermark_strategy import WatermarkGenerator, WatermarkOutput, WatermarkStrategy
from rayflink.datastream.connectors.base import Source, SourceReader, SplitBatch, WrappedReader, WrappedSource
from rayflink.runtime.messages import MIN_WATERMARK
from rayflink.sql.expressions import Expr, as_array, evaluate
from rayflink.sql.logical import ROWKIND
from rayflink.sql.types import conform_batch

ROWS_PER_BATCH = 4096  # rows a table source puts in one record batch (connectors/table.py makes them)


class TableScanSource(WrappedSource):
    """Wraps ``source`` (records: batches of the table's physical columns, ``read`` of them where the
    connector reads no more; the others are dropped here), adds the ``computed`` columns (over ``read``)
    and keeps those of ``schema``."""

    def __init__(self, source: Source, read: pa.Schema, computed: tuple[tuple[str, Expr], ...],
                 schema: pa.Schema) -> None:
        super().__init__(source)
        self.read = read
        self.computed = computed
        self.schema = schema

    def wrap(self, reader: SourceReader) -> SourceReader:
        return _ScanReader(reader, self)


class _ScanReader(WrappedReader):
    def __init__(self, reader: SourceReader, scan: TableScanSource) -> None:
        super().__init__(reader)
        self.scan = scan

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        # a record here is a batch of rows: ``max_records`` rows is about one batch per poll
        batches = self.reader.poll(max(1, max_records // ROWS_PER_BATCH))
        if not batches:
            return batches
        return [SplitBatch(b.split_id, [self.project(r) for r in b.records if r.num_rows], None, b.side_output)
                for b in batches]

    def project(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        names = batch.schema.names
        kinds = (batch.schema.field(ROWKIND), batch.column(ROWKIND)) if names and names[-1] == ROWKIND else None
        if self.scan.computed:
            batch = conform_batch(batch, self.scan.read)  # the computed columns index ``read``
            n = batch.num_rows
            for name, expr in self.scan.computed:
                batch = batch.append_column(name, as_array(evaluate(expr, batch), n))
        batch = conform_batch(batch, self.scan.schema)
        return batch if kinds is None else batch.append_column(*kinds)  # a changelog's row kinds stay last


class _BatchWatermarkExpression:
    """The timestamp of a batch: the largest value of the watermark expression over its rows."""

    def __init__(self, expr: Expr) -> None:
        self.expr = expr

    def __call__(self, batch: pa.RecordBatch, record_timestamp: int | None) -> int:
        values = as_array(evaluate(self.expr, batch), batch.num_rows)
        top = pc.max(values.cast(pa.int64()) if pa.types.is_timestamp(values.type) else values).as_py()
        return MIN_WATERMARK if top is None else int(top)


class _MaxWatermarks(WatermarkGenerator):
    """Flink SQL's watermark: the largest watermark-expression value seen (no extra -1 ms)."""

    def __init__(self) -> None:
        self.max_seen = MIN_WATERMARK

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        if event_timestamp > self.max_seen:
            self.max_seen = event_timestamp

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        if self.max_seen > MIN_WATERMARK:
            output.emit_watermark(self.max_seen)


def sql_watermark_strategy(expr: Expr | None) -> WatermarkStrategy:
    """The strategy of a table with ``WATERMARK FOR ... AS expr`` (none without)."""
    if expr is None:
        return WatermarkStrategy.no_watermarks()
    return WatermarkStrategy(_MaxWatermarks, _BatchWatermarkExpression(expr))
