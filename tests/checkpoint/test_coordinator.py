"""The checkpoint coordinator's final checkpoint when a periodic checkpoint races the end of input."""

from __future__ import annotations

from rayflink.checkpoint.coordinator import CheckpointCoordinator
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
    assert triggers(sent, SINK) == [2]
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
