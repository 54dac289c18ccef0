"""Every keyed state kind on both backends: given a key, the operations, the visible result."""

from __future__ import annotations

import threading

import pytest

from rayflink.common.time import Time
from rayflink.common.typeinfo import Types
from rayflink.datastream.state import (
    AggregateFunction,
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.state.backend import StateError


class Average(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return (accumulator[0] + value, accumulator[1] + 1)

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])


@pytest.fixture(params=["hashmap", "rocksdb", "rocksdb-tiny-cache"])
def backend(request, tmp_path):
    config = {"hashmap": HashMapStateBackend(),
              "rocksdb": EmbeddedRocksDBStateBackend(),
              "rocksdb-tiny-cache": EmbeddedRocksDBStateBackend(cache_max_entries=2)}[request.param]
    b = config.create_keyed_state_backend(operator_uid="op-1", max_parallelism=128,
                                          key_groups=range(128), working_dir=str(tmp_path))
    yield b
    b.dispose()


def test_value_state(backend):
    count = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    backend.set_current_key("alice")
    assert count.value() is None
    count.update(1)
    backend.set_current_key("bob")
    count.update(10)
    backend.set_current_key("alice")
    count.update(count.value() + 1)
    assert count.value() == 2
    backend.flush()
    assert count.value() == 2
    count.clear()
    assert count.value() is None
    backend.set_current_key("bob")
    assert count.value() == 10
    count.update(None)
    assert count.value() is None
    assert backend.keys("count") == []


def test_list_state(backend):
    seen = backend.get_partitioned_state(ListStateDescriptor("seen", Types.STRING()))
    backend.set_current_key(7)
    assert seen.get() == []
    seen.add("a")
    seen.add_all(["b", "c"])
    seen.add_all([])
    assert seen.get() == ["a", "b", "c"]
    returned = seen.get()
    returned.append("not state")
    assert seen.get() == ["a", "b", "c"]
    seen.update(["x"])
    assert seen.get() == ["x"]
    seen.update([])
    assert seen.get() == []
    seen.add("y")
    seen.clear()
    assert seen.get() == []
    with pytest.raises(StateError, match="None"):
        seen.add(None)


def test_map_state(backend):
    m = backend.get_partitioned_state(MapStateDescriptor("m", Types.STRING(), Types.LONG()))
    backend.set_current_key("k")
    assert m.is_empty() and m.get("a") is None and not m.contains("a")
    m.put("a", 1)
    m.put_all({"b": 2, "c": 3})
    assert m.get("a") == 1 and m.contains("b") and not m.is_empty()
    assert sorted(m.keys()) == ["a", "b", "c"]
    assert sorted(m.values()) == [1, 2, 3]
    assert sorted(m.items()) == [("a", 1), ("b", 2), ("c", 3)]
    m.remove("b")
    m.remove("missing")
    assert sorted(m.items()) == [("a", 1), ("c", 3)]
    backend.set_current_key("other")
    assert m.is_empty()
    m.put("z", 26)
    backend.flush()
    backend.set_current_key("k")
    m.remove("a")
    m.remove("c")
    assert m.is_empty() and m.items() == []
    assert backend.keys("m") == ["other"]
    m.put("d", 4)
    m.clear()
    assert m.is_empty()


def test_reducing_state_with_callable_and_reduce_function(backend):
    class Max:
        def reduce(self, a, b):
            return max(a, b)

    total = backend.get_partitioned_state(ReducingStateDescriptor("sum", lambda a, b: a + b, Types.LONG()))
    high = backend.get_partitioned_state(ReducingStateDescriptor("max", Max(), Types.LONG()))
    backend.set_current_key("k")
    assert total.get() is None
    for v in (3, 4, 5):
        total.add(v)
        high.add(v)
    assert total.get() == 12 and high.get() == 5
    total.clear()
    assert total.get() is None and high.get() == 5


def test_aggregating_state(backend):
    avg = backend.get_partitioned_state(
        AggregatingStateDescriptor("avg", Average(), Types.TUPLE([Types.LONG(), Types.LONG()])))
    backend.set_current_key("k")
    assert avg.get() is None
    for v in (1, 2, 6):
        avg.add(v)
    assert avg.get() == 3.0
    backend.set_current_key("j")
    avg.add(10)
    assert avg.get() == 10.0
    avg.clear()
    assert avg.get() is None


def test_namespaces_scope_state(backend):
    s = backend.get_partitioned_state(ValueStateDescriptor("s", Types.LONG()))
    backend.set_current_key("k")
    s.update(0)
    backend.set_current_namespace(("window", 0, 10))
    assert s.value() is None
    s.update(1)
    backend.set_current_key("j")
    s.update(2)
    backend.set_current_namespace(None)
    backend.set_current_key("k")
    assert s.value() == 0
    assert sorted(backend.keys("s", ("window", 0, 10))) == ["j", "k"]
    assert backend.keys("s") == ["k"]


