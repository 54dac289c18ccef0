"""Unaligned checkpoints: barriers overtake the records in flight, which the checkpoint stores and a
restore replays; exactly once under executor kills, on a keyed job behind a shuffle."""

from __future__ import annotations

import time

import pytest

from rayflink.common import WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.datagen import DataGeneratorSource
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.state_backend import HashMapStateBackend
from rayflink.testing.exactly_once import KEYS, CountPerKey, collect_under_chaos, compare

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


class SlowCountPerKey(CountPerKey):
    """CountPerKey at about 20 us a record: its input channels stay full (backpressure), so the
    barriers have records to overtake."""

    def process_element(self, value, ctx, out):
        until = time.perf_counter() + 20e-6
        while time.perf_counter() < until:
            pass
        super().process_element(value, ctx, out)


def unaligned_counting_job(checkpoint_dir: str, records: int, timeout_ms: int):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(HashMapStateBackend())
    env.enable_checkpointing(300, CheckpointingMode.EXACTLY_ONCE)
    config = env.get_checkpoint_config()
    config.set_checkpoint_storage_dir(checkpoint_dir)
    config.enable_unaligned_checkpoints()
    config.set_aligned_checkpoint_timeout(timeout_ms)
    # several batches in flight, each processed in slices (a barrier ahead is taken between two)
    env.get_config().set_string("taskmanager.network.batch-size", "1024")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 100))
    source = DataGeneratorSource(lambda i: i, records)
    return (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
            .key_by(lambda v: v % KEYS).process(SlowCountPerKey()).uid("count-per-key"))


@pytest.mark.parametrize("timeout_ms", [0, 20], ids=["unaligned", "aligned-then-unaligned"])
def test_unaligned_checkpoints_hold_exactly_once_under_executor_kills(tmp_path, timeout_ms):
    # Given a keyed count at p=2 behind a shuffle (two input channels per subtask), backpressured,
    # checkpointing unaligned (at once, or once 20 ms of alignment have passed),
    records = 120_000
    stream = unaligned_counting_job(f"file://{tmp_path}/checkpoints", records, timeout_ms)
    # when executors are killed while it runs,
    run = collect_under_chaos(stream, f"unaligned-{timeout_ms}", 3)
    assert len(run.killed) >= 2, "the chaos thread should have killed executors while the job ran"
    assert run.status["restarts"] >= len(run.killed)
    # then its checkpoints were unaligned and stored records in flight, which the restores replayed:
    completed = [c for c in run.history if c["status"] == "COMPLETED"]
    assert any(c["unaligned"] and c["persisted_data_bytes"] > 0 for c in completed), completed
    # every record counts once, none lost, none twice.
    missing, duplicated = compare(run.out, records)
    assert duplicated == {}, "records emitted twice"
    assert missing == {}, "records lost"
