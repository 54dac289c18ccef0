"""Where operators emit: ``Output`` (to chained operators and record writers) and the one
``TimestampedCollector`` through which user code emits record by record.

The data path a reader can follow: operator -> ``Output`` -> ``ChainedInput`` (the next
operator of the chain, same thread, no copy) or ``RecordWriter`` (rayflink/runtime/network.py)
-> channel -> the receiving task's input gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from rayflink.runtime.operator import StreamOperator



def record_count(values: list) -> int:
    """How many records ``values`` holds: its length, or, for SQL's Arrow record batches, their rows
    (so that records in/out mean rows for SQL operators as they do in Flink)."""
    if values and type(values[0]) is pa.RecordBatch:
        return sum(b.num_rows for b in values)
    return len(values)

class Output:
    """Where an operator emits: chained operators and network writers, main and side outputs.

    A target has ``emit(values, timestamps)`` and ``emit_watermark(watermark)``. ``records_out``
    and ``side_records_out`` count each record once, however many targets it goes to.
    """

    __slots__ = ("main", "side", "all_targets", "records_out", "side_records_out")

    def __init__(self) -> None:
        self.main: list[Any] = []
        self.side: dict[str, list[Any]] = {}
        self.all_targets: list[Any] = []
        self.records_out = 0
        self.side_records_out = 0

    def add(self, target: Any, side_tag: Any = None) -> None:
        """Send the main output (or the side output ``side_tag``) to ``target`` too."""
        if side_tag is None:
            self.main.append(target)
        else:
            self.side.setdefault(side_tag.tag_id, []).append(target)
        if target not in self.all_targets:
            self.all_targets.append(target)

    def emit(self, values: list, timestamps: list | None) -> None:
        """Emit a batch on the main output (the lists are handed over: do not change them after)."""
        if values:
            self.records_out += record_count(values)
            for target in self.main:
                target.emit(values, timestamps)

    def emit_side(self, tag: Any, values: list, timestamps: list | None) -> None:
        """Emit a batch on the side output ``tag`` (dropped when nothing consumes it)."""
        self.side_records_out += record_count(values)
        targets = self.side.get(tag.tag_id)
        if targets and values:
            for target in targets:
                target.emit(values, timestamps)

    def has_side(self, tag: Any) -> bool:
        """Whether anything consumes the side output ``tag``."""
        return tag.tag_id in self.side

    def emit_watermark(self, watermark: int) -> None:
        """Forward a watermark to every target (main and side)."""
        for target in self.all_targets:
            target.emit_watermark(watermark)


class ChainedInput:
    """Feeds an operator's output straight into the next operator of the chain (no copy)."""

    __slots__ = ("operator",)

    def __init__(self, operator: "StreamOperator") -> None:
        self.operator = operator

    def emit(self, values: list, timestamps: list | None) -> None:
        self.operator.records_in += record_count(values)
        self.operator.process_batch(values, timestamps, 0)

    def emit_watermark(self, watermark: int) -> None:
        self.operator.process_watermark(watermark)


def _stamps_or_none(stamps: list) -> list | None:
    return None if stamps.count(None) == len(stamps) else stamps


class TimestampedCollector:
    """The ``out`` user code collects into (Flink's ``TimestampedCollector``), buffering a batch.

    ``collect(value)`` stamps the value with ``timestamp`` (set by the operator before it calls
    user code: the input record's, the timer's or the window's max timestamp; None for none)
    and buffers it; ``output(tag, value)`` buffers a side-output record the same way.
    ``flush()`` hands the buffered batches to the operator's ``Output``; operators flush once
    per input batch, watermark or timer round, never per record.

    With ``side_tag`` set, ``collect`` goes to that side output instead (e.g. CEP's timed-out
    matches of a flat select), and ``flush`` emits there.
    """

    __slots__ = ("_output", "side_tag", "timestamp", "values", "stamps", "_side")

    def __init__(self, output: Output, side_tag: Any = None) -> None:
        self._output = output
        self.side_tag = side_tag
        self.timestamp: int | None = None
        self.values: list = []
        self.stamps: list = []
        self._side: dict[str, tuple[Any, list, list]] = {}

    def collect(self, value: Any) -> None:
        """Emit ``value`` with the current timestamp."""
        self.values.append(value)
        self.stamps.append(self.timestamp)

    def collect_all(self, values: Any) -> None:
        """Emit every value of an iterable (what a function returned or yielded) with the current timestamp."""
        before = len(self.values)
        self.values.extend(values)
        self.stamps.extend([self.timestamp] * (len(self.values) - before))

    def output(self, tag: Any, value: Any, timestamp: int | None = None) -> None:
        """Emit ``value`` to the side output ``tag`` at ``timestamp`` (None: the current timestamp)."""
        entry = self._side.get(tag.tag_id)
        if entry is None:
            entry = self._side[tag.tag_id] = (tag, [], [])
        entry[1].append(value)
        entry[2].append(self.timestamp if timestamp is None else timestamp)

    def output_all(self, tag: Any, values: list, timestamps: list) -> None:
        """Emit a batch to the side output ``tag`` (late records, for example)."""
        entry = self._side.get(tag.tag_id)
        if entry is None:
            entry = self._side[tag.tag_id] = (tag, [], [])
        entry[1].extend(values)
        entry[2].extend(timestamps)

    def flush(self) -> None:
        """Hand what was collected to the operator's output: the main batch, then each side output's."""
        if self.values:
            values, stamps = self.values, self.stamps
            self.values, self.stamps = [], []
            if self.side_tag is None:
                self._output.emit(values, _stamps_or_none(stamps))
            else:
                self._output.emit_side(self.side_tag, values, _stamps_or_none(stamps))
        if self._side:
            side, self._side = self._side, {}
            for tag, values, stamps in side.values():
                self._output.emit_side(tag, values, _stamps_or_none(stamps))
