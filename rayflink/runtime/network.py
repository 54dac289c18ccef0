"""Channels between subtasks: batching, partitioning, credit-based flow control, ordered delivery."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray import cloudpickle

from rayflink.errors import truncate
from rayflink.graph.transformations import Partitioner
from rayflink.runtime.channel_state import ChannelStateCapture
from rayflink.runtime.messages import MIN_WATERMARK, CheckpointBarrier, EndOfInput, PriorityBarrier, Watermark
from rayflink.runtime.output import record_count
from rayflink.state.key_groups import UnhashableKeyError, assign_key_group, operator_index_for_key_group

MIN_DEBLOATED_BATCH = 16


class Debloat:
    """Flink's buffer debloating for one channel: under backpressure its batches shrink so that
    a record waits in the channel about ``target_s``, and so does a checkpoint barrier behind
    the records (``taskmanager.network.memory.buffer-debloat.*``).

    The sender measures how fast the receiver drains the channel (``drained``: records it took
    while the sender waited); with ``queued`` batches waiting in a full channel, batches of
    ``rate x target_s / queued`` records keep a record there about ``target_s``. Sends far from
    waiting let batches grow back. ``size`` is between ``MIN_DEBLOATED_BATCH`` and ``max_size``.
    """

    __slots__ = ("target_s", "queued", "max_size", "size")

    def __init__(self, target_s: float, queued: int, max_size: int) -> None:
        self.target_s = target_s
        self.queued = max(1, queued)
        self.max_size = max_size
        self.size = max_size

    def drained(self, records: int, seconds: float) -> None:
        if records > 0 and seconds > 0:
            wanted = records / seconds * self.target_s / self.queued
            self.size = int(max(MIN_DEBLOATED_BATCH, min(self.max_size, (self.size + wanted) / 2)))

    def free(self) -> None:
        if self.size < self.max_size:
            self.size = min(self.max_size, self.size + self.size // 4 + 1)


def _records(message: Any) -> int:
    """Records in a channel message: a batch's, or 0 for an event."""
    return len(message[0]) if type(message) is tuple else 0


class OutputChannel:
    """The sending end of one (sender subtask, receiver subtask) channel.

    At most ``credits`` batches may be unacknowledged; when they are used up, ``send``
    waits, and that wait is counted as backpressure (and, with ``debloat``, measured).
    ``send_priority`` goes to the receiver's ``control`` method instead, without credit.
    """

    __slots__ = ("method", "control", "prefix", "channel_id", "credits", "_in_flight", "_sent", "_recent", "_seq",
                 "backpressure_ns", "debloat")

    def __init__(self, handle: Any, channel_id: int, credits: int, method: str = "push",
                 prefix: tuple = (), debloat: Debloat | None = None, control: str | None = None) -> None:
        self.method = getattr(handle, method)
        self.control = None if control is None else getattr(handle, control)
        self.prefix = prefix
        self.channel_id = channel_id
        self.credits = credits
        self._in_flight: deque = deque()
        # with ``debloat``: (when, records ahead of it) per unacknowledged batch, and the sizes
        # of the last batches sent, which fill a full channel (sent, and queued at the receiver)
        self._sent: deque = deque()
        self._recent: deque = deque(maxlen=2 * credits)
        self._seq = 0
        self.backpressure_ns = 0
        self.debloat = debloat

    def send(self, message: Any) -> None:
        in_flight = self._in_flight
        debloat = self.debloat
        if len(in_flight) >= self.credits:
            start = time.perf_counter_ns()
            measure = debloat is not None and not _done(in_flight[0])  # seen as soon as accepted
            ray.get(in_flight.popleft())  # raises if the receiver died
            if debloat is not None:
                sent_ns, ahead = self._sent.popleft()
                if measure:  # the receiver took the records ahead of it meanwhile
                    debloat.drained(ahead, (time.perf_counter_ns() - sent_ns) / 1e9)
            while in_flight and _done(in_flight[0]):
                ray.get(in_flight.popleft())
                if debloat is not None:
                    self._sent.popleft()
            self.backpressure_ns += time.perf_counter_ns() - start
        elif debloat is not None and 2 * len(in_flight) < self.credits:
            debloat.free()
        in_flight.append(self.method.remote(*self.prefix, self.channel_id, self._seq, message))
        if debloat is not None:
            self._sent.append((time.perf_counter_ns(), sum(self._recent)))
            self._recent.append(_records(message))
        self._seq += 1

    @property
    def next_seq(self) -> int:
        """The sequence number of the next message ``send`` sends."""
        return self._seq

    def send_priority(self, barrier: CheckpointBarrier, seq: int, announced: bool) -> None:
        """Send ``barrier`` ahead of the messages in the channel, naming ``seq`` the first one after it."""
        self.control.remote(*self.prefix, PriorityBarrier(self.channel_id, barrier, seq, announced))

    def available(self) -> bool:
        """Whether ``send`` would not wait for credit now."""
        return len(self._in_flight) < self.credits or _done(self._in_flight[0])

    def drain(self) -> None:
        """Wait until every sent batch has been accepted by the receiver."""
        while self._in_flight:
            ray.get(self._in_flight.popleft())

    def drained(self) -> bool:
        """Whether every sent batch has been accepted by the receiver (without waiting)."""
        while self._in_flight and _done(self._in_flight[0]):
            ray.get(self._in_flight.popleft())  # raises if the receiver died
        return not self._in_flight


