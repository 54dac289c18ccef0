"""A bounded source over an in-memory collection (``env.from_collection``).

Built into the core, with ``NumberSequenceSource``, as Flink keeps its built-in sources in
flink-core: the environment offers them, so they cannot live with the connectors above it.
"""

from __future__ import annotations

from typing import Any

from rayflink.datastream.connectors.base import Source, SourceReader, SourceSplit
from rayflink.datastream.connectors.ranges import RangeReader, range_splits


class CollectionSource(Source):
    """Emits the elements of a list, split into contiguous ranges across subtasks."""

    def __init__(self, elements: list, type_info: Any = None) -> None:
        self._elements = list(elements)
        self._type_info = type_info

    def is_bounded(self) -> bool:
        return True

    def output_type(self) -> Any:
        return self._type_info

    def create_splits(self, parallelism: int) -> list[SourceSplit]:
        return range_splits("collection", 0, len(self._elements), parallelism)

    def create_reader(self, splits: list[SourceSplit], subtask_index: int,
                      parallelism: int) -> SourceReader:
        elements = self._elements
        return RangeReader(splits, lambda start, end: elements[start:end])
