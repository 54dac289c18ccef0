"""Control events that travel in order with the records on every channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_WATERMARK = 2**63 - 1
MIN_WATERMARK = -(2**63)


@dataclass(frozen=True)
class Watermark:
    """Event time has reached ``timestamp`` (ms) on this channel."""

    timestamp: int


@dataclass(frozen=True)
class EndOfInput:
    """The sending subtask will send nothing more on this channel."""


@dataclass(frozen=True)
class IdleStatus:
    """The sending subtask is idle (True) or active again (False): skip it in watermark minimums."""

    idle: bool


@dataclass(frozen=True)
class CheckpointBarrier:
    """Everything before this barrier belongs to checkpoint ``checkpoint_id``; nothing after it does."""

    checkpoint_id: int
    timestamp: int
    savepoint_uri: str | None = None  # where a savepoint goes; None for a checkpoint


@dataclass(frozen=True)
class PriorityBarrier:
    """A checkpoint barrier sent ahead of the records in its channel (an unaligned checkpoint's),
    to the receiver's control path. ``seq`` is the channel's sequence number of the first message
    after the barrier: the channel's messages before it that the receiver has not processed when
    it takes the checkpoint are the checkpoint's in-flight records there. ``announced``: the
    barrier also comes in order behind them (an aligned checkpoint, which turns unaligned once
    ``execution.checkpointing.aligned-checkpoint-timeout`` has passed since it started)."""

    channel_id: int
    barrier: CheckpointBarrier
    seq: int
    announced: bool = False


@dataclass(frozen=True)
class TriggerCheckpoint:
    """Control message to a source subtask: take a snapshot and inject ``barrier``.

    With ``stop_source`` (stop-with-savepoint, rescale) the source emits nothing after the barrier
    unless the savepoint fails.
    """

    barrier: CheckpointBarrier
    stop_source: bool = False


@dataclass(frozen=True)
class CheckpointCompleted:
    """Control message: checkpoint ``checkpoint_id`` completed; two-phase-commit sinks commit now."""

    checkpoint_id: int


@dataclass(frozen=True)
class CheckpointAborted:
    """Control message: checkpoint ``checkpoint_id`` failed; stop aligning for it."""

    checkpoint_id: int


@dataclass(frozen=True)
class QueryKvState:
    """Control message: read ``key``'s value of the state queryable as ``name``; answer on ``reply``
    (a ``concurrent.futures.Future``) from the task's own thread, between two batches."""

    name: str
    key: Any
    reply: Any


END_OF_INPUT = EndOfInput()
