"""``TableResult``: what ``execute_sql`` returns — a statement's rows, or the job it started."""

from __future__ import annotations

import enum
from typing import Any, Iterator

import pyarrow as pa

from rayflink.sql.logical import ROWKIND
from rayflink.common.types import Row, RowKind


class ResultKind(enum.Enum):
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_CONTENT = "SUCCESS_WITH_CONTENT"


def make_row(names: list[str], values: list, kind: RowKind = RowKind.INSERT) -> Row:
    """A ``Row`` with field names and a kind."""
    row = Row(*values)
    row.set_field_names(names)
    row.set_row_kind(kind)
    return row


def rows_of(batch: pa.RecordBatch) -> list[Row]:
    """The rows of a result batch, with their kinds (``_rowkind``, else INSERT)."""
    names = [n for n in batch.schema.names if n != ROWKIND]
    kinds = batch.column(ROWKIND).to_pylist() if ROWKIND in batch.schema.names else None
    columns = [batch.column(n).to_pylist() for n in names]
    out = []
    for i, values in enumerate(zip(*columns)):
        out.append(make_row(names, list(values), RowKind(kinds[i]) if kinds else RowKind.INSERT))
    return out


class CloseableIterator:
    """Rows of a running query; ``close()`` (or leaving a ``with`` block) cancels its job.

    ``batches`` yields record batches (a job's results) or lists of rows (a statement's)."""

    def __init__(self, batches: Any) -> None:
        self._batches = batches
        self._rows: list[Row] = []
        self._pos = 0

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        while self._pos >= len(self._rows):
            page = next(self._batches)
            self._rows, self._pos = (page if isinstance(page, list) else rows_of(page)), 0
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "CloseableIterator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class TableResult:
    """>>> result = t_env.execute_sql("SELECT ..."); for row in result.collect(): ...
    >>> t_env.execute_sql("INSERT INTO sink SELECT ...").wait()"""

    def __init__(self, kind: ResultKind, schema: pa.Schema, *, rows: list[Row] | None = None,
                 job_client: Any = None, batches: Any = None, updating: bool = False) -> None:
        self._kind = kind
        self._schema = schema
        self._rows = rows
        self._job_client = job_client
        self._batches = batches
        self._updating = updating

    def get_result_kind(self) -> ResultKind:
        return self._kind

    def get_job_client(self) -> Any:
        """The JobClient of the job an INSERT or SELECT started (None for other statements)."""
        return self._job_client

    def get_table_schema(self) -> pa.Schema:
        return self._schema

    def wait(self, timeout_ms: int | None = None) -> None:
        """Block until the statement's job ends (raises if it failed), printing what print sinks wrote."""
        if self._job_client is not None:
            status = self._job_client.wait(None if timeout_ms is None else timeout_ms / 1000)
            if status in ("FINISHED", "FAILED", "CANCELED"):
                self._job_client.get_job_execution_result()  # raises if the job failed

    def collect(self) -> CloseableIterator:
        """The rows (for a streaming query: the changelog, each row with its ``RowKind``)."""
        if self._batches is not None:
            batches, self._batches = self._batches, None
            return CloseableIterator(batches)
        return CloseableIterator(iter([self._rows or []]))

    def print(self) -> None:
        """Print the rows as a table (with an ``op`` column for a changelog), as Flink's tableau."""
        from rayflink.operators.sql.rows import show

        names = [n for n in self._schema.names if n != ROWKIND]
        with_op = self._updating
        rows = [([str(r.get_row_kind())] if with_op else []) + [show(v) for v in r]
                for r in self.collect()]
        header = (["op"] if with_op else []) + names
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        print(line)
        print("| " + " | ".join(h.rjust(w) for h, w in zip(header, widths)) + " |")
        print(line)
        for r in rows:
            print("| " + " | ".join(v.rjust(w) for v, w in zip(r, widths)) + " |")
        print(line)
        print(f"{len(rows)} row{'s' if len(rows) != 1 else ''} in set")

