"""Run one physical operator in-process, without Ray: feed batches, watermarks and processing time.

Flink's ``OneInputStreamOperatorTestHarness`` role. The operator is built from its spec exactly as
a task builds it, with a one-subtask context and a temporary working directory, and its main and
side outputs are collected in lists. :meth:`OperatorHarness.snapshot` takes the state a checkpoint
would (pickled and unpickled, as it would travel), and ``restored_state`` starts an operator from
such snapshots, so a test can check that a restore changes nothing.

>>> from rayflink.datastream.window import TumblingEventTimeWindows
>>> from rayflink.graph.transformations import AccumulateType, OperatorKind, WindowParams
>>> sums = WindowParams(TumblingEventTimeWindows.of(10), incremental=(AccumulateType.SUM, 1))
>>> h = OperatorHarness(OperatorKind.WINDOW, sums, key_selectors=(lambda r: r[0],))
>>> h.batch([("a", 1), ("a", 2), ("b", 5)], timestamps=[1, 2, 3])
>>> h.watermark(9)
>>> sorted(h.out)
[('a', 3), ('b', 5)]
>>> h.close()
"""

from __future__ import annotations

import tempfile
from typing import Any

from ray import cloudpickle

from rayflink.graph.transformations import OperatorKind, OperatorParams, OperatorSpec
from rayflink.runtime.operator import OperatorContext, StreamOperator
from rayflink.runtime.registry import create_operator


class CollectingOutput:
    """An output target that keeps what it receives: records, their timestamps, watermarks."""

    def __init__(self) -> None:
        self.values: list = []
        self.stamps: list = []
        self.watermarks: list[int] = []

    def emit(self, values: list, timestamps: list | None) -> None:
        self.values.extend(values)
        self.stamps.extend(timestamps if timestamps is not None else [None] * len(values))

    def emit_watermark(self, watermark: int) -> None:
        self.watermarks.append(watermark)


class OperatorHarness:
    """One operator of kind ``kind`` (an ``OperatorKind``: ``WINDOW``, ``INTERVAL_JOIN``,
    ``PROCESS``, ...) with ``params`` (that kind's params dataclass), opened and ready for input.

    :param kind: the operator spec's kind.
    :param params: the operator spec's parameters, as the DataStream API records them.
    :param key_selectors: one key selector per input for keyed operators, else None.
    :param side_tags: ``OutputTag`` s whose side outputs to collect (read them with :meth:`side`).
    :param max_parallelism: the number of key groups.
    :param restored_state: snapshots (:meth:`snapshot` of other harnesses, one per old subtask) to
        restore after ``open``, as a task restores from a checkpoint.
    """

    def __init__(self, kind: OperatorKind, params: OperatorParams, key_selectors: tuple | None, side_tags: tuple = (),
                 max_parallelism: int = 128, restored_state: list[Any] | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        ctx = OperatorContext(name=kind.value, uid=f"{kind.value}-uid", subtask_index=0, parallelism=1,
                              max_parallelism=max_parallelism, attempt=0, config={},
                              state_key_selectors=key_selectors, working_dir=self.tmp.name)
        self.op: StreamOperator = create_operator(OperatorSpec(kind, params), ctx)
        self.main = CollectingOutput()
        self.op.output.add(self.main)
        self.sides: dict[str, CollectingOutput] = {}
        for tag in side_tags:
            self.sides[tag.tag_id] = CollectingOutput()
            self.op.output.add(self.sides[tag.tag_id], tag)
        self.op.open()
        if restored_state:
            self.op.restore_state(list(restored_state))

    @property
    def out(self) -> list:
        """Every record emitted on the main output so far."""
        return self.main.values

    def side(self, tag: Any) -> list:
        """Every record emitted on the side output ``tag`` (one of ``side_tags``)."""
        return self.sides[tag.tag_id].values

    def batch(self, values: list, timestamps: list | None = None, input_index: int = 0) -> None:
        """Process ``values`` (with event timestamps, or None) from input ``input_index``."""
        self.op.process_batch(list(values), None if timestamps is None else list(timestamps), input_index)

    def watermark(self, watermark: int) -> None:
        """Advance event time to ``watermark`` (fires event-time timers and windows)."""
        self.op.process_watermark(watermark)

    def processing_time(self, now_ms: int) -> None:
        """Advance processing time to ``now_ms`` (fires processing-time timers that are due)."""
        self.op.on_processing_time(now_ms)

    def end_input(self) -> None:
        """All input ended (BATCH results, the final watermark's work)."""
        self.op.end_input()

    def snapshot(self, checkpoint_id: int = 1) -> Any:
        """The operator's state at checkpoint ``checkpoint_id``'s barrier, after a pickle round trip
        (what a restore would receive); None when the operator has no state."""
        self.op.prepare_snapshot_pre_barrier(checkpoint_id)
        return cloudpickle.loads(cloudpickle.dumps(self.op.snapshot_state()))

    def close(self) -> None:
        """Close the operator and delete its working directory."""
        self.op.close()
        self.tmp.cleanup()
