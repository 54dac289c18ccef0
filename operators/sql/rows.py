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


def format_rows(batch: pa.RecordBatch, fmt: str, delimiter: str = ",", key: tuple[str, ...] = ()) -> list:
    """The rows of ``batch`` as text in format ``print``, ``csv``, ``json`` or ``debezium-json`` (a
    change each: -U as a delete of the row before, +U as a create of the row after, as Flink
    writes them), or for ``upsert-json`` as (key JSON, value JSON) pairs, None as the value of a
    deleted key (a tombstone), a -U left out where a later change of its key follows in the batch."""
    names = [n for n in batch.schema.names if n != ROWKIND]
    columns = [batch.column(n).to_pylist() for n in names]
    rows = list(zip(*columns)) if columns else [()] * batch.num_rows
    kinds = batch.column(ROWKIND).to_pylist() if ROWKIND in batch.schema.names else [0] * batch.num_rows
    if fmt == "print":
        return [f"{ROW_KIND_SHORT[k]}[{', '.join(show(v) for v in row)}]" for k, row in zip(kinds, rows)]
    if fmt == "debezium-json":
        out = []
        for k, row in zip(kinds, rows):
            values = {n: _json_value(v) for n, v in zip(names, row)}
            deleted = k in (1, 3)  # -U, -D
            out.append(json.dumps({"before": values if deleted else None, "after": None if deleted else values,
                                   "op": "d" if deleted else "c"}))
        return out
    if fmt == "upsert-json":
        at = [names.index(n) for n in key]
        pairs = []
        changed_later: set[str] = set()  # keys with a later change in the batch, seen walking back
        for k, row in zip(reversed(kinds), reversed(rows)):
            key_json = json.dumps({names[i]: _json_value(row[i]) for i in at})
            if k == 1 and key_json in changed_later:  # -U: the key's later change overwrites it
                continue
            changed_later.add(key_json)
            # -D, and a -U no change follows (its row left the result, e.g. through a filter): a tombstone
            deleted = k in (1, 3)
            pairs.append((key_json, None if deleted else json.dumps({n: _json_value(v) for n, v in zip(names, row)})))
        return pairs[::-1]
    if fmt == "csv":
        return [delimiter.join(_csv_value(v) for v in row) for row in rows]
    if fmt == "json":
        return [json.dumps({n: _json_value(v) for n, v in zip(names, row)}) for row in rows]
    raise ValueError(f"unknown row format {fmt!r}")


@register_operator(OperatorKind.SQL_FORMAT_ROWS)
class FormatRowsOperator(OneInputStreamOperator):
    """params: ``format``, ``delimiter``, ``key`` (see ``format_rows``): batches in, one record per row out."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fmt, delimiter, key = self.params.format, self.params.delimiter, self.params.key
        out: list = []
        for batch in values:
            out += format_rows(batch, fmt, delimiter, key)
        self.output.emit(out, None)
