"""PyFlink's ``pyflink.datastream.state_backend``: which keyed state backend a job uses.

Configuration only: ``create_keyed_state_backend`` builds the runtime backend from
``rayflink.state`` for one operator subtask.

>>> backend = state_backend_from_config({"state.backend.type": "rocksdb",
...                                      "state.backend.rocksdb.memory.fixed-per-slot": "256mb"})
>>> backend.fixed_memory_per_slot
268435456
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from rayflink.state.backend import KeyedStateBackend

__all__ = ["StateBackend", "HashMapStateBackend", "EmbeddedRocksDBStateBackend", "PredefinedOptions",
           "state_backend_from_config"]


class StateBackend:
    """Base of the state backend configurations (``env.set_state_backend(...)``)."""

    def create_keyed_state_backend(self, *, operator_uid: str, max_parallelism: int,
                                   key_groups: range, working_dir: str,
                                   ttl_time_provider: Callable[[], int] | None = None
                                   ) -> KeyedStateBackend:
        raise NotImplementedError


@dataclass(frozen=True)
class HashMapStateBackend(StateBackend):
    """Keyed state as Python objects in dicts: fastest, bounded by memory.

    >>> env_backend = HashMapStateBackend()
    """

    def create_keyed_state_backend(self, *, operator_uid: str, max_parallelism: int,
                                   key_groups: range, working_dir: str,
                                   ttl_time_provider: Callable[[], int] | None = None
                                   ) -> KeyedStateBackend:
        from rayflink.state.heap import HeapKeyedStateBackend
        return HeapKeyedStateBackend(operator_uid=operator_uid, max_parallelism=max_parallelism,
                                     key_groups=key_groups, ttl_time_provider=ttl_time_provider)


class PredefinedOptions(Enum):
    """Flink's RocksDB tuning profiles. rayflink applies what its RocksDB settings express:
    ``SPINNING_DISK_OPTIMIZED_HIGH_MEM`` gives a 256 MB block cache and 64 MB write buffers
    (unless set explicitly); the others keep rayflink's defaults (their thread and file-handle
    tunings are not exposed by rocksdict)."""

    DEFAULT = 0
    SPINNING_DISK_OPTIMIZED = 1
    SPINNING_DISK_OPTIMIZED_HIGH_MEM = 2
    FLASH_SSD_OPTIMIZED = 3


@dataclass
class EmbeddedRocksDBStateBackend(StateBackend):
    """Keyed state in an embedded RocksDB per subtask: state larger than memory.

    Memory: ``fixed_memory_per_slot`` (``state.backend.rocksdb.memory.fixed-per-slot``)
    bounds block cache and memtables together; otherwise ``block_cache_size``
    (``state.backend.rocksdb.block.cache-size``) and ``write_buffer_size``
    (``state.backend.rocksdb.writebuffer.size``) apply. ``cache_max_entries``
    (``state.backend.rocksdb.cache.max-entries``, rayflink's own) bounds the Python
    write-back cache per state. ``compaction_style`` (``state.backend.rocksdb.compaction.style``):
    ``LEVEL`` (default) or ``UNIVERSAL``. With ``incremental`` the state is split into 32
    partitions (column families, which share ``write_buffer_size``) compacted one after each
    checkpoint, so that a checkpoint uploads what changed plus 1/32 of the state
    (``rayflink.state.rocksdb``'s docstring).

    >>> EmbeddedRocksDBStateBackend(incremental=True).is_incremental_checkpoints_enabled()
    True
    """

    incremental: bool = False
    block_cache_size: int | None = None
    write_buffer_size: int | None = None
    fixed_memory_per_slot: int | None = None
    cache_max_entries: int = 100_000
    compaction_style: str = "LEVEL"
    predefined_options: PredefinedOptions = PredefinedOptions.DEFAULT

    def __post_init__(self) -> None:
        if str(self.compaction_style).upper() not in ("LEVEL", "UNIVERSAL"):
            raise ValueError(f"state.backend.rocksdb.compaction.style: {self.compaction_style!r} is not "
                             "supported; use 'LEVEL' or 'UNIVERSAL'")

    def is_incremental_checkpoints_enabled(self) -> bool:
        return self.incremental

    def set_predefined_options(self, options: PredefinedOptions) -> None:
        """Choose a tuning profile (see ``PredefinedOptions``)."""
        if not isinstance(options, PredefinedOptions):
            raise ValueError(f"set_predefined_options(): expected a PredefinedOptions member, got {options!r:.80}")
        self.predefined_options = options

    def get_predefined_options(self) -> PredefinedOptions:
        return self.predefined_options

    def create_keyed_state_backend(self, *, operator_uid: str, max_parallelism: int,
                                   key_groups: range, working_dir: str,
                                   ttl_time_provider: Callable[[], int] | None = None
                                   ) -> KeyedStateBackend:
        from rayflink.state.rocksdb import RocksDBKeyedStateBackend
        high_mem = self.predefined_options is PredefinedOptions.SPINNING_DISK_OPTIMIZED_HIGH_MEM
        return RocksDBKeyedStateBackend(
            operator_uid=operator_uid, max_parallelism=max_parallelism, key_groups=key_groups,
            working_dir=working_dir, ttl_time_provider=ttl_time_provider,
            block_cache_size=self.block_cache_size if self.block_cache_size is not None or not high_mem
            else 256 << 20,
            write_buffer_size=self.write_buffer_size if self.write_buffer_size is not None or not high_mem
            else 64 << 20,
            fixed_memory_per_slot=self.fixed_memory_per_slot,
            cache_max_entries=self.cache_max_entries, incremental=self.incremental,
            native_snapshots=True,  # checkpoints upload database files; savepoints stay full
            compaction_style=str(self.compaction_style).upper())


_UNITS = {"": 1, "b": 1, "bytes": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
          "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_memory_size(value: Any, option: str = "memory size") -> int:
    """Bytes of a Flink memory size: ``268435456``, ``"256mb"``, ``"64 kb"``, ``"1g"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{option}: cannot read {value!r} as a memory size; "
                         "write e.g. 268435456, '256mb' or '1gb'")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def state_backend_from_config(config: dict[str, Any]) -> StateBackend:
    """The state backend of a Flink-style configuration.

    Reads ``state.backend.type`` (``hashmap`` (default) or ``rocksdb``; ``filesystem``
    and ``jobmanager`` mean hashmap, as in Flink), ``state.backend.incremental``,
    ``state.backend.rocksdb.block.cache-size``, ``state.backend.rocksdb.writebuffer.size``,
    ``state.backend.rocksdb.memory.fixed-per-slot``, ``state.backend.rocksdb.cache.max-entries``
    and ``state.backend.rocksdb.compaction.style``.
    """
    kind = str(config.get("state.backend.type", config.get("state.backend", "hashmap"))).lower()
    if kind in ("hashmap", "filesystem", "jobmanager"):
        return HashMapStateBackend()
    if kind in ("rocksdb", "embeddedrocksdb"):
        def size(option: str) -> int | None:
            v = config.get(option)
            return None if v is None else parse_memory_size(v, option)
        return EmbeddedRocksDBStateBackend(
            incremental=_bool(config.get("state.backend.incremental", False)),
            block_cache_size=size("state.backend.rocksdb.block.cache-size"),
            write_buffer_size=size("state.backend.rocksdb.writebuffer.size"),
            fixed_memory_per_slot=size("state.backend.rocksdb.memory.fixed-per-slot"),
            cache_max_entries=int(config.get("state.backend.rocksdb.cache.max-entries", 100_000)),
            compaction_style=str(config.get("state.backend.rocksdb.compaction.style", "LEVEL")))
    raise ValueError(f"state.backend.type: unknown state backend {kind!r}; "
                     "use 'hashmap' or 'rocksdb'")
