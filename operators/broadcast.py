"""The broadcast state pattern: a (keyed) stream processed with state every broadcast record updates.

Input 0 is the non-broadcast stream (forward, or hashed by key), input 1 the broadcast stream
(every subtask gets every record). Each subtask keeps its own copy of the broadcast states (one
dict per ``MapStateDescriptor``): ``process_broadcast_element`` reads and writes them,
``process_element`` only reads them. As in Flink, each subtask checkpoints its copy; a restore,
at any parallelism, gives every new subtask the copy of one old subtask (they are equal when the
function updates them from the broadcast records alone, which Flink requires too).

Records of the two inputs interleave as they arrive: a rule broadcast "before" an event in
event time may still reach a subtask after it. Functions that need an order keep the records
that came too early in keyed state and replay them when the state changes (Flink's advice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayflink.clock import current_time_ms
from rayflink.datastream.state import BroadcastState, OperatorStateStore, ReadOnlyBroadcastState
from rayflink.datastream.time_domain import TimeDomain
from rayflink.errors import JobExecutionError
from rayflink.graph.transformations import BroadcastProcessParams, OperatorKind
from rayflink.operators.process import ProcessContext, _ProcessOperatorBase
from rayflink.runtime.operator import TwoInputStreamOperator
from rayflink.runtime.registry import register_operator


class HeapReadOnlyBroadcastState(ReadOnlyBroadcastState):
    """A broadcast state as ``process_element`` sees it: the subtask's dict, read only."""

    __slots__ = ("_name", "_data")

    def __init__(self, name: str, data: dict) -> None:
        self._name = name
        self._data = data

    def get(self, key: Any) -> Any:
        return self._data.get(key)

    def contains(self, key: Any) -> bool:
        return key in self._data

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._data.items())

    def keys(self) -> list[Any]:
        return list(self._data)

    def values(self) -> list[Any]:
        return list(self._data.values())

    def is_empty(self) -> bool:
        return not self._data

    def immutable_entries(self) -> list[tuple[Any, Any]]:
        return self.items()

    def _read_only(self, what: str) -> JobExecutionError:
        return JobExecutionError(f"broadcast state {self._name!r} is read-only in process_element(): {what} it "
                                 "in process_broadcast_element(), which every subtask runs alike")

    def put(self, key: Any, value: Any) -> None:
        raise self._read_only("change")

    def put_all(self, entries: dict) -> None:
        raise self._read_only("change")

    def remove(self, key: Any) -> None:
        raise self._read_only("remove from")

    def clear(self) -> None:
        raise self._read_only("clear")


class HeapBroadcastState(HeapReadOnlyBroadcastState, BroadcastState):
    """A broadcast state as ``process_broadcast_element`` sees it: the subtask's dict, writable."""

    __slots__ = ()

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value

    def put_all(self, entries: dict) -> None:
        self._data.update(entries)

    def remove(self, key: Any) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


class BroadcastStateStore(OperatorStateStore):
    """A subtask's broadcast states: one dict per ``MapStateDescriptor`` given to ``broadcast``."""

    def __init__(self, op: "BroadcastProcessOperator") -> None:
        self._op = op
        self.states: dict[str, dict] = {d.name: {} for d in op.params.descriptors}

    def _data(self, state_descriptor: Any) -> dict:
        data = self.states.get(state_descriptor.name)
        if data is None:
            raise JobExecutionError(f"{self._op.ctx.describe()}: no broadcast state {state_descriptor.name!r}; "
                                    f"broadcast(...) declared {sorted(self.states)}")
        return data

    def get_broadcast_state(self, state_descriptor: Any) -> HeapBroadcastState:
        return HeapBroadcastState(state_descriptor.name, self._data(state_descriptor))

    def get_read_only_broadcast_state(self, state_descriptor: Any) -> HeapReadOnlyBroadcastState:
        return HeapReadOnlyBroadcastState(state_descriptor.name, self._data(state_descriptor))


class BroadcastContext(ProcessContext):
    """The ``ctx`` of both methods: broadcast state (read-only on the element side), the clocks,
    side outputs; on a keyed stream the element side adds the current key and timers, the
    broadcast side ``apply_to_keyed_state``."""

    __slots__ = ("_writable",)

    def __init__(self, op: "BroadcastProcessOperator", out: Any, writable: bool) -> None:
        super().__init__(op, out)
        self._writable = writable

    def get_broadcast_state(self, state_descriptor: Any) -> ReadOnlyBroadcastState:
        store: BroadcastStateStore = self._op.operator_state_store  # type: ignore[attr-defined]
        if self._writable:
            return store.get_broadcast_state(state_descriptor)
        return store.get_read_only_broadcast_state(state_descriptor)

    def current_processing_time(self) -> int:
        return current_time_ms()

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def timer_service(self) -> Any:
        if self._writable:
            raise JobExecutionError(f"{self._op.ctx.describe()}: timers are not available in "
                                    "process_broadcast_element() (it has no current key)")
        return super().timer_service()

    def get_current_key(self) -> Any:
        if self._writable:
            raise JobExecutionError(f"{self._op.ctx.describe()}: process_broadcast_element() has no current "
                                    "key; use apply_to_keyed_state(descriptor, fn) to visit every key's state")
        return super().get_current_key()

    def apply_to_keyed_state(self, state_descriptor: Any, function: Callable[[Any, Any], None]) -> None:
        """Call ``function(key, state)`` for every key of this subtask that has ``state_descriptor``'s state."""
        op: BroadcastProcessOperator = self._op  # type: ignore[assignment]
        backend = op.keyed_backend
        if backend is None or not self._writable:
            raise JobExecutionError(f"{op.ctx.describe()}: apply_to_keyed_state() is for "
                                    "process_broadcast_element() of a KeyedBroadcastProcessFunction")
        state = backend.get_partitioned_state(state_descriptor)
        for key in backend.keys(state_descriptor.name):
            backend.set_current_key(key)
            function(key, state)


@register_operator(OperatorKind.BROADCAST_PROCESS)
class BroadcastProcessOperator(_ProcessOperatorBase, TwoInputStreamOperator):
    """Runs a (Keyed)BroadcastProcessFunction: input 0 the stream, input 1 the broadcast stream."""

    element_methods = ("process_element", "process_broadcast_element")
    params: BroadcastProcessParams

    def open(self) -> None:
        self.operator_state_store = BroadcastStateStore(self)
        self.broadcast_states = self.operator_state_store.states
        super().open()
        self.contexts = (BroadcastContext(self, self.collector, writable=False),
                         BroadcastContext(self, self.collector, writable=True))

    def process_batch(self, values: list, timestamps: list | None, input_index: int) -> None:
        self.context = self.contexts[input_index]
        super().process_batch(values, timestamps, input_index)

    def _fire(self, timestamp: int, key: Any, domain: TimeDomain) -> None:
        self.context = self.contexts[0]
        super()._fire(timestamp, key, domain)

    def snapshot_state(self) -> Any:
        state = super().snapshot_state() or {}
        state["broadcast"] = {name: dict(data) for name, data in self.broadcast_states.items()}
        return state

    def restore_state(self, states: list) -> None:
        super().restore_state([s for s in states if "keyed" in s])
        copies = [s["broadcast"] for s in states if "broadcast" in s]
        if copies:  # every old subtask kept the same copy: take the first
            for name in self.broadcast_states:
                self.broadcast_states[name].clear()
                self.broadcast_states[name].update(copies[0].get(name, {}))
