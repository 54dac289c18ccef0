"""map, filter, flat_map, key_by/reduce and the rolling aggregations, in the user's shapes."""

from __future__ import annotations

import json

import pytest

from rayflink.common.typeinfo import Types
from rayflink.datastream import (
    FilterFunction,
    FlatMapFunction,
    MapFunction,
    ReduceFunction,
    RuntimeExecutionMode,
)
from rayflink.testing import collect, env

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

EVENTS = [
    '{"user_id": "alice", "tipo": "compra", "monto": 150.0}',
    '{"user_id": "bob",   "tipo": "vista",  "monto": 0.0}',
    '{"user_id": "alice", "tipo": "compra", "monto": 300.0}',
    '{"user_id": "carol", "tipo": "compra", "monto": 50.0}',
    '{"user_id": "bob",   "tipo": "compra", "monto": 200.0}',
]


def test_map_filter_with_lambdas_across_two_subtasks():
    e = env()
    out = collect(e.from_collection(list(range(1, 101))).map(lambda x: x * 2).filter(lambda x: x % 3 != 0))
    assert sorted(out) == [x * 2 for x in range(1, 101) if (x * 2) % 3 != 0]


def test_function_classes_get_open_with_runtime_context():
    class Tag(MapFunction):
        def open(self, runtime_context):
            self.sub = runtime_context.get_index_of_this_subtask()
            self.n = runtime_context.get_number_of_parallel_subtasks()

        def map(self, value):
            return (value, self.sub, self.n)

    class Even(FilterFunction):
        def filter(self, value):
            return value[0] % 2 == 0

    out = collect(env().from_collection(list(range(10))).map(Tag()))
    assert {n for _, _, n in out} == {2}
    assert {s for _, s, _ in out} == {0, 1}  # the collection source (parallelism 1) rebalances to both
    out = collect(env().from_collection(list(range(10))).map(Tag()).filter(Even()))
    assert sorted(v for v, _, _ in out) == [0, 2, 4, 6, 8]


def test_seed_12_2_1_flat_map_with_collector_lambda_and_key_by():
    e = env()
    parsed = e.from_collection(EVENTS).map(lambda msg: json.loads(msg),
                                           output_type=Types.MAP(Types.STRING(), Types.FLOAT()))
    items = parsed.flat_map(
        lambda ev, collector: [collector.collect({"item": f"item_{i}", "monto": ev["monto"] / 3})
                               for i in range(3)] if ev["tipo"] == "compra" else None
    )
    out = collect(items)
    assert len(out) == 12
    assert sorted({o["item"] for o in out}) == ["item_0", "item_1", "item_2"]
    assert round(sum(o["monto"] for o in out), 6) == 700.0


def test_flat_map_generator_class_and_returning_lists():
    class Split(FlatMapFunction):
        def flat_map(self, value):
            yield from value.split()

    e = env()
    out = collect(e.from_collection(["a b", "c", ""]).flat_map(Split()))
    assert sorted(out) == ["a", "b", "c"]
    out = collect(env().from_collection([1, 2, 3]).flat_map(lambda x: [x] * x))
    assert sorted(out) == [1, 2, 2, 3, 3, 3]


def test_seed_12_1_3_key_by_reduce_is_rolling_per_key():
    e = env(4)
    out = collect(e.from_collection([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
                  .map(lambda x: x * 2).filter(lambda x: x > 5)
                  .key_by(lambda x: x % 3).reduce(lambda a, b: a + b))
    # values per key in arrival order: key 0: 6, 12, 18; key 1: 10, 16; key 2: 8, 14, 20
    assert len(out) == 8
    assert {36, 26, 42} <= set(out)  # each key's final sum
    assert max(out) == 42


def test_reduce_function_class_with_tuples():
    class Add(ReduceFunction):
        def reduce(self, a, b):
            return (a[0], a[1] + b[1])

    data = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    out = collect(env().from_collection(data).key_by(lambda t: t[0]).reduce(Add()))
    assert sorted(out) == sorted([("a", 1), ("a", 4), ("a", 9), ("b", 2), ("b", 6)])


def test_rolling_aggregations_on_tuples_and_dicts():
    data = [("a", 3, "x"), ("a", 1, "y"), ("a", 2, "z"), ("b", 5, "w")]
    e = env(1)
    ks = e.from_collection(data).key_by(lambda t: t[0])
    assert collect(ks.sum(1)) == [("a", 3, "x"), ("a", 4, "x"), ("a", 6, "x"), ("b", 5, "w")]
    e = env(1)
    ks = e.from_collection(data).key_by(lambda t: t[0])
    assert collect(ks.min(1)) == [("a", 3, "x"), ("a", 1, "x"), ("a", 1, "x"), ("b", 5, "w")]
    e = env(1)
    ks = e.from_collection(data).key_by(lambda t: t[0])
    assert collect(ks.min_by(1)) == [("a", 3, "x"), ("a", 1, "y"), ("a", 1, "y"), ("b", 5, "w")]
    e = env(1)
    ks = e.from_collection(data).key_by(lambda t: t[0])
    assert collect(ks.max_by(1))[-2] == ("a", 3, "x")
    e = env(1)
    dicts = [{"k": "a", "v": 1.5}, {"k": "a", "v": 2.5}]
    assert collect(e.from_collection(dicts).key_by("k").sum("v"))[-1] == {"k": "a", "v": 4.0}
    e = env(1)
    assert collect(e.from_collection([4, 9, 2]).key_by(lambda x: 0).max(0)) == [4, 9, 9]


def test_batch_mode_reduce_emits_only_the_final_value_per_key():
    e = env()
    e.set_runtime_mode(RuntimeExecutionMode.BATCH)
    data = [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5)]
    out = collect(e.from_collection(data).key_by(lambda t: t[0]).sum(1))
    assert sorted(out) == [("a", 9), ("b", 6)]


def test_from_sequence_covers_the_range_once():
    out = collect(env().from_sequence(1, 10_000).filter(lambda x: x % 1000 == 0))
    assert sorted(out) == list(range(1000, 10_001, 1000))


def test_union_merges_streams_of_one_type():
    e = env()
    clicks = e.from_collection([{"tipo": "click", "user_id": "alice"}, {"tipo": "click", "user_id": "bob"}])
    buys = e.from_collection([{"tipo": "compra", "user_id": "alice", "monto": 100.0}])
    out = collect(clicks.union(buys))
    assert sorted(o["tipo"] for o in out) == ["click", "click", "compra"]
