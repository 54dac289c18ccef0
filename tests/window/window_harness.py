"""Runs one physical operator in-process (no Ray): feed batches, watermarks and processing time."""

from __future__ import annotations

import tempfile
from typing import Any

from rayflink.graph.transformations import OperatorKind, OperatorParams, OperatorSpec
from rayflink.runtime.operator import OperatorContext, StreamOperator
from rayflink.runtime.registry import create_operator


class _Sink:
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
    """``h = OperatorHarness(OperatorKind.WINDOW, WindowParams(...), key_selectors); h.batch(...);
    h.watermark(...); h.out``."""

    def __init__(self, kind: OperatorKind, params: OperatorParams, key_selectors: tuple | None,
                 side_tags: tuple = (), max_parallelism: int = 128) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        ctx = OperatorContext(name=kind.value, uid=f"{kind.value}-uid", subtask_index=0, parallelism=1,
                              max_parallelism=max_parallelism, attempt=0, config={},
                              state_key_selectors=key_selectors, working_dir=self.tmp.name)
        self.op: StreamOperator = create_operator(OperatorSpec(kind, params), ctx)
        self.main = _Sink()
        self.op.output.add(self.main)
        self.sides = {}
        for tag in side_tags:
            self.sides[tag.tag_id] = _Sink()
            self.op.output.add(self.sides[tag.tag_id], tag)
        self.op.open()

    @property
    def out(self) -> list:
        return self.main.values

    def side(self, tag: Any) -> list:
        return self.sides[tag.tag_id].values

    def batch(self, values: list, timestamps: list | None = None, input_index: int = 0) -> None:
        self.op.process_batch(list(values), None if timestamps is None else list(timestamps), input_index)

    def watermark(self, watermark: int) -> None:
        self.op.process_watermark(watermark)

    def processing_time(self, now_ms: int) -> None:
        self.op.on_processing_time(now_ms)

    def close(self) -> None:
        self.op.close()
        self.tmp.cleanup()