_REFUSED_PAUSE_S = (0.001, 0.1)  # first and longest pause before a refused batch is sent again


def until_accepted(method: Any, *args: Any, ref: Any = None) -> None:
    """Call ``method.remote(*args)`` until the receiver accepts; ``ref`` is a first call already made.

    A receiver with a bounded buffer answers False when the buffer is full (it took nothing)
    instead of holding one of its threads until there is room, so one slow consumer cannot use
    up the threads that other jobs' calls need. The caller waits here: that is its backpressure.
    """
    pause = _REFUSED_PAUSE_S[0]
    if ref is None:
        ref = method.remote(*args)
    while ray.get(ref) is False:  # raises if the receiver died
        time.sleep(pause)
        pause = min(2 * pause, _REFUSED_PAUSE_S[1])
        ref = method.remote(*args)


class RefusableChannel:
    """A channel to a receiver that may refuse a batch (see ``until_accepted``): the job
    manager's collect buffer. Up to ``credits`` batches are in flight; a refused one is sent
    again, with its sequence number, before the next batch goes out."""

    __slots__ = ("method", "prefix", "channel_id", "credits", "_in_flight", "_seq")

    def __init__(self, handle: Any, channel_id: Any, credits: int, method: str, prefix: tuple = ()) -> None:
        self.method = getattr(handle, method)
        self.prefix = prefix
        self.channel_id = channel_id
        self.credits = credits
        self._in_flight: deque = deque()  # (args, ref) of each unsettled batch
        self._seq = 0

    def send(self, message: Any) -> None:
        if len(self._in_flight) >= self.credits:
            self._settle_oldest()
        args = (*self.prefix, self.channel_id, self._seq, message)
        self._in_flight.append((args, self.method.remote(*args)))
        self._seq += 1

    def _settle_oldest(self) -> None:
        args, ref = self._in_flight.popleft()
        until_accepted(self.method, *args, ref=ref)

    def drain(self) -> None:
        """Wait until every sent batch has been accepted by the receiver."""
        while self._in_flight:
            self._settle_oldest()


class LocalChannel:
    """A channel to a subtask in the same process: no serialization; a full input queue is the backpressure."""

    __slots__ = ("gate", "channel_id", "_seq", "backpressure_ns", "debloat", "_recent")

    def __init__(self, gate: "InputGate", channel_id: int, debloat: Debloat | None = None) -> None:
        self.gate = gate
        self.channel_id = channel_id
        self._seq = 0
        self.backpressure_ns = 0
        self.debloat = debloat
        self._recent: deque = deque(maxlen=gate.capacity)  # sizes of the batches in a full queue

    def send(self, message: Any) -> None:
        if not self.gate.offer(self.channel_id, self._seq, message):
            start = time.perf_counter_ns()
            self.gate.push(self.channel_id, self._seq, message)
            waited = time.perf_counter_ns() - start
            self.backpressure_ns += waited
            if self.debloat is not None and self._recent:  # the receiver took the oldest batch
                self.debloat.drained(self._recent[0], waited / 1e9)
        elif self.debloat is not None and 2 * len(self.gate.queues[self.channel_id]) < self.gate.capacity:
            self.debloat.free()
        if self.debloat is not None:
            self._recent.append(_records(message))
        self._seq += 1

    @property
    def next_seq(self) -> int:
        return self._seq

    def send_priority(self, barrier: CheckpointBarrier, seq: int, announced: bool) -> None:
        self.gate.put_control(PriorityBarrier(self.channel_id, barrier, seq, announced))

    def available(self) -> bool:
        return len(self.gate.queues[self.channel_id]) < self.gate.capacity

    def drain(self) -> None:
        """Nothing in flight: a local send returns once the message is queued."""

    def drained(self) -> bool:
        return True


