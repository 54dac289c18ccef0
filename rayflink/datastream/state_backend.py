"""PyFlink's ``pyflink.datastream.state_backend``: which keyed state backend a job uses.

Configuration only: ``create_keyed_state_backend`` builds the runtime backend from
``rayflink.state`` for one operator subtask.

>>> backend = state_backend_from_config({"state.backend.type": "rocksdb",
...                                      "state.backend.rocksdb.memory.fixed-per-slot": "256mb"})
>>> backend.fixed_memory_per_slot
268435456
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rayflink.common import config_options as options
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
    db_storage_paths: tuple[str, ...] = ()  # local directories the databases go to (default: the task's)

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

    def set_db_storage_paths(self, *paths: str) -> None:
        """Local directories (``/data/rocksdb`` or ``file:///data/rocksdb``) the subtasks' databases
        go to, spread over them by operator and key groups (several disks share the load); no
        path resets to the task's working directory.

        >>> backend = EmbeddedRocksDBStateBackend()
        >>> backend.set_db_storage_paths("file:///mnt/disk1/rocksdb", "/mnt/disk2/rocksdb")
        >>> backend.get_db_storage_paths()
        ['/mnt/disk1/rocksdb', '/mnt/disk2/rocksdb']
        """
        local = []
        for path in paths:
            text = str(path)
            if text.startswith("file://"):
                text = text[len("file://"):]
            if "://" in text or not os.path.isabs(text):
                raise ValueError(f"set_db_storage_paths(): {path!r} is not an absolute local path "
                                 "(RocksDB works on local disks)")
            local.append(text)
        self.db_storage_paths = tuple(local)

    def get_db_storage_paths(self) -> list[str]:
        return list(self.db_storage_paths)

    def create_keyed_state_backend(self, *, operator_uid: str, max_parallelism: int,
                                   key_groups: range, working_dir: str,
                                   ttl_time_provider: Callable[[], int] | None = None
                                   ) -> KeyedStateBackend:
        from rayflink.state.rocksdb import RocksDBKeyedStateBackend
        high_mem = self.predefined_options is PredefinedOptions.SPINNING_DISK_OPTIMIZED_HIGH_MEM
        if self.db_storage_paths:  # one of them, by operator and key groups; a directory of this task's own
            paths = self.db_storage_paths
            root = paths[zlib.crc32(f"{operator_uid}/{key_groups.start}".encode()) % len(paths)]
            working_dir = os.path.join(root, "rayflink-" + hashlib.sha1(working_dir.encode()).hexdigest()[:16])
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


def state_backend_from_config(config: dict[str, Any]) -> StateBackend:
    """The state backend of a Flink-style configuration.

    Reads ``state.backend.type`` (``hashmap`` (default) or ``rocksdb``; ``filesystem``
    and ``jobmanager`` mean hashmap, as in Flink), ``state.backend.incremental``,
    ``state.backend.rocksdb.block.cache-size``, ``state.backend.rocksdb.writebuffer.size``,
    ``state.backend.rocksdb.memory.fixed-per-slot``, ``state.backend.rocksdb.cache.max-entries``
    and ``state.backend.rocksdb.compaction.style``.
    """
    kind = options.get(config, options.STATE_BACKEND_TYPE)
    if kind == "hashmap":
        return HashMapStateBackend()
    return EmbeddedRocksDBStateBackend(
        incremental=options.get(config, options.STATE_BACKEND_INCREMENTAL),
        block_cache_size=options.get(config, options.ROCKSDB_BLOCK_CACHE_SIZE),
        write_buffer_size=options.get(config, options.ROCKSDB_WRITE_BUFFER_SIZE),
        fixed_memory_per_slot=options.get(config, options.ROCKSDB_FIXED_MEMORY_PER_SLOT),
        cache_max_entries=options.get(config, options.ROCKSDB_CACHE_MAX_ENTRIES),
        compaction_style=options.get(config, options.ROCKSDB_COMPACTION_STYLE))
