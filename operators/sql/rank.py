"""``Rank``: Top-N per partition key (``ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)`` with
``WHERE rn <= N``; N = 1 is deduplication). Each key's N best rows are keyed state; a row that
enters shifts the ranks below it, emitted as ``-U``/``+U`` of each changed rank (``+I`` for a
rank filled for the first time). BATCH emits each key's final N rows at the end of input."""

from __future__ import annotations

import bisect
from typing import Any

import pyarrow as pa

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.keyed import INSERT, UPDATE_AFTER, UPDATE_BEFORE, KeyedSqlOperator, changelog_batch
from rayflink.runtime.registry import register_operator

_STATE = "sql-top-n"


class _Desc:
    """Reverses the order of a value (a DESC sort column)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: "_Desc") -> bool:
        return other.v < self.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v


@register_operator(OperatorKind.SQL_RANK)
class RankOperator(KeyedSqlOperator):
    """params: ``keys`` (KeyColumns), ``order`` ((field, descending, nulls first), ...), ``limit``,
    ``schema`` (the input's fields, then the rank)."""

    STATE = _STATE

    def open(self) -> None:
        super().open()
        self.order = self.params.order
        self.limit = self.params.limit

    def sort_key(self, row: tuple) -> tuple:
        out = []
        for index, descending, nulls_first in self.order:
            v = row[index]
            out.append((0,) if v is None and nulls_first else (2,) if v is None else (1, _Desc(v) if descending else v))
        return tuple(out)

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        backend, state, limit, emit = self.keyed_backend, self.state, self.limit, not self.ctx.batch_mode
        rows_out: list[tuple] = []
        kinds: list[int] = []
        for batch in values:
            columns = [batch.column(i).to_pylist() for i in range(len(self.schema) - 1)]
            for row in zip(*columns):
                backend.set_current_key(self.key_columns.key([row[i] for i in self.key_columns.indices]))
                old = state.value() or []
                key = self.sort_key(row)
                pos = bisect.bisect_right([k for k, _ in old], key)
                if pos >= limit:
                    continue
                new = (old[:pos] + [(key, row)] + old[pos:])[:limit]
                state.update(new)
                if not emit:
                    continue
                for i in range(pos, len(new)):
                    if i < len(old):
                        rows_out += [old[i][1] + (i + 1,), new[i][1] + (i + 1,)]
                        kinds += [UPDATE_BEFORE, UPDATE_AFTER]
                    else:
                        rows_out.append(new[i][1] + (i + 1,))
                        kinds.append(INSERT)
        if rows_out:
            self.output.emit([self.batch(rows_out, kinds)], None)

    def batch(self, rows: list[tuple], kinds: list[int] | None) -> pa.RecordBatch:
        return changelog_batch(self.schema, rows, kinds)

    def end_input(self) -> None:
        if not self.ctx.batch_mode:
            return
        backend, rows = self.keyed_backend, []
        for key in backend.keys(_STATE):
            backend.set_current_key(key)
            rows += [row + (i + 1,) for i, (_, row) in enumerate(self.state.value() or [])]
        if rows:
            self.output.emit([self.batch(rows, None)], None)
