"""Rolling keyed aggregations: reduce, sum, min, max, min_by, max_by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayflink.datastream.state import ValueStateDescriptor
from rayflink.graph.transformations import AccumulateType, AggregationParams, FunctionParams, OperatorKind
from rayflink.operators.functions import close_function, open_function, resolve
from rayflink.runtime.fields import field_getter, field_setter
from rayflink.runtime.operator import OneInputStreamOperator
from rayflink.runtime.registry import register_operator

_STATE_NAME = "_rayflink_reduce"


@register_operator(OperatorKind.REDUCE, OperatorKind.AGGREGATION)
class ReduceOperator(OneInputStreamOperator):
    """Keeps one reduced value per key; STREAMING emits it after every record, BATCH once at the end.

    Runs ``reduce(fn)`` (``FunctionParams``) and the built-in aggregations (``AggregationParams``)."""

    params: FunctionParams | AggregationParams

    def open(self) -> None:
        p = self.params
        self.keyed_backend = self.keyed_state_backend()
        if isinstance(p, FunctionParams):
            self.function = p.function
            open_function(self.function, self.ctx, self.runtime_context())
            self.reduce_fn = resolve(self.function, "reduce")
        else:
            self.function = None
            self.reduce_fn = aggregation(p.aggregation, p.field)
        self.state = self.keyed_backend.get_partitioned_state(ValueStateDescriptor(_STATE_NAME, None))
        self.selector = self.ctx.state_key_selectors[0]

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        backend, state, selector, reduce_fn = self.keyed_backend, self.state, self.selector, self.reduce_fn
        out = []
        for value in values:
            try:
                backend.set_current_key(selector(value))
                current = state.value()
                reduced = value if current is None else reduce_fn(current, value)
            except Exception as exc:
                raise self.ctx.failure(exc, value) from exc
            state.update(reduced)
            out.append(reduced)
        if not self.ctx.batch_mode:
            self.output.emit(out, timestamps)

    def end_input(self) -> None:
        if not self.ctx.batch_mode:
            return
        backend, state = self.keyed_backend, self.state
        out = []
        for key in backend.keys(_STATE_NAME):
            backend.set_current_key(key)
            out.append(state.value())
        self.output.emit(out, None)

    def close(self) -> None:
        try:
            if self.function is not None:
                close_function(self.function)
        finally:
            super().close()


def aggregation(kind: AccumulateType | str, field: int | str) -> Callable[[Any, Any], Any]:
    """The reduce function of a built-in aggregation over ``field`` (Flink's semantics); ``kind``
    is an ``AccumulateType`` or its name (``"sum"``, ``"min_by"``, ...)."""
    if isinstance(kind, str):
        if kind.upper() not in AccumulateType.__members__:
            raise ValueError(f"unknown aggregation {kind!r}")
        kind = AccumulateType[kind.upper()]
    raw_get = field_getter(field)

    def get(record: Any) -> Any:
        if field == 0 and isinstance(record, (int, float)):
            return record
        return raw_get(record)

    if kind is AccumulateType.SUM:
        return lambda acc, v: field_setter(acc, field, get(acc) + get(v))
    if kind is AccumulateType.MIN:
        return lambda acc, v: field_setter(acc, field, min(get(acc), get(v)))
    if kind is AccumulateType.MAX:
        return lambda acc, v: field_setter(acc, field, max(get(acc), get(v)))
    if kind is AccumulateType.MIN_BY:
        return lambda acc, v: v if get(v) < get(acc) else acc
    if kind is AccumulateType.MAX_BY:
        return lambda acc, v: v if get(v) > get(acc) else acc
    raise ValueError(f"unknown aggregation {kind!r}")
