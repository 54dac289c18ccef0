"""Checkpoints and recovery: kill executors mid-job and check every output record."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import ray

from connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.common import Types, WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend

KEYS = 97


class CountPerKey(KeyedProcessFunction):
    """Emits (key, n) for the n-th record of each key: any loss or duplicate shows in the output."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx, out):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        out.collect((value % KEYS, n))


def poll(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def counting_job(tmp_path, records: int, rate: float, backend, mode=CheckpointingMode.EXACTLY_ONCE):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(backend)
    env.enable_checkpointing(300, mode)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/checkpoints")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    source = DataGeneratorSource(lambda i: i, records, RateLimiterStrategy.per_second(rate))
    return (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers")
            .key_by(lambda v: v % KEYS).process(CountPerKey()).uid("count-per-key"))


def expected_output(records: int) -> Counter:
    per_key = Counter(i % KEYS for i in range(records))
    return Counter((k, n) for k, total in per_key.items() for n in range(1, total + 1))


def chaos(client, kills: int, stop: threading.Event) -> list[str]:
    """Kill a random task executor each time a new checkpoint has completed since the last kill."""
    from rayflink.runtime.executor import NAMESPACE

    done = []
    for _ in range(kills):
        seen = len([c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"])
        try:
            poll(lambda: stop.is_set() or len([c for c in client.get_checkpoint_history()
                                               if c["status"] == "COMPLETED"]) > seen,
                 what="a checkpoint to complete")
        except AssertionError:
            return done
        if stop.is_set():
            return done
        name = f"task-executor-{random.randrange(2)}"
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        done.append(name)
    return done


@pytest.mark.parametrize("backend", [HashMapStateBackend(), EmbeddedRocksDBStateBackend()],
                         ids=["hashmap", "rocksdb"])
def test_exactly_once_keyed_state_and_output_survive_executor_kills(tmp_path, backend):
    records = 60_000
    stream = counting_job(tmp_path, records, 6_000, backend)
    stop = threading.Event()
    with stream.execute_and_collect("exactly-once") as results:
        killer_result: list = []
        killer = threading.Thread(target=lambda: killer_result.extend(chaos(results.client, 3, stop)))
        killer.start()
        out = list(results)
        stop.set()
        killer.join()
        status = results.client.get_status()
    assert len(killer_result) >= 2, "the chaos thread should have killed executors while the job ran"
    assert status["restarts"] >= len(killer_result)
    got = Counter(out)
    expected = expected_output(records)
    assert got - expected == Counter(), "records emitted twice"
    assert expected - got == Counter(), "records lost"


def test_at_least_once_loses_nothing(tmp_path):
    records = 30_000
    stream = counting_job(tmp_path, records, 6_000, HashMapStateBackend(), CheckpointingMode.AT_LEAST_ONCE)
    stop = threading.Event()
    with stream.execute_and_collect("at-least-once") as results:
        killer = threading.Thread(target=chaos, args=(results.client, 2, stop))
        killer.start()
        out = list(results)
        stop.set()
        killer.join()
    assert set(out) >= set(expected_output(records))
