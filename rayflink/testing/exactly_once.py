"""An exactly-once check under faults: a job whose output shows any record lost or duplicated.

A replayable source of integers, keyed by ``i % keys``, a ``KeyedProcessFunction`` counting per
key in ``ValueState`` and emitting ``(key, n)`` for the n-th record of its key, collected through
the two-phase-commit collect sink; a chaos thread kills task executors while it runs. Any
record lost or emitted twice shows in the output, which is compared with the expected one
record by record. Used by tests/checkpoint, tests/connectors, tests/cep and the soak benches
(``bench/soak_exactly_once.py``, ``bench/kafka_exactly_once.py``).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from rayflink.common import Types, WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.testing.services import wait_until

KEYS = 97


class CountPerKey(KeyedProcessFunction):
    """Emits (key, n) for the n-th record of each key: any loss or duplicate shows in the output."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def process_element(self, value, ctx, out):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        out.collect((ctx.get_current_key(), n))


def counting_job(checkpoint_dir: str, records: int, rate: float | None, backend: Any,
                 mode: CheckpointingMode = CheckpointingMode.EXACTLY_ONCE, *, keys: int = KEYS,
                 interval_ms: int = 300, parallelism: int = 2, restarts: int = 10) -> Any:
    """The counting job's output stream (call ``execute_and_collect`` on it)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.set_state_backend(backend)
    env.enable_checkpointing(interval_ms, mode)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoint_dir)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(restarts, 100))
    limiter = RateLimiterStrategy.per_second(rate) if rate else None
    source = DataGeneratorSource(lambda i: i, records, limiter)
    return (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
            .key_by(lambda v, k=keys: v % k).process(CountPerKey()).uid("count-per-key"))


def expected_output(records: int, keys: int = KEYS) -> Counter:
    """Every ``(key, n)`` the counting job emits for ``records`` input records, once."""
    per_key = Counter(i % keys for i in range(records))
    return Counter((k, n) for k, total in per_key.items() for n in range(1, total + 1))


def compare(out: list, records: int, keys: int = KEYS) -> tuple[Counter, Counter]:
    """``(missing, duplicated)`` records of the counting job's output."""
    got = Counter(out)
    expected = expected_output(records, keys)
    return expected - got, got - expected


def completed_checkpoints(client: Any) -> int:
    return client.get_checkpoint_statistics()["counts"]["completed"]


def retained_after_cancel(stream: Any, name: str, checkpoints: int) -> tuple[Any, dict]:
    """Run ``stream`` until ``checkpoints`` have completed, cancel it keeping its checkpoints
    (RETAIN_ON_CANCELLATION), and return its client and its latest completed checkpoint."""
    from rayflink.datastream.checkpoint_config import ExternalizedCheckpointCleanup
    from rayflink.errors import JobCancelledError

    stream.get_execution_environment().get_checkpoint_config().enable_externalized_checkpoints(
        ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION)
    with stream.execute_and_collect(name) as results:
        client = results.client
        wait_until(lambda: completed_checkpoints(client) >= checkpoints, timeout=60,
                   what=f"{checkpoints} completed checkpoints of {name}")
        client.cancel()
        try:
            list(results)
        except JobCancelledError:
            pass
        else:
            raise AssertionError(f"{name} ended before it was cancelled")
    latest = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"][-1]
    return client, latest


class ChaosRun(NamedTuple):
    out: list
    killed: list[str]
    status: dict
    history: list[dict]


def collect_under_chaos(stream: Any, name: str, kills: int, seed: int | None = None) -> ChaosRun:
    """Run ``stream`` to its end through the collect sink while ``chaos`` kills task executors
    (up to ``kills``); return its output, the executors killed, its status and checkpoints."""
    with stream.execute_and_collect(name) as results:
        with chaos_thread(results.client, kills, seed=seed) as killed:
            out = list(results)
        return ChaosRun(out, killed, results.client.get_status(), results.client.get_checkpoint_history())


@contextmanager
def chaos_thread(client: Any, kills: int, executors: int = 2, seed: int | None = None) -> Iterator[list[str]]:
    """Run ``chaos`` in a thread while the block runs (its job running); at the block's end, stop it
    and wait for it. Gives the list of the executors killed, complete once the block has ended.

    >>> with chaos_thread(client, 2) as killed:
    ...     client.get_job_execution_result()
    """
    stop = threading.Event()
    killed: list[str] = []
    killer = threading.Thread(target=lambda: killed.extend(chaos(client, kills, stop, executors, seed)))
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join()


def chaos(client: Any, kills: int, stop: threading.Event, executors: int = 2,
          seed: int | None = None) -> list[str]:
    """Kill a random task executor each time a new checkpoint has completed since the last kill;
    return the executors killed (fewer than ``kills`` when ``stop`` is set first)."""
    import ray

    from rayflink.runtime.executor import NAMESPACE

    rng = random.Random(seed)
    done: list[str] = []
    for _ in range(kills):
        seen = completed_checkpoints(client)
        try:
            wait_until(lambda: stop.is_set() or completed_checkpoints(client) > seen,  # noqa: B023 - called now
                       timeout=120, what="a checkpoint to complete")
        except TimeoutError:
            return done
        if stop.is_set():
            return done
        name = f"task-executor-{rng.randrange(executors)}"
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        done.append(name)
    return done
