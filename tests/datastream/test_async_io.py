"""Async I/O: results in order or as they complete (never across a watermark), timeouts, retries,
capacity, lookups against the machine's Redis, and exactly once under executor kills."""

from __future__ import annotations

import asyncio
import functools
import random

import pytest
import redis

from rayflink.common import Duration, Time, WatermarkStrategy
from rayflink.datastream import (
    AsyncDataStream,
    AsyncFunction,
    AsyncRetryStrategy,
    ProcessFunction,
    StreamExecutionEnvironment,
    async_retry_predicates,
)
from rayflink.errors import GraphBuildError, JobExecutionError
from rayflink.testing.jobs import collect

pytestmark = pytest.mark.integration  # these tests run jobs on Ray


def env(parallelism: int = 1) -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(parallelism)
    return e


class SlowDouble(AsyncFunction):
    """Doubles after a random delay, so completions come out of order."""

    async def async_invoke(self, value):
        await asyncio.sleep(random.random() / 100)
        return [value * 2]


def test_ordered_wait_keeps_the_input_order():
    e = env()
    out = collect(AsyncDataStream.ordered_wait(e.from_collection(list(range(300))), SlowDouble(), Time.seconds(10),
                                               capacity=50))
    assert out == [v * 2 for v in range(300)]


class LateCheck(ProcessFunction):
    """(value, was it ahead of the watermark when it arrived)."""

    def process_element(self, value, ctx):
        yield value, ctx.timestamp() > ctx.timer_service().current_watermark()


def test_unordered_wait_emits_everything_and_never_across_a_watermark():
    e = env()
    e.get_config().set_integer("pipeline.auto-watermark-interval", 1)  # many watermarks between records
    source = e.from_collection(list(range(1, 2001))).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda v, ts: v))
    out = collect(AsyncDataStream.unordered_wait(source, SlowDouble(), Time.seconds(10), capacity=100)
                  .process(LateCheck()))
    assert sorted(v for v, _ in out) == [v * 2 for v in range(1, 2001)]
    assert [v for v, _ in out] != sorted(v for v, _ in out)  # completions did reorder records...
    assert all(ahead for _, ahead in out)  # ...but none came after a watermark that followed it


class SlowForOdd(AsyncFunction):
    async def async_invoke(self, value):
        if value % 2:
            await asyncio.sleep(5)
        return [value]

    def timeout(self, value):
        return [("timed out", value)]


def test_a_timeout_calls_timeout_and_emits_what_it_returns():
    e = env()
    out = collect(AsyncDataStream.unordered_wait(e.from_collection([1, 2, 3, 4]), SlowForOdd(), Time.milliseconds(200)))
    assert sorted(out, key=str) == sorted([2, 4, ("timed out", 1), ("timed out", 3)], key=str)


class Flaky(AsyncFunction):
    """Fails the first two attempts of every value (per process), then answers."""

    def open(self, runtime_context):
        self.attempts = {}

    async def async_invoke(self, value):
        self.attempts[value] = self.attempts.get(value, 0) + 1
        if self.attempts[value] <= 2:
            raise ConnectionError(f"flaky {value}")
        return [(value, self.attempts[value])]


def test_retries_follow_the_strategy_and_a_call_that_keeps_failing_fails_the_job():
    e = env()
    # PyFlink's predicate helpers (its remote_model_inference example builds its strategy this way)
    retry = AsyncRetryStrategy.fixed_delay(3, 10, exception_predicate=functools.partial(
        async_retry_predicates.exception_type_predicate, expected_error_type=ConnectionError))
    out = collect(AsyncDataStream.ordered_wait_with_retry(e.from_collection([1, 2, 3]), Flaky(), Time.seconds(10),
                                                          retry))
    assert out == [(1, 3), (2, 3), (3, 3)]
    e = env()
    failing = AsyncDataStream.ordered_wait(e.from_collection([7]), Flaky(), Time.seconds(10))
    with pytest.raises(JobExecutionError, match=r"async_invoke raised ConnectionError: flaky 7.*record 7"):
        collect(failing)


def test_exponential_backoff_delays_grow_to_the_cap():
    strategy = AsyncRetryStrategy.exponential_backoff(5, 10, 50, 2.0)
    assert [strategy.get_backoff_time_millis(n) for n in range(1, 6)] == [10, 20, 40, 50, 50]
    assert strategy.can_retry(5) and not strategy.can_retry(6)


def test_bad_arguments_are_refused_when_the_graph_is_built():
    e = env()
    s = e.from_collection([1])
    with pytest.raises(GraphBuildError, match="AsyncFunction"):
        AsyncDataStream.unordered_wait(s, lambda v: v, Time.seconds(1))
    with pytest.raises(GraphBuildError, match="capacity"):
        AsyncDataStream.unordered_wait(s, SlowDouble(), Time.seconds(1), capacity=0)
    with pytest.raises(GraphBuildError, match="timeout"):
        AsyncDataStream.unordered_wait(s, SlowDouble(), "soon")


class RedisLookup(AsyncFunction):
    """Enriches a number with its tag from Redis (redis.asyncio), as a lookup join would."""

    def open(self, runtime_context):
        import redis.asyncio

        self.client = redis.asyncio.Redis(host="127.0.0.1", port=6379)

    async def async_invoke(self, value):
        tag = await self.client.get(f"rayflink-async-test:{value % 10}")
        return [(value, tag.decode())]


@pytest.fixture
def tags():
    r = redis.Redis(host="127.0.0.1", port=6379)
    for i in range(10):
        r.set(f"rayflink-async-test:{i}", f"tag{i}")
    yield
    r.delete(*[f"rayflink-async-test:{i}" for i in range(10)])


def test_lookups_against_redis(tags):
    e = env(2)
    out = collect(AsyncDataStream.unordered_wait(e.from_collection(list(range(500))), RedisLookup(),
                                                 Duration.of_seconds(10), capacity=20))
    assert sorted(out) == [(v, f"tag{v % 10}") for v in range(500)]


def test_every_record_is_enriched_once_under_executor_kills(tags, tmp_path):
    from rayflink.common.restart_strategy import RestartStrategies
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.testing.exactly_once import CountPerKey, collect_under_chaos, compare

    records = 6_000
    e = env(2)
    e.enable_checkpointing(200)
    e.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}")
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    numbers = e.from_source(DataGeneratorSource(lambda i: i, records, RateLimiterStrategy.per_second(3000)),
                            WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
    enriched = AsyncDataStream.unordered_wait(numbers, RedisLookup(), Time.seconds(10), capacity=50).uid("lookup")
    from rayflink.testing.exactly_once import KEYS

    counted = enriched.map(lambda vt: vt[0]).uid("strip").key_by(lambda v: v % KEYS).process(CountPerKey()).uid("count")
    run = collect_under_chaos(counted, "async-chaos", kills=2, seed=5)
    missing, duplicated = compare(run.out, records)
    assert run.killed, "no executor was killed: the run proved nothing"
    assert not missing and not duplicated
