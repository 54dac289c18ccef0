"""Sinks: print, SinkFunction, connector Sinks, and the collect sink of execute_and_collect."""

from __future__ import annotations

from typing import Any

from rayflink.clock import current_time_ms
from rayflink.common import config_options as options
from rayflink.common.configuration import checkpoint_interval_ms
from rayflink.graph.transformations import CollectParams, FunctionParams, OperatorKind, PrintParams, SinkParams
from rayflink.operators.functions import close_function, open_function
from rayflink.runtime.network import OutputChannel, RefusableChannel, until_accepted
from rayflink.runtime.operator import NO_RECORD, OneInputStreamOperator
from rayflink.runtime.registry import register_operator


@register_operator(OperatorKind.PRINT)
class PrintSinkOperator(OneInputStreamOperator):
    """Prints ``identifier:subtask> record`` lines, as Flink's print sink does, on the client's stdout."""

    params: PrintParams

    def open(self) -> None:
        credits = options.get(self.ctx.config, options.NETWORK_CREDITS_PER_CHANNEL)
        self.channel = OutputChannel(self.ctx.job_manager, (self.ctx.uid, self.ctx.subtask_index), credits,
                                     "print_push", prefix=(self.ctx.job_id,))
        identifier = self.params.identifier
        subtask = f"{self.ctx.subtask_index + 1}> " if self.ctx.parallelism > 1 else ""
        if identifier:
            self.prefix = f"{identifier}:{subtask}" if subtask else f"{identifier}> "
        else:
            self.prefix = subtask

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        prefix = self.prefix
        type_info = self.params.type_info  # records print as Flink prints their declared type
        fmt = str if type_info is None else type_info.to_print_string
        self.channel.send("".join(f"{prefix}{fmt(v)}\n" for v in values))

    def end_input(self) -> None:
        self.channel.drain()


class SinkContext:
    """The ``context`` of ``SinkFunction.invoke``."""

    __slots__ = ("_timestamp", "_watermark")

    def __init__(self) -> None:
        self._timestamp: int | None = None
        self._watermark = -(2**63)

    def timestamp(self) -> int | None:
        return self._timestamp

    def current_watermark(self) -> int:
        return self._watermark

    def current_processing_time(self) -> int:
        return current_time_ms()


@register_operator(OperatorKind.SINK_FUNCTION)
class SinkFunctionOperator(OneInputStreamOperator):
    """Calls ``invoke(value, context)`` of a user SinkFunction for every record."""

    params: FunctionParams

    def open(self) -> None:
        self.function = self.params.function
        open_function(self.function, self.ctx, self.runtime_context())
        self.invoke = getattr(self.function, "invoke", self.function)
        self.context = SinkContext()

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        invoke, context = self.invoke, self.context
        for i, value in enumerate(values):
            context._timestamp = None if timestamps is None else timestamps[i]
            try:
                invoke(value, context)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc

    def process_watermark(self, watermark: int) -> None:
        self.context._watermark = watermark

    def close(self) -> None:
        try:
            close_function(self.function)
        finally:
            super().close()


class _TwoPhaseCommitSink(OneInputStreamOperator):
    """Shared two-phase commit: what arrives before barrier n is prepared at n and committed when
    checkpoint n completes; a restore commits again what the checkpoint had prepared (commits are
    idempotent). Without checkpointing everything commits at the end of input."""

    def open(self) -> None:
        self.checkpointing = checkpoint_interval_ms(self.ctx.config) > 0
        self.pending: dict[int, Any] = {}  # checkpoint id -> what was prepared at its barrier

    def prepare(self, checkpoint_id: int) -> Any:
        raise NotImplementedError

    def commit(self, checkpoint_id: int, prepared: Any) -> None:
        raise NotImplementedError

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        if self.checkpointing:
            self.pending[checkpoint_id] = self.prepare(checkpoint_id)

    def snapshot_state(self) -> Any:
        return {"pending": dict(self.pending)} if self.checkpointing else None

    def restore_state(self, states: Any) -> None:
        for state in states:
            for checkpoint_id, prepared in sorted(state["pending"].items()):
                self.commit(checkpoint_id, prepared)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        for cid in sorted(c for c in self.pending if c <= checkpoint_id):
            self.commit(cid, self.pending.pop(cid))


@register_operator(OperatorKind.SINK)
class SinkWriterOperator(_TwoPhaseCommitSink):
    """Hands batches to a connector Sink's writer; writers with ``prepare_commit``/``commit``
    (Kafka transactions, files moved from pending to finished) get exactly-once."""

    params: SinkParams

    def open(self) -> None:
        super().open()
        self.writer: Any = None
        self.writer = self.params.sink.create_writer(self.ctx.subtask_index, self.ctx.parallelism)
        self.two_phase = callable(getattr(self.writer, "prepare_commit", None))

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        try:
            self.writer.write(values, timestamps)
        except Exception as exc:
            # which record of a batch failed only the writer knows (its error names it): never guess
            raise self.ctx.failure(exc, values[0] if len(values) == 1 else NO_RECORD,
                                   what="the sink writer") from exc

    def prepare(self, checkpoint_id: int) -> Any:
        if self.two_phase:
            return self.writer.prepare_commit(checkpoint_id)
        self.writer.flush(False)  # at-least-once: durable before the checkpoint completes
        return None

    def commit(self, checkpoint_id: int, prepared: Any) -> None:
        if self.two_phase and prepared is not None:
            self.writer.commit([prepared])

    def end_input(self) -> None:
        self.writer.flush(True)
        if self.two_phase and not self.checkpointing:
            self.writer.commit([self.writer.prepare_commit(0)])

    def close(self) -> None:
        try:
            if self.writer is not None:
                self.writer.close()
        finally:
            super().close()


@register_operator(OperatorKind.COLLECT)
class CollectSinkOperator(_TwoPhaseCommitSink):
    """Sends records to the job master, where ``execute_and_collect``'s iterator pulls them.

    With checkpointing, records are released when the checkpoint after them completes, so the
    iterator sees each record exactly once even when the job restarts from a checkpoint.
    """

    params: CollectParams

    def open(self) -> None:
        super().open()
        credits = options.get(self.ctx.config, options.NETWORK_CREDITS_PER_CHANNEL)
        channel_id = (self.ctx.subtask_index, self.ctx.attempt)
        self.channel = RefusableChannel(self.ctx.job_manager, channel_id, credits, "collect_push",
                                        prefix=(self.ctx.job_id,))
        self.buffer: list = []

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        if self.checkpointing:
            self.buffer.extend(values)
        else:
            self.channel.send(values)

    def prepare(self, checkpoint_id: int) -> Any:
        prepared = (self.ctx.job_id, self.ctx.subtask_index, self.buffer)
        self.buffer = []
        return prepared

    def commit(self, checkpoint_id: int, prepared: Any) -> None:
        job_id, origin, values = prepared
        if job_id != self.ctx.job_id:
            return  # prepared by the job a savepoint came from: its records went to that job's client
        until_accepted(self.ctx.job_manager.collect_commit, self.ctx.job_id, origin, checkpoint_id, values)

    def end_input(self) -> None:
        self.channel.drain()
