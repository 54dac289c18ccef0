"""map, filter and flat_map: per-record functions applied to whole batches."""

from __future__ import annotations

from typing import Any

from rayflink.graph.transformations import FunctionParams, OperatorKind
from rayflink.operators.functions import close_function, failed_record, open_function, positional_arity, resolve
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator


class _UserFunctionOperator(OneInputStreamOperator):
    method = ""
    params: FunctionParams

    def open(self) -> None:
        self.function = self.params.function
        open_function(self.function, self.ctx, self.runtime_context())
        self.fn = resolve(self.function, self.method)
        backend = self.keyed_state_backend()
        if backend is not None:  # a rich function on a keyed stream may use keyed state
            self.fn = _scoped_to_key(self.fn, self.ctx.state_key_selectors[0], backend)

    def close(self) -> None:
        try:
            close_function(self.function)
        finally:
            super().close()


def _scoped_to_key(fn: Any, selector: Any, backend: Any) -> Any:
    set_key = backend.set_current_key

    def scoped(value: Any, *rest: Any) -> Any:
        set_key(selector(value))
        return fn(value, *rest)

    return scoped


@register_operator(OperatorKind.MAP)
class MapOperator(_UserFunctionOperator):
    """One record in, one out."""

    method = "map"

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        consumed = iter(values)
        try:
            out = list(map(self.fn, consumed))
        except Exception as exc:
            raise failed_record(self.ctx, values, consumed, exc) from exc
        self.output.emit(out, timestamps)


@register_operator(OperatorKind.FILTER)
class FilterOperator(_UserFunctionOperator):
    """Keep records whose predicate is true."""

    method = "filter"

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn = self.fn
        consumed = iter(values)
        try:
            if timestamps is None:
                kept = [v for v in consumed if fn(v)]
            else:
                keep = list(map(fn, consumed))
        except Exception as exc:
            raise failed_record(self.ctx, values, consumed, exc) from exc
        if timestamps is None:
            self.output.emit(kept, None)
            return
        self.output.emit([v for v, k in zip(values, keep) if k], [t for t, k in zip(timestamps, keep) if k])


@register_operator(OperatorKind.FLAT_MAP)
class FlatMapOperator(_UserFunctionOperator):
    """Any number of records out per record in: returned/yielded iterables, or ``out.collect``."""

    method = "flat_map"

    def open(self) -> None:
        super().open()
        self.collecting = positional_arity(resolve(self.function, self.method)) == 2
        self.collector = TimestampedCollector(self.output)

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn, out, collecting = self.fn, self.collector, self.collecting
        for i, value in enumerate(values):
            out.timestamp = None if timestamps is None else timestamps[i]
            try:
                if collecting:
                    fn(value, out)
                else:
                    result = fn(value)
                    if result is not None:
                        out.collect_all(result)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
        out.flush()