def _done(ref: Any) -> bool:
    ready, _ = ray.wait([ref], timeout=0, fetch_local=False)
    return bool(ready)


class RecordWriter:
    """Partitions an operator's output over the channels of one network edge, in batches."""

    def __init__(self, channels: list[OutputChannel], partitioner: Partitioner, subtask_index: int,
                 key_selector: Callable[[Any], Any] | None, max_parallelism: int,
                 batch_size: int, describe: Callable[[], str]) -> None:
        self.channels = channels
        self.partitioner = partitioner
        self.batch_size = batch_size
        self._debloats: list[Debloat | None] = [c.debloat for c in channels]
        self._debloating = any(d is not None for d in self._debloats)
        self.key_selector = key_selector
        self.max_parallelism = max_parallelism
        self.records_out = 0
        self._describe = describe
        n = len(channels)
        self._values: list[list] = [[] for _ in range(n)]
        self._stamps: list[list | None] = [None] * n
        self._round_robin = subtask_index % max(n, 1)
        self._key_cache: dict = {}
        self.oldest_buffered_ns: int | None = None
        self.last_watermark = MIN_WATERMARK
        self._route = {
            Partitioner.FORWARD: self._route_forward,
            Partitioner.GLOBAL: self._route_forward,
            Partitioner.REBALANCE: self._route_round_robin,
            Partitioner.RESCALE: self._route_round_robin,
            Partitioner.SHUFFLE: self._route_shuffle,
            Partitioner.BROADCAST: self._route_broadcast,
            Partitioner.HASH: (self._route_hash_batches if hasattr(key_selector, "split_by_channel")
                               else self._route_hash),
            Partitioner.CUSTOM: self._route_custom,
        }[partitioner]

    # ---- records -----------------------------------------------------------------------

    def emit(self, values: list, timestamps: list | None) -> None:
        if not values:
            return
        self.records_out += record_count(values)
        if self.oldest_buffered_ns is None:
            self.oldest_buffered_ns = time.monotonic_ns()
        self._route(values, timestamps)

    def _append(self, index: int, values: list, timestamps: list | None) -> None:
        buf = self._values[index]
        buf.extend(values)
        if timestamps is not None:
            stamps = self._stamps[index]
            if stamps is None:
                stamps = self._stamps[index] = [None] * (len(buf) - len(values))
            stamps.extend(timestamps)
        elif self._stamps[index] is not None:
            self._stamps[index].extend([None] * len(values))
        if len(buf) >= self.batch_size or (self._debloating and len(buf) >= self._debloats[index].size):
            self._flush_channel(index)

    def _route_forward(self, values: list, timestamps: list | None) -> None:
        self._append(0, values, timestamps)

    def _route_round_robin(self, values: list, timestamps: list | None) -> None:
        n = len(self.channels)
        if n == 1:
            self._append(0, values, timestamps)
            return
        start = self._round_robin
        for j in range(n):
            part = values[j::n]
            if part:
                self._append((start + j) % n, part, None if timestamps is None else timestamps[j::n])
        self._round_robin = (start + len(values)) % n

    def _route_shuffle(self, values: list, timestamps: list | None) -> None:
        n = len(self.channels)
        targets = [random.randrange(n) for _ in values]
        self._scatter(values, timestamps, targets)

    def _route_custom(self, values: list, timestamps: list | None) -> None:
        n = len(self.channels)
        select = self.key_selector  # partition_custom's (record, n) -> channel
        self._scatter(values, timestamps, [select(v, n) for v in values])

    def _route_broadcast(self, values: list, timestamps: list | None) -> None:
        for index in range(len(self.channels)):
            self._append(index, values, timestamps)

    def _route_hash(self, values: list, timestamps: list | None) -> None:
        n = len(self.channels)
        selector = self.key_selector
        cache = self._key_cache
        max_par = self.max_parallelism
        targets = []
        append = targets.append
        for v in values:
            key = selector(v)
            try:
                t = cache.get(key)
            except TypeError:
                raise self._key_error(key, v, "which is not hashable; return a str, int, float, "
                                              "bytes or tuple from the key selector") from None
            if t is None:
                try:
                    t = operator_index_for_key_group(assign_key_group(key, max_par), n, max_par)
                except UnhashableKeyError as exc:
                    raise self._key_error(key, v, f"which cannot be routed: {exc}") from None
                if len(cache) > 100_000:
                    cache.clear()
                cache[key] = t
            append(t)
        self._scatter(values, timestamps, targets)

    def _route_hash_batches(self, values: list, timestamps: list | None) -> None:
        """Columnar records (SQL's Arrow record batches): the key selector (``KeyColumns``) cuts each
        batch by its rows' key groups."""
        for batch in values:
            for index, part in self.key_selector.split_by_channel(batch, len(self.channels), self.max_parallelism):
                self._append(index, [part], None)

    def _key_error(self, key: Any, record: Any, reason: str) -> UnhashableKeyError:
        return UnhashableKeyError(
            f"key_by on edge {self._describe()}: the key selector returned {truncate(key, 100)} of type "
            f"{type(key).__qualname__} for record {truncate(record)}, {reason}")

    def _scatter(self, values: list, timestamps: list | None, targets: list[int]) -> None:
        n = len(self.channels)
        if n == 1:
            self._append(0, values, timestamps)
            return
        parts: list[list] = [[] for _ in range(n)]
        if timestamps is None:
            for v, t in zip(values, targets):
                parts[t].append(v)
            for index, part in enumerate(parts):
                if part:
                    self._append(index, part, None)
        else:
            stamp_parts: list[list] = [[] for _ in range(n)]
            for v, ts, t in zip(values, timestamps, targets):
                parts[t].append(v)
                stamp_parts[t].append(ts)
            for index, part in enumerate(parts):
                if part:
                    self._append(index, part, stamp_parts[index])

    # ---- flushing and control events ---------------------------------------------------

    def _batches(self, index: int) -> Iterator[tuple]:
        """Take the records buffered for channel ``index``, as the batches to send."""
        values = self._values[index]
        if values:
            stamps = self._stamps[index]
            self._values[index] = []
            self._stamps[index] = None
            debloat = self._debloats[index]
            if debloat is None or len(values) <= debloat.size:
                yield values, stamps
                return
            start = 0
            while start < len(values):  # debloated: in slices of the size it adapts as it goes
                end = start + debloat.size
                yield values[start:end], None if stamps is None else stamps[start:end]
                start = end

    def _flush_channel(self, index: int) -> None:
        if self._values[index]:
            send = self.channels[index].send
            for batch in self._batches(index):
                send(batch)

    def flush(self, only_available: bool = False) -> None:
        """Send the records buffered for every channel (``only_available``: for those with credit
        now; the others keep theirs for a later flush, or a barrier that overtakes them)."""
        kept = False
        for index, channel in enumerate(self.channels):
            if only_available and self._values[index] and not channel.available():
                kept = True
                continue
            self._flush_channel(index)
        if not kept:
            self.oldest_buffered_ns = None

    def emit_watermark(self, watermark: int) -> None:
        if watermark > self.last_watermark:
            self.last_watermark = watermark
            self.broadcast_event(Watermark(watermark))

    def broadcast_event(self, event: Any) -> None:
        """Send a control event on every channel, after the records buffered before it."""
        self.flush()
        for channel in self.channels:
            channel.send(event)

    def broadcast_barrier(self, barrier: CheckpointBarrier, in_order: bool, ahead: bool) -> list[tuple[int, bytes]]:
        """Send a checkpoint barrier on every channel: ``in_order`` behind the records buffered
        here and those in the channel (an aligned checkpoint's), ``ahead`` of both to the
        receiver's control path (an unaligned checkpoint's ``PriorityBarrier``, naming the
        sequence number of the first message after it), or both (announced: the number of the
        barrier in order, behind the buffered records).

        Ahead only, the barrier also overtakes the records buffered here: they are sent after
        it, and returned, pickled before they leave, as ``(channel index, batch)`` for the
        sender's checkpoint (its output in flight, sent again first on restore)."""
        overtaken: list[tuple[int, bytes]] = []
        for index, channel in enumerate(self.channels):
            batches = list(self._batches(index))
            if ahead:
                seq = channel.next_seq + len(batches) if in_order else channel.next_seq
                channel.send_priority(barrier, seq, announced=in_order)
                if not in_order:
                    overtaken.extend((index, cloudpickle.dumps(batch, protocol=5)) for batch in batches)
            for batch in batches:
                channel.send(batch)
            if in_order:
                channel.send(barrier)
        self.oldest_buffered_ns = None
        return overtaken

    def available(self) -> bool:
        """Whether every channel can take a batch now without waiting for credit."""
        return all(channel.available() for channel in self.channels)

    def drain(self) -> None:
        for channel in self.channels:
            channel.drain()

    def drained(self) -> bool:
        return all(channel.drained() for channel in self.channels)

    def backpressure_ns(self) -> int:
        return sum(c.backpressure_ns for c in self.channels)

    def current_batch_size(self) -> int:
        """The smallest batch size its channels use now (debloated under backpressure)."""
        return min((d.size for d in self._debloats if d is not None), default=self.batch_size)


