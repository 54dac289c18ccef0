"""``ChangelogNormalize``: an upsert stream (a row per key, or a deletion of the key: what an
``upsert-kafka`` table reads) as a full changelog, as Flink's operator of that name does. Keyed
by the PRIMARY KEY, it keeps each key's last row: a new row is ``+I``, or ``-U`` of the last then
``+U`` (nothing when equal); a deletion is ``-D`` of the last row (nothing for an unknown key)."""

from __future__ import annotations

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.keyed import DELETE, KeyedSqlOperator, changed, changelog_batch
from rayflink.runtime.registry import register_operator
from rayflink.sql.logical import ROWKIND


@register_operator(OperatorKind.SQL_CHANGELOG_NORMALIZE)
class ChangelogNormalizeOperator(KeyedSqlOperator):
    """params: ``keys`` (KeyColumns of the primary key), ``schema`` (the table's fields)."""

    STATE = "sql-changelog-normalize"

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        rows: list = []
        kinds: list[int] = []
        backend, state, key_of = self.backend, self.state, self.key_columns.key
        for batch in values:
            upserts = batch.column(ROWKIND).to_pylist()
            width = batch.num_columns - 1
            columns = [batch.column(i).to_pylist() for i in range(width)]
            for kind, row in zip(upserts, zip(*columns)):
                backend.set_current_key(key_of([row[i] for i in self.key_columns.indices]))
                last = state.value()
                if kind == DELETE:
                    if last is not None:
                        rows.append(last)
                        kinds.append(DELETE)
                        state.clear()
                    continue
                changed(rows, kinds, [], None if last is None else list(last), list(row))
                state.update(row)
        if rows:
            self.output.emit([changelog_batch(self.schema, rows, kinds)], None)
