"""Key-group routing in running jobs: one key, one subtask, whichever process sends it."""

from __future__ import annotations

import math

import pytest
from conftest import collect
from services import wait_until

from rayflink.common import WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.queryablestate import QueryableStateClient
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.errors import JobExecutionError

RECORDS_PER_KEY = 500
BASKETS = [frozenset({f"item-{i}", f"item-{i + 1}", f"item-{i + 2}"}) for i in range(8)]


def env(parallelism: int) -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(parallelism)
    e.set_restart_strategy(RestartStrategies.no_restart())
    return e


def test_a_frozenset_key_is_counted_in_one_place_at_parallelism_2():
    # Given records keyed by frozensets of str (whose iteration order follows each process's
    # str hash seed), sent by two source subtasks in two executor processes, a running count
    # per key reaches the key's total: every record of a key met the same state.
    e = env(2)
    n = RECORDS_PER_KEY * len(BASKETS)
    counts = (e.from_sequence(0, n - 1)
              .map(lambda i: (BASKETS[i % len(BASKETS)], 1))
              .key_by(lambda r: r[0])
              .reduce(lambda a, b: (a[0], a[1] + b[1])))
    out = collect(counts)
    assert len(out) == n
    final = {}
    for basket, count in out:
        final[basket] = max(final.get(basket, 0), count)
    assert final == {basket: RECORDS_PER_KEY for basket in BASKETS}


def test_queryable_state_finds_a_frozenset_key_where_its_records_went():
    # Given an unbounded job keeping each basket's latest record queryable, at parallelism 2,
    e = env(2)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(200))
    e.from_source(source, WatermarkStrategy.no_watermarks(), "events") \
        .key_by(lambda i: BASKETS[i % len(BASKETS)]).as_queryable_state("latest")
    client = e.execute_async("queryable-baskets")
    try:
        states = QueryableStateClient(client.get_job_id())
        # when this process (another hash seed) asks the job master for each basket, rebuilt here,
        # then the job master routes the query to the subtask that holds that basket's state.
        for n, basket in enumerate(BASKETS):
            asked = frozenset(sorted(basket, reverse=True))
            wait_until(lambda: states.get_kv_state("latest", asked) is not None, timeout=60,
                       what=f"basket {n} queryable")
            assert states.get_kv_state("latest", asked) % len(BASKETS) == n
    finally:
        client.cancel()


def test_a_nan_key_fails_the_job_at_the_first_record_naming_the_edge():
    e = env(1)
    e.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 100))
    e.from_collection([1.0, 2.0, math.nan, 3.0]).key_by(lambda v: v).reduce(lambda a, b: a + b) \
        .name("sum").add_sink(_Discard())
    client = e.execute_async("nan-key")
    with pytest.raises(JobExecutionError) as info:
        client.get_job_execution_result()
    assert client.get_status()["restarts"] == 0  # a restart would meet the same record again
    message = str(info.value)
    assert "key_by on edge" in message and "'sum'" in message
    assert "NaN" in message and "math.isnan" in message


def test_a_key_without_a_stable_encoding_fails_the_job_naming_edge_and_type():
    e = env(1)
    e.from_collection([1, 2, 3]).key_by(lambda v: (v, _Opaque())).reduce(lambda a, b: a + b) \
        .name("sum").add_sink(_Discard())
    with pytest.raises(JobExecutionError) as info:
        e.execute("opaque-key")
    message = str(info.value)
    assert "key_by on edge" in message and "'sum'" in message
    assert "type _Opaque" in message and "key selector" in message


class _Opaque:
    """Hashable by address only: its hash differs between processes."""


class _Discard:
    def invoke(self, value, context):
        pass
