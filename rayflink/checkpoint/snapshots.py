"""A subtask's side of a checkpoint: snapshot its chain, write it asynchronously, acknowledge.

A subtask's snapshot file (``chk-N/<task>.state``, ``savepoint/<task>.state``) holds its
operators' states, for a source subtask its splits with their positions, and for an unaligned
checkpoint the records that were in flight to it (``in_flight``, listed under its head
operator's uid): user objects, pickled. They are unpickled only here, in the subtask that
restores them (``load_states``, ``load_source_splits``, ``load_in_flight``), never in the job
manager, which reads nothing but the JSON metadata (``rayflink.checkpoint.metadata``). Whoever
can write the checkpoint storage can therefore run code in the task executors when a job
restores from it: the storage must be trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import cloudpickle  # state may hold instances of user classes shipped by value

from rayflink.checkpoint.rocksdb_files import (
    LocalRocksDBCheckpoint,
    RocksDBCheckpointHandle,
    local_checkpoints_in,
    upload,
)
from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.errors import RayflinkError
from rayflink.runtime.channel_state import InFlight
from rayflink.runtime.messages import CheckpointBarrier
from rayflink.state.backend import StateMigrationError


class SnapshotWriter:
    """Serializes and uploads snapshots on a background thread; reports acks and declines.

    Incremental RocksDB checkpoints in the states are uploaded file by file: SST files stored
    by the latest checkpoint this writer saw complete are referenced, not uploaded again (so
    files of a checkpoint that never completes are never used by another one).

    What a checkpoint that fails stored is deleted: at once when its own upload fails (the
    writer declines), and when the coordinator aborts it (``notify_checkpoint_aborted``),
    after its upload if that is still running. ``storage_options`` (``s3.endpoint``, ...,
    see ``storage_options``) open every storage the writer uses.
    """

    def __init__(self, task_name: str, file_stem: str, checkpoint_uri: str | None,
                 ack: Callable[[int, dict], None], decline: Callable[[int, str], None],
                 storage_options: Mapping[str, Any] | None = None) -> None:
        self.task_name = task_name
        self.file_stem = file_stem
        self.checkpoint_uri = checkpoint_uri
        self.ack = ack
        self.decline = decline
        self.storage_options = dict(storage_options or {})
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"snapshot-{file_stem}")
        self._storages: dict[str, CheckpointStorage] = {}
        self._lock = threading.Lock()
        # database id -> {sst name: shared relpath} of the latest completed checkpoint, and of
        # checkpoints uploaded but not yet known complete (checkpoint id -> database id -> files)
        self._confirmed: dict[str, dict[str, str]] = {}
        self._uploaded: dict[int, dict[str, dict[str, str]]] = {}
        # checkpoint id -> (storage, files it stored) until it completes or is aborted; the
        # checkpoints being uploaded, and those of them aborted meanwhile
        self._written: dict[int, tuple[CheckpointStorage, list[str]]] = {}
        self._in_progress: set[int] = set()
        self._aborted: set[int] = set()

    def _storage(self, uri: str) -> CheckpointStorage:
        with self._lock:
            if uri not in self._storages:
                self._storages[uri] = CheckpointStorage.from_uri(uri, self.storage_options)
            return self._storages[uri]

    def write(self, barrier: CheckpointBarrier, states: dict[str, Any], extra: dict,
              alignment_ms: float, sync_ms: float, in_flight: InFlight | None = None) -> None:
        """Upload ``states`` (operator uid -> state) for ``barrier`` and acknowledge when durable.

        ``extra`` goes into the ack, except ``source_splits`` (source uid -> its splits), which
        are stored in the snapshot file with the states and acknowledged by split id.
        ``in_flight`` (an unaligned checkpoint): the upload waits for its records and stores
        them too; the checkpoint is declined if they never come (it was given up).

        The states are serialized here, in the caller's thread, before it goes on: they hold
        live objects (a ``ValueState``'s value, an aggregate's accumulator) that the subtask
        changes in place after the barrier, and what is stored must be what they were at the
        barrier. Only local RocksDB checkpoints, immutable files, are left to the upload."""
        start = time.perf_counter()
        try:
            states = {uid: _freeze(state) for uid, state in states.items()}
            if "source_splits" in extra:
                extra = {**extra, "source_splits": pickle.loads(cloudpickle.dumps(extra["source_splits"], protocol=5))}
        except Exception as exc:  # noqa: BLE001 - a state that cannot be serialized declines the checkpoint
            for _, _, local in local_checkpoints_in(states):
                local.discard()
            self.decline(barrier.checkpoint_id, f"{self.task_name}: cannot serialize its snapshot: "
                                                f"{type(exc).__name__}: {exc}")
            return
        sync_ms += (time.perf_counter() - start) * 1000
        with self._lock:
            self._in_progress.add(barrier.checkpoint_id)
        self._pool.submit(self._upload, barrier, states, extra, alignment_ms, sync_ms, in_flight)

    def _upload(self, barrier: CheckpointBarrier, states: dict, extra: dict, alignment_ms: float,
                sync_ms: float, in_flight: InFlight | None) -> None:
        start = time.perf_counter()
        cid = barrier.checkpoint_id
        uri = barrier.savepoint_uri or self.checkpoint_uri
        directory = "savepoint" if barrier.savepoint_uri else f"chk-{cid}"
        relpath = f"{directory}/{self.file_stem}.state"
        locals_ = local_checkpoints_in(states)
        with self._lock:
            if cid in self._aborted:  # aborted while it waited for an earlier upload: nothing to store
                self._in_progress.discard(cid)
                self._aborted.discard(cid)
                self._uploaded.pop(cid, None)
                for _, _, local in locals_:
                    local.discard()
                return
        info: dict = {}
        written: list[str] = []  # what this checkpoint stored, deleted again if it fails
        storage = None
        try:
            if uri is None:
                raise RuntimeError("no checkpoint storage configured (state.checkpoints.dir)")
            storage = self._storage(uri)
            if locals_:
                states = self._resolve_local(states, locals_, storage, f"{directory}/{self.file_stem}",
                                             cid, savepoint=barrier.savepoint_uri is not None, info=info,
                                             written=written)
            splits = extra.get("source_splits", {})
            channel_state = {}
            if in_flight is not None:
                # the input side once the barriers of every channel arrived
                records = [] if in_flight.records is None else in_flight.records.result()
                output = in_flight.output
                info.update(unaligned=True, persisted_data_bytes=sum(len(data) for _, data in records)
                            + sum(len(data) for _, _, data in output))
                if records or output:
                    channel_state[in_flight.uid] = {"subtask": in_flight.subtask, "parallelism": in_flight.parallelism,
                                                    "records": records, "output": output}
            data = cloudpickle.dumps({"states": states, "source_splits": splits, "in_flight": channel_state},
                                     protocol=5)
            storage.write_bytes(relpath, data)
            written.append(relpath)
        except Exception as exc:  # noqa: BLE001 - a failed upload declines the checkpoint, naming why
            with self._lock:
                self._uploaded.pop(cid, None)
                self._in_progress.discard(cid)
                self._aborted.discard(cid)
            self.decline(cid, f"{self.task_name}: cannot write its snapshot: {type(exc).__name__}: {exc}")
            if storage is not None:
                _delete(storage, written)
            return
        finally:
            for _, _, local in locals_:
                local.discard()
        with self._lock:
            self._in_progress.discard(cid)
            aborted = cid in self._aborted
            self._aborted.discard(cid)
            if aborted:
                self._uploaded.pop(cid, None)
            else:
                self._written[cid] = (storage, written)
        if aborted:  # the coordinator gave up on it while it uploaded: nobody will use these files
            _delete(storage, written)
            return
        size = len(data) + info.get("uploaded_bytes", 0)
        self.ack(cid, {"uri": uri, "relpath": relpath, "uids": sorted({*states, *channel_state}), "size": size,
                       "alignment_ms": alignment_ms, "sync_ms": sync_ms,
                       "async_ms": (time.perf_counter() - start) * 1000, **info, **extra,
                       "source_splits": {uid: [s.split_id for s in ss] for uid, ss in splits.items()}})

    def _resolve_local(self, states: dict, locals_: list, storage: CheckpointStorage, private_dir: str,
                       cid: int, savepoint: bool, info: dict, written: list[str]) -> dict:
        """Replace local RocksDB checkpoints in ``states``: full snapshots for a savepoint,
        uploaded handles for a checkpoint (``info`` gets the shared and private files and the
        sizes; ``written`` every file stored, as it is)."""
        states = {uid: dict(s) if isinstance(s, dict) else s for uid, s in states.items()}
        locals_ = local_checkpoints_in(states)  # the same checkpoints, in the copied dicts
        shared: list[str] = []
        reused: list[str] = []
        private: list[str] = []
        uploaded = full = 0
        files: dict[str, dict[str, str]] = {}
        for target, key, local in locals_:
            if savepoint:
                target[key] = local.to_keyed_snapshot()
                continue
            with self._lock:
                known = self._confirmed.get(local.db_id)
            if known is None and local.restored is not None and local.restored[0] == storage.uri:
                known = local.restored[1]  # the files of the checkpoint the database came from
            handle = upload(local, storage, f"{private_dir}/{_safe(local.operator_uid)}", known or {}, written)
            target[key] = handle
            files[local.db_id] = dict(handle.shared)
            shared.extend(handle.shared.values())
            private.extend(handle.private.values())
            reused.extend(rel for name, rel in handle.shared.items() if (known or {}).get(name) == rel)
            uploaded += handle.uploaded_bytes
            full += handle.full_bytes
        if not savepoint:
            with self._lock:
                self._uploaded[cid] = files
            info.update({"shared": sorted(shared), "reused_shared": sorted(reused), "private": sorted(private),
                         "uploaded_bytes": uploaded, "full_bytes": full})
        return states

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` completed: its shared files may be referenced from now on."""
        with self._lock:
            files = self._uploaded.get(checkpoint_id)
            for cid in [c for c in self._uploaded if c <= checkpoint_id]:
                del self._uploaded[cid]
            for cid in [c for c in self._written if c <= checkpoint_id]:
                del self._written[cid]  # an older one left is failed: the coordinator deletes its files
            if files is not None:
                self._confirmed.update(files)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` failed: delete what this writer stored for it (at once,
        or when its upload, still running, ends; then it does not acknowledge)."""
        with self._lock:
            self._uploaded.pop(checkpoint_id, None)
            if checkpoint_id in self._in_progress:
                self._aborted.add(checkpoint_id)
                return
            entry = self._written.pop(checkpoint_id, None)
        if entry is not None:
            # closed (RuntimeError): the subtask ended, and the coordinator deletes acked files
            with contextlib.suppress(RuntimeError):
                self._pool.submit(_delete, *entry)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _delete(storage: CheckpointStorage, relpaths: list[str]) -> None:
    """Delete the files a failed checkpoint stored (best effort: leftovers must not fail the job)."""
    for relpath in relpaths:
        try:
            storage.delete(relpath)
        except Exception:  # noqa: BLE001 - an unreachable storage keeps its leftovers
            pass


def _safe(uid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in uid) or "operator"


def load_states(restore: dict[str, list[tuple[str, str]]],
                storage_options: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """Read the snapshot files named in ``restore``: operator uid -> its states from every old subtask.

    ``storage_options`` (the restoring job's ``s3.*`` options) open the storages, and go to
    the RocksDB checkpoint handles in the states, which download their files with them.
    """
    options = dict(storage_options or {})
    files = _SnapshotFiles(options)
    out: dict[str, list[Any]] = {}
    for uid, locations in restore.items():
        for uri, relpath in locations:
            state = _thaw(files.read(uri, relpath)["states"].get(uid))
            if state is not None:
                out.setdefault(uid, []).append(_with_options(state, options))
    return out


def load_in_flight(locations: list[tuple[str, str]], uid: str, subtask: int, parallelism: int,
                   storage_options: Mapping[str, Any] | None = None
                   ) -> tuple[list[tuple[int, bytes]], list[tuple[int, int, bytes]]]:
    """The in-flight records an unaligned checkpoint stored for subtask ``subtask`` of the task
    whose head operator is ``uid``, from the snapshot files ``locations`` (every old subtask's
    file holding ``uid``): those to its inputs, ``[(input index, pickled batch)]``, to replay
    before new input, and those its barriers overtook in its output buffers, ``[(writer index,
    channel index, pickled batch)]``, to send again before anything else.

    Raises ``StateMigrationError`` when the parallelism changed: in-flight records are not
    redistributed (restore at the same parallelism, or from a savepoint, which is aligned)."""
    files = _SnapshotFiles(dict(storage_options or {}))
    records: list[tuple[int, bytes]] = []
    output: list[tuple[int, int, bytes]] = []
    for uri, relpath in locations:
        state = files.read(uri, relpath).get("in_flight", {}).get(uid)
        if state is None:
            continue
        if state["parallelism"] != parallelism:
            raise StateMigrationError(
                f"operator {uid!r}: the unaligned checkpoint {uri}/{relpath} holds records in flight to "
                f"subtask {state['subtask'] + 1}/{state['parallelism']}, which cannot be restored at parallelism "
                f"{parallelism}; restore at parallelism {state['parallelism']}, or from a savepoint (always aligned)")
        if state["subtask"] == subtask:
            records.extend(state["records"])
            output.extend(state["output"])
    return records, output


def load_source_splits(refs: list[list[str]], storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The source splits ``refs`` names (``[split id, storage uri, relpath]`` from a checkpoint's
    metadata), read from the snapshot files of the subtasks that checkpointed them: split id ->
    ``SourceSplit`` with its position, in the order of ``refs``."""
    files = _SnapshotFiles(dict(storage_options or {}))
    out: dict[str, Any] = {}
    for split_id, uri, relpath in refs:
        found = {s.split_id: s for ss in files.read(uri, relpath)["source_splits"].values() for s in ss}
        if split_id not in found:
            raise RayflinkError(f"the snapshot file {uri}/{relpath} does not hold source split {split_id!r} "
                               "that the checkpoint metadata names; the checkpoint is damaged")
        out[split_id] = found[split_id]
    return out


class _SnapshotFiles:
    """Reads (and keeps) the snapshot files a restore needs, each once."""

    def __init__(self, options: dict) -> None:
        self.options = options
        self.storages: dict[str, CheckpointStorage] = {}
        self.files: dict[tuple[str, str], dict] = {}

    def read(self, uri: str, relpath: str) -> dict:
        if (uri, relpath) not in self.files:
            if uri not in self.storages:
                self.storages[uri] = CheckpointStorage.from_uri(uri, self.options)
            # a state payload (user objects): trusted as the storage is (see the module docstring)
            self.files[(uri, relpath)] = pickle.loads(self.storages[uri].read_bytes(relpath))
        return self.files[(uri, relpath)]


@dataclasses.dataclass(frozen=True)
class _Frozen:
    """An operator's state as it was at the barrier: its pickle, taken in the subtask's thread."""

    data: bytes


def _freeze(state: Any) -> Any:
    """``state`` serialized now, but for local RocksDB checkpoints (as the state, or as values of
    the state's dict), which the upload turns into file handles."""
    if isinstance(state, LocalRocksDBCheckpoint):
        return state
    if isinstance(state, dict) and any(isinstance(v, LocalRocksDBCheckpoint) for v in state.values()):
        return {k: _freeze(v) for k, v in state.items()}
    return _Frozen(cloudpickle.dumps(state, protocol=5))


def _thaw(state: Any) -> Any:
    if isinstance(state, _Frozen):
        return pickle.loads(state.data)  # trusted as the storage is (see the module docstring)
    if isinstance(state, dict) and any(isinstance(v, _Frozen) for v in state.values()):
        return {k: _thaw(v) for k, v in state.items()}
    return state


def _with_options(state: Any, options: dict) -> Any:
    """``state`` with the RocksDB checkpoint handles in it (as a state, or in a state's dict)
    given the storage options to download their files with."""
    if isinstance(state, RocksDBCheckpointHandle):
        return dataclasses.replace(state, storage_options=options)
    if isinstance(state, dict) and any(isinstance(v, RocksDBCheckpointHandle) for v in state.values()):
        return {k: _with_options(v, options) if isinstance(v, RocksDBCheckpointHandle) else v
                for k, v in state.items()}
    return state
