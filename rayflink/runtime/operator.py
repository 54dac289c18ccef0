"""The one operator contract every physical operator implements, and the outputs it emits to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rayflink.errors import JobExecutionError, truncate


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
    job_master: Any = None  # the job manager's actor handle (collect and print sinks, checkpoints)
    job_id: str = ""
    job_parameters: dict = field(default_factory=dict)

    def key_groups(self) -> range:
        from rayflink.state.key_groups import key_group_range

        return key_group_range(self.subtask_index, self.parallelism, self.max_parallelism)

    def describe(self) -> str:
        return f"operator {self.name!r} (uid {self.uid!r}, subtask {self.subtask_index + 1}/{self.parallelism})"

    def failure(self, exc: BaseException, record: Any = None, *, what: str = "user code") -> JobExecutionError:
        """A JobExecutionError naming this operator, its subtask and the offending record."""
        rec = "" if record is _NO_RECORD else f" while processing record {truncate(record)}"
        message = (f"{self.describe()}: {what} raised {type(exc).__name__}: {exc}{rec}")
        return JobExecutionError(message, operator=self.name, uid=self.uid, subtask=self.subtask_index,
                                 record=None if record is _NO_RECORD else truncate(record),
                                 cause=f"{type(exc).__name__}: {exc}")


_NO_RECORD = object()
NO_RECORD = _NO_RECORD


class Output:
    """Where an operator emits: chained operators and network writers, main and side outputs."""

    __slots__ = ("main", "side", "all_targets", "records_out", "side_records_out")

    def __init__(self) -> None:
        self.main: list[Any] = []
        self.side: dict[str, list[Any]] = {}
        self.all_targets: list[Any] = []
        self.records_out = 0
        self.side_records_out = 0

    def add(self, target: Any, side_tag: Any = None) -> None:
        if side_tag is None:
            self.main.append(target)
        else:
            self.side.setdefault(side_tag.tag_id, []).append(target)
        if target not in self.all_targets:
            self.all_targets.append(target)

    def emit(self, values: list, timestamps: list | None) -> None:
        if values:
            self.records_out += len(values)
            for target in self.main:
                target.emit(values, timestamps)

    def emit_side(self, tag: Any, values: list, timestamps: list | None) -> None:
        self.side_records_out += len(values)
        targets = self.side.get(tag.tag_id)
        if targets and values:
            for target in targets:
                target.emit(values, timestamps)

    def has_side(self, tag: Any) -> bool:
        return tag.tag_id in self.side

    def emit_watermark(self, watermark: int) -> None:
        for target in self.all_targets:
            target.emit_watermark(watermark)


class ChainedInput:
    """Feeds an operator's output straight into the next operator of the chain (no copy)."""

    __slots__ = ("operator",)

    def __init__(self, operator: "StreamOperator") -> None:
        self.operator = operator

    def emit(self, values: list, timestamps: list | None) -> None:
        self.operator.records_in += len(values)
        self.operator.process_batch(values, timestamps, 0)

    def emit_watermark(self, watermark: int) -> None:
        self.operator.process_watermark(watermark)


class StreamOperator:
    """Lifecycle of every physical operator, as Flink's ``StreamOperator``.

    ``open`` -> ``restore_state`` -> ``process_batch`` / ``process_watermark`` / ``on_processing_time``
    ... -> ``end_input`` -> ``close``; at a barrier ``prepare_snapshot_pre_barrier`` then
    ``snapshot_state``; ``notify_checkpoint_complete`` / ``notify_checkpoint_aborted`` after.
    Records arrive in batches: ``values`` and, when the stream has event time,
    ``timestamps`` (a list of the same length) else None.
    """

    def __init__(self, params: dict, ctx: OperatorContext) -> None:
        self.params = params
        self.ctx = ctx
        self.output: Output = Output()
        self.records_in = 0
        self.current_watermark = -(2**63)

    def open(self) -> None:
        """Prepare (open user functions, create state)."""

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        """Process a batch of records from input ``input_index`` (0, or 1 for two-input operators)."""
        raise NotImplementedError

    def process_watermark(self, watermark: int) -> None:
        """Event time advanced: fire event-time timers, then forward the watermark."""
        self.current_watermark = watermark
        self.output.emit_watermark(watermark)

    def next_processing_time_timer(self) -> int | None:
        """The earliest registered processing-time timer (ms), if any."""
        return None

    def on_processing_time(self, now_ms: int) -> None:
        """Fire the processing-time timers that are due."""

    def end_input(self) -> None:
        """All input ended: emit what waits for the end (BATCH results)."""

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        """Just before the barrier goes downstream: emit or set aside what belongs to this checkpoint."""

    def snapshot_state(self) -> Any:
        """The operator's state for a checkpoint (None when it has none)."""
        return None

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` is durable everywhere: two-phase-commit sinks commit now."""

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` failed."""

    def restore_state(self, state: Any) -> None:
        """Load what ``snapshot_state`` returned (possibly from several old subtasks)."""

    def close(self) -> None:
        """Release resources; called on success and on failure."""
