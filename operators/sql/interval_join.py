"""``IntervalJoin``: an equi-join (INNER, LEFT, RIGHT or FULL) of two insert-only inputs whose ON
bounds left's event time by right's, ``l.t - r.t`` in [lower, upper] (Flink's ``TimeIntervalJoin``).

Per join key and side, keyed state maps an event time to the rows of that time, each with whether
it has matched yet. A row is joined with the other side's rows of its key whose times fall in its
interval; the ON condition (the time bounds and any other non-equi part) is evaluated on the
candidate pairs of a whole batch at once. A row is kept only while a row still to come can match
it: rows still to come are later than the watermark, so a left row at ``t`` can be matched until
the watermark reaches ``t - lower``, a right row until it reaches ``t + upper``. An event-time
timer per key, side and time removes the rows of that time then, so the state holds the rows of
the last interval, not every row ever seen (a regular join would); a row of an outer side that
never matched is emitted then, padded with NULLs (the result stays insert-only). A row that
arrives when no later row can match it (late) is still joined with the rows kept, but not kept
itself. Rows with a NULL key or time match nothing. BATCH has no watermarks: every row is kept
until the end of input.

The joined rows keep left's event time as their time attribute. A joined row can be older than
the watermark ``W`` (a right row after ``W`` meets left rows from ``W + lower`` on), so the
watermark goes on delayed by the interval's reach, ``max(-lower, upper)``, as Flink delays it: no
joined row is late downstream."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from rayflink.graph.transformations import OperatorKind
from rayflink.operators.sql.keyed import changelog_batch
from rayflink.runtime.messages import MAX_WATERMARK, MIN_WATERMARK
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.expressions import as_array, evaluate
from rayflink.sql.types import epoch_millis

if TYPE_CHECKING:
    from rayflink.datastream.state import MapState

_STATES = ("sql-interval-join-left", "sql-interval-join-right")  # per key: event time -> [(row, matched)]


@register_operator(OperatorKind.SQL_INTERVAL_JOIN)
class IntervalJoinOperator(TwoInputStreamOperator):
    """params: ``keys`` (KeyColumns of the left and right input), ``kind``, ``condition``, ``left_time`` and
    ``right_time`` (field indices), ``lower`` and ``upper`` (ms), ``schema`` (left's fields, then right's)."""

    def open(self) -> None:
        from rayflink.datastream.state import MapStateDescriptor

        p = self.params
        self.keys, self.condition, self.schema = p.keys, p.condition, p.schema
        self.outer = (p.kind in ("LEFT", "FULL"), p.kind in ("RIGHT", "FULL"))  # sides padded when unmatched
        self.times = (p.left_time, p.right_time)
        # a row of side 0 (left) at t matches right times in [t - upper, t - lower]; of side 1, left
        # times in [t + lower, t + upper]; it can be matched until the watermark reaches t + expiry
        self.window = ((-p.upper, -p.lower), (p.lower, p.upper))
        self.expiry = (-p.lower, p.upper)
        self.delay = max(-p.lower, p.upper, 0)  # how far behind the watermark a joined row's time can be
        self.input_watermark = MIN_WATERMARK  # the watermark of the inputs (the output's is delayed)
        backend = self.keyed_state_backend()
        assert backend is not None  # keyed: the plan keys both inputs by the join key
        self.backend = backend
        self.sides = [backend.get_partitioned_state(MapStateDescriptor(name, None, None))  # type: ignore[arg-type]
                      for name in _STATES]
        self.event_timers = self.internal_timer_service().event_time

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = [b for b in (self.join(batch, input_index) for batch in values) if b is not None]
        self.output.emit(out, None)

    def join(self, batch: pa.RecordBatch, side: int) -> pa.RecordBatch | None:
        """The joined rows ``batch`` (rows of input ``side``) makes; its rows kept that later rows can match."""
        records = list(zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns))))
        times = epoch_millis(batch.column(self.times[side]))
        key_columns = self.keys[side]
        by_key: dict = {}  # join key -> its rows' positions, in input order
        padded: list[tuple] = []
        for at, row in enumerate(records):
            key_values = [row[i] for i in key_columns.indices]
            if None not in key_values and times[at] is not None:
                by_key.setdefault(key_columns.key(key_values), []).append(at)
            elif self.outer[side]:  # NULL matches nothing
                padded.append(self.pad(row, side))
        (low, high), expiry = self.window[side], self.expiry[side]
        pairs: list[tuple] = []
        origins: list[tuple] = []  # per pair: the row's position, and the key, time and index of its match
        for key, positions in by_key.items():
            self.backend.set_current_key(key)
            kept = list(self.sides[1 - side].items())
            for at in positions:
                row, t = records[at], times[at]
                for other_time, entries in kept:
                    if t + low <= other_time <= t + high:
                        for i, (match, _) in enumerate(entries):
                            pairs.append(row + match if side == 0 else match + row)
                            origins.append((at, key, other_time, i))
        matched = set()  # positions of this batch's rows that matched
        newly: dict = {}  # (key, time) -> indexes of the other side's rows that matched
        out = []
        if pairs:
            joined = changelog_batch(self.schema, pairs, None)
            holds = pc.fill_null(as_array(evaluate(self.condition, joined), joined.num_rows), False)
            out.append(joined.filter(holds))
            for (at, key, other_time, i), hit in zip(origins, holds.to_pylist()):
                if hit:
                    matched.add(at)
                    newly.setdefault((key, other_time), []).append(i)
        if self.outer[1 - side]:
            self.mark_matched(self.sides[1 - side], newly)
        mine, watermark = self.sides[side], self.input_watermark
        for key, positions in by_key.items():
            self.backend.set_current_key(key)
            for at in positions:
                row, t = records[at], times[at]
                if t + expiry > watermark:  # a later row can still match it
                    stored = mine.get(t)
                    mine.put(t, (stored or []) + [(row, at in matched)])
                    self.event_timers.add(t + expiry, key, side)
                elif self.outer[side] and at not in matched:
                    padded.append(self.pad(row, side))
        if padded:
            out.append(changelog_batch(self.schema, padded, None))
        out = [b for b in out if b.num_rows]
        if not out:
            return None
        return out[0] if len(out) == 1 else pa.Table.from_batches(out).combine_chunks().to_batches()[0]

    def mark_matched(self, state: MapState, newly: dict) -> None:
        """Note that the other side's rows in ``newly`` ((key, time) -> indexes) have matched."""
        for (key, t), indexes in newly.items():
            self.backend.set_current_key(key)
            stored = state.get(t)
            if stored is None or all(stored[i][1] for i in indexes):
                continue
            entries = list(stored)
            for i in indexes:
                entries[i] = (entries[i][0], True)
            state.put(t, entries)

    def pad(self, row: tuple, side: int) -> tuple:
        """``row`` of input ``side`` with NULLs for the other side's fields."""
        nulls = (None,) * (len(self.schema) - len(row))
        return row + nulls if side == 0 else nulls + row

    def process_watermark(self, watermark: int) -> None:
        self.expire(watermark)
        self.input_watermark = watermark
        delayed = watermark if watermark == MAX_WATERMARK else max(MIN_WATERMARK, watermark - self.delay)
        super().process_watermark(delayed)

    def end_input(self) -> None:
        self.expire(MAX_WATERMARK)  # BATCH: no watermarks came; an outer side's unmatched rows end padded

    def expire(self, watermark: int) -> None:
        """Remove the rows no later row can match (of each key, side and time whose timer is due),
        and emit those of an outer side that never matched, padded."""
        padded = []
        for _, key, side in self.event_timers.pop_due(watermark):
            self.backend.set_current_key(key)
            state, expiry = self.sides[side], self.expiry[side]
            for t in [t for t in state.keys() if t + expiry <= watermark]:
                if self.outer[side]:
                    padded += [self.pad(row, side) for row, found in state.get(t) or [] if not found]
                state.remove(t)
        if padded:
            self.output.emit([changelog_batch(self.schema, padded, None)], None)
