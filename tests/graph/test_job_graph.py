"""Operator chaining, the execution plan, and the graph errors raised while the user builds it."""

from __future__ import annotations

import json

import pytest

from rayflink import testing
from rayflink.common import Types
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.errors import GraphBuildError


def env(parallelism: int = 4) -> StreamExecutionEnvironment:
    return testing.env(parallelism)


def plan(e: StreamExecutionEnvironment) -> dict:
    return json.loads(e.get_execution_plan())


def test_seed_12_1_3_map_and_filter_chain_and_key_by_breaks_the_chain():
    e = env()
    e.from_sequence(1, 10).map(lambda x: x * 2).filter(lambda x: x > 5) \
        .key_by(lambda x: x % 3).reduce(lambda a, b: a + b)
    p = plan(e)
    tasks = [t["name"] for t in p["tasks"]]
    assert tasks == ["Sequence Source -> Map -> Filter", "Keyed Reduce"]
    reduce_node = next(n for n in p["nodes"] if n["contents"] == "Keyed Reduce")
    assert reduce_node["predecessors"][0]["ship_strategy"] == "HASH"
    assert reduce_node["predecessors"][0]["chained"] is False
    filt = next(n for n in p["nodes"] if n["contents"] == "Filter")
    assert filt["predecessors"][0] == {"id": 2, "ship_strategy": "FORWARD", "side": "first", "chained": True}


def test_disable_chaining_start_new_chain_and_slot_sharing_groups_split_tasks():
    e = env(2)
    e.from_sequence(1, 10).map(lambda x: x).disable_chaining().filter(bool).print()
    assert [t["name"] for t in plan(e)["tasks"]] == ["Sequence Source", "Map", "Filter -> Print to Std. Out"]
    e = env(2)
    e.from_sequence(1, 10).map(lambda x: x).filter(bool).start_new_chain().print()
    assert [t["name"] for t in plan(e)["tasks"]] == ["Sequence Source -> Map", "Filter -> Print to Std. Out"]
    e = env(2)
    e.from_sequence(1, 10).map(lambda x: x).slot_sharing_group("other").print()
    assert len(plan(e)["tasks"]) == 3
    e = env(2)
    e.disable_operator_chaining()
    e.from_sequence(1, 10).map(lambda x: x).print()
    assert len(plan(e)["tasks"]) == 3


def test_different_parallelism_rebalances_and_per_operator_parallelism_shows_in_plan():
    e = env(2)
    e.from_sequence(1, 10).map(lambda x: x).set_parallelism(3).name("wide").uid("wide-map").print()
    p = plan(e)
    wide = next(n for n in p["nodes"] if n["contents"] == "wide")
    assert wide["parallelism"] == 3 and wide["uid"] == "wide-map"
    assert wide["predecessors"][0]["ship_strategy"] == "REBALANCE"


def test_auto_uids_are_stable_for_an_unchanged_graph():
    def build():
        e = env(2)
        e.from_sequence(1, 10).map(lambda x: x).key_by(lambda x: x).reduce(lambda a, b: a).print()
        return [n["uid"] for n in plan(e)["nodes"]]

    assert build() == build()


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2"])
def test_parallelism_below_one_or_not_an_int_is_refused(bad):
    e = env(2)
    error, text = (GraphBuildError, "parallelism must be an integer >= 1") if isinstance(bad, int) else (
        TypeError, f"parallelism must be an int, got {bad!r}")
    with pytest.raises(error, match=text):
        e.set_parallelism(bad)
    with pytest.raises(error, match="operator 'Map'"):
        e.from_sequence(1, 2).map(lambda x: x).set_parallelism(bad)


def test_parallelism_above_max_parallelism_is_refused_naming_the_operator():
    e = env(2)
    e.set_max_parallelism(8)
    with pytest.raises(GraphBuildError, match="operator 'Map': parallelism 9 exceeds max parallelism 8"):
        e.from_sequence(1, 2).map(lambda x: x).set_parallelism(9)
    e = env(2)
    e.from_sequence(1, 2).map(lambda x: x).set_max_parallelism(2).set_parallelism(4).print()
    with pytest.raises(GraphBuildError, match="operator 'Map': parallelism 4 exceeds max parallelism 2"):
        e.get_execution_plan()


def test_reduce_on_a_non_keyed_stream_is_refused():
    with pytest.raises(GraphBuildError, match="reduce needs a keyed stream; call key_by"):
        env().from_sequence(1, 2).map(lambda x: x).reduce(lambda a, b: a + b)


def test_union_of_different_declared_types_is_refused():
    e = env()
    a = e.from_collection(["x"], type_info=Types.STRING())
    b = e.from_collection([1], type_info=Types.INT())
    with pytest.raises(GraphBuildError, match=r"union of .*\(STRING\) with .*\(INT\)"):
        a.union(b)


def test_from_collection_checks_the_declared_type():
    with pytest.raises(GraphBuildError, match="element 'x' is not of the declared type INT"):
        env().from_collection([1, "x"], type_info=Types.INT())


def test_forward_between_different_parallelism_is_refused():
    e = env(2)
    e.from_sequence(1, 2).forward().map(lambda x: x).set_parallelism(3).print()
    with pytest.raises(GraphBuildError, match="forward edge .* needs equal parallelism"):
        e.get_execution_plan()


def test_bad_functions_and_duplicate_uids_are_refused():
    with pytest.raises(GraphBuildError, match=r"map\(\): expected a function"):
        env().from_sequence(1, 2).map(42)
    e = env()
    e.from_sequence(1, 2).map(lambda x: x).uid("same").map(lambda x: x).uid("same").print()
    with pytest.raises(GraphBuildError, match="uid 'same' is already used"):
        e.get_execution_plan()
