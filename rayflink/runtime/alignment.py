"""Checkpoint barrier alignment over a subtask's input channels (Flink's ``CheckpointBarrierHandler``).

A subtask with several input channels takes checkpoint N once barrier N has come on every
channel that has not ended. Under exactly-once, a channel that delivered its barrier is blocked
until then, so that no record after the barrier reaches the snapshot; under at-least-once the
channels keep flowing. A newer barrier overtaking an unfinished alignment replaces it. Barriers of
a checkpoint taken or aborted here already are dropped: an aborted checkpoint's barrier that
arrives late must not start an alignment that no other channel will ever complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rayflink.runtime.messages import CheckpointBarrier


class BarrierAligner:
    """Tracks the alignment in progress; calls ``take(barrier, alignment_ms)`` once it is aligned
    (``take`` reports every checkpoint it takes, aligned or triggered directly, through ``passed``)."""

    def __init__(self, gate: Any, exactly_once: bool, take: Callable[[CheckpointBarrier, float], None]) -> None:
        self.gate = gate
        self.exactly_once = exactly_once
        self.take = take
        self.current: CheckpointBarrier | None = None  # the barrier being aligned
        self.channels: set[int] = set()  # the channels it came on
        self.started = 0.0
        self.done_up_to = 0  # checkpoints up to this id were taken or aborted here

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

    def check(self, ended: list[bool]) -> None:
        """Take the checkpoint if every channel delivered its barrier or ended (call when one ends)."""
        barrier = self.current
        if barrier is None or not all(ended[c] or c in self.channels for c in range(len(ended))):
            return
        self.current = None
        self.take(barrier, (time.perf_counter() - self.started) * 1000)
        self.gate.unblock_all()

    def passed(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` was taken here without alignment (a direct trigger)."""
        self.done_up_to = max(self.done_up_to, checkpoint_id)

    def aborted(self, checkpoint_id: int) -> None:
        """The coordinator gave up on ``checkpoint_id``: stop aligning for it, drop its late barriers."""
        self.passed(checkpoint_id)
        if self.current is not None and self.current.checkpoint_id <= checkpoint_id:
            self.current = None
            self.gate.unblock_all()
