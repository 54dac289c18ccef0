"""``Join``: a regular equi-join of two inputs, insert-only or changelogs (Flink's
``StreamingJoinOperator``). Both inputs are kept in keyed state: per join key, a map of row ->
occurrences.

An accumulating row (``+I``, ``+U``) is added to its side's state and joined with the other
side's rows of its key; a retracting row (``-U``, ``-D``) takes one occurrence out and retracts
each row it joined. An INNER join forwards the input's row kind; an outer join emits ``+I`` and
``-D``. A row of an outer side (left of LEFT, right of RIGHT, both of FULL) also keeps its number
of matches (Flink's associated records), so that it is emitted padded with NULLs while it has
none: its first match retracts the padded row, and the retraction of its last match emits it
again. The ON condition's non-equi part decides which of the other side's rows match. BATCH
joins final rows and pads the unmatched rows once, at the end of input."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.keyed import DELETE, INSERT, UPDATE_AFTER, changelog_batch
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.expressions import as_array, evaluate
from rayflink.sql.logical import ROWKIND

if TYPE_CHECKING:
    from rayflink.datastream.state import MapState

ACCUMULATE = (INSERT, UPDATE_AFTER)


class Joined(NamedTuple):
    """A batch being joined: its input ``side``, its rows (``records``) and their row kinds, and the
    rows and row kinds it makes."""

    side: int
    records: list[tuple]
    row_kinds: list[int]
    rows: list[tuple]
    kinds: list[int]


def add(state: MapState, row: tuple, delta: int) -> None:
    """Count ``delta`` occurrences of ``row`` into the map state of an inner side (row -> occurrences)."""
    count = (state.get(row) or 0) + delta
    if count > 0:
        state.put(row, count)
    else:
        state.remove(row)


@register_operator(OperatorKind.SQL_JOIN)
class JoinOperator(TwoInputStreamOperator):
    """params: ``keys`` (KeyColumns of the left and right input), ``kind`` (INNER | LEFT | RIGHT |
    FULL), ``condition`` (Expr over the joined fields, or None), ``schema`` (left's fields then
    right's), ``changelog`` (the output carries the ``ROWKIND`` column).

    State per join key and side: row -> occurrences; with a non-equi condition, an outer side's
    rows map to (occurrences, matches)."""

    def open(self) -> None:
        from rayflink.datastream.state import MapStateDescriptor

        self.keys = self.params.keys
        kind = self.params.kind
        self.outer = (kind in ("LEFT", "FULL"), kind in ("RIGHT", "FULL"))
        self.condition = self.params.condition
        self.schema: pa.Schema = self.params.schema
        self.changelog: bool = self.params.changelog
        # with a non-equi condition an outer side's rows count their matches; without one, every
        # row of a key matches all the other side's rows of the key
        self.counted = self.condition is not None
        self.keyed_state_backend()
        self.sides = [self.keyed_backend.get_partitioned_state(MapStateDescriptor(f"sql-join-{side}", None, None))
                      for side in ("left", "right")]
        # BATCH: unmatched rows of an outer side are padded once, at the end, instead of retracted
        self.pad_now = not self.ctx.batch_mode

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = [b for b in (self.join(batch, input_index) for batch in values) if b is not None]
        self.output.emit(out, None)

    def join(self, batch: pa.RecordBatch, side: int) -> pa.RecordBatch | None:
        """The changes that ``batch`` (rows of input ``side``, a changelog when it has ``ROWKIND``) makes."""
        changes = batch.schema.names[-1] == ROWKIND
        width = batch.num_columns - changes
        records = list(zip(*(batch.column(i).to_pylist() for i in range(width))))
        row_kinds = batch.column(width).to_pylist() if changes else [INSERT] * batch.num_rows
        key_columns = self.keys[side]
        by_key: dict = {}  # join key -> the positions of its rows, in input order
        rows: list[tuple] = []
        kinds: list[int] = []
        for at, row in enumerate(records):
            key_values = [row[i] for i in key_columns.indices]
            if None in key_values:  # NULL equals nothing: never stored, never matched
                if self.outer[side]:  # (in BATCH too: it can never be matched)
                    rows.append(self.pad(row, side))
                    kinds.append(INSERT if row_kinds[at] in ACCUMULATE else DELETE)
                continue
            by_key.setdefault(key_columns.key(key_values), []).append(at)
        joined = Joined(side, records, row_kinds, rows, kinds)
        if self.outer[0] or self.outer[1]:
            self.outer_join(by_key, joined)
            return self.output_batch(rows, kinds) if rows else None
        self.inner_join(by_key, joined)
        if not rows:
            return None
        out = self.output_batch(rows, kinds)
        if self.condition is not None:
            out = out.filter(self.holds(out))
        return out if out.num_rows else None

    def inner_join(self, by_key: dict, joined: Joined) -> None:
        """Every row joined with each occurrence of its key's rows on the other side, in its own
        row kind (the ON condition filters them after)."""
        side, records, row_kinds, rows, kinds = joined
        backend, mine, other = self.keyed_backend, self.sides[side], self.sides[1 - side]
        for key, positions in by_key.items():
            backend.set_current_key(key)
            matches = other.items()
            for at in positions:
                row, kind = records[at], row_kinds[at]
                for match, count in matches:
                    rows += [row + match if side == 0 else match + row] * count
                    kinds += [kind] * count
                add(mine, row, 1 if kind in ACCUMULATE else -1)

    def outer_join(self, by_key: dict, joined: Joined) -> None:
        """Every row joined with the occurrences of the other side's rows that it matches, as ``+I``
        or ``-D``, and the padded rows of outer sides whose matches come or go."""
        side, records, row_kinds, rows, kinds = joined
        backend, mine, other = self.keyed_backend, self.sides[side], self.sides[1 - side]
        mine_outer, other_outer, counted, pad_now = self.outer[side], self.outer[1 - side], self.counted, self.pad_now
        hits = None  # whether the condition holds, for each row and candidate in turn
        candidates = {}  # the other side's rows of each key: they do not change while this batch joins
        if counted:
            for key in by_key:
                backend.set_current_key(key)
                candidates[key] = other.items()
            pairs = [records[at] + match if side == 0 else match + records[at]
                     for key, positions in by_key.items() for at in positions for match, _ in candidates[key]]
            hits = iter(self.holds(changelog_batch(self.schema, pairs, None)).to_pylist() if pairs else ())
        for key, positions in by_key.items():
            backend.set_current_key(key)
            matches = candidates[key] if counted else other.items()
            values = dict(matches) if counted and other_outer else {}  # row -> (occurrences, matches)
            # uncounted, every row of the key matches: the other side's rows have as many matches as this side has rows
            total = sum(mine.values()) if other_outer and not counted else 0
            for at in positions:
                row = records[at]
                accumulate = row_kinds[at] in ACCUMULATE
                delta = 1 if accumulate else -1
                matched = [(m, c) for m, c in matches if next(hits)] if hits is not None else matches
                found = 0
                if not other_outer:
                    out_kind = INSERT if accumulate else DELETE
                    for match, count in matched:
                        found += count
                        rows += [row + match if side == 0 else match + row] * count
                        kinds += [out_kind] * count
                else:
                    for match, count in matched:
                        before = total
                        if counted:
                            count, before = values[match]
                            values[match] = (count, before + delta)
                        found += count
                        pair = [row + match if side == 0 else match + row] * count
                        if accumulate:  # its first match retracts the other row's padded row
                            if pad_now and before == 0:
                                rows += [self.pad(match, 1 - side)] * count
                                kinds += [DELETE] * count
                            rows += pair
                            kinds += [INSERT] * count
                        else:  # the retraction of its last match pads it again
                            rows += pair
                            kinds += [DELETE] * count
                            if pad_now and before == 1:
                                rows += [self.pad(match, 1 - side)] * count
                                kinds += [INSERT] * count
                    total += delta
                if mine_outer and pad_now and not found:
                    rows.append(self.pad(row, side))
                    kinds.append(INSERT if accumulate else DELETE)
                if not (mine_outer and counted):
                    add(mine, row, delta)
                    continue
                stored = mine.get(row)
                count = (stored[0] if stored is not None else 0) + delta
                if count > 0:
                    mine.put(row, (count, found))
                else:
                    mine.remove(row)
            for match, value in values.items():
                other.put(match, value)

    def pad(self, row: tuple, side: int) -> tuple:
        """``row`` of input ``side`` with NULLs for the other side's fields."""
        nulls = (None,) * (len(self.schema) - len(row))
        return row + nulls if side == 0 else nulls + row

    def holds(self, joined: pa.RecordBatch) -> pa.Array:
        """Where the ON condition's non-equi part holds on ``joined`` rows (NULL: it does not)."""
        return pc.fill_null(as_array(evaluate(self.condition, joined), joined.num_rows), False)

    def end_input(self) -> None:
        if self.pad_now:
            return
        backend, rows = self.keyed_backend, []
        for side, name in ((0, "sql-join-left"), (1, "sql-join-right")):
            if not self.outer[side]:
                continue
            state, other = self.sides[side], self.sides[1 - side]
            for key in backend.keys(name):
                backend.set_current_key(key)
                if self.counted:
                    rows += [self.pad(row, side) for row, (count, found) in state.items() if not found
                             for _ in range(count)]
                elif other.is_empty():
                    rows += [self.pad(row, side) for row, count in state.items() for _ in range(count)]
        if rows:
            self.output.emit([self.output_batch(rows, [INSERT] * len(rows))], None)

    def output_batch(self, rows: list[tuple], kinds: list[int]) -> pa.RecordBatch:
        return changelog_batch(self.schema, rows, kinds if self.changelog else None)
