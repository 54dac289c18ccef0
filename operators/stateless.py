"""map, filter and flat_map: per-record functions applied to whole batches."""

from __future__ import annotations

from typing import Any

from rayflink.operators.functions import (
    ListCollector,
    close_function,
    failed_record,
    open_function,
    positional_arity,
    resolve,
)
from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for, runtime_context_for


class _UserFunctionOperator(KeyedStateOperator):
    method = ""

    def open(self) -> None:
        self.function = self.params["function"]
        open_function(self.function, self.ctx, runtime_context_for(self))
        self.fn = resolve(self.function, self.method)
        backend = keyed_backend_for(self)
        if backend is not None:  # a rich function on a keyed stream may use keyed state
            self.fn = _scoped_to_key(self.fn, self.ctx.state_key_selectors[0], backend)

    def close(self) -> None:
        close_function(self.function)
        super().close()


def _scoped_to_key(fn: Any, selector: Any, backend: Any) -> Any:
    set_key = backend.set_current_key

    def scoped(value: Any, *rest: Any) -> Any:
        set_key(selector(value))
        return fn(value, *rest)

    return scoped


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


class FlatMapOperator(_UserFunctionOperator):
    """Any number of records out per record in: returned/yielded iterables, or ``out.collect``."""

    method = "flat_map"

    def open(self) -> None:
        super().open()
        self.collecting = positional_arity(resolve(self.function, self.method)) == 2

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        out: list = []
        stamps: list | None = None if timestamps is None else []
        fn = self.fn
        collector = ListCollector() if self.collecting else None
        for i, value in enumerate(values):
            before = len(out)
            try:
                if collector is not None:
                    collector.values = out
                    fn(value, collector)
                else:
                    result = fn(value)
                    if result is not None:
                        out.extend(result)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
            if stamps is not None and len(out) > before:
                stamps.extend([timestamps[i]] * (len(out) - before))
        self.output.emit(out, stamps)
