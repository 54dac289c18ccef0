"""The checkpoint coordinator of a job master: triggers barriers, collects acks, completes or fails."""

from __future__ import annotations

import contextlib
import pickle
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from rayflink.checkpoint.storage import CheckpointStorage, storage_options
from rayflink.common import config_options as options
from rayflink.common.configuration import checkpoint_interval_ms
from rayflink.runtime.messages import CheckpointBarrier, TriggerCheckpoint

METADATA = "_metadata"


class CheckpointFailure(Exception):
    """A checkpoint or savepoint did not complete (the reason names the task or the storage)."""


@dataclass
class PendingCheckpoint:
    checkpoint_id: int
    trigger_ms: int
    started: float
    expected: set
    savepoint_uri: str | None = None
    acks: dict = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    failure: str | None = None
    metadata_path: str | None = None
    final: bool = False  # taken after every subtask reached the end of its input


class CheckpointCoordinator:
    """Periodic aligned checkpoints of one job attempt, savepoints on request, and their history.

    ``send(task_key, message)`` delivers a control message to a subtask; ``on_too_many_failures``
    is called when more checkpoints failed in a row than the job tolerates.

    A subtask that finished (on a checkpoint taken after its end of input) acknowledges no
    later checkpoint: those carry the state it acknowledged last, as Flink's checkpoints carry
    finished tasks, so restoring any of them restores every subtask. A checkpoint's metadata
    lists under ``shared`` every file it uses that another checkpoint may use too: incremental
    RocksDB files under ``shared/`` and the files of such carried states. The coordinator counts
    the retained checkpoints using each, and deletes it when none does, or when the checkpoint
    that uploaded it fails.
    """

    def __init__(self, job_id: str, config: dict, send: Callable[[Any, Any], None],
                 on_too_many_failures: Callable[[str], None]) -> None:
        self.job_id = job_id
        self.config = config
        self.send = send
        self.on_too_many_failures = on_too_many_failures
        self.interval_s = checkpoint_interval_ms(config) / 1000
        self.timeout_s = options.get(config, options.CHECKPOINTING_TIMEOUT) / 1000
        self.min_pause_s = options.get(config, options.CHECKPOINTING_MIN_PAUSE) / 1000
        self.max_concurrent = options.get(config, options.MAX_CONCURRENT_CHECKPOINTS)
        self.tolerable = options.get(config, options.TOLERABLE_FAILED_CHECKPOINTS)
        self.retained = options.get(config, options.CHECKPOINTS_NUM_RETAINED)
        base = options.get(config, options.CHECKPOINTS_DIRECTORY)
        self.uri = f"{base.rstrip('/')}/{job_id}" if base else None
        self.storage_options = storage_options(config)  # s3.endpoint, ...: for every storage the job opens
        self.storage = CheckpointStorage.from_uri(self.uri, self.storage_options) if self.uri else None
        self.next_id = 1
        self.pending: dict[int, PendingCheckpoint] = {}
        self.completed: list[dict] = []  # metadata of retained completed checkpoints, oldest first
        self.shared_refs: dict[str, int] = {}  # file checkpoints share (see above) -> retained checkpoints using it
        self.last_acks: dict = {}  # subtask -> its ack in the latest completed checkpoint of this attempt
        self.history: list[dict] = []
        self.consecutive_failures = 0
        self.lock = threading.RLock()
        self.tasks: dict = {}
        self.finished: set = set()
        self.ended: set = set()
        self.stopped = False  # a stop-with-savepoint is under way: no more checkpoints
        self.source_tasks: list = []
        self.graph_info: dict = {}
        self.attempt = -1
        self.last_completed_at = 0.0
        self.last_trigger = 0.0  # monotonic time of the latest periodic trigger or savepoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- attempts ---------------------------------------------------------------------------

    def start_attempt(self, attempt: int, tasks: dict, source_tasks: list, graph_info: dict) -> None:
        """Begin checkpointing the running subtasks ``tasks`` (key -> handle) of ``attempt``."""
        with self.lock:
            self.attempt = attempt
            self.tasks = dict(tasks)
            self.source_tasks = list(source_tasks)
            self.graph_info = graph_info
            self.finished = set()
            self.ended = set()
            self.last_acks = {}
            self.stopped = False
        if self.interval_s > 0 and self.storage is not None and self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name=f"checkpoints-{self.job_id}")
            self._thread.start()

    def stop_attempt(self, reason: str) -> None:
        """The attempt ended: pending checkpoints fail with ``reason``."""
        with self.lock:
            for p in list(self.pending.values()):
                self._fail(p, reason, count=False)
            self.attempt = -1

    def task_finished(self, key: Any) -> None:
        """A subtask finished: pending checkpoints stop waiting for it and carry its last state."""
        with self.lock:
            self.finished.add(key)
            if key in self.ended:
                # it reached its end, then a checkpoint taken since completed and it finished (a
                # periodic one raced the final one): later checkpoints cannot wait for it; they
                # carry what it acknowledged last, its state at its end
                for p in list(self.pending.values()):
                    if p.savepoint_uri is None and key in p.expected and key not in p.acks:
                        p.expected.discard(key)
                        if not p.expected:  # every subtask finished on an earlier checkpoint: moot
                            del self.pending[p.checkpoint_id]
                            p.done.set()
                        elif set(p.acks) >= p.expected:
                            self._complete(p)

    def task_reached_end(self, attempt: int, key: Any) -> None:
        """A subtask consumed all its input and waits for the final checkpoint (Flink's FLIP-147).

        Once every subtask is there, one more checkpoint is taken at every subtask directly (no
        barriers flow any more); its completion lets two-phase-commit sinks commit their last
        records, and then the subtasks finish.
        """
        with self.lock:
            if attempt != self.attempt:
                return
            self.ended.add(key)
            for p in self.pending.values():
                if (p.savepoint_uri is None and not p.final and key in p.expected and key not in p.acks
                        and key not in self.source_tasks):  # (sources are triggered directly anyway)
                    # its barrier may never come now (its inputs ended): trigger it directly; a
                    # subtask that took this checkpoint before its end ignores the repeat
                    self.send(key, TriggerCheckpoint(CheckpointBarrier(p.checkpoint_id, p.trigger_ms)))
            if self.ended < set(self.tasks) or any(p.final for p in self.pending.values()):
                return
            self._trigger_final()

    def _trigger_final(self) -> None:
        cid = self.next_id
        self.next_id += 1
        running = set(self.tasks) - (self.finished & self.ended)  # those finished after their end are done
        p = PendingCheckpoint(cid, int(time.time() * 1000), time.monotonic(), running, final=True)
        self.pending[cid] = p
        for key in running:
            self.send(key, TriggerCheckpoint(CheckpointBarrier(cid, p.trigger_ms)))

    def shutdown(self) -> None:
        self._stop.set()

    # ---- triggering -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(min(0.05, self.interval_s / 4)):
            now = time.monotonic()
            with self.lock:
                for p in list(self.pending.values()):
                    if now - p.started > self.timeout_s:
                        self._fail(p, f"checkpoint {p.checkpoint_id} expired before completing "
                                      f"(execution.checkpointing.timeout {int(self.timeout_s * 1000)} ms); "
                                      f"missing acks from {self._missing(p)}")
                final_failed = (self.attempt >= 0 and self.ended and self.ended >= set(self.tasks)
                                and not any(p.final for p in self.pending.values()))
                if final_failed:  # the final checkpoint failed: take another one
                    self._trigger_final()
                due = (self.attempt >= 0 and self.ended < set(self.tasks) and not self.stopped
                       and len([p for p in self.pending.values() if p.savepoint_uri is None]) < self.max_concurrent
                       and now - self.last_trigger >= self.interval_s
                       and now - self.last_completed_at >= self.min_pause_s)
            if due:
                try:
                    self.trigger()
                except CheckpointFailure:
                    pass  # a savepoint stopped the job, or a subtask ended, since ``due`` was computed

    def trigger(self, savepoint_uri: str | None = None, stop: bool = False) -> PendingCheckpoint:
        """Inject barrier n at every running source subtask; ``stop`` suspends the sources after
        it, and no periodic checkpoint follows (stop-with-savepoint, rescale).

        A checkpoint may follow the end of some subtasks (Flink's FLIP-147): those that reached
        their end take it directly (no barrier reaches them), those that finished are carried
        with the state they acknowledged last. A savepoint needs every subtask running."""
        with self.lock:
            if self.stopped:
                raise CheckpointFailure("the job is stopping with a savepoint already")
            if self.attempt < 0:
                raise CheckpointFailure("the job is not running")
            if savepoint_uri is not None and self.ended:
                raise CheckpointFailure("the job is not running with all its subtasks (a bounded input "
                                        "ended); a savepoint needs every subtask running")
            if self.ended >= set(self.tasks):
                raise CheckpointFailure("every subtask reached the end of its input; the final "
                                        "checkpoint is taken instead")
            cid = self.next_id
            self.next_id += 1
            self.last_trigger = time.monotonic()
            p = PendingCheckpoint(cid, int(time.time() * 1000), time.monotonic(),
                                  set(self.tasks) - self.finished, savepoint_uri)
            self.pending[cid] = p
            barrier = CheckpointBarrier(cid, p.trigger_ms, savepoint_uri)
            for key in sorted(set(self.source_tasks) - self.ended):
                self.send(key, TriggerCheckpoint(barrier, stop_source=stop))
            for key in sorted(self.ended - self.finished):
                self.send(key, TriggerCheckpoint(barrier))
            self.stopped = stop
        return p

    # ---- acks -------------------------------------------------------------------------------------

    def ack(self, attempt: int, key: Any, cid: int, info: dict) -> None:
        with self.lock:
            p = self.pending.get(cid)
            if p is None or attempt != self.attempt:  # it failed meanwhile (or completed without it)
                self._delete_unused(info)
                return
            p.acks[key] = info
            if set(p.acks) >= p.expected:
                self._complete(p)

    def decline(self, attempt: int, key: Any, cid: int, reason: str) -> None:
        with self.lock:
            p = self.pending.get(cid)
            if p is not None and attempt == self.attempt:
                self._fail(p, reason)

    def _missing(self, p: PendingCheckpoint) -> str:
        missing = sorted(p.expected - set(p.acks))
        return ", ".join(f"task {v} subtask {s + 1}" for v, s in missing[:5]) or "none"

    def _complete(self, p: PendingCheckpoint) -> None:
        operators: dict[str, list] = {}
        splits: dict[str, list] = {}
        acks = dict(p.acks)
        if p.savepoint_uri is None:  # subtasks that finished on an earlier checkpoint: their last state
            acks.update({key: self.last_acks[key] for key in self.tasks
                         if key not in acks and key in self.finished and key in self.last_acks})
        carried = [info for key, info in acks.items() if key not in p.acks]
        shared = sorted({f for info in acks.values() for f in info.get("shared", ())}
                        | {f for info in carried for f in _own_files(info)})
        gone = sorted({f for info in p.acks.values() for f in info.get("reused_shared", ())
                       if not self.shared_refs.get(f)})
        if gone:  # a subtask referenced files of a checkpoint subsumed meanwhile: take the next one
            self._fail(p, f"checkpoint {p.checkpoint_id} references shared files already discarded "
                          f"({gone[0]}, ...); the next checkpoint uploads them again", count=False)
            return
        for key in sorted(acks):
            info = acks[key]
            for uid in info["uids"]:
                operators.setdefault(uid, []).append((info["uri"], info["relpath"]))
            for uid, s in info.get("source_splits", {}).items():
                splits.setdefault(uid, []).extend(s)
        metadata = {"job_id": self.job_id, "checkpoint_id": p.checkpoint_id, "timestamp": p.trigger_ms,
                    "savepoint": p.savepoint_uri is not None, "operators": operators, "source_splits": splits,
                    "shared": shared, **self.graph_info}
        size = sum(info["size"] for info in p.acks.values())
        full_size = sum(info.get("full_bytes", 0) + info["size"] - info.get("uploaded_bytes", 0)
                        for info in acks.values())
        try:
            storage = (CheckpointStorage.from_uri(p.savepoint_uri, self.storage_options) if p.savepoint_uri
                       else self.storage)
            relpath = METADATA if p.savepoint_uri else f"chk-{p.checkpoint_id}/{METADATA}"
            storage.write_bytes(relpath, pickle.dumps(metadata, protocol=5))
        except Exception as exc:  # noqa: BLE001 - the metadata write decides whether it completed
            self._fail(p, f"cannot write the checkpoint metadata: {exc}")
            return
        p.metadata_path = storage.uri_of(relpath)
        del self.pending[p.checkpoint_id]
        self.consecutive_failures = 0
        self.last_completed_at = time.monotonic()
        self.history.append({
            "id": p.checkpoint_id, "status": "COMPLETED", "savepoint": p.savepoint_uri is not None,
            "trigger_timestamp": p.trigger_ms, "duration_ms": round((time.monotonic() - p.started) * 1000, 1),
            "size_bytes": size, "full_size_bytes": full_size, "alignment_ms": round(max(i["alignment_ms"] for i in p.acks.values()), 2),
            "sync_ms": round(max(i["sync_ms"] for i in p.acks.values()), 2),
            "async_ms": round(max(i["async_ms"] for i in p.acks.values()), 2),
            "path": p.metadata_path, "failure": None,
        })
        if p.savepoint_uri is None:
            self.last_acks.update(acks)
            self.completed.append(metadata)
            for f in shared:
                self.shared_refs[f] = self.shared_refs.get(f, 0) + 1
            while len(self.completed) > self.retained:
                self._discard(self.completed.pop(0))
        from rayflink.runtime.messages import CheckpointCompleted

        for key in self.tasks:
            self.send(key, CheckpointCompleted(p.checkpoint_id))
        p.done.set()

    def _discard(self, metadata: dict) -> None:
        """Delete a subsumed checkpoint: its directory (but the files of a finished subtask that
        a retained checkpoint carries), and shared files no retained checkpoint uses."""
        unused = []
        for f in metadata.get("shared", ()):
            n = self.shared_refs.get(f, 0) - 1
            if n > 0:
                self.shared_refs[f] = n
            else:
                self.shared_refs.pop(f, None)
                unused.append(f)
        directory = f"chk-{metadata['checkpoint_id']}/"
        try:
            if any(f.startswith(directory) for f in self.shared_refs):
                for f in self.storage.list(directory):
                    if not self.shared_refs.get(f):
                        self.storage.delete(f)
            else:
                self.storage.delete_prefix(directory)
            for f in unused:
                self.storage.delete(f)
        except Exception:  # noqa: BLE001 - leftover files of an old checkpoint must not fail the job
            pass

    def _delete_unused(self, info: dict) -> None:
        """Delete the files an ack names that no retained checkpoint uses: the ack came after
        its checkpoint failed, or the checkpoint completed carrying older state instead."""
        if info.get("uri") != self.uri:  # of a savepoint that failed
            self._delete_savepoint_files([info])
            return
        if self.storage is None:
            return
        reused = set(info.get("reused_shared", ()))
        files = [f for f in info.get("shared", ()) if f not in reused] + _own_files(info)
        with contextlib.suppress(Exception):  # leftovers of a failed checkpoint must not fail the job
            for f in files:
                if not self.shared_refs.get(f):
                    self.storage.delete(f)

    def _delete_savepoint_files(self, acks: Any) -> None:
        """Delete the files subtasks stored for a savepoint that failed: only those, as the
        directory belongs to whoever asked for the savepoint."""
        with contextlib.suppress(Exception):  # leftovers must not hide the failure
            for info in acks:
                storage = CheckpointStorage.from_uri(info["uri"], self.storage_options)
                for f in _own_files(info):
                    storage.delete(f)

    def _fail(self, p: PendingCheckpoint, reason: str, count: bool = True) -> None:
        self.pending.pop(p.checkpoint_id, None)
        if p.savepoint_uri is None and self.storage is not None:
            # its directory, and the shared files it uploaded, which no retained checkpoint uses
            # (subtasks still uploading delete theirs when told it was aborted)
            orphans = {f for info in p.acks.values() for f in info.get("shared", ())
                       if f not in info.get("reused_shared", ()) and not self.shared_refs.get(f)}
            try:
                self.storage.delete_prefix(f"chk-{p.checkpoint_id}/")
                for f in sorted(orphans):
                    self.storage.delete(f)
            except Exception:  # noqa: BLE001 - cleaning up after a failure must not hide the failure
                pass
        if p.savepoint_uri is not None:
            self.stopped = False
            self._delete_savepoint_files(p.acks.values())
        p.failure = reason
        self.history.append({
            "id": p.checkpoint_id, "status": "FAILED", "savepoint": p.savepoint_uri is not None,
            "trigger_timestamp": p.trigger_ms, "duration_ms": round((time.monotonic() - p.started) * 1000, 1),
            "size_bytes": 0, "full_size_bytes": 0, "alignment_ms": None, "sync_ms": None, "async_ms": None, "path": None,
            "failure": reason,
        })
        from rayflink.runtime.messages import CheckpointAborted

        for key in self.tasks:
            self.send(key, CheckpointAborted(p.checkpoint_id))
        p.done.set()
        if count and p.savepoint_uri is None:
            self.consecutive_failures += 1
            if self.consecutive_failures > self.tolerable:
                self.on_too_many_failures(
                    f"{self.consecutive_failures} checkpoints failed in a row, more than "
                    f"execution.checkpointing.tolerable-failed-checkpoints ({self.tolerable}); last: {reason}")

    def latest_completed(self) -> dict | None:
        with self.lock:
            return self.completed[-1] if self.completed else None

    def discard_all(self) -> None:
        """Delete the job's checkpoints (DELETE_ON_CANCELLATION, or a finished job)."""
        if self.storage is not None:
            self.storage.delete_prefix("")


def _own_files(info: dict) -> list[str]:
    """The files an ack stored in its checkpoint's own directory: its state file, and the
    private files of its RocksDB checkpoints."""
    return [info["relpath"], *info.get("private", ())]


def read_metadata(path: str, storage_options: Mapping[str, Any] | None = None) -> dict:
    """Load a checkpoint's or savepoint's metadata from its directory (or its _metadata file).

    ``storage_options`` are the ``s3.*`` options to reach it (see ``storage_options``)."""
    uri = path[: -len(METADATA) - 1] if path.rstrip("/").endswith(METADATA) else path
    storage = CheckpointStorage.from_uri(uri, storage_options)
    try:
        return pickle.loads(storage.read_bytes(METADATA))
    except Exception as exc:
        from rayflink.errors import RayflinkError

        raise RayflinkError(f"cannot read savepoint/checkpoint metadata at {storage.uri_of(METADATA)}: {exc}") from exc
