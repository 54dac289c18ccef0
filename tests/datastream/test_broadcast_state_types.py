"""The broadcast state objects ``ctx.get_broadcast_state`` hands out are PyFlink's
``BroadcastState`` / ``ReadOnlyBroadcastState``, from an ``OperatorStateStore`` (unit tests, no Ray)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rayflink.common import Types
from rayflink.datastream.state import (
    BroadcastState,
    MapStateDescriptor,
    OperatorStateStore,
    ReadOnlyBroadcastState,
)
from rayflink.errors import JobExecutionError
from rayflink.operators.broadcast import BroadcastContext, BroadcastStateStore

RULES = MapStateDescriptor("rules", Types.STRING(), Types.LONG())
LIMITS = MapStateDescriptor("limits", Types.STRING(), Types.LONG())


def operator_with(*descriptors: MapStateDescriptor) -> SimpleNamespace:
    """What a broadcast operator's store and contexts read: its descriptors and its description."""
    op = SimpleNamespace(params=SimpleNamespace(descriptors=descriptors),
                         ctx=SimpleNamespace(describe=lambda: "Co-Process-Broadcast (uid rules) subtask 0/2"))
    op.operator_state_store = BroadcastStateStore(op)
    return op


def test_the_writable_state_is_a_map_the_read_only_view_sees():
    store = operator_with(RULES, LIMITS).operator_state_store
    assert isinstance(store, OperatorStateStore)
    rules = store.get_broadcast_state(RULES)
    assert isinstance(rules, BroadcastState) and rules.is_empty()
    rules.put("limit", 5)
    rules.put_all({"floor": 1, "cap": 9})
    rules["step"] = 2
    del rules["cap"]
    rules.remove("missing")  # removing an absent key is no error

    view = store.get_read_only_broadcast_state(RULES)
    assert isinstance(view, ReadOnlyBroadcastState) and not isinstance(view, BroadcastState)
    assert view.get("limit") == 5 and view["floor"] == 1 and view.get("cap") is None
    assert "step" in view and view.contains("step") and not view.contains("cap")
    assert sorted(view.items()) == [("floor", 1), ("limit", 5), ("step", 2)]
    assert sorted(view) == sorted(view.keys()) == ["floor", "limit", "step"] and sorted(view.values()) == [1, 2, 5]
    assert store.get_broadcast_state(LIMITS).is_empty()  # one map per descriptor

    rules.clear()
    assert view.is_empty() and store.states == {"rules": {}, "limits": {}}


@pytest.mark.parametrize("change", [lambda s: s.put("a", 1), lambda s: s.put_all({"a": 1}),
                                    lambda s: s.remove("a"), lambda s: s.clear()])
def test_the_read_only_view_refuses_every_change(change):
    view = operator_with(RULES).operator_state_store.get_read_only_broadcast_state(RULES)
    with pytest.raises(JobExecutionError, match="'rules' is read-only in process_element"):
        change(view)


def test_the_contexts_hand_out_the_read_only_and_the_writable_state():
    op = operator_with(RULES)
    element_side = BroadcastContext(op, out=None, writable=False)
    broadcast_side = BroadcastContext(op, out=None, writable=True)
    broadcast_side.get_broadcast_state(RULES).put("limit", 5)
    state = element_side.get_broadcast_state(RULES)
    assert isinstance(state, ReadOnlyBroadcastState) and not isinstance(state, BroadcastState)
    assert state.get("limit") == 5
    with pytest.raises(JobExecutionError, match=r"subtask 0/2: no broadcast state 'limits'; .*\['rules'\]"):
        element_side.get_broadcast_state(LIMITS)