class OrderedReceiver:
    """Delivers each channel's messages in sequence order.

    Ray may run two calls of one sender on different threads of a threaded actor;
    sequence numbers put them back in order before ``deliver`` sees them.
    """

    def __init__(self, deliver: Callable[[int, Any], None]) -> None:
        self._deliver = deliver
        self._expected: dict[int, int] = {}
        self._pending: dict[int, dict[int, Any]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def receive(self, channel_id: int, seq: int, message: Any) -> None:
        lock = self._locks.get(channel_id)
        if lock is None:
            with self._guard:
                lock = self._locks.setdefault(channel_id, threading.Lock())
        with lock:
            pending = self._pending.setdefault(channel_id, {})
            pending[seq] = message
            expected = self._expected.get(channel_id, 0)
            while expected in pending:
                self._deliver(channel_id, pending.pop(expected))
                expected += 1
            self._expected[channel_id] = expected

    def advance(self, channel_id: int, seq: int) -> None:
        """Record that ``seq`` was delivered directly (local channels deliver in order)."""
        self._expected[channel_id] = seq + 1


class InputGate:
    """The receiving end of a subtask's input channels: one bounded queue per channel.

    A channel can be *blocked* (barrier alignment): its queue then fills up and its sender
    runs out of credit, while the other channels keep flowing. Control messages for the task
    (checkpoint triggers and notifications, and barriers sent ahead of the records,
    ``PriorityBarrier``) come through the same gate, ahead of records.

    For unaligned checkpoints the gate knows each channel's messages by sequence number: those
    that arrived and are not taken yet (``arrived``), how many were taken (``taken``), and where
    the barriers and ends of input were; ``start_capture`` collects a checkpoint's in-flight
    records from them, and from what arrives after (``rayflink.runtime.channel_state``).
    """

    def __init__(self, num_channels: int, credits: int) -> None:
        self.capacity = max(1, credits)
        self.queues: list[deque] = [deque() for _ in range(num_channels)]
        self.blocked = [False] * num_channels
        self.control: deque = deque()
        self.cond = threading.Condition()
        self._receiver = OrderedReceiver(self._put)
        self._next = 0
        self.closed = False
        self.taken = [0] * num_channels  # messages taken from each channel (the next one's seq)
        self.arrived: list[dict[int, Any]] = [{} for _ in range(num_channels)]  # seq -> message not taken
        self._barrier_at: list[tuple[int, int]] = [(0, 0)] * num_channels  # (checkpoint id, seq) of the last
        self._ahead_at: list[tuple[int, int]] = [(0, 0)] * num_channels  # taken barrier; of the last ahead
        self._end_at: list[int | None] = [None] * num_channels  # seq of a taken end of input
        self.capture: ChannelStateCapture | None = None

    def _put(self, channel_id: int, message: Any) -> None:
        q = self.queues[channel_id]
        with self.cond:
            while len(q) >= self.capacity and not self.closed:
                self.cond.wait(0.1)
            if not self.closed:
                q.append(message)
                self.cond.notify_all()

    def push(self, channel_id: int, seq: int, message: Any) -> None:
        with self.cond:
            if self.closed:
                return
            self._arrive(channel_id, seq, message)
        self._receiver.receive(channel_id, seq, message)

    def _arrive(self, channel_id: int, seq: int, message: Any) -> None:
        """Under the lock: message ``seq`` of ``channel_id`` is at the gate."""
        self.arrived[channel_id][seq] = message
        capture = self.capture
        if capture is not None:
            capture.arrived(channel_id, seq, message)
            if capture.done:
                self.capture = None

    def offer(self, channel_id: int, seq: int, message: Any) -> bool:
        """Queue an in-order message from a local channel without blocking; False when full."""
        q = self.queues[channel_id]
        with self.cond:
            if self.closed:
                return True
            if len(q) >= self.capacity:
                return False
            self._arrive(channel_id, seq, message)
            q.append(message)
            self.cond.notify_all()
        self._receiver.advance(channel_id, seq)
        return True

    def put_control(self, message: Any) -> None:
        with self.cond:
            if type(message) is PriorityBarrier:
                self._barrier_ahead(message)
            self.control.append(message)
            self.cond.notify_all()

    def _barrier_ahead(self, message: PriorityBarrier) -> None:
        channel, cid = message.channel_id, message.barrier.checkpoint_id
        if cid > self._ahead_at[channel][0]:
            self._ahead_at[channel] = (cid, message.seq)
        capture = self.capture
        if capture is not None and cid == capture.checkpoint_id:
            capture.ends_at(channel, message.seq)
            if capture.done:
                self.capture = None

    def start_capture(self, checkpoint_id: int, inputs: list[int],
                      rest: tuple[int, list, list | None] | None = None) -> ChannelStateCapture:
        """Collect checkpoint ``checkpoint_id``'s in-flight records, from each channel's first
        message not taken yet (call from the subtask's thread as it snapshots); ``inputs[c]`` is
        the operator input channel ``c`` feeds; ``rest``: (channel, values, timestamps) of a
        batch taken but not processed to its end, which comes first. A capture still running
        is given up."""
        with self.cond:
            if self.capture is not None:
                self.capture.cancel(f"checkpoint {checkpoint_id} started before checkpoint "
                                    f"{self.capture.checkpoint_id} had its in-flight records")
            capture = ChannelStateCapture(checkpoint_id, inputs, list(self.taken), rest)
            for channel, arrived in enumerate(self.arrived):
                for cid, seq in (self._barrier_at[channel], self._ahead_at[channel]):
                    if cid == checkpoint_id:
                        capture.ends_at(channel, seq)
                if self._end_at[channel] is not None:
                    capture.ends_at(channel, self._end_at[channel])
                for seq in sorted(arrived):
                    capture.arrived(channel, seq, arrived[seq])
            capture.check()
            self.capture = None if capture.done else capture
            return capture

    def cancel_capture(self, checkpoint_id: int, reason: str) -> None:
        """Give up collecting the in-flight records of checkpoints up to ``checkpoint_id``."""
        with self.cond:
            if self.capture is not None and self.capture.checkpoint_id <= checkpoint_id:
                self.capture.cancel(reason)
                self.capture = None

    def block(self, channel_id: int) -> None:
        self.blocked[channel_id] = True

    def unblock_all(self) -> None:
        with self.cond:
            self.blocked = [False] * len(self.queues)
            self.cond.notify_all()

    def get(self, timeout: float, control_only: bool = False) -> tuple[int, Any] | None:
        """The next control message (channel -1) or record batch/event of an unblocked channel
        (``control_only``: only a control message)."""
        with self.cond:
            for attempt in (0, 1):
                if self.control:
                    return -1, self.control.popleft()
                n = 0 if control_only else len(self.queues)
                start = self._next
                for i in range(n):
                    channel = (start + i) % n
                    q = self.queues[channel]
                    if q and not self.blocked[channel]:
                        self._next = (channel + 1) % n
                        message = q.popleft()
                        seq = self.taken[channel]
                        self.taken[channel] = seq + 1
                        self.arrived[channel].pop(seq, None)
                        kind = type(message)
                        if kind is CheckpointBarrier:
                            self._barrier_at[channel] = (message.checkpoint_id, seq)
                        elif kind is EndOfInput:
                            self._end_at[channel] = seq
                        self.cond.notify_all()
                        return channel, message
                if attempt == 0 and timeout > 0:
                    self.cond.wait(timeout)
            return None

    def close(self) -> None:
        """The task ended: drop what is queued and whatever still arrives, so no sender stays blocked."""
        with self.cond:
            self.closed = True
            for q in self.queues:
                q.clear()
            for arrived in self.arrived:
                arrived.clear()
            if self.capture is not None:
                self.capture.cancel("the subtask ended")
                self.capture = None
            self.cond.notify_all()
