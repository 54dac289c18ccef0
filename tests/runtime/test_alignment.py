"""Barrier alignment: when a subtask with several inputs takes a checkpoint, and which channels wait."""

from __future__ import annotations

from rayflink.runtime.alignment import BarrierAligner
from rayflink.runtime.messages import CheckpointBarrier
from rayflink.runtime.network import InputGate


def aligner(channels: int = 2, exactly_once: bool = True) -> tuple[BarrierAligner, InputGate, list]:
    gate = InputGate(channels, 4)
    taken: list = []
    a = BarrierAligner(gate, exactly_once, lambda barrier, _ms: (taken.append(barrier.checkpoint_id),
                                                                 a.passed(barrier.checkpoint_id)))
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
