"""Queryable state: a running, unbounded job's keyed state read from outside by key.

Records ``i = 0, 1, 2, ...`` go to key ``i % KEYS`` from one source subtask, so key ``k`` sees
``k, k + KEYS, k + 2 KEYS, ...`` in order. Whatever moment a query reads, a consistent state of
key ``k`` is that prefix: its count ``c``, its last record ``k + (c - 1) KEYS``.
"""

from __future__ import annotations

import pytest

from rayflink.common import Types, WatermarkStrategy
from rayflink.common.time import Time
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from rayflink.datastream.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.errors import GraphBuildError
from rayflink.queryablestate import (
    QueryableStateClient,
    QueryableStateError,
    UnknownJobError,
    UnknownKvStateError,
)
from rayflink.state.key_groups import assign_key_group, operator_index_for_key_group
from rayflink.testing.services import wait_until

KEYS = 20


class Track(KeyedProcessFunction):
    """Per key: the count (value), every record (list), the sum (reducing), the record by parity (map)."""

    def open(self, runtime_context):
        descriptors = {
            "count": ValueStateDescriptor("count", Types.LONG()),
            "records": ListStateDescriptor("records", Types.LONG()),
            "sum": ReducingStateDescriptor("sum", lambda a, b: a + b, Types.LONG()),
            "last-by-parity": MapStateDescriptor("parity", Types.STRING(), Types.LONG()),
        }
        for name, descriptor in descriptors.items():
            descriptor.set_queryable(name)
        runtime_context.get_state(ValueStateDescriptor("private", Types.LONG()))  # not queryable
        self.count = runtime_context.get_state(descriptors["count"])
        self.records = runtime_context.get_list_state(descriptors["records"])
        self.sum = runtime_context.get_reducing_state(descriptors["sum"])
        self.parity = runtime_context.get_map_state(descriptors["last-by-parity"])

    def process_element(self, value, ctx, out):
        self.count.update((self.count.value() or 0) + 1)
        self.records.add(value)
        self.sum.add(value)
        self.parity.put("even" if value % 2 == 0 else "odd", value)
        out.collect(value)


def start(backend, name: str):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(backend)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(400))  # unbounded
    events = env.from_source(source, WatermarkStrategy.no_watermarks(), "events").set_parallelism(1)
    events.key_by(lambda i: i % KEYS).process(Track()).uid("track").add_sink(_Discard())
    events.key_by(lambda i: f"user-{i % KEYS}").as_queryable_state("latest")
    events.key_by(lambda i: i % KEYS).as_queryable_state(
        "running-sum", ReducingStateDescriptor("sum", lambda a, b: a + b, Types.LONG()))
    return env.execute_async(name)


class _Discard:
    def invoke(self, value, context):
        pass


@pytest.fixture(params=["hashmap", "rocksdb"])
def running_job(request):
    backend = HashMapStateBackend() if request.param == "hashmap" else EmbeddedRocksDBStateBackend()
    client = start(backend, f"queryable-{request.param}")
    wait_until(lambda: client.get_job_status() == "RUNNING", timeout=60, what="the job running")
    yield client
    client.cancel()
    client.wait(60)


@pytest.mark.integration
def test_every_state_kind_of_every_key_reads_a_consistent_prefix_while_the_job_runs(running_job):
    states = QueryableStateClient(running_job.get_job_id())
    owners = {operator_index_for_key_group(assign_key_group(k, 128), 2, 128) for k in range(KEYS)}
    assert owners == {0, 1}
    # the job reaches every key, on both subtasks: each key is read where its key group lives
    wait_until(lambda: all((states.get_kv_state("count", k) or 0) >= 3 for k in range(KEYS)), timeout=60,
               what="every key counted")
    last_counts = {}
    for _ in range(3):
        for k in range(KEYS):
            count = states.get_kv_state("count", k)
            assert count >= last_counts.get(k, 0)  # the job goes on; a read never goes back
            last_counts[k] = count
            records = states.get_kv_state("records", k)
            assert records == [k + j * KEYS for j in range(len(records))]
            assert len(records) >= count
            total = states.get_kv_state("sum", k)
            n = total_count(k, total)
            assert n is not None and n >= count, f"key {k}: sum {total} is no prefix sum"
            parity = states.get_kv_state("last-by-parity", k)
            assert set(parity) <= {"even", "odd"} and all(v % KEYS == k for v in parity.values())
            latest = states.get_kv_state("latest", f"user-{k}")
            assert latest % KEYS == k
            assert total_count(k, states.get_kv_state("running-sum", k)) is not None


def total_count(k: int, total: int) -> int | None:
    """The n for which k + (k + KEYS) + ... (n records) == total, if any."""
    n, s = 0, 0
    while s < total:
        s += k + n * KEYS
        n += 1
    return n if s == total else None


@pytest.mark.integration
def test_a_key_without_value_an_unknown_state_and_an_unknown_job_are_told_apart(running_job):
    states = QueryableStateClient(running_job)
    wait_until(lambda: states.get_kv_state("count", 0), timeout=60, what="key 0 counted")
    assert states.get_kv_state("count", KEYS + 5) is None  # no record has that key
    assert states.get_kv_state("records", KEYS + 5, default=[]) == []
    assert states.get_kv_state("count", "0") is None  # the key selector returns ints: "0" is another key
    with pytest.raises(UnknownKvStateError, match=r"no state queryable as 'nope'.*'count'.*'latest'"):
        states.get_kv_state("nope", 1)
    with pytest.raises(UnknownKvStateError, match="'private'"):  # registered, but not queryable
        states.get_kv_state("private", 1)
    with pytest.raises(UnknownJobError, match="no job 'no-such-job'"):
        QueryableStateClient("no-such-job").get_kv_state("count", 1)
    with pytest.raises(QueryableStateError, match="not hashable"):
        states.get_kv_state("count", [1, 2])


@pytest.mark.integration
def test_a_cancelled_job_serves_no_state():
    client = start(HashMapStateBackend(), "queryable-then-cancelled")
    states = QueryableStateClient(client.get_job_id())
    wait_until(lambda: client.get_job_status() == "RUNNING" and states.get_kv_state("count", 1), timeout=60,
               what="key 1 counted")
    client.cancel()
    client.wait(60)
    with pytest.raises(QueryableStateError, match="is CANCELED: queryable state is served only while the job runs"):
        states.get_kv_state("count", 1)


def test_queryable_descriptors_refuse_ttl_and_a_second_name():
    desc = ValueStateDescriptor("count", Types.LONG())
    desc.set_queryable("count")
    with pytest.raises(ValueError, match="queryable state cannot have a TTL"):
        desc.enable_time_to_live(StateTtlConfig.new_builder(Time.seconds(1)).build())
    with pytest.raises(ValueError, match="already queryable as 'count'"):
        desc.set_queryable("other")
    env = StreamExecutionEnvironment.get_execution_environment()
    keyed = env.from_collection([1, 2]).key_by(lambda v: v)
    with pytest.raises(GraphBuildError, match="as_queryable_state.*MapStateDescriptor"):
        keyed.as_queryable_state("m", MapStateDescriptor("m", Types.LONG(), Types.LONG()))
