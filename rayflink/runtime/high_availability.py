"""High availability of the job manager (Flink's ``high-availability.*``): what a restarted job
manager needs to take its running jobs over.

Flink keeps a job's graph in ``high-availability.storageDir`` and small pointers (which jobs
run, their latest completed checkpoint) in ZooKeeper or Kubernetes. rayflink does the same
with what a Ray cluster has: the graph, pickled, in the job's storage (``high-availability.
storageDir``, default the job's checkpoint directory), and one JSON record per running job in
the key-value store of Ray's GCS. That store outlives the job manager's actor (Ray restarts
it, ``max_restarts``); with Ray's GCS fault tolerance (an external Redis) it outlives the head
node too. A record is written when the job is submitted, at each deployment (the attempt, so
the next job manager can tell its subtasks from the old ones) and at each completed checkpoint
before any subtask hears of it (so a sink never commits past the checkpoint a recovery
restores), and deleted when the job ends.

Trust boundary: the job manager unpickles the graphs it reads back, so whoever can write the
storage can run code in it; trust that storage as the cluster itself (as checkpoint storage).
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from ray import cloudpickle
from ray.experimental import internal_kv

from rayflink.checkpoint.storage import CheckpointStorage, CheckpointStorageError, storage_options
from rayflink.common import config_options as options
from rayflink.graph.job_graph import JobGraph

_KV_NAMESPACE = "rayflink-ha"
_KV_PREFIX = b"job/"
_GRAPH = "jobgraph"


@dataclass(frozen=True)
class JobRecord:
    """The pointers to one running job: where its graph is (and the ``s3.*`` options to reach
    it), its latest completed checkpoint's metadata (None before the first), and the attempt
    last deployed."""

    job_id: str
    graph_uri: str
    storage: dict
    checkpoint: str | None
    attempt: int

    def open_storage(self) -> CheckpointStorage:
        """The storage the graph is in."""
        return CheckpointStorage.from_uri(self.graph_uri, self.storage)


class HighAvailabilityServices:
    """The job manager's view of the records of its running jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._records: dict[str, JobRecord] = {}
        self._lock = threading.Lock()

    @staticmethod
    def graph_uri(job_id: str, config: dict) -> str | None:
        """Where the graph of a job with ``config`` is kept; None: the job is not recoverable
        (``high-availability.type: NONE``, or neither a storage directory nor checkpoints)."""
        if options.get(config, options.HIGH_AVAILABILITY_TYPE) == "NONE":
            return None
        base = (options.get(config, options.HIGH_AVAILABILITY_STORAGE_DIR)
                or options.get(config, options.CHECKPOINTS_DIRECTORY))
        return f"{base.rstrip('/')}/{job_id}" if base else None

    def add(self, job_id: str, graph: JobGraph, attempt: int) -> bool:
        """Keep ``graph`` and a record of the job; False (nothing kept) if it is not recoverable.
        A graph that cannot be written leaves the job running without recovery, said on stderr
        (its checkpoints will fail the same way, as the job's restart strategy allows)."""
        uri = self.graph_uri(job_id, graph.config)
        if uri is None:
            return False
        record = JobRecord(job_id, uri, storage_options(graph.config), None, attempt)
        try:
            record.open_storage().write_bytes(_GRAPH, cloudpickle.dumps(graph))
        except CheckpointStorageError as exc:
            print(f"rayflink: job {job_id} ends with its job manager (high availability is off for it): "
                  f"{exc}", file=sys.stderr)
            return False
        with self._lock:
            self._put(record)
        return True

    def update_graph(self, job_id: str, graph: JobGraph) -> None:
        """The job's graph changed (a rescale): keep the new one."""
        record = self._records.get(job_id)
        if record is not None:
            record.open_storage().write_bytes(_GRAPH, cloudpickle.dumps(graph))

    def deployed(self, job_id: str, attempt: int) -> None:
        """Attempt ``attempt`` of the job is being deployed."""
        self._change(job_id, attempt=attempt)

    def checkpoint_completed(self, job_id: str, metadata_path: str) -> None:
        """The job's checkpoint with metadata at ``metadata_path`` completed (or the savepoint a
        rescale took): a recovery restores it."""
        self._change(job_id, checkpoint=metadata_path)

    def remove(self, job_id: str) -> None:
        """The job ended: no job manager recovers it. Its graph is deleted in the background: a
        storage that does not answer must not hold the job's end."""
        with self._lock:
            record = self._records.pop(job_id, None)
        if record is None:
            return
        internal_kv._internal_kv_del(_key(job_id), namespace=_KV_NAMESPACE)

        def delete_graph() -> None:
            try:
                record.open_storage().delete(_GRAPH)
            except Exception:  # noqa: BLE001 - a leftover graph file is harmless; the record is gone
                pass

        threading.Thread(target=delete_graph, daemon=True, name=f"ha-cleanup-{job_id}").start()

    def recover(self) -> list[tuple[JobRecord, JobGraph]]:
        """The jobs a job manager that died left running, with their graphs. A record whose
        graph cannot be read is reported on stderr and dropped: no job manager could recover it."""
        jobs = []
        for key in internal_kv._internal_kv_list(_KV_PREFIX, namespace=_KV_NAMESPACE):
            data = internal_kv._internal_kv_get(key, namespace=_KV_NAMESPACE)
            if data is None:
                continue
            record = JobRecord(**json.loads(data))
            try:
                graph = cloudpickle.loads(record.open_storage().read_bytes(_GRAPH))
            except Exception as exc:  # noqa: BLE001 - named below; the other jobs still recover
                print(f"rayflink: cannot recover job {record.job_id}: its graph at {record.graph_uri}/{_GRAPH} "
                      f"cannot be read: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
                internal_kv._internal_kv_del(key, namespace=_KV_NAMESPACE)
                continue
            with self._lock:
                self._records[record.job_id] = record
            jobs.append((record, graph))
        return jobs

    def _change(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            record = self._records.get(job_id)
            if record is not None:
                self._put(replace(record, **changes))

    def _put(self, record: JobRecord) -> None:
        """Keep ``record`` here and in the GCS (the caller holds the lock: changes never cross)."""
        self._records[record.job_id] = record
        internal_kv._internal_kv_put(_key(record.job_id), json.dumps(asdict(record)).encode(), overwrite=True,
                                     namespace=_KV_NAMESPACE)


def _key(job_id: str) -> bytes:
    return _KV_PREFIX + job_id.encode()
