"""``DiscardingSink``: drops every record (benchmarks, jobs run for their side effects)."""

from __future__ import annotations

from rayflink.datastream.connectors.base import Sink, SinkWriter


class DiscardingSink(Sink):
    """A sink that writes nothing (Flink's ``DiscardingSink``)."""

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return _DiscardingWriter()


class _DiscardingWriter(SinkWriter):
    def write(self, records: list, timestamps: list | None) -> None:
        pass
