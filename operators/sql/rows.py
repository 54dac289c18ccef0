"""Record batches to text rows for row-oriented sinks: print (``+I[1, alice]``), CSV and JSON lines."""

from __future__ import annotations

import datetime
import decimal
import json

import pyarrow as pa

from rayflink.graph.transformations import OperatorKind
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.logical import ROWKIND

ROW_KIND_SHORT = ("+I", "-U", "+U", "-D")


def show(value: object) -> str:
    """A field as Flink prints it: NULL as ``<NULL>``, timestamps ISO-like with milliseconds."""
    if value is None:
        return "<NULL>"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _json_value(value: object) -> object:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def format_rows(batch: pa.RecordBatch, fmt: str, delimiter: str = ",") -> list[str]:
    """The rows of ``batch`` as text in format ``print``, ``csv`` or ``json``."""
    names = [n for n in batch.schema.names if n != ROWKIND]
    columns = [batch.column(n).to_pylist() for n in names]
    rows = list(zip(*columns)) if columns else [()] * batch.num_rows
    if fmt == "print":
        kinds = batch.column(ROWKIND).to_pylist() if ROWKIND in batch.schema.names else [0] * batch.num_rows
        return [f"{ROW_KIND_SHORT[k]}[{', '.join(show(v) for v in row)}]" for k, row in zip(kinds, rows)]
    if fmt == "csv":
        return [delimiter.join(_csv_value(v) for v in row) for row in rows]
    if fmt == "json":
        return [json.dumps({n: _json_value(v) for n, v in zip(names, row)}) for row in rows]
    raise ValueError(f"unknown row format {fmt!r}")


@register_operator(OperatorKind.SQL_FORMAT_ROWS)
class FormatRowsOperator(OneInputStreamOperator):
    """params: ``format`` (print, csv, json), ``delimiter``: batches in, one string per row out."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fmt, delimiter = self.params.format, self.params.delimiter
        out: list[str] = []
        for batch in values:
            out += format_rows(batch, fmt, delimiter)
        self.output.emit(out, None)
