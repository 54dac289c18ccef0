"""CEP under failures: kill task executors mid-job; partial matches restore from checkpoints and every
match is emitted exactly once (checked against the NFA run offline on each user's events)."""

from __future__ import annotations

from collections import Counter

import pytest

from rayflink.cep import CEP, Pattern
from rayflink.common import Duration, WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.operators.cep_nfa import NFA, CompiledPattern, KeyState
from rayflink.testing.exactly_once import collect_under_chaos

pytestmark = pytest.mark.integration  # every test here runs a job on Ray

USERS = 37


def event(i: int) -> tuple:
    """(user, kind, ts, i): one event per ms of event time, 37 users interleaved."""
    return (i % USERS, "abcx"[(i * 7919) % 13 % 4], i, i)


def pattern() -> Pattern:
    return (Pattern.begin("a").where(lambda e, _: e[1] == "a")
            .followed_by("b").where(lambda e, _: e[1] == "b").one_or_more()
            .followed_by("c").where(lambda e, _: e[1] == "c").within(400))


def as_ids(match: dict) -> tuple:
    return tuple(e[3] for stage in ("a", "b", "c") for e in match[stage])


def expected(records: int) -> Counter:
    nfa = NFA(CompiledPattern(pattern()), clock=lambda: 0)
    states: dict[int, KeyState] = {}
    out: list = []
    for i in range(records):
        e = event(i)
        nfa.process(states.setdefault(e[0], KeyState()), e[2], e, out)
    return Counter(as_ids(m) for kind, m, _ in out if kind == NFA.MATCH)


@pytest.mark.parametrize("backend", [HashMapStateBackend(), EmbeddedRocksDBStateBackend()],
                         ids=["hashmap", "rocksdb"])
def test_matches_exactly_once_across_executor_kills(tmp_path, backend):
    records = 24_000
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(backend)
    env.enable_checkpointing(300, CheckpointingMode.EXACTLY_ONCE)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    source = DataGeneratorSource(event, records, RateLimiterStrategy.per_second(4_000))
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)) \
        .with_timestamp_assigner(lambda e, _: e[2])
    events = env.from_source(source, strategy, "events").key_by(lambda e: e[0])
    stream = CEP.pattern(events, pattern()).select(as_ids).uid("cep")
    run = collect_under_chaos(stream, "cep-recovery", 2)
    assert run.killed, "the chaos thread should have killed an executor while the job ran"
    assert run.status["restarts"] >= len(run.killed)
    got, want = Counter(run.out), expected(records)
    assert sum(want.values()) > 1000
    assert got - want == Counter(), "matches emitted twice or wrong"
    assert want - got == Counter(), "matches lost"
