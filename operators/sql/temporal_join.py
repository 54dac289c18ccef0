"""``TemporalJoin``: ``left JOIN versioned FOR SYSTEM_TIME AS OF left.time ON keys`` in event time
(Flink's ``TemporalRowTimeJoinOperator``).

Per join key, keyed state holds the left rows waiting for the watermark (by time) and the right
side's versions (by time: a row, or a deletion from a changelog's ``-D``). When the watermark
passes a left row's time (an event-time timer), the row is joined with the latest version at or
before that time; LEFT pads it with NULLs when there is none (or the row was deleted then), INNER
drops it. Versions older than the one valid at the watermark can never be read again and are
removed (a timer at each version's time). The output is insert-only.
"""

from __future__ import annotations

import bisect
from typing import Any

import pyarrow as pa

from rayflink.graph.transformations import OperatorKind
from rayflink.runtime.messages import MAX_WATERMARK
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.registry import register_operator
from rayflink.sql.logical import ROWKIND
from rayflink.sql.types import epoch_millis

_LEFT, _VERSIONS = "sql-temporal-join-left", "sql-temporal-join-versions"
_PROBE, _CLEANUP = 0, 1  # timer namespaces: join the left rows at that time / drop outdated versions
_UPDATE_BEFORE, _DELETE = 1, 3  # RowKind values


@register_operator(OperatorKind.SQL_TEMPORAL_JOIN)
class TemporalJoinOperator(TwoInputStreamOperator):
    """params: ``keys`` (KeyColumns of the left and right input), ``kind`` (INNER | LEFT),
    ``left_time`` and ``right_time`` (field indexes), ``schema`` (left's ``left_width`` fields then right's)."""

    def open(self) -> None:
        from rayflink.datastream.state import MapStateDescriptor

        p = self.params
        self.keys = p.keys
        self.left_join = p.kind == "LEFT"
        self.times = (p.left_time, p.right_time)
        self.schema: pa.Schema = p.schema
        backend = self.keyed_state_backend()
        assert backend is not None  # keyed: the plan keys both inputs by the join keys
        self.backend = backend
        self.pending = backend.get_partitioned_state(MapStateDescriptor(_LEFT, None, None))  # type: ignore[arg-type]
        self.versions = backend.get_partitioned_state(
            MapStateDescriptor(_VERSIONS, None, None))  # type: ignore[arg-type]
        self.event_timers = self.internal_timer_service().event_time
        self.nulls = (None,) * (len(self.schema) - p.left_width)  # the right fields of an unmatched row
        self.unmatched = 0

    def metrics(self) -> dict[str, int | float]:
        return {"num_left_rows_without_version": self.unmatched}

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out = []
        for batch in values:
            padded = self.add(batch, input_index)
            if padded:
                out.append(self.output_batch(padded))
        if out:
            self.output.emit(out, None)

    def add(self, batch: pa.RecordBatch, side: int) -> list[tuple]:
        """Keep ``batch``'s rows in state; return left rows that can never match (NULL key or time)."""
        kinds = batch.column(ROWKIND).to_pylist() if batch.schema.names[-1] == ROWKIND else None
        width = batch.num_columns - (kinds is not None)
        columns = [batch.column(i).to_pylist() for i in range(width)]
        times = epoch_millis(batch.column(self.times[side]))
        key_columns = self.keys[side]
        backend, timers = self.backend, self.event_timers
        never: list[tuple] = []
        for i, row in enumerate(zip(*columns)):
            key_values = [row[k] for k in key_columns.indices]
            t = times[i]
            if None in key_values or t is None:  # NULL matches no version
                if side == 0 and self.left_join:
                    never.append(row + self.nulls)
                continue
            backend.set_current_key(key_columns.key(key_values))
            if side == 0:
                waiting = self.pending.get(t)
                self.pending.put(t, [row] if waiting is None else [*waiting, row])
                timers.add(t, backend.get_current_key(), _PROBE)
            elif kinds is None or kinds[i] != _UPDATE_BEFORE:  # -U: the +U after it holds the new version
                self.versions.put(t, None if kinds is not None and kinds[i] == _DELETE else row)
                timers.add(t, backend.get_current_key(), _CLEANUP)
        self.unmatched += len(never)
        return never

    def process_watermark(self, watermark: int) -> None:
        self.fire(watermark)
        super().process_watermark(watermark)

    def end_input(self) -> None:
        self.fire(MAX_WATERMARK)  # a bounded job: every waiting row is joined at the end

    def fire(self, watermark: int) -> None:
        due: dict[Any, list[int]] = {}
        for t, key, namespace in self.event_timers.pop_due(watermark):
            probes = due.setdefault(key, [])
            if namespace == _PROBE:
                probes.append(t)
        backend, out, nulls = self.backend, [], self.nulls
        for key, probes in due.items():
            backend.set_current_key(key)
            versions = sorted(self.versions.items(), key=lambda kv: kv[0])
            version_times = [t for t, _ in versions]
            for t in sorted(probes):
                at = bisect.bisect_right(version_times, t) - 1
                version = versions[at][1] if at >= 0 else None
                for row in self.pending.get(t) or ():
                    if version is not None:
                        out.append(row + version)
                    elif self.left_join:
                        out.append(row + nulls)
                        self.unmatched += 1
                    else:
                        self.unmatched += 1
                self.pending.remove(t)
            valid = bisect.bisect_right(version_times, watermark) - 1  # the version valid at the watermark
            for t in version_times[:max(valid, 0)]:
                self.versions.remove(t)
        if out:
            self.output.emit([self.output_batch(out)], None)

    def output_batch(self, rows: list[tuple]) -> pa.RecordBatch:
        columns = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)
