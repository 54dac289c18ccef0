"""The one operator contract every physical operator implements (Flink's ``StreamOperator`` family).

``StreamTask`` (rayflink/runtime/task.py) drives operators only through what is declared here;
every optional hook has a default on ``StreamOperator``, so the task never asks ``hasattr``.

- ``StreamOperator``: the lifecycle, timers, checkpoint hooks and metrics hooks.
- ``AbstractStreamOperator``: the base every physical operator extends; it owns the operator's
  keyed state backend and timers (created on first use, on keyed streams), checkpoints,
  restores and disposes them, and builds the ``RuntimeContext`` user functions see.
- ``OneInputStreamOperator`` / ``TwoInputStreamOperator``: operators with one input, or two
  (connected streams, joins); ``input_index`` says which input a batch came from.
- ``SourceOperator``: the head of a source chain; the task feeds it what the ``SourceReader``
  reads, split by split, and asks it for watermarks.

Where operators emit is ``rayflink.runtime.output`` (``Output`` and ``TimestampedCollector``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rayflink.common.execution_config import global_job_parameters
from rayflink.datastream.functions import RuntimeContext
from rayflink.datastream.state_backend import state_backend_from_config
from rayflink.errors import JobExecutionError, truncate
from rayflink.runtime.messages import MIN_WATERMARK
from rayflink.runtime.output import Output
from rayflink.state.backend import KeyedStateBackend
from rayflink.state.key_groups import key_group_range
from rayflink.state.timers import InternalTimerService


@dataclass
class OperatorContext:
    """What the task gives an operator: who it is, where it runs, and how to make keyed state."""

    name: str
    uid: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    attempt: int
    config: dict
    state_key_selectors: tuple | None
    working_dir: str
    state_backend: Any = None  # the user's HashMapStateBackend()/EmbeddedRocksDBStateBackend() or None
    batch_mode: bool = False
    job_manager: Any = None  # the JobManager actor's handle (collect and print sinks, checkpoints)
    job_id: str = ""
    job_parameters: dict = field(default_factory=dict)

    def key_groups(self) -> range:
        """The key groups this subtask owns."""
        return key_group_range(self.subtask_index, self.parallelism, self.max_parallelism)

    def describe(self) -> str:
        """``operator 'name' (uid 'u', subtask i/n)``, for messages."""
        return f"operator {self.name!r} (uid {self.uid!r}, subtask {self.subtask_index + 1}/{self.parallelism})"

    def failure(self, exc: BaseException, record: Any = None, *, what: str = "user code") -> JobExecutionError:
        """A JobExecutionError naming this operator, its subtask and the offending record."""
        rec = "" if record is NO_RECORD else f" while processing record {truncate(record)}"
        message = (f"{self.describe()}: {what} raised {type(exc).__name__}: {exc}{rec}")
        return JobExecutionError(message, operator=self.name, uid=self.uid, subtask=self.subtask_index,
                                 record=None if record is NO_RECORD else truncate(record),
                                 cause=f"{type(exc).__name__}: {exc}")


NO_RECORD: Any = object()  # ``failure(exc, NO_RECORD)``: the failure is not about one record


class StreamOperator:
    """The lifecycle of every physical operator, as Flink's ``StreamOperator``.

    Call order, all on the subtask's one thread (so an operator needs no locks)::

        __init__(params, ctx)            the task builds the chain, then wires each ``output``
        open()                           tail of the chain first: open user functions, create state
        restore_state(states)            only when the attempt restores a checkpoint or savepoint
        ( process_batch(values, timestamps, input_index)
        | process_watermark(watermark)
        | on_processing_time(now_ms)     when ``next_processing_time_timer()`` is due
        | prepare_snapshot_pre_barrier(id); snapshot_state()   at barrier ``id`` (forwarded in between)
        | notify_checkpoint_complete(id) | notify_checkpoint_aborted(id)
        )*
        end_input()                      every input ended (bounded streams): emit what waited for it
        close()                          always, once, last: close user functions, release state;
                                         after a successful end, an exception here fails the task

    A worked example: ``from_collection([1, 2, 3]).key_by(k).process(f)`` with a checkpoint
    taken after the first batch. The process operator sees ``open()``;
    ``process_batch([1, 2], None, 0)`` (emitting through ``self.output`` or its
    ``TimestampedCollector``); ``prepare_snapshot_pre_barrier(1)``, then the task forwards
    barrier 1 downstream, then ``snapshot_state()`` (its keyed state and timers, uploaded in the
    background); ``process_batch([3], None, 0)``; ``notify_checkpoint_complete(1)``;
    ``process_watermark(MAX_WATERMARK)`` (the end of a bounded stream fires every event-time
    timer); ``end_input()``; ``close()`` (the user function's ``close()``, then its state).
    Restored in a later attempt, it sees ``open()``, ``restore_state([...])`` with the states
    of every old subtask whose key groups it now owns, then records.

    Records arrive in batches: ``values`` and, when the stream has event time, ``timestamps``
    (a list of the same length), else None. Hot paths work on the whole batch.
    Every hook below has a default, so an operator overrides only what it needs.
    """

    num_inputs: ClassVar[int] = 1

    def __init__(self, params: Any, ctx: OperatorContext) -> None:
        self.params = params
        self.ctx = ctx
        self.output: Output = Output()
        self.records_in = 0
        self.current_watermark = MIN_WATERMARK

    # ---- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Prepare (open user functions, create state)."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        """Process a batch of records from input ``input_index`` (0, or 1 for two-input operators)."""
        raise NotImplementedError(f"{type(self).__name__} takes no records")

    def process_watermark(self, watermark: int) -> None:
        """Event time advanced: fire event-time timers, then forward the watermark."""
        self.current_watermark = watermark
        self.output.emit_watermark(watermark)

    def end_input(self) -> None:
        """All input ended: emit what waits for the end (BATCH results)."""

    def close(self) -> None:
        """Close user functions and release resources; called once, last, on success and on
        failure. After a successful end an exception here fails the task (a buffered sink that
        cannot flush would lose records), as Flink fails it; after a failure it is only reported."""

    # ---- timers --------------------------------------------------------------------------

    def next_processing_time_timer(self) -> int | None:
        """The earliest registered processing-time timer (epoch ms), if any."""
        return None

    def on_processing_time(self, now_ms: int) -> None:
        """Fire the processing-time timers that are due at ``now_ms``."""

    # ---- checkpoints ---------------------------------------------------------------------

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        """Just before the barrier goes downstream: emit or set aside what belongs to this checkpoint."""

    def snapshot_state(self) -> Any:
        """The operator's state for a checkpoint (None when it has none)."""
        return None

    def restore_state(self, states: list) -> None:
        """Load what ``snapshot_state`` returned (one entry per old subtask that had state)."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` is durable everywhere: two-phase-commit sinks commit now."""

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` failed."""

    # ---- metrics and queryable state ---------------------------------------------------------

    def metrics(self) -> dict[str, int | float]:
        """The operator's own counters and gauges (e.g. ``num_late_records_dropped``), merged into
        its metrics next to ``records_in``, ``records_out`` and ``watermark``."""
        return {}

    def queryable_states(self) -> dict[str, str]:
        """Queryable name -> state name of the keyed states this operator lets clients read."""
        return {}

    def query_state(self, state_name: str, key: Any) -> tuple[bool, Any]:
        """(found, value) of ``key`` in keyed state ``state_name`` (one of ``queryable_states``)."""
        return False, None


class AbstractStreamOperator(StreamOperator):
    """The base of every physical operator: keyed state and timers, checkpointed here.

    On a keyed stream (``ctx.state_key_selectors`` set) ``keyed_state_backend()`` creates the
    subtask's keyed state backend on first call; ``internal_timer_service()`` creates its timers.
    Both are snapshotted, restored and disposed by this class, so an operator that keeps its
    state there needs no checkpoint code of its own.
    """

    def __init__(self, params: Any, ctx: OperatorContext) -> None:
        super().__init__(params, ctx)
        self.keyed_backend: KeyedStateBackend | None = None
        self.timers: InternalTimerService | None = None

    def keyed_state_backend(self) -> KeyedStateBackend | None:
        """The operator's keyed state backend (created on first call), or None off keyed streams."""
        if self.keyed_backend is not None or self.ctx.state_key_selectors is None:
            return self.keyed_backend
        ctx = self.ctx
        factory = ctx.state_backend if ctx.state_backend is not None else state_backend_from_config(ctx.config)
        working_dir = os.path.join(ctx.working_dir, f"{ctx.uid}-{ctx.subtask_index}")
        os.makedirs(working_dir, exist_ok=True)
        self.keyed_backend = factory.create_keyed_state_backend(
            operator_uid=ctx.uid, max_parallelism=ctx.max_parallelism, key_groups=ctx.key_groups(),
            working_dir=working_dir,
        )
        return self.keyed_backend

    def internal_timer_service(self) -> InternalTimerService:
        """The operator's event-time and processing-time timers (created on first call)."""
        if self.timers is None:
            self.timers = InternalTimerService(self.ctx.max_parallelism, self.ctx.key_groups())
        return self.timers

    def runtime_context(self) -> RuntimeContext:
        """A RuntimeContext for the operator's user functions (with keyed state on keyed streams)."""
        ctx = self.ctx
        return RuntimeContext(
            task_name=ctx.name, uid=ctx.uid, subtask_index=ctx.subtask_index, parallelism=ctx.parallelism,
            max_parallelism=ctx.max_parallelism, attempt=ctx.attempt, state_backend=self.keyed_state_backend(),
            job_parameters=ctx.job_parameters or global_job_parameters(ctx.config),
        )

    def snapshot_state(self) -> Any:
        if self.keyed_backend is None:
            return None
        state = {"keyed": self.keyed_backend.snapshot()}
        if self.timers is not None:
            state["timers"] = self.timers.snapshot()
        return state

    def restore_state(self, states: list) -> None:
        if not states or self.keyed_backend is None:
            return
        self.keyed_backend.restore([s["keyed"] for s in states])
        if self.timers is not None:
            self.timers.restore([s["timers"] for s in states if "timers" in s])

    def close(self) -> None:
        """Dispose the keyed state backend; subclasses close their user functions first, then call
        this in a ``finally``."""
        if self.keyed_backend is not None:
            self.keyed_backend.dispose()

    def queryable_states(self) -> dict[str, str]:
        return {} if self.keyed_backend is None else self.keyed_backend.queryable_states()

    def query_state(self, state_name: str, key: Any) -> tuple[bool, Any]:
        if self.keyed_backend is None:
            return False, None
        return self.keyed_backend.query(state_name, key)


class OneInputStreamOperator(AbstractStreamOperator):
    """An operator with one input: ``process_batch`` always gets ``input_index`` 0."""

    num_inputs: ClassVar[int] = 1


class TwoInputStreamOperator(AbstractStreamOperator):
    """An operator with two inputs (connected streams, joins): ``input_index`` is 0 or 1, and on
    keyed streams ``ctx.state_key_selectors[input_index]`` is that input's key selector."""

    num_inputs: ClassVar[int] = 2


class SourceOperator(AbstractStreamOperator):
    """The head of a source chain (Flink's ``SourceOperator``). The task owns the
    ``SourceReader`` and its splits (they are checkpointed with the task); it calls, in order:

    ``register_splits(split_ids, now_ms)`` once the reader exists; then per poll
    ``emit_split_batch(split_id, values, timestamps, now_ms, side_output)`` for every batch
    read; every ``pipeline.auto-watermark-interval`` (STREAMING) ``release_splits(finished)``
    then ``periodic_emit(now_ms)``, whose watermark it passes to ``process_watermark`` and whose
    idleness change it sends downstream.
    """

    num_inputs: ClassVar[int] = 0

    def register_splits(self, split_ids: list[str], now_ms: int) -> None:
        """The reader was assigned these splits (their watermarks start now)."""
        raise NotImplementedError

    def emit_split_batch(self, split_id: str, values: list, timestamps: list | None, now_ms: int,
                         side_output: Any = None) -> None:
        """Records read from one split: stamp them, track the split's watermark, emit them
        (to ``side_output``, an OutputTag, when the reader routes them there)."""
        raise NotImplementedError

    def release_splits(self, split_ids: list[str]) -> None:
        """These splits were read to their end: they no longer hold the watermark back."""
        raise NotImplementedError

    def periodic_emit(self, now_ms: int) -> tuple[int | None, bool | None]:
        """(new watermark or None, new idle flag or None) of the subtask at ``now_ms``."""
        raise NotImplementedError

    def watermark_alignment(self) -> Any:
        """The ``WatermarkAlignment`` (group, drift, update interval) the subtask reads under, or None."""
        return None

    def reading_watermark(self, now_ms: int) -> tuple[int, bool]:
        """(watermark, idle) of what the subtask has read so far, emitted or not: what watermark
        alignment compares with its group's allowance."""
        return self.current_watermark, False

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        raise RuntimeError("the source operator is fed by its SourceReader, not by a channel")
