"""The checkpoint coordinator around the end of input: final checkpoints, periodic checkpoints
after some subtasks ended, and what later checkpoints carry of finished subtasks."""

from __future__ import annotations

import threading

import pytest

from rayflink.checkpoint.coordinator import CheckpointCoordinator, CheckpointFailure, read_metadata
from rayflink.checkpoint.storage import ForwardingCheckpointStorage
from rayflink.runtime.messages import CheckpointCompleted, TriggerCheckpoint

SOURCE, SINK = (1, 0), (2, 0)


def coordinator(tmp_path):
    sent: list = []
    c = CheckpointCoordinator("job", {"state.checkpoints.dir": tmp_path.as_uri()},
                              send=lambda key, message: sent.append((key, message)),
                              on_too_many_failures=lambda reason: None)
    c.start_attempt(0, {SOURCE: None, SINK: None}, [SOURCE], {})
    return c, sent


def ack(c, key, cid):
    c.ack(0, key, cid, {"uri": c.uri, "relpath": f"chk-{cid}/{key}", "uids": [], "size": 1,
                        "alignment_ms": 0.0, "sync_ms": 0.0, "async_ms": 0.0})


def stored(c, prefix: str = "") -> list[str]:
    """The files in the coordinator's storage once the deletions it queued have run."""
    assert c.drain(30), "the coordinator's storage clean-up did not finish"
    return c.storage.list(prefix)


def triggers(sent, key):
    return [m.barrier.checkpoint_id for k, m in sent if k == key and type(m) is TriggerCheckpoint]


def test_a_subtask_that_finished_on_a_periodic_checkpoint_is_not_waited_for_by_the_final_one(tmp_path):
    # Given a periodic checkpoint 1 that the source takes after its input ended (so it finishes
    # when 1 completes, as if 1 were its final checkpoint),
    c, sent = coordinator(tmp_path)
    p1 = c.trigger()
    c.task_reached_end(0, SOURCE)
    ack(c, SOURCE, 1)
    ack(c, SINK, 1)
    assert p1.failure is None and p1.metadata_path
    c.task_finished(SOURCE)
    # when the sink reaches its end, the final checkpoint goes to the sink only, and completes on its ack.
    c.task_reached_end(0, SINK)
    (final_id,) = triggers(sent, SINK)
    assert triggers(sent, SOURCE) == [1] and final_id == 2  # the periodic one only
    ack(c, SINK, final_id)
    assert (SINK, CheckpointCompleted(final_id)) in sent and not c.pending


def test_a_final_checkpoint_stops_waiting_for_a_subtask_that_finishes_after_it_was_triggered(tmp_path):
    c, sent = coordinator(tmp_path)
    c.trigger()
    c.task_reached_end(0, SOURCE)
    c.task_reached_end(0, SINK)  # both ended: the final checkpoint 2 is triggered at both
    # (and checkpoint 1 directly at the sink, whose barrier the ended source never sent)
    assert triggers(sent, SINK) == [1, 2]
    ack(c, SOURCE, 1)
    ack(c, SINK, 1)  # checkpoint 1 completes: the source, which took it after its end, finishes
    c.task_finished(SOURCE)
    ack(c, SINK, 2)
    assert c.history[-1]["id"] == 2 and c.history[-1]["status"] == "COMPLETED" and not c.pending
    # and when every subtask finished on checkpoint 1, a final checkpoint nobody will take is dropped
    c2, _ = coordinator(tmp_path / "other")
    c2.trigger()
    c2.task_reached_end(0, SOURCE)
    c2.task_reached_end(0, SINK)
    ack(c2, SOURCE, 1)
    ack(c2, SINK, 1)
    c2.task_finished(SOURCE)
    c2.task_finished(SINK)
    assert not c2.pending


def stored_ack(c, key, cid, new_shared=(), reused_shared=(), private=(), attempt=0):
    """Store subtask ``key``'s snapshot files for checkpoint ``cid``, as its snapshot writer
    does, and acknowledge them."""
    stem = f"chk-{cid}/task-{key[0]}-{key[1]}"
    files = [f"shared/{name}-{cid}.sst" for name in new_shared]
    own = [f"{stem}/op/{name}" for name in private]
    for f in [f"{stem}.state", *files, *own]:
        c.storage.write_bytes(f, b"x")
    splits = {"source-uid": [f"split-{cid}"]} if key == SOURCE else {}  # ids: the splits are in its file
    c.ack(attempt, key, cid, {"uri": c.uri, "relpath": f"{stem}.state", "uids": [f"op-{key[0]}"], "size": 1,
                              "alignment_ms": 0.0, "sync_ms": 0.0, "async_ms": 0.0, "source_splits": splits,
                              "shared": sorted([*files, *reused_shared]), "reused_shared": sorted(reused_shared),
                              "private": own})
    return files


