"""RocksDB checkpoints as database files: full or incremental uploads, and downloads back.

A RocksDB backend snapshots to a :class:`LocalRocksDBCheckpoint`: a native RocksDB checkpoint
(hard links of the immutable SST files plus MANIFEST, CURRENT, OPTIONS) in a local directory,
taken in milliseconds on the processing thread. The subtask's snapshot writer turns it, off
that thread, into

- a :class:`RocksDBCheckpointHandle` for a checkpoint (:func:`upload`). Full (the default):
  every file goes into the checkpoint's own directory. Incremental
  (``EmbeddedRocksDBStateBackend(incremental=True)``, ``state.backend.incremental: true``):
  SST and OPTIONS files the latest completed checkpoint already stored are referenced, the
  others are uploaded once under ``shared/``, MANIFEST and CURRENT under ``chk-<n>/``; the
  coordinator counts references to shared files and deletes those no retained checkpoint
  uses. Or
- a backend-independent ``KeyedStateSnapshot`` for a savepoint (savepoints are always full).

Restoring (:func:`download`) fetches a handle's files into a local directory that RocksDB
opens; restoring at another parallelism range-scans the key groups the new subtask owns.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayflink.checkpoint.storage import CheckpointStorage, FileSystemCheckpointStorage
from rayflink.state.backend import KeyedStateSnapshot, StateError

SHARED_DIR = "shared"
_TRANSFER_THREADS = 4


class LocalRocksDBCheckpoint(KeyedStateSnapshot):
    """A native RocksDB checkpoint of one subtask's database, not yet uploaded.

    It is a ``KeyedStateSnapshot`` whose ``states`` are read from the checkpoint directory
    on first use (and pickling it gives that full snapshot), so code that expects a full
    snapshot keeps working; the snapshot writer uploads its files instead.

    ``incremental`` says whether SST files go to ``shared/`` for later checkpoints to reuse.
    ``db_id`` names the database instance (its SST file names are unique only within it);
    ``restored`` is ``(storage uri, {sst name: shared relpath})`` when the database was
    restored from an incremental checkpoint, so its files need no upload into that storage.
    ``read`` turns the directory into the full snapshot: the backend that took the checkpoint
    supplies it (``rayflink.state.rocksdb`` depends on this module, never the other way).
    """

    def __init__(self, operator_uid: str, max_parallelism: int, key_groups: range, directory: str,
                 sst_files: list[str], db_id: str, read: Callable[[], KeyedStateSnapshot],
                 incremental: bool = True, restored: tuple[str, dict[str, str]] | None = None) -> None:
        self.operator_uid = operator_uid
        self.max_parallelism = max_parallelism
        self.key_groups_owned = key_groups
        self.directory = directory
        self.sst_files = sst_files
        self.db_id = db_id
        self.incremental = incremental
        self.restored = restored
        self._read = read
        self._full: KeyedStateSnapshot | None = None

    @property
    def states(self) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        return self.to_keyed_snapshot().states

    def __reduce__(self) -> Any:
        return (KeyedStateSnapshot, (self.operator_uid, self.max_parallelism, self.states))

    def __repr__(self) -> str:
        return (f"LocalRocksDBCheckpoint({self.operator_uid!r}, key groups {self.key_groups_owned.start}-"
                f"{self.key_groups_owned.stop - 1}, {self.directory!r})")

    def discard(self) -> None:
        """Delete the local checkpoint directory (its SST files are hard links: the DB keeps its own)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def to_keyed_snapshot(self) -> KeyedStateSnapshot:
        """The backend-independent snapshot of this checkpoint (for savepoints)."""
        if self._full is None:
            self._full = self._read()
        return self._full


@dataclass(frozen=True)
class RocksDBCheckpointHandle:
    """Where one subtask's RocksDB checkpoint files live in checkpoint storage.

    ``shared`` maps SST and OPTIONS file names of the database to relpaths under ``shared/``
    (files that several incremental checkpoints may use); ``private`` maps the other file names
    (MANIFEST, CURRENT, and every file of a full checkpoint) to relpaths inside this
    checkpoint's directory. ``uploaded_bytes`` is
    what this checkpoint wrote, ``full_bytes`` what the database's files add up to.

    ``storage_options`` (``s3.endpoint``, credentials, ...) say how to reach ``uri`` from here:
    the job restoring the handle sets them from its own configuration (``load_states``); they
    are never stored with the handle.
    """

    operator_uid: str
    max_parallelism: int
    key_groups: range
    uri: str
    db_id: str
    shared: dict[str, str]
    private: dict[str, str]
    uploaded_bytes: int
    full_bytes: int
    storage_options: dict = field(default_factory=dict, compare=False, repr=False)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "storage_options"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__["storage_options"] = {}

    def shared_paths(self) -> list[str]:
        return sorted(self.shared.values())

    @property
    def states(self) -> dict:
        """Only a RocksDB backend reads these files; another backend asking for entries is told why."""
        raise StateError(
            f"operator {self.operator_uid!r}: the checkpoint at {self.uri} holds RocksDB database files, "
            "which only the RocksDB state backend restores; to change the state backend, restore from a "
            "savepoint (backend-independent) instead")