def test_merge_namespaces(backend):
    lst = backend.get_partitioned_state(ListStateDescriptor("l", Types.LONG()))
    red = backend.get_partitioned_state(ReducingStateDescriptor("r", lambda a, b: a + b, Types.LONG()))
    agg = backend.get_partitioned_state(AggregatingStateDescriptor("a", Average(), Types.PICKLED_BYTE_ARRAY()))
    backend.set_current_key("k")
    for ns, v in (("w1", 1), ("w2", 2), ("w3", 3)):
        backend.set_current_namespace(ns)
        lst.add(v)
        red.add(v)
        agg.add(v)
    for state in (lst, red, agg):
        state.merge_namespaces("w1", ["w2", "w3"])
    backend.set_current_namespace("w1")
    assert sorted(lst.get()) == [1, 2, 3] and red.get() == 6 and agg.get() == 2.0
    backend.set_current_namespace("w2")
    assert lst.get() == [] and red.get() is None and agg.get() is None


def test_same_name_returns_same_state_object(backend):
    a = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    b = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    assert a is b


def with_ttl(descriptor, seconds: int):
    descriptor.enable_time_to_live(StateTtlConfig.new_builder(Time.seconds(seconds)).build())
    return descriptor


@pytest.mark.parametrize("first, other, difference", [
    (ValueStateDescriptor("count", Types.LONG()), ListStateDescriptor("count", Types.LONG()),
     "kind changed from value to list"),
    (ValueStateDescriptor("count", Types.LONG()), ValueStateDescriptor("count", Types.STRING()), "type changed"),
    (ValueStateDescriptor("count", Types.LONG()), with_ttl(ValueStateDescriptor("count", Types.LONG()), 5),
     "TTL changed from no TTL to TTL 5000 ms"),
    (with_ttl(ValueStateDescriptor("count", Types.LONG()), 5), with_ttl(ValueStateDescriptor("count", Types.LONG()), 6),
     "TTL changed from TTL 5000 ms .* to TTL 6000 ms"),
], ids=["kind", "type", "ttl-added", "ttl-changed"])
def test_reregistering_with_other_kind_type_or_ttl_fails_naming_state_and_operator(backend, first, other, difference):
    backend.get_partitioned_state(first)
    with pytest.raises(StateError, match=rf"state 'count' of operator 'op-1'.*{difference}"):
        backend.get_partitioned_state(other)
    same_again = with_ttl(ValueStateDescriptor("count", Types.LONG()), 5) if first.ttl_config else \
        ValueStateDescriptor("count", Types.LONG())
    assert backend.get_partitioned_state(same_again) is backend.get_partitioned_state(first)


def test_two_states_under_one_queryable_name_fail(backend):
    a, b = ValueStateDescriptor("a", Types.LONG()), ValueStateDescriptor("b", Types.LONG())
    a.set_queryable("shared")
    b.set_queryable("shared")
    backend.get_partitioned_state(a)
    with pytest.raises(StateError, match=r"state 'b' of operator 'op-1'.*'shared' is already used by state 'a'"):
        backend.get_partitioned_state(b)


def test_query_reads_a_key_without_moving_the_current_key(backend):
    count = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    seen = backend.get_partitioned_state(MapStateDescriptor("seen", Types.STRING(), Types.LONG()))
    backend.set_current_key("alice")
    count.update(3)
    seen.put("x", 1)
    backend.set_current_key("bob")
    count.update(7)
    assert backend.query("count", "alice") == (True, 3)
    assert backend.query("seen", "alice") == (True, {"x": 1})
    assert backend.query("count", "carol") == (False, None)
    assert backend.query("seen", "bob") == (False, None)
    assert count.value() == 7  # still bob


def test_state_without_current_key_fails(backend):
    s = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    m = backend.get_partitioned_state(MapStateDescriptor("m", Types.STRING(), Types.LONG()))
    with pytest.raises(StateError, match="outside a keyed context"):
        s.value()
    with pytest.raises(StateError, match="outside a keyed context"):
        s.update(1)
    with pytest.raises(StateError, match="'op-1'"):
        m.put("a", 1)


def test_unpicklable_value_fails_naming_state_and_operator(backend):
    s = backend.get_partitioned_state(ValueStateDescriptor("lock", Types.PICKLED_BYTE_ARRAY()))
    backend.set_current_key("k")
    with pytest.raises(StateError, match=r"'lock'.*'op-1'.*cannot be pickled"):
        s.update(threading.Lock())
    assert s.value() is None


def test_unpicklable_value_inside_container_fails_on_flush_in_rocksdb(tmp_path):
    b = EmbeddedRocksDBStateBackend().create_keyed_state_backend(
        operator_uid="op-2", max_parallelism=128, key_groups=range(128), working_dir=str(tmp_path))
    s = b.get_partitioned_state(ValueStateDescriptor("box", Types.PICKLED_BYTE_ARRAY()))
    b.set_current_key("k")
    s.update([1])
    s.update([threading.Lock()])  # list type already checked: caught when written down
    with pytest.raises(StateError, match=r"'box'.*'op-2'.*cannot be pickled"):
        b.flush()
    b.dispose()


def test_value_of_wrong_type_fails(backend):
    s = backend.get_partitioned_state(ValueStateDescriptor("count", Types.LONG()))
    backend.set_current_key("k")
    with pytest.raises(StateError, match=r"'count'.*'op-1'.*LONG"):
        s.update("ten")
