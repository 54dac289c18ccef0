"""Key-group routing: the one place that maps a key to its key group and subtask."""

from __future__ import annotations

import pickle
import struct
from typing import Any

import mmh3

DEFAULT_MAX_PARALLELISM = 128


class UnhashableKeyError(TypeError):
    """A key selector returned a value that cannot be hashed stably."""


def key_hash(key: object) -> int:
    """Return a hash of ``key`` that is the same in every process (unlike ``hash``).

    >>> key_hash("alice") == key_hash("alice")
    True
    """
    t = type(key)
    if t is str:
        return mmh3.hash(key)
    if t is int or t is bool:
        return mmh3.hash(int(key).to_bytes(16, "little", signed=True))
    if t is bytes:
        return mmh3.hash(key)
    if t is float:
        if key.is_integer():
            return key_hash(int(key))
        return mmh3.hash(struct.pack("<d", key))
    if t is tuple:
        h = 17
        for part in key:
            h = (h * 31 + key_hash(part)) & 0xFFFFFFFF
        return h
    if key is None:
        return 0
    try:
        hash(key)
    except TypeError:
        raise UnhashableKeyError(
            f"key {_short(key)} of type {t.__name__} is not hashable; "
            "return a str, int, float, bytes or tuple of those from the key selector"
        ) from None
    return mmh3.hash(pickle.dumps(key, protocol=5))


def assign_key_group(key: object, max_parallelism: int) -> int:
    """Key group of ``key``: ``murmur3(key) % max_parallelism`` (Flink's rule)."""
    return (key_hash(key) & 0x7FFFFFFF) % max_parallelism


def operator_index_for_key_group(key_group: int, parallelism: int, max_parallelism: int) -> int:
    """Subtask that owns ``key_group``: ``key_group * parallelism // max_parallelism``."""
    return key_group * parallelism // max_parallelism


def key_group_range(subtask: int, parallelism: int, max_parallelism: int) -> range:
    """The contiguous key groups owned by ``subtask`` (inverse of the formula above)."""
    start = (subtask * max_parallelism + parallelism - 1) // parallelism
    end = ((subtask + 1) * max_parallelism + parallelism - 1) // parallelism
    return range(start, end)


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def assign_key_groups(columns: list, max_parallelism: int) -> Any:
    """Key group of every row of the Arrow arrays ``columns`` (the columnar ``assign_key_group``), a numpy array.

    A row's key is its value with one column, the tuple of its values with several, so a row lands in the key group
    ``assign_key_group`` gives its key. Each distinct value is hashed once per call.
    """
    import numpy as np

    if not columns:
        raise ValueError("assign_key_groups: give at least one key column")
    if len(columns) == 1:
        codes, uniques = _dictionary(columns[0])
        groups = np.array([assign_key_group(v, max_parallelism) for v in uniques] or [0], dtype=np.int64)
        return groups[codes]
    h = np.full(len(columns[0]), 17, dtype=np.int64)
    for column in columns:  # key_hash of a tuple, on whole columns
        codes, uniques = _dictionary(column)
        hashes = np.array([key_hash(v) for v in uniques] or [0], dtype=np.int64)
        h = (h * 31 + hashes[codes]) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % max_parallelism


def _dictionary(column: object) -> tuple:
    """(code per row, distinct Python values) of an Arrow array; None is one of the values."""
    import numpy as np
    import pyarrow as pa

    encoded = column.dictionary_encode() if not isinstance(column, pa.DictionaryArray) else column
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    uniques = encoded.dictionary.to_pylist()
    codes = encoded.indices
    if codes.null_count:
        uniques.append(None)
        codes = codes.fill_null(len(uniques) - 1)
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64), uniques
