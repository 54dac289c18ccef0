"""Sinks: print, SinkFunction, connector Sinks, and the collect sink of execute_and_collect."""

from __future__ import annotations



from operators.functions import close_function, open_function
from operators.runtime_context import runtime_context_for
from rayflink.runtime.operator import StreamOperator


class PrintSinkOperator(StreamOperator):
    """Prints ``identifier:subtask> record`` lines, as Flink's print sink does, on the client's stdout."""

    def open(self) -> None:
        from rayflink.runtime.network import OutputChannel

        credits = int(self.ctx.config.get("taskmanager.network.credits-per-channel", 4))
        self.channel = OutputChannel(self.ctx.job_master, (self.ctx.uid, self.ctx.subtask_index), credits,
                                     "print_push", prefix=(self.ctx.job_id,))
        identifier = self.params.get("identifier")
        subtask = f"{self.ctx.subtask_index + 1}> " if self.ctx.parallelism > 1 else ""
        if identifier:
            self.prefix = f"{identifier}:{subtask}" if subtask else f"{identifier}> "
        else:
            self.prefix = subtask

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        prefix = self.prefix
        self.channel.send("".join(f"{prefix}{v}\n" for v in values))

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
        import time

        return time.time_ns() // 1_000_000


class SinkFunctionOperator(StreamOperator):
    """Calls ``invoke(value, context)`` of a user SinkFunction for every record."""

    def open(self) -> None:
        self.function = self.params["function"]
        open_function(self.function, self.ctx, runtime_context_for(self))
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
        close_function(self.function)


class SinkWriterOperator(StreamOperator):
    """Hands batches to a connector Sink's writer."""

    def open(self) -> None:
        self.writer = self.params["sink"].create_writer(self.ctx.subtask_index, self.ctx.parallelism)

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        try:
            self.writer.write(values, timestamps)
        except Exception as exc:
            raise self.ctx.failure(exc, values[0] if values else None, what="the sink writer") from exc

    def end_input(self) -> None:
        self.writer.flush(True)

    def close(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()


class CollectSinkOperator(StreamOperator):
    """Sends records to the job master, where ``execute_and_collect``'s iterator pulls them."""

    def open(self) -> None:
        from rayflink.runtime.network import OutputChannel

        credits = int(self.ctx.config.get("taskmanager.network.credits-per-channel", 4))
        self.channel = OutputChannel(self.ctx.job_master, self.ctx.subtask_index, credits, "collect_push",
                                     prefix=(self.ctx.job_id,))

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        self.channel.send(values)

    def end_input(self) -> None:
        self.channel.drain()