def test_checkpoints_after_a_subtask_finished_carry_its_last_state_and_keep_its_files(tmp_path):
    # Given a source that finishes on periodic checkpoint 1 (taken after its end of input) with
    # incremental RocksDB files of its own, one shared and one private,
    c, _ = coordinator(tmp_path)
    c.trigger()
    c.task_reached_end(0, SOURCE)
    source_files = stored_ack(c, SOURCE, 1, new_shared=["source"], private=["MANIFEST"])
    sink_files = stored_ack(c, SINK, 1, new_shared=["sink"])
    c.task_finished(SOURCE)
    # when the sink's final checkpoint 2 completes (subsuming 1: one checkpoint is retained),
    c.task_reached_end(0, SINK)
    stored_ack(c, SINK, 2, new_shared=["sink"], reused_shared=sink_files)
    final = c.history[-1]
    assert (final["id"], final["status"]) == (2, "COMPLETED")

    # then its metadata lists the source's state and splits, as the source acknowledged them at 1,
    meta = read_metadata(final["path"])
    assert meta["operators"] == {"op-1": [[c.uri, "chk-1/task-1-0.state"]],
                                 "op-2": [[c.uri, "chk-2/task-2-0.state"]]}
    assert meta["source_splits"] == {"source-uid": [["split-1", c.uri, "chk-1/task-1-0.state"]]}
    # and the files that state uses outlive checkpoint 1: only what 1 alone used is gone.
    carried = {"chk-1/task-1-0.state", "chk-1/task-1-0/op/MANIFEST", *source_files}
    assert set(meta["shared"]) == carried | set(stored(c, "shared/"))
    assert set(stored(c)) == carried | {"chk-2/_metadata", "chk-2/task-2-0.state",
                                                  *sink_files, "shared/sink-2.sst"}

    # Given the job restarted from checkpoint 2, when checkpoint 3 completes, subsuming 2,
    c.start_attempt(1, {SOURCE: None, SINK: None}, [SOURCE], {})
    c.trigger()
    stored_ack(c, SOURCE, 3, new_shared=["source"], attempt=1)
    stored_ack(c, SINK, 3, new_shared=["sink"], attempt=1)
    assert c.history[-1]["id"] == 3 and c.history[-1]["status"] == "COMPLETED"
    # then the files carried from checkpoint 1 are deleted with it: storage holds checkpoint 3 alone.
    assert set(stored(c)) == {"chk-3/_metadata", "chk-3/task-1-0.state", "chk-3/task-2-0.state",
                                       "shared/source-3.sst", "shared/sink-3.sst"}
    assert set(c.shared_refs) == {"shared/source-3.sst", "shared/sink-3.sst"}


def test_a_periodic_checkpoint_after_a_source_ended_triggers_the_ended_subtask_directly(tmp_path):
    # Given a job whose sink reached its end while the source still runs (as after a union with
    # a bounded input),
    c, sent = coordinator(tmp_path)
    c.task_reached_end(0, SINK)
    # when a periodic checkpoint is triggered, the running source gets its barrier and the
    # ended sink is triggered directly, as its barrier cannot come any more,
    p = c.trigger()
    assert triggers(sent, SOURCE) == [1] and triggers(sent, SINK) == [1]
    ack(c, SOURCE, 1)
    ack(c, SINK, 1)
    assert p.failure is None and p.metadata_path
    # and once every subtask ended, periodic checkpoints give way to the final one.
    c.task_reached_end(0, SOURCE)
    assert triggers(sent, SOURCE) == [1, 2] and c.pending[2].final
    with pytest.raises(CheckpointFailure, match="every subtask reached the end"):
        c.trigger()


@pytest.mark.parametrize("late", [False, True], ids=["acked-before", "acked-after"])
def test_a_failed_savepoint_deletes_the_files_its_subtasks_stored_and_nothing_else(tmp_path, late):
    # Given a savepoint into a directory that holds a file of the user's,
    from rayflink.checkpoint.storage import CheckpointStorage

    c, _ = coordinator(tmp_path / "chk")
    target = CheckpointStorage.from_uri((tmp_path / "savepoint").as_uri())
    target.write_bytes("notes.txt", b"the user's")
    p = c.trigger(savepoint_uri=target.uri)

    def source_acks() -> None:
        target.write_bytes("savepoint/task-1-0.state", b"x")  # what the source's writer stored
        c.ack(0, SOURCE, p.checkpoint_id, {"uri": target.uri, "relpath": "savepoint/task-1-0.state",
                                           "uids": ["op-1"], "size": 1, "alignment_ms": 0.0,
                                           "sync_ms": 0.0, "async_ms": 0.0})

    # when the source acknowledges (before the failure, or after it) and the sink declines,
    if not late:
        source_acks()
    c.decline(0, SINK, p.checkpoint_id, "injected: the sink cannot store its snapshot")
    if late:
        source_acks()
    # then the savepoint failed, the source's file is gone, and the user's file stays.
    assert "injected" in p.failure
    assert c.drain(30) and target.list("") == ["notes.txt"]


