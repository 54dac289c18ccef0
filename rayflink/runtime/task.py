"""The task actor: runs one subtask of a chain, reading its input gate or its source reader."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import ray
from ray import cloudpickle

from rayflink.checkpoint.snapshots import SnapshotWriter, load_in_flight, load_source_splits, load_states
from rayflink.checkpoint.storage import storage_options
from rayflink.clock import current_time_ms
from rayflink.common import config_options as options
from rayflink.common.configuration import checkpoint_interval_ms, debloat_target_s
from rayflink.datastream.functions import KeySelector, key_selector_of
from rayflink.errors import ConfigurationError, JobExecutionError, truncate
from rayflink.runtime.alignment import BarrierAligner
from rayflink.runtime.channel_state import InFlight
from rayflink.runtime.deployment import OutputEdge, TaskDeployment
from rayflink.runtime.messages import (
    END_OF_INPUT,
    MAX_WATERMARK,
    MIN_WATERMARK,
    CheckpointAborted,
    CheckpointBarrier,
    CheckpointCompleted,
    EndOfInput,
    IdleStatus,
    PriorityBarrier,
    QueryKvState,
    TriggerCheckpoint,
    Watermark,
)
from rayflink.runtime.network import (
    Debloat,
    InputGate,
    LocalChannel,
    OutputChannel,
    RecordWriter,
)
from rayflink.runtime.operator import NO_RECORD, OperatorContext, SourceOperator, StreamOperator
from rayflink.runtime.output import ChainedInput, record_count
from rayflink.runtime.registry import create_operator
from rayflink.runtime.results import ExecutionState, TaskFailure, TaskResult
from rayflink.runtime.task_logging import SubtaskTag, subtask_logging
from rayflink.runtime.watermark_alignment import AlignedSource
from rayflink.state.backend import StateError, StateMigrationError
from rayflink.state.key_groups import UnhashableKeyError

_LOG = logging.getLogger(__name__)

_PAUSED_NAP_S = 0.01  # how often a source paused by watermark alignment looks for a new allowance
# with unaligned checkpoints, batches are processed in slices of this many records, and a barrier
# that came ahead is taken between two (Flink's task takes it between two records)
_UNALIGNED_SLICE = 256

# failures a restart cannot fix: the job fails at once (a refused key comes back with its record)
_NOT_RECOVERABLE = (StateMigrationError, ConfigurationError, UnhashableKeyError)


class TaskCancelled(Exception):
    """The job master cancelled the task."""


class StreamTask:
    """The processing loop of one subtask (runs inside a TaskActor)."""

    def __init__(self, deployment: TaskDeployment, job_manager: Any) -> None:
        self.d = deployment
        self.job_manager = job_manager
        self.gate = InputGate(len(deployment.input_channels),
                              options.get(deployment.config, options.NETWORK_CREDITS_PER_CHANNEL))
        self.cancelled = threading.Event()
        self.writers: list[RecordWriter] = []
        self.counted_writers: list[RecordWriter] = []  # one writer per operator output that leaves the task
        self.opened: list[StreamOperator] = []  # in the order they must close
        self.key_selectors: list[KeySelector] = []  # PyFlink KeySelectors used here: opened after the
        self.opened_selectors: list[KeySelector] = []  # operators, closed after them
        self.operators: dict[int, StreamOperator] = {}
        self.started_ns = time.monotonic_ns()
        self.finished_ns: int | None = None
        self.idle_ns = 0  # time spent waiting for input (Flink's idle time; busy = the rest, less backpressure)
        self.status = ExecutionState.CREATED
        self.input_watermark = MIN_WATERMARK
        self.records_read = 0
        self.reader: Any = None
        self.source_snapshots: dict[int, list] = {}  # checkpoint id -> the reader's splits, until it completes
        self.exactly_once = options.get(deployment.config, options.CHECKPOINTING_MODE) == "EXACTLY_ONCE"
        # unaligned checkpoints (EXACTLY_ONCE only): barriers ahead of the records, and with a
        # timeout, in order too (aligned until it passes)
        self.unaligned = self.exactly_once and options.get(deployment.config, options.UNALIGNED_CHECKPOINTS)
        self.aligned_timeout_ms = options.get(deployment.config, options.ALIGNED_CHECKPOINT_TIMEOUT)
        self.aligner = BarrierAligner(self.gate, self.exactly_once, self._checkpoint, self.aligned_timeout_ms)
        # in-flight records of the restored checkpoint: to the inputs, and overtaken in the output
        self.replay: tuple[list[tuple[int, bytes]], list[tuple[int, int, bytes]]] = ([], [])
        self.output_wait_ns = 0  # a source's wait for output credit (unaligned checkpoints), backpressure
        self.unprocessed: tuple[int, list, list | None] | None = None  # (channel, values, stamps) of a batch
        # being processed in slices: what is left of it
        self.last_checkpoint_id = 0  # the latest checkpoint or savepoint snapshotted here
        self.snapshots: SnapshotWriter | None = None
        self.ended = False
        self.failure_reason: str | None = None
        self.suspended_at: int | None = None  # a source stopped at this savepoint's barrier

    # ---- wiring -------------------------------------------------------------------------

    def setup(self, outputs: list[OutputEdge], local_gate: Callable[[Any, str], Any]) -> None:
        d = self.d
        batch_mode = options.get(d.config, options.RUNTIME_MODE) == "BATCH"
        for node in d.nodes:
            ctx = OperatorContext(
                name=node.name, uid=node.uid, subtask_index=d.subtask_index, parallelism=d.parallelism,
                max_parallelism=d.max_parallelism, attempt=d.attempt, config=d.config,
                state_key_selectors=node.state_key_selectors, working_dir=d.working_dir,
                state_backend=d.state_backend, batch_mode=batch_mode, job_manager=self.job_manager, job_id=d.job_id,
            )
            self.operators[node.node_id] = create_operator(node.spec, ctx)
        for edge in d.chained_edges:
            self.operators[edge.source].output.add(ChainedInput(self.operators[edge.target]), edge.side_tag)
        credits = options.get(d.config, options.NETWORK_CREDITS_PER_CHANNEL)
        batch_size = options.get(d.config, options.NETWORK_BATCH_SIZE)
        debloat_s = debloat_target_s(d.config)
        counted: set[tuple[int, Any]] = set()
        for out in outputs:
            channels = []
            for (executor, task_key), cid in zip(out.targets, out.channel_ids):
                gate = local_gate(executor, task_key)
                if gate is not None:
                    # a full channel: its receiver's queue
                    debloat = None if debloat_s is None else Debloat(debloat_s, credits, batch_size)
                    channels.append(LocalChannel(gate, cid, debloat))
                else:
                    # a full channel: batches sent and not accepted, and the receiver's queue
                    debloat = None if debloat_s is None else Debloat(debloat_s, 2 * credits, batch_size)
                    channels.append(OutputChannel(executor, cid, credits, "push", prefix=(task_key,),
                                                  debloat=debloat, control="control"))
            source_name = self.operators[out.source].ctx.name
            writer = RecordWriter(
                channels, out.partitioner,
                d.subtask_index, out.key_selector, out.max_parallelism, batch_size,
                describe=lambda s=source_name, t=out.target_name: f"{s!r} -> {t!r}",
            )
            self.writers.append(writer)
            # each record counts once in the task's records_out, however many edges it leaves on
            output_id = (out.source, None if out.side_tag is None else out.side_tag.tag_id)
            if output_id not in counted:
                counted.add(output_id)
                self.counted_writers.append(writer)
            self.operators[out.source].output.add(writer, out.side_tag)
        # KeySelector objects (PyFlink's, with open/close) of the keyed operators and the key_by edges
        selectors = [*(sel for node in d.nodes for sel in node.state_key_selectors or ()),
                     *(out.key_selector for out in outputs)]
        owners = [key_selector_of(sel) for sel in selectors]
        self.key_selectors = list({id(o): o for o in owners if o is not None}.values())
        key = (d.vertex_id, d.subtask_index)
        master, job_id, attempt = self.job_manager, d.job_id, d.attempt
        self.snapshots = SnapshotWriter(
            f"task {d.vertex_name!r} subtask {d.subtask_index + 1}/{d.parallelism}",
            f"task-{d.vertex_id}-{d.subtask_index}", d.checkpoint_uri,
            ack=lambda cid, info: master.checkpoint_ack.remote(job_id, attempt, key, cid, info),
            decline=lambda cid, reason: master.checkpoint_decline.remote(job_id, attempt, key, cid, reason),
            storage_options=storage_options(d.config),
        )

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> TaskResult:
        """Open the chain, restore it, run it to the end of its input, close it; never raises.

        Every log line written on this thread meanwhile names the job, the task and the subtask.
        """
        d = self.d
        with subtask_logging(SubtaskTag(d.job_id, d.vertex_name, d.subtask_index + 1, d.parallelism)):
            _LOG.info("subtask started (attempt %d)", d.attempt)
            result = self._run()
            if result.failure is not None:
                _LOG.error("subtask failed: %s", result.failure.error)
            else:
                _LOG.info("subtask %s", result.status)
            return result

    def _run(self) -> TaskResult:
        self.status = ExecutionState.RUNNING
        try:
            for op in reversed(list(self.operators.values())):
                self.opened.insert(0, op)
                op.open()
            head = next(iter(self.operators.values()))
            for selector in self.key_selectors:
                self.opened_selectors.append(selector)
                selector.open(head.runtime_context())
            if self.d.restore:
                self._restore()
            if self.d.source is not None:
                self._run_source()
            else:
                self._run_inputs()
            self._close_operators()
            self.status = ExecutionState.FINISHED
            return TaskResult(ExecutionState.FINISHED, self.metrics())
        except TaskCancelled:
            if self.failure_reason is not None:
                self.status = ExecutionState.FAILED
                return TaskResult(ExecutionState.FAILED, self.metrics(), TaskFailure(
                    self.failure_reason, operator=self.d.vertex_name, uid=self.d.nodes[0].uid,
                    subtask=self.d.subtask_index))
            self.status = ExecutionState.CANCELED
            return TaskResult(ExecutionState.CANCELED, self.metrics())
        except JobExecutionError as exc:
            self.status = ExecutionState.FAILED
            return TaskResult(ExecutionState.FAILED, self.metrics(), TaskFailure(
                str(exc), operator=exc.operator, uid=exc.uid, subtask=exc.subtask, record=exc.record,
                traceback=traceback.format_exc(), recoverable=not isinstance(exc.__cause__, _NOT_RECOVERABLE)))
        except Exception as exc:  # noqa: BLE001 - everything must reach the job master, named
            self.status = ExecutionState.FAILED
            head = self.d.nodes[0]
            message = (f"task {self.d.vertex_name!r} (uid {head.uid!r}, subtask {self.d.subtask_index + 1}/"
                       f"{self.d.parallelism}) failed: {type(exc).__name__}: {exc}")
            return TaskResult(ExecutionState.FAILED, self.metrics(), TaskFailure(
                message, operator=self.d.vertex_name, uid=head.uid, subtask=self.d.subtask_index,
                traceback=traceback.format_exc(), recoverable=not isinstance(exc, _NOT_RECOVERABLE)))
        finally:
            self.finished_ns = time.monotonic_ns()
            self.gate.close()
            if self.snapshots is not None:
                self.snapshots.close()
            while self.opened:  # after a failure: close what is left, report what fails
                op = self.opened.pop(0)
                try:
                    op.close()
                except Exception:  # noqa: BLE001 - a failing close must not hide the failure before it
                    traceback.print_exc()
            while self.opened_selectors:
                try:
                    self.opened_selectors.pop().close()
                except Exception:  # noqa: BLE001 - as above
                    traceback.print_exc()

    def _close_operators(self) -> None:
        """The chain ended successfully: close every operator, head first; the first failure fails
        the task (a sink that cannot flush in close() has lost records), as in Flink."""
        while self.opened:
            op = self.opened.pop(0)
            try:
                op.close()
            except JobExecutionError:
                raise
            except Exception as exc:
                raise op.ctx.failure(exc, NO_RECORD, what="close()") from exc
        while self.opened_selectors:
            selector = self.opened_selectors.pop()
            try:
                selector.close()
            except Exception as exc:
                raise RuntimeError(f"task {self.d.vertex_name!r}: the key selector "
                                   f"{type(selector).__name__}.close() failed: {type(exc).__name__}: {exc}") from exc

    def _restore(self) -> None:
        """Load each operator's state from the snapshot files the deployment names.

        State that does not fit (a state's kind changed, max parallelism changed) raises
        StateMigrationError naming the operator uid and the state: restarting cannot fix it."""
        states = load_states(self.d.restore, storage_options(self.d.config))
        head = self.d.nodes[0]
        self.replay = load_in_flight(self.d.restore.get(head.uid, []), head.uid, self.d.subtask_index,
                                     self.d.parallelism, storage_options(self.d.config))
        for node in self.d.nodes:
            if node.uid not in states:
                continue
            try:
                self.operators[node.node_id].restore_state(states[node.uid])
            except StateError as exc:
                sources = ", ".join(sorted({uri for uri, _ in self.d.restore.get(node.uid, [])}))
                raise StateMigrationError(
                    f"cannot restore operator {node.name!r} (uid {node.uid!r}) from {sources}: {exc}") from exc

    def _timers_and_flush(self, now_ns: int) -> float:
        """Fire due processing-time timers and flush aged batches; return seconds until the next deadline."""
        next_deadline = None
        now_ms = current_time_ms()
        for op in self.chain:
            due = op.next_processing_time_timer()
            if due is not None:
                if due <= now_ms:
                    op.on_processing_time(now_ms)
                    due = op.next_processing_time_timer()
                if due is not None:
                    wait = (due - now_ms) / 1000.0
                    next_deadline = wait if next_deadline is None else min(next_deadline, wait)
        timeout_ns = self.buffer_timeout_ns
        if timeout_ns >= 0:
            for writer in self.writers:
                oldest = writer.oldest_buffered_ns
                if oldest is not None:
                    age = now_ns - oldest
                    if age >= timeout_ns:  # unaligned checkpoints: no wait for credit here (see _run_inputs)
                        writer.flush(only_available=self.unaligned)
                    else:
                        wait = (timeout_ns - age) / 1e9
                        next_deadline = wait if next_deadline is None else min(next_deadline, wait)
        return 0.1 if next_deadline is None else max(0.0, min(next_deadline, 0.1))

    def _prepare_loop(self) -> None:
        timeout_ms = options.get(self.d.config, options.BUFFER_TIMEOUT)
        self.buffer_timeout_ns = timeout_ms * 1_000_000 if timeout_ms >= 0 else -1
        self.chain = list(self.operators.values())
        self.head = self.operators[self.d.nodes[0].node_id]

    def _run_source(self) -> None:
        self._prepare_loop()
        d = self.d
        head = self.head
        if not isinstance(head, SourceOperator):
            raise TypeError(f"task {d.vertex_name!r}: the head of a source chain must be a SourceOperator, "
                            f"got {type(head).__name__}")
        splits = list(d.source_splits)
        if d.restored_splits is not None:  # read from the checkpoint's snapshot files, here in the task
            every = load_source_splits(d.restored_splits, storage_options(d.config))
            d.source.restore_splits(list(every.values()))
            splits = [every[split_id] for split_id, _uri, _relpath in splits]
        reader = d.source.create_reader(splits, d.subtask_index, d.parallelism)
        self.reader = reader
        batch_size = options.get(d.config, options.NETWORK_BATCH_SIZE)
        interval_ns = options.get(d.config, options.AUTO_WATERMARK_INTERVAL) * 1_000_000
        streaming = options.get(d.config, options.RUNTIME_MODE) != "BATCH"
        bounded = d.source.is_bounded()
        head.register_splits([s.split_id for s in reader.snapshot_state() if not s.finished], current_time_ms())
        next_periodic = time.monotonic_ns() + interval_ns
        flush_each = self.buffer_timeout_ns == 0
        self._replay_in_flight()
        alignment = head.watermark_alignment() if streaming else None
        aligned = None if alignment is None else AlignedSource(
            d.job_id, d.attempt, (d.nodes[0].uid, d.subtask_index), alignment.watermark_group,
            alignment.max_allowed_drift_ms, alignment.update_interval_ms)
        try:
            while True:
                if self.cancelled.is_set():
                    raise TaskCancelled()
                control = self.gate.get(0) if self.gate.control else None
                if control is not None:
                    self._on_control(control[1])
                if self.suspended_at is not None:  # stop-with-savepoint: nothing after the barrier
                    item = self.gate.get(0.05)
                    if item is not None and item[0] < 0:
                        self._on_control(item[1])
                    continue
                wanted = self._poll_size(batch_size)
                # watermark alignment: no reading while ahead of the group's allowance; unaligned
                # checkpoints: none while an output has no credit, so that a trigger, read
                # between two polls, is not held up behind a send
                waiting = self.unaligned and not all(w.available() for w in self.writers)
                paused = waiting or (aligned is not None and aligned.paused(
                    *head.reading_watermark(current_time_ms()), time.monotonic()))
                batches = [] if paused else reader.poll(wanted)
                if batches is None:
                    if bounded:
                        break
                    batches = []  # an unbounded source never ends: a reader without splits idles
                now_ns = time.monotonic_ns()
                now_ms = current_time_ms()
                for b in batches:
                    self.records_read += record_count(b.records)
                    head.emit_split_batch(b.split_id, b.records, b.timestamps, now_ms, b.side_output)
                if flush_each and batches:
                    self._flush_all()
                if streaming and now_ns >= next_periodic:
                    next_periodic = now_ns + interval_ns
                    head.release_splits(reader.finished_splits())
                    watermark, idle = head.periodic_emit(now_ms)
                    if idle is not None:
                        self._broadcast(IdleStatus(idle))
                    if watermark is not None:
                        head.process_watermark(watermark)
                wait = self._timers_and_flush(now_ns)
                if sum(len(b.records) for b in batches) < wanted:  # caught up: sleep, free the GIL
                    nap = min(wait, _PAUSED_NAP_S if paused else reader.wait_time())
                    time.sleep(nap)
                    if waiting:
                        self.output_wait_ns += int(nap * 1e9)
                    else:
                        self.idle_ns += int(nap * 1e9)
            if streaming:
                head.process_watermark(MAX_WATERMARK)
            self._end_of_input()
        finally:  # after the final checkpoint: its completion reaches the reader (Kafka commits offsets)
            if aligned is not None:
                aligned.leave()
            reader.close()

    def _poll_size(self, batch_size: int) -> int:
        """How many records a source reads at a time: ``batch_size``, or, with buffer debloating,
        what one batch per channel of its most backpressured output takes, so that a checkpoint
        trigger, read between two polls, does not wait for a full poll to drain into a slow
        channel."""
        sizes = [w.current_batch_size() * len(w.channels) for w in self.writers]
        return max(1, min([batch_size, *sizes]))

    def _run_inputs(self) -> None:
        self._prepare_loop()
        d = self.d
        n = len(d.input_channels)
        channel_input = d.input_channels
        watermarks = [MIN_WATERMARK] * n
        idle = [False] * n
        ended = [False] * n
        remaining = n
        head = self.head
        gate = self.gate
        flush_each = self.buffer_timeout_ns == 0
        wait = 0.1
        idle_out = False
        self._replay_in_flight()
        aligner = self.aligner
        while remaining:
            if self.cancelled.is_set():
                raise TaskCancelled()
            waited_from = time.monotonic_ns()
            if self.unaligned and not all(w.available() for w in self.writers):
                # unaligned checkpoints: no input while an output has no credit, so that a barrier
                # that comes ahead is not held up behind a send (Flink's task waits for output
                # availability the same way)
                item = gate.get(_PAUSED_NAP_S, control_only=True)
                now_ns = time.monotonic_ns()
                self.output_wait_ns += now_ns - waited_from
            else:
                item = gate.get(wait)
                now_ns = time.monotonic_ns()
                self.idle_ns += now_ns - waited_from
            if item is not None:
                channel, message = item
                if channel < 0:
                    self._on_control(message)
                elif type(message) is CheckpointBarrier:
                    aligner.on_barrier(channel, message, ended)
                elif type(message) is tuple:
                    values, stamps = message
                    count = record_count(values)
                    self.records_read += count
                    head.records_in += count
                    if self.unaligned and len(values) > _UNALIGNED_SLICE:
                        self._process_in_slices(values, stamps, channel, channel_input[channel])
                    else:
                        head.process_batch(values, stamps, channel_input[channel])
                    if flush_each:
                        self._flush_all()
                else:
                    if type(message) is Watermark:
                        watermarks[channel] = message.timestamp
                        idle[channel] = False
                    elif type(message) is IdleStatus:
                        idle[channel] = message.idle
                    elif type(message) is EndOfInput:
                        ended[channel] = True
                        remaining -= 1
                        aligner.check(ended)
                    active = [w for w, i, e in zip(watermarks, idle, ended) if not i and not e]
                    if active:
                        combined = min(active)
                        if combined > self.input_watermark:
                            self.input_watermark = combined
                            head.process_watermark(combined)
                    all_idle = not active and remaining > 0
                    if all_idle != idle_out:
                        idle_out = all_idle
                        self._broadcast(IdleStatus(all_idle))
            wait = self._timers_and_flush(now_ns)
            if aligner.announced is not None:  # an aligned checkpoint that may turn unaligned
                due = aligner.due(current_time_ms())
                if due is not None:
                    wait = min(wait, due)
        self._end_of_input()

    def _process_in_slices(self, values: list, stamps: list | None, channel: int, input_index: int) -> None:
        """Process a batch in slices, handling the control messages that came meanwhile between
        two (a barrier ahead: the checkpoint holds the rest of the batch as in flight)."""
        head, gate = self.head, self.gate
        for start in range(0, len(values), _UNALIGNED_SLICE):
            if start and gate.control:
                self.unprocessed = (channel, values[start:], None if stamps is None else stamps[start:])
                while gate.control:
                    item = gate.get(0)  # control messages come first
                    if item is not None:
                        self._on_control(item[1])
                self.unprocessed = None
            end = start + _UNALIGNED_SLICE
            head.process_batch(values[start:end], None if stamps is None else stamps[start:end], input_index)

    def _replay_in_flight(self) -> None:
        """Before any new input, send again the output records the restored checkpoint's barriers
        overtook here, then process the records that were in flight to this subtask."""
        records, output = self.replay
        self.replay = ([], [])
        for writer, channel, data in output:
            self.writers[writer].channels[channel].send(cloudpickle.loads(data))
        head = self.head
        for input_index, data in records:
            values, stamps = cloudpickle.loads(data)
            count = record_count(values)
            self.records_read += count
            head.records_in += count
            head.process_batch(values, stamps, input_index)

    # ---- checkpoints -------------------------------------------------------------------

    def _on_control(self, message: Any) -> None:
        if type(message) is TriggerCheckpoint:
            if message.barrier.checkpoint_id <= self.last_checkpoint_id:
                return  # taken already (its barrier came before our end, then the direct trigger)
            self._checkpoint(message.barrier, 0.0)
            if message.stop_source:
                self.suspended_at = message.barrier.checkpoint_id
        elif type(message) is CheckpointCompleted:
            self.snapshots.notify_checkpoint_complete(message.checkpoint_id)
            for op in self.operators.values():
                op.notify_checkpoint_complete(message.checkpoint_id)
            if self.reader is not None:
                splits = self.source_snapshots.get(message.checkpoint_id)
                for cid in [c for c in self.source_snapshots if c <= message.checkpoint_id]:
                    del self.source_snapshots[cid]  # an older pending checkpoint is subsumed
                if splits is not None:
                    self.reader.notify_checkpoint_complete(message.checkpoint_id, splits)
        elif type(message) is CheckpointAborted:
            if self.suspended_at == message.checkpoint_id:
                self.suspended_at = None  # the savepoint failed: the job goes on
            self.aligner.aborted(message.checkpoint_id)
            self.source_snapshots.pop(message.checkpoint_id, None)
            self.snapshots.notify_checkpoint_aborted(message.checkpoint_id)
            for op in self.operators.values():
                op.notify_checkpoint_aborted(message.checkpoint_id)
        elif type(message) is PriorityBarrier:
            if not self.ended:
                self.aligner.on_priority(message, current_time_ms())
        elif type(message) is QueryKvState:
            self._answer_query(message)

    # ---- queryable state -------------------------------------------------------------

    def _answer_query(self, query: QueryKvState) -> None:
        """Read one key of a queryable state between two batches (so never while the loop writes
        it) and pickle the value here, before the loop can change it again."""
        if not query.reply.set_running_or_notify_cancel():
            return  # the asker gave up
        known: list[str] = []
        try:
            for node in self.d.nodes:
                op = self.operators[node.node_id]
                names = op.queryable_states()
                state_name = names.get(query.name)
                if state_name is None:
                    known.extend(names)
                    continue
                found, value = op.query_state(state_name, query.key)
                try:
                    payload = cloudpickle.dumps(value, protocol=5) if found else None
                except Exception as exc:  # noqa: BLE001 - the user's value
                    raise StateError(f"state {state_name!r} of operator {node.uid!r}: the value of key "
                                     f"{truncate(query.key, 80)} cannot be pickled ({exc})") from exc
                query.reply.set_result({"status": "OK", "found": found, "value": payload, "uid": node.uid,
                                        "state": state_name, "subtask": self.d.subtask_index})
                return
            query.reply.set_result({"status": "UNKNOWN_STATE", "known": sorted(known)})
        except Exception as exc:  # noqa: BLE001 - the asker gets the error, the job goes on
            query.reply.set_result({"status": "ERROR", "message": f"{type(exc).__name__}: {exc}"})

    def _checkpoint(self, barrier: CheckpointBarrier, alignment_ms: float, unaligned: bool = False) -> None:
        """Snapshot the chain synchronously, send the barrier on, upload the snapshot in the background.

        ``unaligned``: taken at the checkpoint's first barrier; the gate collects the records in
        flight before the barriers still to come, and the upload stores them with the snapshot."""
        start = time.perf_counter()
        self.last_checkpoint_id = barrier.checkpoint_id
        self.aligner.passed(barrier.checkpoint_id)
        for op in self.operators.values():
            op.prepare_snapshot_pre_barrier(barrier.checkpoint_id)
        capture = (self.gate.start_capture(barrier.checkpoint_id, list(self.d.input_channels), self.unprocessed)
                   if unaligned else None)
        overtaken = [] if self.ended else self._forward_barrier(barrier, unaligned)
        in_flight = None
        if capture is not None or overtaken:
            in_flight = InFlight(self.d.nodes[0].uid, self.d.subtask_index, self.d.parallelism,
                                 None if capture is None else capture.records, overtaken)
        states = {}
        for node in self.d.nodes:
            state = self.operators[node.node_id].snapshot_state()
            if state is not None:
                states[node.uid] = state
        extra = {}
        if self.reader is not None:
            splits = self.reader.snapshot_state()
            self.source_snapshots[barrier.checkpoint_id] = splits
            extra["source_splits"] = {self.d.nodes[0].uid: splits}
        self.snapshots.write(barrier, states, extra, alignment_ms, (time.perf_counter() - start) * 1000, in_flight)

    def _forward_barrier(self, barrier: CheckpointBarrier, taken_unaligned: bool) -> list[tuple[int, int, bytes]]:
        """Send the barrier downstream: in order (aligned checkpoints, savepoints), ahead of the
        records (unaligned), or both (aligned, announced ahead, while the aligned checkpoint
        timeout may still turn it unaligned downstream). Returns the output batches it
        overtook here, ``[(writer index, channel index, pickled batch)]``."""
        if not self.unaligned or barrier.savepoint_uri is not None:
            in_order, ahead = True, False
        elif taken_unaligned or self.aligned_timeout_ms == 0:
            in_order, ahead = False, True
        else:
            in_order, ahead = True, True
        return [(w, channel, data) for w, writer in enumerate(self.writers)
                for channel, data in writer.broadcast_barrier(barrier, in_order, ahead)]

    def _end_of_input(self) -> None:
        for op in self.operators.values():  # topological order: upstream results reach downstream first
            op.end_input()
        self._broadcast(END_OF_INPUT)
        if self.unaligned:  # a barrier ahead (or a source's trigger) is taken while the channels drain
            while not all(w.drained() for w in self.writers):
                item = self.gate.get(_PAUSED_NAP_S, control_only=True)
                if item is not None:
                    self._on_control(item[1])
        for writer in self.writers:
            writer.drain()
        self.ended = True
        if checkpoint_interval_ms(self.d.config) > 0:
            self._await_final_checkpoint()

    def _await_final_checkpoint(self) -> None:
        """Wait for a checkpoint taken after our end (a periodic one, which triggers us directly,
        or the final one taken once every subtask ended); its completion commits our sinks.
        Later checkpoints carry the state we acknowledged for it, so a savepoint (not kept by the
        job) does not count."""
        d = self.d
        self.job_manager.task_reached_end.remote(d.job_id, d.attempt, (d.vertex_id, d.subtask_index))
        final_ids: set[int] = set()
        while True:
            if self.cancelled.is_set():
                raise TaskCancelled()
            item = self.gate.get(0.1)
            if item is None or item[0] >= 0:
                continue  # records cannot come any more; barriers of ended channels are moot
            message = item[1]
            if (type(message) is TriggerCheckpoint and message.barrier.savepoint_uri is None
                    and message.barrier.checkpoint_id > self.last_checkpoint_id):
                final_ids.add(message.barrier.checkpoint_id)
            self._on_control(message)
            if type(message) is CheckpointCompleted and message.checkpoint_id in final_ids:
                return

    def _flush_all(self) -> None:
        for writer in self.writers:
            writer.flush()

    def _broadcast(self, event: Any) -> None:
        for writer in self.writers:
            writer.broadcast_event(event)

    # ---- metrics -------------------------------------------------------------------------

    def metrics(self) -> dict:
        end = self.finished_ns or time.monotonic_ns()
        elapsed_s = max((end - self.started_ns) / 1e9, 1e-9)
        backpressure_ns = sum(w.backpressure_ns() for w in self.writers) + self.output_wait_ns
        ops = {}
        for node in self.d.nodes:
            op = self.operators.get(node.node_id)
            if op is None:
                continue
            ops[node.uid] = {"name": node.name, "records_in": op.records_in,
                             "records_out": op.output.records_out,
                             "side_records_out": op.output.side_records_out,
                             "watermark": op.current_watermark, **op.metrics()}
        if self.reader is not None and self.d.nodes[0].uid in ops:  # the source reader's counters
            ops[self.d.nodes[0].uid].update(self.reader.metrics())
        records_out = sum(w.records_out for w in self.counted_writers)
        ctx = ray.get_runtime_context()
        return {
            "vertex_id": self.d.vertex_id, "vertex": self.d.vertex_name, "subtask": self.d.subtask_index,
            "status": str(self.status), "node_id": ctx.get_node_id(), "actor_id": ctx.get_actor_id(),
            "pid": os.getpid(), "records_in": self.records_read, "records_out": records_out,
            "records_in_per_s": self.records_read / elapsed_s, "records_out_per_s": records_out / elapsed_s,
            "backpressure_ratio": min(1.0, backpressure_ns / 1e9 / elapsed_s),
            "backpressured_s": backpressure_ns / 1e9, "idle_s": self.idle_ns / 1e9,
            "output_batch_size": min((w.current_batch_size() for w in self.writers), default=None),
            "input_watermark": self.input_watermark, "elapsed_s": elapsed_s, "operators": ops,
        }
