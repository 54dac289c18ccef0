"""Checkpoints and recovery: kill executors mid-job and check every output record."""

from __future__ import annotations

import time

import pytest

from rayflink.checkpoint.coordinator import read_metadata
from rayflink.checkpoint.snapshots import load_source_splits
from rayflink.common import WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.connectors.base import Sink, SinkWriter, SourceReader
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.errors import JobExecutionError
from rayflink.testing.exactly_once import CountPerKey, collect_under_chaos, compare, counting_job, expected_output

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


@pytest.mark.parametrize("backend", [HashMapStateBackend(), EmbeddedRocksDBStateBackend(),
                                     EmbeddedRocksDBStateBackend(incremental=True)],
                         ids=["hashmap", "rocksdb", "rocksdb-incremental"])
def test_exactly_once_keyed_state_and_output_survive_executor_kills(tmp_path, backend):
    records = 60_000
    run = collect_under_chaos(counting_job(f"file://{tmp_path}/checkpoints", records, 6_000, backend),
                              "exactly-once", 3)
    assert len(run.killed) >= 2, "the chaos thread should have killed executors while the job ran"
    assert run.status["restarts"] >= len(run.killed)
    missing, duplicated = compare(run.out, records)
    assert duplicated == {}, "records emitted twice"
    assert missing == {}, "records lost"


def test_at_least_once_loses_nothing(tmp_path):
    records = 30_000
    stream = counting_job(f"file://{tmp_path}/checkpoints", records, 6_000, HashMapStateBackend(),
                          CheckpointingMode.AT_LEAST_ONCE)
    run = collect_under_chaos(stream, "at-least-once", 2)
    assert set(run.out) >= set(expected_output(records))


class EndsLate(DataGeneratorSource):
    """A DataGeneratorSource whose reader takes a second to tell the end of its input, as a
    reader waiting on an external system does: a checkpoint triggered meanwhile reaches its
    subtask after the end, and the subtask finishes when that checkpoint completes."""

    def create_reader(self, splits, subtask_index, parallelism):
        return _EndsLateReader(super().create_reader(splits, subtask_index, parallelism))


class _EndsLateReader(SourceReader):
    def __init__(self, inner: SourceReader) -> None:
        self.inner = inner
        self.told = False

    def poll(self, max_records):
        batches = self.inner.poll(max_records)
        if batches is None and not self.told:
            self.told = True
            time.sleep(1.0)  # the slow external system
        return batches

    def snapshot_state(self):
        return self.inner.snapshot_state()

    def wait_time(self):
        return self.inner.wait_time()


class FailsAfterTheFinalCheckpoint(Sink):
    """A two-phase-commit sink whose commit after the end of its input fails: the job fails
    between its final checkpoint and its end."""

    def create_writer(self, subtask_index, parallelism):
        return _FailingCommits()


class _FailingCommits(SinkWriter):
    ended = False
    final = None  # the first checkpoint prepared after the end of input

    def write(self, records, timestamps):
        pass

    def flush(self, end_of_input):
        self.ended = self.ended or end_of_input

    def prepare_commit(self, checkpoint_id):
        if self.ended and self.final is None:
            self.final = checkpoint_id
        return checkpoint_id

    def commit(self, committables):
        # only the final checkpoint's commit: an earlier one can complete after the end (under load)
        if self.final is not None and self.final in committables:
            raise RuntimeError("injected: the commit after the final checkpoint fails")


def positions(checkpoint: dict) -> dict:
    """Source uid -> the positions of its splits in ``checkpoint`` (read from its snapshot files)."""
    meta = read_metadata(checkpoint["path"])
    return {uid: [s.payload[0] for s in load_source_splits(refs).values()]
            for uid, refs in meta["source_splits"].items()}


def two_sources_job(checkpoint_dir, a_records: int, b_records: int, b_rate: float | None, savepoint=None,
                    a_source=EndsLate):
    """Sources 'a' and 'b' (one subtask each), counted per source at parallelism 2."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoint_dir)
    env.set_restart_strategy(RestartStrategies.no_restart())
    if savepoint:
        env.get_config().set_string("execution.savepoint.path", savepoint)
        env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")  # the failing sink
    limiter = RateLimiterStrategy.per_second(b_rate) if b_rate else None
    a = env.from_source(a_source(lambda i: ("a", i), a_records), WatermarkStrategy.no_watermarks(), "a") \
        .uid("a").set_parallelism(1)
    b = env.from_source(DataGeneratorSource(lambda i: ("b", i), b_records, limiter), WatermarkStrategy.no_watermarks(),
                        "b").uid("b").set_parallelism(1)
    return env, a.union(b).key_by(lambda e: e[0]).process(CountPerKey()).uid("count")


def test_a_final_checkpoint_holds_the_state_of_a_subtask_that_finished_before_it(tmp_path):
    # Given source 'a' that ends in a moment and finishes on the checkpoint after its end, and
    # source 'b' that reads for two seconds more, in a job that fails after its final checkpoint,
    env, counts = two_sources_job(f"file://{tmp_path}/chk", 100, 300, 150)
    counts.sink_to(FailsAfterTheFinalCheckpoint()).uid("fails")
    client = env.execute_async("a-finishes-first")
    with pytest.raises(JobExecutionError, match="injected: the commit after the final checkpoint fails"):
        client.get_job_execution_result()
    final = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"][-1]

    # then the final checkpoint holds both sources' positions (at their ends) and the counts,
    assert positions(final) == {"a": [100], "b": [300]}
    assert len(read_metadata(final["path"])["operators"]["count"]) == 2

    # and a job restored from it with more input for both goes on where each source ended.
    env, counts = two_sources_job(f"file://{tmp_path}/chk2", 150, 350, None, savepoint=final["path"])
    with counts.execute_and_collect("restored") as results:
        out = list(results)
    assert sorted(n for source, n in out if source == "a") == list(range(101, 151))
    assert sorted(n for source, n in out if source == "b") == list(range(301, 351))


def test_checkpoints_go_on_after_a_source_ends_and_restore_both_sources(tmp_path):
    # Given source 'a' that ends at once and source 'b' that reads for two seconds more, in a
    # job that fails after its final checkpoint (so that it keeps its checkpoints),
    env, counts = two_sources_job(f"file://{tmp_path}/chk", 100, 300, 150, a_source=DataGeneratorSource)
    env.get_checkpoint_config().set_num_retained_checkpoints(100)
    env.get_config().set_string("web.checkpoints.history", "100")
    counts.sink_to(FailsAfterTheFinalCheckpoint()).uid("fails")
    client = env.execute_async("a-ends-first")
    with pytest.raises(JobExecutionError, match="injected: the commit after the final checkpoint fails"):
        client.get_job_execution_result()

    # then checkpoints completed while 'b' still read, with 'a' at its end (Flink's FLIP-147),
    completed = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"]
    after_a = [c for c in completed if positions(c)["a"] == [100] and positions(c)["b"][0] < 300]
    assert len(after_a) >= 3, [positions(c) for c in completed]  # before: none, or one that raced a's end

    # and a job restored from one of them goes on where each source was.
    b_at = positions(after_a[0])["b"][0]
    env, counts = two_sources_job(f"file://{tmp_path}/chk2", 150, 350, None, savepoint=after_a[0]["path"])
    with counts.execute_and_collect("restored") as results:
        out = list(results)
    assert sorted(n for source, n in out if source == "a") == list(range(101, 151))
    assert sorted(n for source, n in out if source == "b") == list(range(b_at + 1, 351))
