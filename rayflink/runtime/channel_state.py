"""The in-flight records of an unaligned checkpoint at one subtask's input gate (Flink's channel state).

An unaligned checkpoint snapshots a subtask's operators as soon as the checkpoint's first barrier
reaches it, and its barriers travel ahead of the records queued in the channels
(``PriorityBarrier``). The records that were in a channel before its barrier, and that the subtask
had not processed when it took the snapshot, are then part of the checkpoint: the subtask stores
them with its snapshot, and a restore replays them into its operators before any new input.

Every channel message has a sequence number (``OrderedReceiver``), and a barrier sent ahead names
the number of the first message behind it. So the in-flight records of channel ``c`` are the
messages numbered from the first one the subtask had not taken when it snapshotted (``start``) up
to the barrier's number (``until``). They are captured as they *arrive* at the gate, not as the
subtask processes them: a backpressured subtask does not hold the checkpoint back. The batches are
pickled when captured (the subtask may change their records in place once it processes them).
The range of a channel ends early at its end of input, and at an in-order barrier of the same
checkpoint (``aligned-checkpoint-timeout``: the barrier came both ways). The records a sender had
buffered, not yet sent, when its barrier overtook them are after the barrier in the channel: the
sender keeps them in its own checkpoint (``InFlight.output``) and sends them again on restore.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ray import cloudpickle

from rayflink.runtime.messages import CheckpointBarrier, EndOfInput


class ChannelStateCapture:
    """Collects checkpoint ``checkpoint_id``'s in-flight batches at a gate; ``records`` resolves to
    ``[(input index, pickled (values, timestamps))]`` in channel and sequence order once every
    channel's range is known and has arrived (or fails when the checkpoint is given up).

    ``start[c]``: the first sequence number not processed at the snapshot; ``until[c]``: the
    barrier's, None while unknown. The gate calls ``arrived`` (under its lock) with every message,
    and ``ends_at`` when it learns where a channel's range ends."""

    def __init__(self, checkpoint_id: int, inputs: list[int], start: list[int],
                 rest: tuple[int, list, list | None] | None = None) -> None:
        self.checkpoint_id = checkpoint_id
        self.inputs = inputs
        self.start = start
        # (channel, values, timestamps): the part of a batch taken, not processed at the snapshot
        self.rest = None if rest is None else (rest[0], cloudpickle.dumps((rest[1], rest[2]), protocol=5))
        self.until: list[int | None] = [None] * len(start)
        self.messages: list[dict[int, bytes | None]] = [{} for _ in start]  # seq -> batch (None: an event)
        self.records: Future = Future()

    @property
    def done(self) -> bool:
        return self.records.done()

    def arrived(self, channel: int, seq: int, message: Any) -> None:
        if self.done or seq < self.start[channel]:
            return
        until = self.until[channel]
        if until is not None and seq >= until:
            return
        kind = type(message)
        if (kind is CheckpointBarrier and message.checkpoint_id >= self.checkpoint_id) or kind is EndOfInput:
            self.ends_at(channel, seq)  # nothing after it belongs to this checkpoint
            return
        self.messages[channel][seq] = cloudpickle.dumps(message, protocol=5) if kind is tuple else None
        self.check()

    def ends_at(self, channel: int, seq: int) -> None:
        """Channel ``channel``'s in-flight range ends before message ``seq``."""
        if self.done:
            return
        until = self.until[channel]
        if until is None or seq < until:
            self.until[channel] = seq = max(seq, self.start[channel])
            messages = self.messages[channel]
            for late in [s for s in messages if s >= seq]:
                del messages[late]
        self.check()

    def cancel(self, reason: str) -> None:
        if not self.done:
            self.records.set_exception(RuntimeError(reason))

    def check(self) -> None:
        """Resolve ``records`` if every channel's range is known and has arrived."""
        if self.done:
            return
        for start, until, messages in zip(self.start, self.until, self.messages):
            if until is None or len(messages) < until - start:
                return
        records = []
        for c, messages in enumerate(self.messages):
            if self.rest is not None and self.rest[0] == c:
                records.append((self.inputs[c], self.rest[1]))
            records.extend((self.inputs[c], data) for _, data in sorted(messages.items()) if data is not None)
        self.records.set_result(records)


@dataclass(frozen=True)
class InFlight:
    """What a subtask hands its ``SnapshotWriter`` for an unaligned checkpoint, to store with the
    snapshot of its head operator ``uid``: the records in flight to it (``ChannelStateCapture.records``;
    None for a source), and those its barriers overtook in its own output buffers,
    ``[(writer index, channel index, pickled batch)]``."""

    uid: str
    subtask: int
    parallelism: int
    records: Future | None
    output: list[tuple[int, int, bytes]]
