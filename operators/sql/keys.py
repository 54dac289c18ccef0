"""The key of SQL's keyed operators: columns of a record batch, routed by key group on whole batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from rayflink.state.key_groups import assign_key_group, assign_key_groups


@dataclass(frozen=True)
class KeyColumns:
    """The key of a row: the value of its one key column, the tuple of several, ``()`` for none.

    A network edge whose key selector is a ``KeyColumns`` cuts each batch by the key group of
    its rows (``split_by_channel``) instead of calling the selector per record.
    """

    indices: tuple[int, ...]
    _groups: dict = field(default_factory=dict, compare=False, repr=False)  # key -> key group, one key column

    def key_groups_of(self, batch: pa.RecordBatch, max_parallelism: int) -> np.ndarray:
        """The key group of every row of ``batch``."""
        if not self.indices:
            return np.full(batch.num_rows, assign_key_group((), max_parallelism), dtype=np.int64)
        if len(self.indices) > 1:
            return assign_key_groups([batch.column(i) for i in self.indices], max_parallelism)
        encoded = batch.column(self.indices[0]).dictionary_encode()
        cache = self._groups
        if len(cache) > 100_000:
            cache.clear()
        groups = []
        for value in encoded.dictionary.to_pylist():
            group = cache.get(value)
            if group is None:
                group = cache[value] = assign_key_group(value, max_parallelism)
            groups.append(group)
        codes = encoded.indices
        if codes.null_count:
            groups.append(assign_key_group(None, max_parallelism))
            codes = codes.fill_null(len(groups) - 1)
        return np.array(groups, dtype=np.int64)[codes.to_numpy(zero_copy_only=False)]

    def key(self, values: list) -> Any:
        """The state key of a row whose key columns hold ``values``."""
        if len(self.indices) == 1:
            return values[0]
        return tuple(values)

    def split_by_channel(self, batch: pa.RecordBatch, channels: int,
                         max_parallelism: int) -> list[tuple[int, pa.RecordBatch]]:
        """``batch`` cut into one batch per receiving subtask: ``key_group * channels // max_parallelism``
        (the network's hash route calls this on a key selector that has it)."""
        if channels == 1:
            return [(0, batch)]
        targets = self.key_groups_of(batch, max_parallelism) * channels // max_parallelism
        order = np.argsort(targets, kind="stable")
        sorted_targets = targets[order]
        bounds = np.flatnonzero(np.diff(sorted_targets)) + 1
        taken = batch.take(pa.array(order))
        out = []
        start = 0
        for end in [*bounds.tolist(), len(order)]:
            if end > start:
                out.append((int(sorted_targets[start]), taken.slice(start, end - start)))
            start = end
        return out

    def __call__(self, record: Any) -> Any:
        raise TypeError("KeyColumns partitions whole record batches (split_by_channel); it has no per-record key")