def test_the_history_keeps_the_latest_checkpoints_and_counts_them_all(tmp_path):
    # Given a coordinator keeping the 3 latest checkpoints (web.checkpoints.history),
    c = CheckpointCoordinator("job", {"state.checkpoints.dir": tmp_path.as_uri(), "web.checkpoints.history": 3},
                              send=lambda key, message: None, on_too_many_failures=lambda reason: None)
    c.start_attempt(0, {SOURCE: None, SINK: None}, [SOURCE], {})
    # when 200 checkpoints complete and every tenth fails,
    for cid in range(1, 201):
        c.trigger()
        ack(c, SOURCE, cid)
        if cid % 10 == 0:
            c.decline(0, SINK, cid, f"injected failure of {cid}")
        else:
            ack(c, SINK, cid)
    # then the history holds the 3 latest, and the counts and the latest of each kind hold the rest.
    stats = c.statistics()
    assert [h["id"] for h in stats["history"]] == [198, 199, 200] and len(c.history) == 3
    assert stats["counts"] == {"completed": 180, "failed": 20, "in_progress": 0, "total": 200}
    assert stats["latest"]["completed"]["id"] == 199 and stats["latest"]["savepoint"] is None
    assert stats["latest"]["failed"]["failure"] == "injected failure of 200"
    # (Flink's default is 10)
    assert CheckpointCoordinator("j", {}, send=None, on_too_many_failures=None).history.maxlen == 10


def test_a_savepoint_that_fails_leaves_no_temporary_file_of_a_subtask_killed_while_writing(tmp_path):
    # Given a savepoint for which the source stored its file, and the sink was killed while
    # writing its own (its temporary file is left),
    c, _ = coordinator(tmp_path / "chk")
    directory = tmp_path / "savepoint-1"
    p = c.trigger(savepoint_uri=directory.as_uri())
    (directory / "savepoint").mkdir(parents=True)
    (directory / "savepoint" / "task-1-0.state").write_bytes(b"x")
    c.ack(0, SOURCE, p.checkpoint_id, {"uri": directory.as_uri(), "relpath": "savepoint/task-1-0.state",
                                       "uids": [], "size": 1, "alignment_ms": 0.0, "sync_ms": 0.0, "async_ms": 0.0})
    (directory / "savepoint" / ".tmp-a1b2c3").write_bytes(b"half a snapshot")
    # when the savepoint fails,
    c.stop_attempt("the sink's executor was lost")
    # then nothing of it is left in its directory.
    assert p.failure and c.drain(30)
    assert not [f for f in directory.rglob("*") if f.is_file()]


class _Frozen(ForwardingCheckpointStorage):
    """A storage whose writes and deletes hang until ``thaw`` is set."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.thaw = threading.Event()
        self.calls = threading.Semaphore(0)

    def _hang(self) -> None:
        self.calls.release()
        assert self.thaw.wait(60)

    def write_bytes(self, relpath, data):
        self._hang()
        super().write_bytes(relpath, data)

    def delete_prefix(self, prefix):
        self._hang()
        return super().delete_prefix(prefix)


def test_a_checkpoint_expires_while_its_metadata_write_hangs_and_no_call_waits_for_the_storage(tmp_path):
    # Given a coordinator (2 s checkpoint timeout: the acks come before it, even on a loaded machine)
    # whose storage hangs every write and delete,
    c = CheckpointCoordinator("job", {"state.checkpoints.dir": tmp_path.as_uri(),
                                      "execution.checkpointing.interval": 3_600_000,
                                      "execution.checkpointing.timeout": 2_000},
                              send=lambda key, message: None, on_too_many_failures=lambda reason: None)
    frozen = c.storage = _Frozen(c.storage)
    c.start_attempt(0, {SOURCE: None, SINK: None}, [SOURCE], {})
    try:
        p = c.trigger()
        ack(c, SOURCE, 1)
        # when the last ack's thread writes the metadata, which hangs,
        last = threading.Thread(target=ack, args=(c, SINK, 1), daemon=True)
        last.start()
        assert frozen.calls.acquire(timeout=30)
        # then the checkpoint expires all the same, and the history, the statistics and the end
        # of the attempt (whose clean-up hangs too) do not wait for the storage,
        assert p.done.wait(30) and "expired before completing" in p.failure
        assert c.statistics()["counts"]["failed"] == 1
        c.stop_attempt("cancelled")
        c.discard_all()
        assert not c.drain(0.2)  # (the clean-up is still stuck)
        # and when the storage answers again, the checkpoint stays failed, its metadata deleted.
        frozen.thaw.set()
        last.join(30)
        assert c.drain(30) and p.metadata_path is None and not c.storage.list("")
    finally:
        frozen.thaw.set()
        c.shutdown()
