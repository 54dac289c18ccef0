"""The checkpoint coordinator of a job master: triggers barriers, collects acks, completes or fails.

It never waits on checkpoint storage while it holds its lock, so a slow or frozen storage
cannot hold back a checkpoint's timeout, an ack, a cancellation or another job: deleting the
files of failed and subsumed checkpoints runs on one background thread per job (``drain`` waits
for it), and a checkpoint's metadata is written by the thread that delivered its last ack,
outside the lock; a checkpoint that expires meanwhile stays failed (its metadata is deleted).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rayflink.checkpoint.metadata import METADATA, encode_metadata, read_metadata
from rayflink.checkpoint.storage import CheckpointStorage, storage_options
from rayflink.common import config_options as options
from rayflink.common.configuration import checkpoint_interval_ms
from rayflink.errors import RayflinkError
from rayflink.runtime.messages import CheckpointBarrier, TriggerCheckpoint

__all__ = ["CheckpointCoordinator", "CheckpointFailure", "PendingCheckpoint", "read_metadata"]


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
    completing: bool = False  # every ack is in; its metadata is being written


@dataclass
class _Completion:
    """A checkpoint whose acks are all in, and the metadata to write for it (outside the lock)."""

    p: PendingCheckpoint
    relpath: str
    metadata: dict
    acks: dict
    shared: list
    entry: dict  # its history entry


class CheckpointCoordinator:
    """Periodic aligned checkpoints of one job attempt, savepoints on request, and their history.

    ``send(task_key, message)`` delivers a control message to a subtask; ``on_too_many_failures``
    is called when more checkpoints failed in a row than the job tolerates; ``on_completed``
    with the metadata path of each completed checkpoint (not savepoint), before any subtask
    hears of it (the job manager's high-availability pointer).

    A subtask that finished (on a checkpoint taken after its end of input) acknowledges no
    later checkpoint: those carry the state it acknowledged last, as Flink's checkpoints carry
    finished tasks, so restoring any of them restores every subtask. A checkpoint's metadata
    lists under ``shared`` every file it uses that another checkpoint may use too: incremental
    RocksDB files under ``shared/`` and the files of such carried states. The coordinator counts
    the retained checkpoints using each, and deletes it when none does, or when the checkpoint
    that uploaded it fails.
    """

    def __init__(self, job_id: str, config: dict, send: Callable[[Any, Any], None],
                 on_too_many_failures: Callable[[str], None],
                 on_completed: Callable[[str], None] = lambda _path: None) -> None:
        self.job_id = job_id
        self.config = config
        self.send = send
        self.on_too_many_failures = on_too_many_failures
        self.on_completed = on_completed
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
        # the latest web.checkpoints.history checkpoints (Flink's option and default), and counts
        # and the latest of each kind over the job's whole life (``statistics``)
        self.history: deque[dict] = deque(maxlen=options.get(config, options.WEB_CHECKPOINTS_HISTORY))
        self.counts = {"completed": 0, "failed": 0}
        self.latest: dict[str, dict | None] = {"completed": None, "savepoint": None, "failed": None}
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
        # storage clean-up (failed and subsumed checkpoints), in order, off the lock
        self._cleanup = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"checkpoint-cleanup-{job_id}")

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
        completions = []
        with self.lock:
            self.finished.add(key)
            if key in self.ended:
                # it reached its end, then a checkpoint taken since completed and it finished (a
                # periodic one raced the final one): later checkpoints cannot wait for it; they
                # carry what it acknowledged last, its state at its end
                for p in list(self.pending.values()):
                    if p.savepoint_uri is None and key in p.expected and key not in p.acks:
                        p.expected.discard(key)
                        if p.completing:
                            continue
                        if not p.expected:  # every subtask finished on an earlier checkpoint: moot
                            del self.pending[p.checkpoint_id]
                            p.done.set()
                        elif set(p.acks) >= p.expected:
                            completions.append(self._complete(p))
        for c in completions:
            self._write_metadata(c)

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
        """Stop triggering; clean-up already queued still runs."""
        self._stop.set()
        self._cleanup.shutdown(wait=False)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the storage clean-up queued so far; True if it ran."""
        try:
            self._cleanup.submit(lambda: None).result(timeout)
            return True
        except Exception:  # noqa: BLE001 - a timeout, or shut down: the clean-up goes on without us
            return False

    def _in_background(self, action: Callable[..., Any], *args: Any) -> None:
        """Run a storage clean-up ``action`` on the clean-up thread: best effort (leftover files
        must not fail the job), never while the caller holds the lock."""
        def run() -> None:
            try:
                action(*args)
            except Exception:  # noqa: BLE001 - see above
                pass

        try:
            self._cleanup.submit(run)
        except RuntimeError:  # shut down: the job ended, its clean-up was queued before
            pass

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
        """Subtask ``key`` stored its snapshot for checkpoint ``cid``; the last ack completes it
        (this thread writes the metadata)."""
        with self.lock:
            p = self.pending.get(cid)
            if p is not None and p.completing:  # a repeated ack: its files are in the checkpoint
                return
            if p is None or attempt != self.attempt:  # it failed meanwhile (or completed without it)
                self._delete_unused(info)
                return
            p.acks[key] = info
            if not set(p.acks) >= p.expected:
                return
            completion = self._complete(p)
        self._write_metadata(completion)

    def decline(self, attempt: int, key: Any, cid: int, reason: str) -> None:
        with self.lock:
            p = self.pending.get(cid)
            if p is not None and attempt == self.attempt:
                self._fail(p, reason)

    def _missing(self, p: PendingCheckpoint) -> str:
        missing = sorted(p.expected - set(p.acks))
        return ", ".join(f"task {v} subtask {s + 1}" for v, s in missing[:5]) or "none"

    def _complete(self, p: PendingCheckpoint) -> _Completion | None:
        """Under the lock: the metadata of ``p``, whose acks are all in, to write outside it
        (None if ``p`` failed instead)."""
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
            return None
        for key in sorted(acks):
            info = acks[key]
            for uid in info["uids"]:
                operators.setdefault(uid, []).append([info["uri"], info["relpath"]])
            for uid, ids in info.get("source_splits", {}).items():  # the splits are in its state file
                splits.setdefault(uid, []).extend([split_id, info["uri"], info["relpath"]] for split_id in ids)
        metadata = {"job_id": self.job_id, "checkpoint_id": p.checkpoint_id, "timestamp": p.trigger_ms,
                    "savepoint": p.savepoint_uri is not None, "operators": operators, "source_splits": splits,
                    "shared": shared, "parallelism": {}, "max_parallelism": {}, **self.graph_info}
        size = sum(info["size"] for info in p.acks.values())
        full_size = sum(info.get("full_bytes", 0) + info["size"] - info.get("uploaded_bytes", 0)
                        for info in acks.values())
        p.completing = True
        entry = {
            "id": p.checkpoint_id, "status": "COMPLETED", "savepoint": p.savepoint_uri is not None,
            "trigger_timestamp": p.trigger_ms, "duration_ms": None,
            "size_bytes": size, "full_size_bytes": full_size,
            "alignment_ms": round(max(i["alignment_ms"] for i in p.acks.values()), 2),
            "sync_ms": round(max(i["sync_ms"] for i in p.acks.values()), 2),
            "async_ms": round(max(i["async_ms"] for i in p.acks.values()), 2),
            "unaligned": any(i.get("unaligned", False) for i in p.acks.values()),
            "persisted_data_bytes": sum(i.get("persisted_data_bytes", 0) for i in p.acks.values()),
            "path": None, "failure": None,
        }
        return _Completion(p, METADATA if p.savepoint_uri else f"chk-{p.checkpoint_id}/{METADATA}",
                           metadata, acks, shared, entry)

    def _write_metadata(self, c: _Completion | None) -> None:
        """Write a checkpoint's metadata (not holding the lock), then complete it, unless it
        expired or its attempt ended meanwhile."""
        if c is None:
            return
        p = c.p
        try:
            storage = (CheckpointStorage.from_uri(p.savepoint_uri, self.storage_options) if p.savepoint_uri
                       else self.storage)
            if storage is None:
                raise RayflinkError("no checkpoint storage: set execution.checkpointing.dir")
            storage.write_bytes(c.relpath, encode_metadata(c.metadata))
        except Exception as exc:  # noqa: BLE001 - the metadata write decides whether it completed
            with self.lock:
                if self.pending.get(p.checkpoint_id) is p:
                    self._fail(p, f"cannot write the checkpoint metadata: {exc}")
            return
        with self.lock:
            if self.pending.get(p.checkpoint_id) is not p:  # it failed while the metadata was written
                self._in_background(storage.delete, c.relpath)
                return
            self._completed(c, storage.uri_of(c.relpath))

    def _completed(self, c: _Completion, metadata_path: str) -> None:
        p = c.p
        p.metadata_path = metadata_path
        del self.pending[p.checkpoint_id]
        self.consecutive_failures = 0
        self.last_completed_at = time.monotonic()
        self._record({**c.entry, "duration_ms": round((time.monotonic() - p.started) * 1000, 1),
                      "path": p.metadata_path})
        if p.savepoint_uri is None:
            self.last_acks.update(c.acks)
            self.completed.append(c.metadata)
            for f in c.shared:
                self.shared_refs[f] = self.shared_refs.get(f, 0) + 1
            while len(self.completed) > self.retained:
                self._discard(self.completed.pop(0))
            self.on_completed(metadata_path)
        from rayflink.runtime.messages import CheckpointCompleted

        for key in self.tasks:
            self.send(key, CheckpointCompleted(p.checkpoint_id))
        p.done.set()

    def _record(self, entry: dict) -> None:
        """Add a completed or failed checkpoint to the history, the counts and the latest ones."""
        self.history.append(entry)
        if entry["status"] == "COMPLETED":
            self.counts["completed"] += 1
            self.latest["savepoint" if entry["savepoint"] else "completed"] = entry
        else:
            self.counts["failed"] += 1
            self.latest["failed"] = entry

    def statistics(self) -> dict:
        """Flink's checkpointing statistics: ``counts`` (completed, failed, in progress, total
        over the job's life), ``latest`` (completed, savepoint, failed: their history entries,
        or None) and ``history`` (the latest ``web.checkpoints.history`` entries, oldest first)."""
        with self.lock:
            counts = {**self.counts, "in_progress": len(self.pending)}
            counts["total"] = sum(counts.values())
            return {"counts": counts, "latest": dict(self.latest), "history": list(self.history)}

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
        keep = {f for f in self.shared_refs if f.startswith(directory)}  # carried by a retained one
        self._in_background(_delete_checkpoint, self.storage, directory, keep, unused)

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
        self._in_background(_delete_files, self.storage, [f for f in files if not self.shared_refs.get(f)])

    def _delete_savepoint_files(self, acks: Any, savepoint_uri: str | None = None) -> None:
        """Delete the files subtasks stored for a savepoint that failed: only those, as the
        directory belongs to whoever asked for the savepoint, and what interrupted writes left
        in its ``savepoint/`` before now (temporary files of a subtask killed while writing;
        not those of a later savepoint there)."""
        for info in acks:
            storage = CheckpointStorage.from_uri(info["uri"], self.storage_options)
            self._in_background(_delete_files, storage, _own_files(info))
        if savepoint_uri is not None:
            storage = CheckpointStorage.from_uri(savepoint_uri, self.storage_options)
            self._in_background(storage.discard_temporary, "savepoint/", time.time())

    def _fail(self, p: PendingCheckpoint, reason: str, count: bool = True) -> None:
        self.pending.pop(p.checkpoint_id, None)
        if p.savepoint_uri is None and self.storage is not None:
            # its directory, and the shared files it uploaded, which no retained checkpoint uses
            # (subtasks still uploading delete theirs when told it was aborted)
            orphans = {f for info in p.acks.values() for f in info.get("shared", ())
                       if f not in info.get("reused_shared", ()) and not self.shared_refs.get(f)}
            self._in_background(_delete_checkpoint, self.storage, f"chk-{p.checkpoint_id}/", set(), sorted(orphans))
        if p.savepoint_uri is not None:
            self.stopped = False
            self._delete_savepoint_files(p.acks.values(), p.savepoint_uri)
        p.failure = reason
        self._record({
            "id": p.checkpoint_id, "status": "FAILED", "savepoint": p.savepoint_uri is not None,
            "trigger_timestamp": p.trigger_ms, "duration_ms": round((time.monotonic() - p.started) * 1000, 1),
            "size_bytes": 0, "full_size_bytes": 0, "alignment_ms": None, "sync_ms": None, "async_ms": None,
            "unaligned": None, "persisted_data_bytes": 0, "path": None,
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

    def adopt(self, metadata: dict) -> None:
        """Go on from the job's checkpoint or savepoint ``metadata``, completed under an earlier
        job manager: ids go on after it; a checkpoint is retained as if completed here (the
        files it shares stay until a later checkpoint subsumes it), a savepoint is the user's."""
        with self.lock:
            self.next_id = max(self.next_id, metadata["checkpoint_id"] + 1)
            if metadata["savepoint"]:
                return
            self.completed.append(metadata)
            for f in metadata.get("shared", ()):
                self.shared_refs[f] = self.shared_refs.get(f, 0) + 1

    def latest_completed(self) -> dict | None:
        with self.lock:
            return self.completed[-1] if self.completed else None

    def discard_all(self) -> None:
        """Delete the job's checkpoints (DELETE_ON_CANCELLATION, or a finished job), in the
        background after the clean-up queued before (``drain`` waits for it)."""
        if self.storage is not None:
            self._in_background(self.storage.delete_prefix, "")


def _delete_files(storage: CheckpointStorage, relpaths: list[str]) -> None:
    for relpath in relpaths:
        storage.delete(relpath)


def _delete_checkpoint(storage: CheckpointStorage, directory: str, keep: set, files: list[str]) -> None:
    """Delete a checkpoint's ``directory`` but the files in ``keep``, and ``files`` (shared ones
    no retained checkpoint uses)."""
    if keep:
        _delete_files(storage, [f for f in storage.list(directory) if f not in keep])
    else:
        storage.delete_prefix(directory)
    _delete_files(storage, files)


def _own_files(info: dict) -> list[str]:
    """The files an ack stored in its checkpoint's own directory: its state file, and the
    private files of its RocksDB checkpoints."""
    return [info["relpath"], *info.get("private", ())]

