"""The broadcast state pattern: rules broadcast to every subtask change how events are handled,
read-only on the element side, apply_to_keyed_state, restored (and rescaled) from a savepoint,
and exactly once under executor kills."""

from __future__ import annotations

import pytest

from rayflink.common import Types
from rayflink.datastream.functions import BroadcastProcessFunction, KeyedBroadcastProcessFunction
from rayflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from rayflink.errors import GraphBuildError, JobExecutionError
from rayflink.testing import env
from rayflink.testing.jobs import collect

pytestmark = pytest.mark.integration  # these tests run jobs on Ray

RULES = MapStateDescriptor("rules", Types.STRING(), Types.LONG())


class Threshold(BroadcastProcessFunction):
    """Events above the current threshold (the rule "limit"); the rule arrives first."""

    def process_element(self, value, ctx):
        limit = ctx.get_broadcast_state(RULES).get("limit")
        if limit is not None and value > limit:
            yield value

    def process_broadcast_element(self, rule, ctx):
        ctx.get_broadcast_state(RULES).put(rule[0], rule[1])


def test_every_subtask_sees_every_rule_and_applies_it():
    e = env(3)
    rules = e.from_collection([("limit", 5)]).broadcast(RULES)
    events = e.from_collection(list(range(10))).set_parallelism(1)
    # the events wait for the rule: they come after a 1-record source that ends first
    out = collect(events.connect(rules).process(Threshold()))
    # a record may reach a subtask before the rule: only those after it pass, never one below it
    assert all(v > 5 for v in out) and set(out) <= {6, 7, 8, 9}


class Counter(KeyedBroadcastProcessFunction):
    """Counts each key's events; a 'reset' broadcast zeroes every key's count (apply_to_keyed_state)."""

    COUNT = ValueStateDescriptor("count", Types.LONG())

    def open(self, runtime_context):
        self.count = runtime_context.get_state(self.COUNT)

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield (ctx.get_current_key(), n, ctx.get_broadcast_state(RULES).get("epoch"))

    def process_broadcast_element(self, rule, ctx):
        ctx.get_broadcast_state(RULES).put("epoch", rule)
        ctx.apply_to_keyed_state(self.COUNT, lambda key, state: state.clear())


def test_keyed_broadcast_visits_every_keys_state():
    e = env(2)
    events = e.from_collection(["a", "b", "a", "c", "b", "a"]).set_parallelism(1)
    # one record per subtask of the broadcast side at the end: after it, counts start again
    resets = e.from_collection([1]).broadcast(RULES)
    out = collect(events.key_by(lambda k: k).connect(resets).process(Counter()))
    assert len(out) == 6
    for key in "abc":  # per key, counts increase by one until an epoch appears, then start again
        seq = [(n, epoch) for k, n, epoch in out if k == key]
        assert [n for n, epoch in seq if epoch is None] == list(range(1, 1 + sum(ep is None for _, ep in seq)))
        assert [n for n, epoch in seq if epoch is not None] == list(range(1, 1 + sum(ep is not None for _, ep in seq)))


class Writer(BroadcastProcessFunction):
    def process_element(self, value, ctx):
        ctx.get_broadcast_state(RULES).put("x", 1)
        return []

    def process_broadcast_element(self, value, ctx):
        return []


def test_the_element_side_cannot_change_broadcast_state():
    e = env(1)
    out = e.from_collection([1]).connect(e.from_collection([2]).broadcast(RULES)).process(Writer())
    with pytest.raises(JobExecutionError, match="read-only in process_element"):
        collect(out)


def test_wrong_functions_and_descriptors_are_refused_when_the_graph_is_built():
    e = env(1)
    with pytest.raises(GraphBuildError, match="MapStateDescriptor"):
        e.from_collection([1]).broadcast(ValueStateDescriptor("v", Types.LONG()))
    rules = e.from_collection([1]).broadcast(RULES)
    with pytest.raises(GraphBuildError, match="KeyedBroadcastProcessFunction needs a keyed stream"):
        e.from_collection([1]).connect(rules).process(Counter())
    with pytest.raises(GraphBuildError, match="takes a KeyedBroadcastProcessFunction"):
        e.from_collection([1]).key_by(lambda x: x).connect(rules).process(Threshold())


TAGS = MapStateDescriptor("tags", Types.STRING(), Types.STRING())


class TaggedCount(KeyedBroadcastProcessFunction):
    """(key, n, tag): the n-th record of its key and the broadcast tag in force when it came."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield (ctx.get_current_key(), n, ctx.get_broadcast_state(TAGS).get("tag"))

    def process_broadcast_element(self, tag, ctx):
        ctx.get_broadcast_state(TAGS).put("tag", tag)


def tagged_job(checkpoint_dir, records: int, parallelism: int = 2):
    from rayflink.common import WatermarkStrategy
    from rayflink.common.restart_strategy import RestartStrategies
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.testing.exactly_once import KEYS

    e = env(parallelism)
    e.enable_checkpointing(200)
    e.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{checkpoint_dir}")
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    tags = e.from_collection(["x"]).set_parallelism(1).uid("tags").broadcast(TAGS)
    numbers = e.from_source(DataGeneratorSource(lambda i: i, records, RateLimiterStrategy.per_second(3000)),
                            WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
    return numbers.key_by(lambda v: v % KEYS).connect(tags).process(TaggedCount()).uid("tagged")


def tags_never_revert(out: list) -> bool:
    """Per key, once a record saw the tag every later one does: the broadcast state was never lost."""
    by_key: dict = {}
    for key, n, tag in out:
        by_key.setdefault(key, []).append((n, tag))
    for seq in by_key.values():
        tags = [t for _, t in sorted(seq)]
        if "x" in tags and None in tags[tags.index("x"):]:
            return False
    return True


def test_broadcast_state_is_checkpointed_exactly_once_under_executor_kills(tmp_path):
    from rayflink.testing.exactly_once import collect_under_chaos, compare

    records = 6_000
    run = collect_under_chaos(tagged_job(tmp_path, records), "broadcast-chaos", kills=2, seed=3)
    missing, duplicated = compare([(k, n) for k, n, _ in run.out], records)
    assert run.killed, "no executor was killed: the run proved nothing"
    assert not missing and not duplicated
    assert tags_never_revert(run.out)
    assert any(tag == "x" for _, _, tag in run.out)


def test_a_savepoint_restores_broadcast_state_at_another_parallelism(tmp_path):
    from rayflink.datastream.checkpoint_config import ExternalizedCheckpointCleanup  # noqa: F401
    from rayflink.testing.exactly_once import retained_after_cancel

    client, latest = retained_after_cancel(tagged_job(tmp_path / "a", 10**9), "broadcast-a", checkpoints=3)
    e2 = tagged_job(tmp_path / "b", 10**9, parallelism=3)
    e2.get_execution_environment().get_config().set_string("execution.savepoint.path", latest["path"])
    e2.get_execution_environment().get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")
    with e2.execute_and_collect("broadcast-b") as results:
        seen = [next(results) for _ in range(300)]
        results.client.cancel()
    # the tags source ended before the savepoint and is not read again: every subtask of the new
    # parallelism has the tag from the restored broadcast state
    assert all(tag == "x" for _, _, tag in seen)
