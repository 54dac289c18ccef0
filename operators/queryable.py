"""The sink behind ``KeyedStream.as_queryable_state``: keeps each key's latest (or reduced) value queryable."""

from __future__ import annotations

from rayflink.operators.runtime_context import KeyedStateOperator, keyed_backend_for


class QueryableStateSinkOperator(KeyedStateOperator):
    """params: ``descriptor`` (value state: the latest record per key; list, reducing or aggregating
    state: every record added), already marked queryable."""

    def open(self) -> None:
        self.keyed_backend = keyed_backend_for(self)
        descriptor = self.params["descriptor"]
        self.state = self.keyed_backend.get_partitioned_state(descriptor)
        self.write = self.state.update if descriptor.kind == "value" else self.state.add
        self.selector = self.ctx.state_key_selectors[0]

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        backend, write, selector = self.keyed_backend, self.write, self.selector
        for value in values:
            try:
                backend.set_current_key(selector(value))
                write(value)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
