"""A subtask's side of a checkpoint: snapshot its chain, write it asynchronously, acknowledge."""

from __future__ import annotations

import pickle

from ray import cloudpickle  # state may hold instances of user classes shipped by value
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.runtime.messages import CheckpointBarrier


class SnapshotWriter:
    """Serializes and uploads snapshots on a background thread; reports acks and declines."""

    def __init__(self, task_name: str, file_stem: str, checkpoint_uri: str | None,
                 ack: Callable[[int, dict], None], decline: Callable[[int, str], None]) -> None:
        self.task_name = task_name
        self.file_stem = file_stem
        self.checkpoint_uri = checkpoint_uri
        self.ack = ack
        self.decline = decline
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"snapshot-{file_stem}")
        self._storages: dict[str, CheckpointStorage] = {}
        self._lock = threading.Lock()

    def _storage(self, uri: str) -> CheckpointStorage:
        with self._lock:
            if uri not in self._storages:
                self._storages[uri] = CheckpointStorage.from_uri(uri)
            return self._storages[uri]

    def write(self, barrier: CheckpointBarrier, states: dict[str, Any], extra: dict,
              alignment_ms: float, sync_ms: float) -> None:
        """Upload ``states`` (operator uid -> state) for ``barrier`` and acknowledge when durable."""
        self._pool.submit(self._upload, barrier, states, extra, alignment_ms, sync_ms)

    def _upload(self, barrier: CheckpointBarrier, states: dict, extra: dict, alignment_ms: float,
                sync_ms: float) -> None:
        start = time.perf_counter()
        cid = barrier.checkpoint_id
        uri = barrier.savepoint_uri or self.checkpoint_uri
        relpath = f"{'savepoint' if barrier.savepoint_uri else f'chk-{cid}'}/{self.file_stem}.state"
        try:
            data = cloudpickle.dumps(states, protocol=5)
            if uri is None:
                raise RuntimeError("no checkpoint storage configured (state.checkpoints.dir)")
            self._storage(uri).write_bytes(relpath, data)
        except Exception as exc:  # noqa: BLE001 - a failed upload declines the checkpoint, naming why
            self.decline(cid, f"{self.task_name}: cannot write its snapshot: {type(exc).__name__}: {exc}")
            return
        self.ack(cid, {"uri": uri, "relpath": relpath, "uids": sorted(states), "size": len(data),
                       "alignment_ms": alignment_ms, "sync_ms": sync_ms,
                       "async_ms": (time.perf_counter() - start) * 1000, **extra})

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def load_states(restore: dict[str, list[tuple[str, str]]]) -> dict[str, list[Any]]:
    """Read the snapshot files named in ``restore``: operator uid -> its states from every old subtask."""
    files: dict[tuple[str, str], dict] = {}
    out: dict[str, list[Any]] = {}
    for uid, locations in restore.items():
        for uri, relpath in locations:
            if (uri, relpath) not in files:
                files[(uri, relpath)] = pickle.loads(CheckpointStorage.from_uri(uri).read_bytes(relpath))
            state = files[(uri, relpath)].get(uid)
            if state is not None:
                out.setdefault(uid, []).append(state)
    return out
