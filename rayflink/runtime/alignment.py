"""Checkpoint barrier alignment over a subtask's input channels (Flink's ``CheckpointBarrierHandler``).

A subtask with several input channels takes checkpoint N once barrier N has come on every
channel that has not ended. Under exactly-once, a channel that delivered its barrier is blocked
until then, so that no record after the barrier reaches the snapshot; under at-least-once the
channels keep flowing. A newer barrier overtaking an unfinished alignment replaces it. Barriers of
a checkpoint taken or aborted here already are dropped: an aborted checkpoint's barrier that
arrives late must not start an alignment that no other channel will ever complete.

Unaligned checkpoints (``execution.checkpointing.unaligned.enabled``) send their barriers ahead
of the records in the channels (``PriorityBarrier``): the first one to arrive makes the subtask
take the checkpoint at once, unaligned, and the gate collects the records that were in flight
before each channel's barrier (``rayflink.runtime.channel_state``). With
``aligned-checkpoint-timeout`` the barrier comes both ways: in order, aligned as above, and
announced ahead; once the timeout has passed since the checkpoint started, an alignment not yet
complete is given up and the checkpoint is taken unaligned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rayflink.runtime.messages import CheckpointBarrier, PriorityBarrier


class BarrierAligner:
    """Tracks the alignment in progress; calls ``take(barrier, alignment_ms, unaligned)`` once it
    is aligned, or to take it unaligned (``take`` reports every checkpoint it takes, aligned or
    triggered directly, through ``passed``). ``timeout_ms``: the aligned checkpoint timeout for
    announced barriers."""

    def __init__(self, gate: Any, exactly_once: bool, take: Callable[[CheckpointBarrier, float, bool], None],
                 timeout_ms: int = 0) -> None:
        self.gate = gate
        self.exactly_once = exactly_once
        self.take = take
        self.timeout_ms = timeout_ms
        self.current: CheckpointBarrier | None = None  # the barrier being aligned
        self.channels: set[int] = set()  # the channels it came on
        self.started = 0.0
        self.done_up_to = 0  # checkpoints up to this id were taken or aborted here
        self.announced: CheckpointBarrier | None = None  # the newest barrier announced ahead, not taken

    def on_barrier(self, channel: int, barrier: CheckpointBarrier, ended: list[bool]) -> None:
        cid = barrier.checkpoint_id
        if cid <= self.done_up_to:
            return  # late: its checkpoint was taken (another way) or aborted
        current = self.current
        if current is None or cid > current.checkpoint_id:
            if current is not None:  # a newer barrier overtook an unfinished alignment: drop the old one
                self.gate.unblock_all()
            self.current, self.channels, self.started = barrier, set(), time.perf_counter()
        elif cid < current.checkpoint_id:
            return  # an older checkpoint's barrier, overtaken already
        self.channels.add(channel)
        if self.exactly_once:
            self.gate.block(channel)  # records after the barrier wait until every channel has it
        self.check(ended)

    def on_priority(self, message: PriorityBarrier, now_ms: int) -> None:
        """A barrier came ahead of the records: take its checkpoint unaligned now, or, announced,
        once the aligned checkpoint timeout has passed (``due``)."""
        barrier = message.barrier
        if barrier.checkpoint_id <= self.done_up_to:
            return
        if not message.announced:
            self._take_unaligned(barrier)
        elif self.announced is None or barrier.checkpoint_id > self.announced.checkpoint_id:
            self.announced = barrier
            self.due(now_ms)

    def due(self, now_ms: int) -> float | None:
        """Take an announced checkpoint unaligned if its timeout has passed; the seconds until it
        will have, or None when nothing is announced."""
        barrier = self.announced
        if barrier is None:
            return None
        if barrier.checkpoint_id <= self.done_up_to:
            self.announced = None
            return None
        left_ms = barrier.timestamp + self.timeout_ms - now_ms
        if left_ms > 0:
            return left_ms / 1000
        self._take_unaligned(barrier)
        return None

    def _take_unaligned(self, barrier: CheckpointBarrier) -> None:
        aligning = self.current is not None and self.current.checkpoint_id <= barrier.checkpoint_id
        started = self.started if aligning else time.perf_counter()
        if aligning:
            self.current = None
        self.announced = None
        self.take(barrier, (time.perf_counter() - started) * 1000, True)
        if aligning:
            self.gate.unblock_all()

    def check(self, ended: list[bool]) -> None:
        """Take the checkpoint if every channel delivered its barrier or ended (call when one ends)."""
        barrier = self.current
        if barrier is None or not all(ended[c] or c in self.channels for c in range(len(ended))):
            return
        self.current = None
        self.take(barrier, (time.perf_counter() - self.started) * 1000, False)
        self.gate.unblock_all()

    def passed(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` was taken here without alignment (a direct trigger)."""
        self.done_up_to = max(self.done_up_to, checkpoint_id)

    def aborted(self, checkpoint_id: int) -> None:
        """The coordinator gave up on ``checkpoint_id``: stop aligning for it, drop its late barriers."""
        self.passed(checkpoint_id)
        self.gate.cancel_capture(checkpoint_id, f"checkpoint {checkpoint_id} was aborted")
        if self.current is not None and self.current.checkpoint_id <= checkpoint_id:
            self.current = None
            self.gate.unblock_all()