def upload(local: LocalRocksDBCheckpoint, storage: CheckpointStorage, private_dir: str,
           known: dict[str, str], written: list[str] | None = None) -> RocksDBCheckpointHandle:
    """Upload ``local`` into ``storage``. Incremental: SST and OPTIONS files not in ``known``
    (file name -> shared relpath already stored by a completed checkpoint) go to ``shared/``,
    the other files to ``private_dir``; full: every file to ``private_dir``. Returns the
    handle listing every file the checkpoint uses. Each file stored is appended to ``written``
    as soon as it is, so the caller can delete what a checkpoint that fails part-way left behind."""
    shared: dict[str, str] = {}
    private: dict[str, str] = {}
    jobs: list[tuple[str, str]] = []
    full = 0
    for name in sorted(os.listdir(local.directory)):
        path = os.path.join(local.directory, name)
        if not os.path.isfile(path):
            continue
        size = os.path.getsize(path)
        full += size
        if local.incremental and _immutable(name):
            if name in known:
                shared[name] = known[name]
                continue
            rel = shared[name] = f"{SHARED_DIR}/{uuid.uuid4().hex}-{name}"
        else:
            rel = private[name] = f"{private_dir}/{name}"
        jobs.append((path, rel))
    uploaded = sum(os.path.getsize(p) for p, _ in jobs)
    done = written if written is not None else []

    def put(job: tuple[str, str]) -> None:
        storage.upload_file(job[0], job[1])
        done.append(job[1])  # list.append is atomic: the transfer threads may share the list

    _parallel(put, jobs)
    return RocksDBCheckpointHandle(local.operator_uid, local.max_parallelism, local.key_groups_owned,
                                    storage.uri, local.db_id, shared, private, uploaded, full)


def _immutable(name: str) -> bool:
    """Whether a database file never changes once written, so checkpoints can share it: SST
    files, and OPTIONS files (tens of kB per column family; a new one is written on change)."""
    return name.endswith(".sst") or name.startswith("OPTIONS-")


def download(handle: RocksDBCheckpointHandle, directory: str) -> None:
    """Fetch every file of ``handle`` into ``directory`` (created; must not hold another DB).

    From a ``file://`` storage on the same filesystem SST files are hard-linked (they are
    immutable), everything else is copied.
    """
    os.makedirs(directory, exist_ok=True)
    storage = CheckpointStorage.from_uri(handle.uri, handle.storage_options)
    files = [(rel, os.path.join(directory, name))
             for name, rel in [*handle.shared.items(), *handle.private.items()]]

    def fetch(job: tuple[str, str]) -> None:
        rel, dest = job
        if isinstance(storage, FileSystemCheckpointStorage) and dest.endswith(".sst"):
            try:
                os.link(Path(storage.root, rel), dest)
                return
            except OSError:
                pass  # another filesystem: copy
        storage.download_file(rel, dest)

    _parallel(fetch, files)


def _parallel(fn: Any, jobs: list) -> None:
    if len(jobs) <= 1:
        for job in jobs:
            fn(job)
        return
    with ThreadPoolExecutor(max_workers=min(_TRANSFER_THREADS, len(jobs))) as pool:
        for _ in pool.map(fn, jobs):
            pass


def local_checkpoints_in(states: dict[str, Any]) -> list[tuple[Any, Any, LocalRocksDBCheckpoint]]:
    """``(container, key, local checkpoint)`` for every local RocksDB checkpoint in a subtask's
    operator states (``uid -> state`` where a state is a snapshot or a dict holding one)."""
    found = []
    for uid, state in states.items():
        if isinstance(state, LocalRocksDBCheckpoint):
            found.append((states, uid, state))
        elif isinstance(state, dict):
            found.extend((state, k, v) for k, v in state.items() if isinstance(v, LocalRocksDBCheckpoint))
    return found
