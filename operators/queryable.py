"""The sink behind ``KeyedStream.as_queryable_state``: keeps each key's latest (or reduced) value queryable."""

from __future__ import annotations

from rayflink.graph.transformations import OperatorKind, QueryableStateParams
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator


@register_operator(OperatorKind.QUERYABLE_STATE)
class QueryableStateSinkOperator(OneInputStreamOperator):
    """Writes every record to its key's state (``QueryableStateParams.descriptor``, already marked
    queryable): a value state keeps the latest record per key; list, reducing or aggregating
    states add every record."""

    params: QueryableStateParams

    def open(self) -> None:
        self.keyed_backend = self.keyed_state_backend()
        descriptor = self.params.descriptor
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
