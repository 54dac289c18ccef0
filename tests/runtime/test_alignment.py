"""Barrier alignment: when a subtask with several inputs takes a checkpoint, and which channels wait."""

from __future__ import annotations

import pickle

import pytest

from rayflink.runtime.alignment import BarrierAligner
from rayflink.runtime.messages import END_OF_INPUT, CheckpointBarrier, PriorityBarrier, Watermark
from rayflink.runtime.network import InputGate


def aligner(channels: int = 2, exactly_once: bool = True,
            timeout_ms: int = 0) -> tuple[BarrierAligner, InputGate, list]:
    gate = InputGate(channels, 4)
    taken: list = []
    a = BarrierAligner(gate, exactly_once, lambda barrier, _ms, unaligned: (
        taken.append((barrier.checkpoint_id, "unaligned") if unaligned else barrier.checkpoint_id),
        a.passed(barrier.checkpoint_id)), timeout_ms)
    return a, gate, taken


def test_checkpoint_is_taken_when_every_open_channel_delivered_its_barrier():
    a, gate, taken = aligner(3)
    ended = [False, False, True]
    a.on_barrier(0, CheckpointBarrier(1, 0), ended)
    assert taken == [] and gate.blocked == [True, False, False]  # channel 0 waits for the others
    a.on_barrier(1, CheckpointBarrier(1, 0), ended)
    assert taken == [1] and gate.blocked == [False, False, False]


def test_at_least_once_never_blocks_a_channel():
    a, gate, taken = aligner(2, exactly_once=False)
    a.on_barrier(0, CheckpointBarrier(1, 0), [False, False])
    assert gate.blocked == [False, False]
    a.on_barrier(1, CheckpointBarrier(1, 0), [False, False])
    assert taken == [1]


def test_a_channel_ending_completes_the_alignment():
    a, gate, taken = aligner(2)
    ended = [False, False]
    a.on_barrier(0, CheckpointBarrier(1, 0), ended)
    ended[1] = True
    a.check(ended)
    assert taken == [1] and gate.blocked == [False, False]


def test_a_newer_barrier_overtakes_an_unfinished_alignment():
    a, gate, taken = aligner(2)
    ended = [False, False]
    a.on_barrier(0, CheckpointBarrier(1, 0), ended)
    a.on_barrier(1, CheckpointBarrier(2, 0), ended)
    assert gate.blocked == [False, True]  # checkpoint 1 was dropped: channel 0 flows again
    a.on_barrier(1, CheckpointBarrier(1, 0), ended)  # a late barrier of the dropped checkpoint
    a.on_barrier(0, CheckpointBarrier(2, 0), ended)
    assert taken == [2]


def test_a_late_barrier_of_an_aborted_checkpoint_blocks_nothing():
    # Given an aligning subtask whose checkpoint 1 is aborted after its barrier came on channel 0,
    a, gate, taken = aligner(2)
    ended = [False, False]
    a.on_barrier(0, CheckpointBarrier(1, 0), ended)
    a.aborted(1)
    assert gate.blocked == [False, False]
    # when checkpoint 1's barrier arrives late on channel 1,
    a.on_barrier(1, CheckpointBarrier(1, 0), ended)
    # then no alignment starts (channel 1 would wait for a barrier channel 0 already sent),
    assert gate.blocked == [False, False] and a.current is None
    # and the next checkpoint aligns as usual.
    a.on_barrier(1, CheckpointBarrier(2, 0), ended)
    a.on_barrier(0, CheckpointBarrier(2, 0), ended)
    assert taken == [2]


def test_an_abort_that_comes_before_the_barrier_drops_it():
    a, gate, taken = aligner(2)
    a.aborted(3)
    a.on_barrier(0, CheckpointBarrier(3, 0), [False, False])
    assert gate.blocked == [False, False] and a.current is None and taken == []


# ---- unaligned checkpoints ---------------------------------------------------------------------

def batch(*values: int) -> tuple:
    return list(values), None


def take_all(gate: InputGate) -> list:
    out = []
    while (item := gate.get(0)) is not None:
        out.append(item)
    return out


def in_flight(capture) -> list:
    return [(i, pickle.loads(data)[0]) for i, data in capture.records.result(timeout=0)]


def test_a_barrier_ahead_takes_the_checkpoint_at_once():
    a, gate, taken = aligner(2)
    a.on_priority(PriorityBarrier(1, CheckpointBarrier(1, 0), seq=5), now_ms=0)
    assert taken == [(1, "unaligned")] and gate.blocked == [False, False]
    a.on_priority(PriorityBarrier(0, CheckpointBarrier(1, 0), seq=3), now_ms=0)  # the other channel's
    assert taken == [(1, "unaligned")]


def test_the_capture_holds_what_was_in_flight_before_each_barrier_and_nothing_after():
    # Given a gate whose channel 0 delivered 2 batches (1 taken) and channel 1 one (taken),
    gate = InputGate(2, 8)
    gate.push(0, 0, batch(1))
    gate.push(0, 1, batch(2))
    gate.push(1, 0, batch(10))
    assert gate.get(0) == (0, batch(1)) and gate.get(0) == (1, batch(10))
    # when the subtask snapshots as channel 1's barrier arrives ahead of 2 more batches of it,
    gate.put_control(PriorityBarrier(1, CheckpointBarrier(7, 0), seq=3))
    capture = gate.start_capture(7, inputs=[0, 1])
    assert not capture.done
    gate.push(1, 1, batch(11))
    gate.push(0, 2, Watermark(5))  # events in flight are not records
    gate.push(1, 2, batch(12))
    gate.push(1, 3, batch(13))  # behind the barrier
    assert not capture.done  # channel 0's barrier has not come
    gate.push(0, 3, batch(3))
    gate.put_control(PriorityBarrier(0, CheckpointBarrier(7, 0), seq=4))
    gate.push(0, 4, batch(4))  # behind the barrier
    # then it holds channel 0's batches 2 and 3 (2 arrived before the snapshot, unprocessed) and
    # channel 1's 11 and 12, by input, in order; the subtask still processes all of them.
    assert in_flight(capture) == [(0, [2]), (0, [3]), (1, [11]), (1, [12])]
    assert sorted(m[0] for _, m in take_all(gate) if type(m) is tuple) == [[2], [3], [4], [11], [12], [13]]


