"""CoMap and CoFlatMap: one function per input of connected streams."""

from __future__ import annotations

from rayflink.graph.transformations import FunctionParams, OperatorKind
from rayflink.operators.functions import close_function, open_function
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.output import TimestampedCollector
from rayflink.runtime.registry import register_operator


class _CoFunctionOperator(TwoInputStreamOperator):
    methods: tuple[str, str] = ("", "")
    params: FunctionParams

    def open(self) -> None:
        self.function = self.params.function
        self.keyed_backend = self.keyed_state_backend()
        open_function(self.function, self.ctx, self.runtime_context())
        self.fns = [getattr(self.function, m) for m in self.methods]
        self.selectors = self.ctx.state_key_selectors if self.keyed_backend is not None else None

    def close(self) -> None:
        try:
            close_function(self.function)
        finally:
            super().close()


@register_operator(OperatorKind.CO_MAP)
class CoMapOperator(_CoFunctionOperator):
    """``map1`` for input 0, ``map2`` for input 1."""

    methods = ("map1", "map2")

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn = self.fns[input_index]
        selector = self.selectors[input_index] if self.selectors is not None else None
        out: list = []
        for value in values:
            try:
                if selector is not None:
                    self.keyed_backend.set_current_key(selector(value))
                out.append(fn(value))
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
        self.output.emit(out, timestamps)


@register_operator(OperatorKind.CO_FLAT_MAP)
class CoFlatMapOperator(_CoFunctionOperator):
    """``flat_map1`` for input 0, ``flat_map2`` for input 1; each returns or yields records."""

    methods = ("flat_map1", "flat_map2")

    def open(self) -> None:
        super().open()
        self.collector = TimestampedCollector(self.output)

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn = self.fns[input_index]
        selector = self.selectors[input_index] if self.selectors is not None else None
        out = self.collector
        for i, value in enumerate(values):
            out.timestamp = None if timestamps is None else timestamps[i]
            try:
                if selector is not None:
                    self.keyed_backend.set_current_key(selector(value))
                result = fn(value)
                if result is not None:
                    out.collect_all(result)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
        out.flush()
