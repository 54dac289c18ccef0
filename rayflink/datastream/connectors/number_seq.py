"""``NumberSequenceSource``: the integers from ``start`` to ``end`` inclusive, split by range.

At PyFlink's path, and built into the core (as in flink-core), since ``env.from_sequence`` uses it.
"""

from __future__ import annotations

from typing import Any

from rayflink.common.typeinfo import Types
from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit
from rayflink.datastream.connectors.ranges import RangeReader, range_splits


class NumberSequenceSource(Source):
    """A bounded source of consecutive integers (PyFlink's ``NumberSequenceSource``).

    >>> env.from_source(NumberSequenceSource(1, 1000), WatermarkStrategy.no_watermarks(), "seq")
    """

    def __init__(self, start: int, end: int) -> None:
        if end < start:
            raise ValueError(f"NumberSequenceSource: end {end} is before start {start}")
        self.start = start
        self.end = end

    def is_bounded(self) -> bool:
        return True

    def output_type(self) -> Any:
        return Types.LONG()

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return range_splits("seq", self.start, self.end + 1, parallelism)

    def create_reader(self, splits: list[SourceSplit], subtask_index: int,
                      parallelism: int) -> SourceReader:
        return RangeReader(splits, lambda start, end: list(range(start, end)))
