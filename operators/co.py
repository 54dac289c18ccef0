"""CoMap and CoFlatMap: one function per input of connected streams."""

from __future__ import annotations

from rayflink.operators.functions import close_function, open_function
from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for, runtime_context_for


class CoMapOperator(KeyedStateOperator):
    """``map1`` for input 0, ``map2`` for input 1."""

    methods = ("map1", "map2")
    flat = False

    def open(self) -> None:
        self.function = self.params["function"]
        self.keyed_backend = keyed_backend_for(self)
        open_function(self.function, self.ctx, runtime_context_for(self))
        self.fns = [getattr(self.function, m) for m in self.methods]

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        fn = self.fns[input_index]
        selector = self.ctx.state_key_selectors[input_index] if self.keyed_backend is not None else None
        out: list = []
        stamps: list | None = None if timestamps is None else []
        for i, value in enumerate(values):
            try:
                if selector is not None:
                    self.keyed_backend.set_current_key(selector(value))
                result = fn(value)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
            if not self.flat:
                out.append(result)
                if stamps is not None:
                    stamps.append(timestamps[i])
            elif result is not None:
                before = len(out)
                out.extend(result)
                if stamps is not None:
                    stamps.extend([timestamps[i]] * (len(out) - before))
        self.output.emit(out, stamps)

    def close(self) -> None:
        close_function(self.function)
        super().close()


class CoFlatMapOperator(CoMapOperator):
    """``flat_map1`` for input 0, ``flat_map2`` for input 1; each returns or yields records."""

    methods = ("flat_map1", "flat_map2")
    flat = True