def test_an_ended_channel_and_an_in_order_barrier_close_their_ranges():
    gate = InputGate(3, 8)
    gate.push(0, 0, END_OF_INPUT)
    gate.push(1, 0, batch(1))
    gate.push(1, 1, CheckpointBarrier(2, 0))  # announced and in order: aligned so far
    assert gate.get(0) == (0, END_OF_INPUT)
    capture = gate.start_capture(2, inputs=[0, 0, 1])
    gate.push(2, 0, batch(20))
    gate.push(2, 1, END_OF_INPUT)  # channel 2 ends before its barrier
    assert in_flight(capture) == [(0, [1]), (1, [20])]


def test_an_aborted_checkpoint_gives_up_its_capture():
    a, gate, taken = aligner(2)
    a.on_priority(PriorityBarrier(0, CheckpointBarrier(3, 0), seq=0), now_ms=0)
    capture = gate.start_capture(3, inputs=[0, 0])
    a.aborted(3)
    with pytest.raises(RuntimeError, match="aborted"):
        capture.records.result(timeout=0)


def test_an_announced_barrier_aligns_until_the_timeout_then_goes_unaligned():
    # Given a 100 ms aligned checkpoint timeout, a checkpoint started at t=1000,
    a, gate, taken = aligner(2, timeout_ms=100)
    barrier = CheckpointBarrier(4, 1000)
    a.on_priority(PriorityBarrier(0, barrier, seq=0, announced=True), now_ms=1010)
    a.on_barrier(0, barrier, [False, False])
    # when the other channel's barrier has not come by t=1050, the checkpoint still aligns,
    assert taken == [] and gate.blocked == [True, False]
    assert a.due(1050) == pytest.approx(0.05)
    # and at t=1100 it is taken unaligned, and every channel flows again.
    a.due(1100)
    assert taken == [(4, "unaligned")] and gate.blocked == [False, False]
    a.on_barrier(1, barrier, [False, False])  # its in-order barrier, late: dropped
    assert taken == [(4, "unaligned")] and a.current is None


def test_an_announced_barrier_that_aligns_in_time_stays_aligned():
    a, gate, taken = aligner(2, timeout_ms=100)
    barrier = CheckpointBarrier(5, 1000)
    for channel in (0, 1):
        a.on_priority(PriorityBarrier(channel, barrier, seq=0, announced=True), now_ms=1010)
        a.on_barrier(channel, barrier, [False, False])
    assert taken == [5] and a.due(5000) is None


def test_a_barrier_ahead_overtakes_the_sender_buffer_which_the_sender_keeps():
    from rayflink.graph.transformations import Partitioner
    from rayflink.runtime.network import LocalChannel, RecordWriter

    # Given a sender with 2 records buffered for a receiver,
    gate = InputGate(1, 4)
    writer = RecordWriter([LocalChannel(gate, 0)], Partitioner.FORWARD, 0, None, 128, 100, describe=str)
    writer.emit([1, 2], None)
    # when it sends an unaligned checkpoint's barrier,
    overtaken = writer.broadcast_barrier(CheckpointBarrier(1, 0), in_order=False, ahead=True)
    # then the barrier comes first and names the buffered batch as after it, and the sender gets
    # that batch back, pickled, for its own checkpoint; the receiver still gets it.
    assert gate.get(0) == (-1, PriorityBarrier(0, CheckpointBarrier(1, 0), seq=0))
    assert [(c, pickle.loads(data)) for c, data in overtaken] == [(0, ([1, 2], None))]
    assert gate.get(0) == (0, ([1, 2], None))
    # Announced (aligned checkpoint timeout), it comes both ways, naming its own place in order.
    writer.emit([3], None)
    assert writer.broadcast_barrier(CheckpointBarrier(2, 0), in_order=True, ahead=True) == []
    assert take_all(gate) == [(-1, PriorityBarrier(0, CheckpointBarrier(2, 0), seq=2, announced=True)),
                              (0, ([3], None)), (0, CheckpointBarrier(2, 0))]


def test_the_rest_of_a_batch_cut_by_the_snapshot_is_in_flight_first():
    # Given a subtask that took a batch of channel 1 and processed part of it when the barrier came,
    gate = InputGate(2, 8)
    gate.push(1, 0, batch(4, 5, 6))
    assert gate.get(0) == (1, batch(4, 5, 6))
    capture = gate.start_capture(1, inputs=[0, 0], rest=(1, [5, 6], None))
    gate.push(1, 1, batch(7))
    for channel, seq in ((0, 0), (1, 2)):
        gate.put_control(PriorityBarrier(channel, CheckpointBarrier(1, 0), seq=seq))
    # then the unprocessed rest comes first, then what followed it before the barrier.
    assert in_flight(capture) == [(0, [5, 6]), (0, [7])]
