"""Checkpoints and recovery: kill executors mid-job and check every output record."""

from __future__ import annotations

import threading

import pytest

from exactly_once import chaos, compare, counting_job, expected_output
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend


@pytest.mark.parametrize("backend", [HashMapStateBackend(), EmbeddedRocksDBStateBackend(),
                                     EmbeddedRocksDBStateBackend(incremental=True)],
                         ids=["hashmap", "rocksdb", "rocksdb-incremental"])
def test_exactly_once_keyed_state_and_output_survive_executor_kills(tmp_path, backend):
    records = 60_000
    stream = counting_job(f"file://{tmp_path}/checkpoints", records, 6_000, backend)
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
    missing, duplicated = compare(out, records)
    assert duplicated == {}, "records emitted twice"
    assert missing == {}, "records lost"


def test_at_least_once_loses_nothing(tmp_path):
    records = 30_000
    stream = counting_job(f"file://{tmp_path}/checkpoints", records, 6_000, HashMapStateBackend(),
                          CheckpointingMode.AT_LEAST_ONCE)
    stop = threading.Event()
    with stream.execute_and_collect("at-least-once") as results:
        killer = threading.Thread(target=chaos, args=(results.client, 2, stop))
        killer.start()
        out = list(results)
        stop.set()
        killer.join()
    assert set(out) >= set(expected_output(records))
