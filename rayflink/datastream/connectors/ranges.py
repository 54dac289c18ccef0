"""Splits over index ranges and their reader, shared by the collection and sequence sources."""

from __future__ import annotations

from collections.abc import Callable

from rayflink.datastream.connectors.base import SourceReader, SourceSplit, SplitBatch


def range_splits(prefix: str, start: int, end: int, parallelism: int) -> list[SourceSplit]:
    """``parallelism`` contiguous splits of ``[start, end)``."""
    total = end - start
    bounds = [start + total * i // parallelism for i in range(parallelism + 1)]
    return [SourceSplit(f"{prefix}-{i}", (bounds[i], bounds[i + 1])) for i in range(parallelism)]


class RangeReader(SourceReader):
    """Reads range splits in order; ``fetch(start, end)`` materializes the records."""

    def __init__(self, splits: list[SourceSplit], fetch: Callable[[int, int], list]) -> None:
        self._pending = [[s.split_id, s.payload[0], s.payload[1]] for s in splits]
        self._fetch = fetch

    def poll(self, max_records: int) -> list[SplitBatch] | None:
        while self._pending and self._pending[0][1] >= self._pending[0][2]:
            self._pending.pop(0)
        if not self._pending:
            return None
        split = self._pending[0]
        start, end = split[1], min(split[2], split[1] + max_records)
        split[1] = end
        return [SplitBatch(split[0], self._fetch(start, end))]

    def snapshot_state(self) -> list[SourceSplit]:
        return [SourceSplit(sid, (pos, end)) for sid, pos, end in self._pending]
