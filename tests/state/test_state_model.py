"""Property: every state kind on both backends behaves like a plain dict model.

Random operation sequences (including key and namespace switches, flushes and
snapshot/restore into a fresh backend of the other kind) are run against the
backend and against ``model[(state, key, namespace)]``; every read must agree.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayflink.common.typeinfo import Types
from rayflink.datastream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    ValueStateDescriptor,
)
from rayflink.state.heap import HeapKeyedStateBackend
from rayflink.state.rocksdb import RocksDBKeyedStateBackend


class CountSum:
    def create_accumulator(self):
        return [0, 0]

    def add(self, value, acc):
        return [acc[0] + 1, acc[1] + value]

    def get_result(self, acc):
        return tuple(acc)

    def merge(self, a, b):
        return [a[0] + b[0], a[1] + b[1]]


DESCRIPTORS = {
    "value": ValueStateDescriptor("value", Types.LONG()),
    "list": ListStateDescriptor("list", Types.LONG()),
    "map": MapStateDescriptor("map", Types.STRING(), Types.LONG()),
    "reducing": ReducingStateDescriptor("reducing", lambda a, b: a * 31 + b, Types.LONG()),
    "aggregating": AggregatingStateDescriptor("aggregating", CountSum(), Types.LIST(Types.LONG())),
}

keys = st.sampled_from(["a", "b", "c", 7, ("t", 1)])
namespaces = st.sampled_from([None, "w1", ("w", 2)])
ints = st.integers(-5, 5)
map_keys = st.sampled_from(["x", "y", "z"])

ops = st.one_of(
    st.tuples(st.just("set_key"), keys),
    st.tuples(st.just("set_ns"), namespaces),
    st.tuples(st.just("value_update"), st.one_of(ints, st.none())),
    st.tuples(st.just("value_get")),
    st.tuples(st.just("list_add"), ints),
    st.tuples(st.just("list_add_all"), st.lists(ints, max_size=3)),
    st.tuples(st.just("list_update"), st.lists(ints, max_size=3)),
    st.tuples(st.just("list_get")),
    st.tuples(st.just("map_put"), map_keys, ints),
    st.tuples(st.just("map_remove"), map_keys),
    st.tuples(st.just("map_get"), map_keys),
    st.tuples(st.just("map_read")),
    st.tuples(st.just("reducing_add"), ints),
    st.tuples(st.just("reducing_get")),
    st.tuples(st.just("aggregating_add"), ints),
    st.tuples(st.just("aggregating_get")),
    st.tuples(st.just("clear"), st.sampled_from(sorted(DESCRIPTORS))),
    st.tuples(st.just("flush")),
    st.tuples(st.just("snapshot_restore")),
)


class Harness:
    """A backend plus its state objects; ``snapshot_restore`` swaps in the other backend kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dirs: list[str] = []
        self.backend = self._new(kind)
        self.key, self.ns = "a", None
        self._bind()

    def _new(self, kind: str):
        if kind == "heap":
            return HeapKeyedStateBackend(operator_uid="model", max_parallelism=16, key_groups=range(16))
        d = tempfile.mkdtemp()
        self.dirs.append(d)
        return RocksDBKeyedStateBackend(operator_uid="model", max_parallelism=16, key_groups=range(16),
                                        working_dir=d, cache_max_entries=3)

    def _bind(self) -> None:
        self.states = {k: self.backend.get_partitioned_state(d) for k, d in DESCRIPTORS.items()}
        self.backend.set_current_namespace(self.ns)
        self.backend.set_current_key(self.key)

    def snapshot_restore(self) -> None:
        snap = self.backend.snapshot()
        self.backend.dispose()
        self.kind = "rocksdb" if self.kind == "heap" else "heap"
        self.backend = self._new(self.kind)
        self.backend.restore([snap])
        self._bind()

    def close(self) -> None:
        self.backend.dispose()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def run_against_model(kind: str, operations: list[tuple]) -> None:
    h = Harness(kind)
    model: dict[tuple, object] = {}
    try:
        for op, *args in operations:
            s = h.states
            at = lambda name: (name, h.key, h.ns)  # noqa: E731
            if op == "set_key":
                h.key = args[0]
                h.backend.set_current_key(h.key)
            elif op == "set_ns":
                h.ns = args[0]
                h.backend.set_current_namespace(h.ns)
            elif op == "value_update":
                s["value"].update(args[0])
                if args[0] is None:
                    model.pop(at("value"), None)
                else:
                    model[at("value")] = args[0]
            elif op == "value_get":
                assert s["value"].value() == model.get(at("value"))
            elif op == "list_add":
                s["list"].add(args[0])
                model.setdefault(at("list"), []).append(args[0])
            elif op == "list_add_all":
                s["list"].add_all(args[0])
                if args[0]:
                    model.setdefault(at("list"), []).extend(args[0])
            elif op == "list_update":
                s["list"].update(args[0])
                if args[0]:
                    model[at("list")] = list(args[0])
                else:
                    model.pop(at("list"), None)
            elif op == "list_get":
                assert s["list"].get() == model.get(at("list"), [])
            elif op == "map_put":
                s["map"].put(*args)
                model.setdefault(at("map"), {})[args[0]] = args[1]
            elif op == "map_remove":
                s["map"].remove(args[0])
                m = model.get(at("map"), {})
                m.pop(args[0], None)
                if not m:
                    model.pop(at("map"), None)
            elif op == "map_get":
                m = model.get(at("map"), {})
                assert s["map"].get(args[0]) == m.get(args[0])
                assert s["map"].contains(args[0]) == (args[0] in m)
            elif op == "map_read":
                m = model.get(at("map"), {})
                assert sorted(s["map"].items()) == sorted(m.items())
                assert sorted(s["map"].keys()) == sorted(m)
                assert sorted(s["map"].values()) == sorted(m.values())
                assert s["map"].is_empty() == (not m)
            elif op == "reducing_add":
                s["reducing"].add(args[0])
                cur = model.get(at("reducing"))
                model[at("reducing")] = args[0] if cur is None else cur * 31 + args[0]
            elif op == "reducing_get":
                assert s["reducing"].get() == model.get(at("reducing"))
            elif op == "aggregating_add":
                s["aggregating"].add(args[0])
                c, t = model.get(at("aggregating"), (0, 0))
                model[at("aggregating")] = (c + 1, t + args[0])
            elif op == "aggregating_get":
                assert s["aggregating"].get() == model.get(at("aggregating"))
            elif op == "clear":
                s[args[0]].clear()
                model.pop(at(args[0]), None)
            elif op == "flush":
                h.backend.flush()
            elif op == "snapshot_restore":
                h.snapshot_restore()
        read = {"value": lambda st: st.value(), "list": lambda st: st.get(),
                "map": lambda st: dict(st.items()) or None, "reducing": lambda st: st.get(),
                "aggregating": lambda st: st.get()}
        for (name, key, ns), expected in list(model.items()):
            h.backend.set_current_namespace(ns)
            h.backend.set_current_key(key)
            assert read[name](h.states[name]) == expected, (name, key, ns)
        for name in DESCRIPTORS:
            for ns in (None, "w1", ("w", 2)):
                expected = sorted(repr(k) for (n, k, kns) in model if n == name and kns == ns)
                assert sorted(map(repr, h.backend.keys(name, ns))) == expected, (name, ns)
    finally:
        h.close()


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("kind", ["heap", "rocksdb"])
def test_backend_matches_dict_model(kind):
    @SETTINGS
    @given(st.lists(ops, max_size=60))
    def check(operations):
        run_against_model(kind, operations)
    check()
