"""Savepoints, rescaling, and checkpoints that fail: every key's state continues exactly."""

from __future__ import annotations

import os
import time

import pytest

from rayflink.checkpoint.coordinator import read_metadata
from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.common import Types, WatermarkStrategy
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import KeyedProcessFunction, MapFunction, StreamExecutionEnvironment
from rayflink.datastream.checkpoint_config import ExternalizedCheckpointCleanup
from rayflink.datastream.connectors.base import Sink, SinkWriter
from rayflink.datastream.state import ListStateDescriptor, ValueStateDescriptor
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.errors import JobExecutionError, RayflinkError
from rayflink.testing.services import wait_until

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


class Total(KeyedProcessFunction):
    """Keeps a running total per key and emits (key, total) for every record."""

    def open(self, runtime_context):
        self.total = runtime_context.get_state(ValueStateDescriptor("total", Types.LONG()))

    def process_element(self, value, ctx, out):
        t = (self.total.value() or 0) + 1
        self.total.update(t)
        out.collect((value[0], t, None))


def savepoint_of(stream, uri: str) -> str:
    """Run ``stream`` until its first result, stop it with a savepoint at ``uri``; the savepoint's path."""
    with stream.execute_and_collect("to-save") as results:
        next(iter(results))
        path = results.client.stop_with_savepoint(uri)
        list(results)
    return path


def build(tmp_path, keys: int, records: int, rate: float | None, parallelism: int, backend, savepoint=None,
          uid="totals", allow=False, source_uid="events", default_savepoint_dir=None):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    if default_savepoint_dir:
        env.set_default_savepoint_directory(default_savepoint_dir)
    env.set_state_backend(backend)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    if savepoint:
        env.get_config().set_string("execution.savepoint.path", savepoint)
        if allow:
            env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")
    limiter = RateLimiterStrategy.per_second(rate) if rate else None
    source = DataGeneratorSource(lambda i: (i % keys, i), records, limiter)
    return (env.from_source(source, WatermarkStrategy.no_watermarks(), "events").uid(source_uid)
            .key_by(lambda e: e[0]).process(Total()).uid(uid))


class TotalAsList(KeyedProcessFunction):
    """The same uid and state name as Total, but the state is now a list: the savepoint cannot fit."""

    def __init__(self, lazily: bool = False) -> None:
        self.lazily = lazily

    def open(self, runtime_context):
        self.ctx = runtime_context
        if not self.lazily:
            self.totals = runtime_context.get_list_state(ListStateDescriptor("total", Types.LONG()))

    def process_element(self, value, ctx, out):
        if self.lazily:
            self.totals = self.ctx.get_list_state(ListStateDescriptor("total", Types.LONG()))
        self.totals.add(1)
        out.collect((value[0], 1, None))


def finals(out) -> dict:
    best: dict = {}
    for key, total, _ in out:
        best[key] = max(best.get(key, 0), total)
    return best


def test_stop_with_savepoint_then_resume_in_the_other_backend_continues_every_key(tmp_path):
    keys, records = 500, 40_000
    stream = build(tmp_path, keys, records, 5_000, 2, HashMapStateBackend(), default_savepoint_dir=f"file://{tmp_path}/sp1")
    first = []
    with stream.execute_and_collect("before-savepoint") as results:
        for record in results:
            first.append(record)
            if len(first) == 5_000:
                path = results.client.stop_with_savepoint()  # into the job's default savepoint directory
                break
        first.extend(results)
    assert results.client.get_job_status() == "FINISHED"
    assert path == f"file://{tmp_path}/sp1"
    # resume from the savepoint, in RocksDB this time, with the rest of the input
    resumed = build(tmp_path, keys, records, None, 2, EmbeddedRocksDBStateBackend(), savepoint=path)
    with resumed.execute_and_collect("after-savepoint") as results:
        second = list(results)
    before = finals(first)
    # every key continues from the total the savepoint had: the sequence has no gap and no repeat
    for key in range(keys):
        totals = sorted(t for k, t, _ in first + second if k == key)
        assert totals == list(range(1, len(totals) + 1)), f"key {key}"
    assert finals(first + second) == {k: records // keys for k in range(keys)}
    assert sum(before.values()) >= 5_000


def test_rescale_2_to_4_to_1_keeps_every_keys_state(tmp_path):
    keys = 100_000
    stream = build(tmp_path, keys, None, 30_000, 2, HashMapStateBackend())
    seen: list = []
    with stream.execute_and_collect("rescale") as results:
        client = results.client
        for record in results:
            seen.append(record)
            if len(seen) == 20_000:
                break
        client.rescale(4)
        wait_until(lambda: client.get_metrics()["vertices"][1]["parallelism"] == 4 and
                   client.get_job_status() == "RUNNING", timeout=60, what="the job at parallelism 4")
        for record in results:
            seen.append(record)
            if len(seen) == 60_000:
                break
        client.rescale(1)
        wait_until(lambda: client.get_metrics()["vertices"][1]["parallelism"] == 1, timeout=60, what="parallelism 1")
        for record in results:
            seen.append(record)
            if len(seen) == 150_000:
                break
    # the i-th record of a key always carries total i: the state moved with its key groups
    per_key: dict = {}
    for key, total, _ in seen:
        per_key.setdefault(key, []).append(total)
    for key, totals in per_key.items():
        assert sorted(totals) == list(range(1, len(totals) + 1)), f"key {key}: {sorted(totals)[:10]}"
    assert len(per_key) == keys  # 150,000 records over 100,000 keys: every key appeared


def test_a_savepoint_with_state_for_a_missing_operator_is_refused_unless_allowed(tmp_path):
    path = savepoint_of(build(tmp_path, 10, None, 2_000, 1, HashMapStateBackend()), f"file://{tmp_path}/sp2")
    renamed = build(tmp_path, 10, 100, None, 1, HashMapStateBackend(), savepoint=path, uid="renamed")
    with pytest.raises(Exception, match="state for operator uid 'totals'.*allow non-restored state"):
        with renamed.execute_and_collect("refused") as results:
            list(results)
    # a new source uid too: the old source's position would otherwise be restored past these 100 records
    allowed = build(tmp_path, 10, 100, None, 1, HashMapStateBackend(), savepoint=path, uid="renamed", allow=True,
                    source_uid="new-events")
    with allowed.execute_and_collect("allowed") as results:
        assert max(t for _, t, _ in results) == 10  # fresh state: 100 records over 10 keys


def test_changing_max_parallelism_is_refused(tmp_path):
    path = savepoint_of(build(tmp_path, 10, None, 2_000, 1, HashMapStateBackend()), f"file://{tmp_path}/sp3")
    env_stream = build(tmp_path, 10, 100, None, 1, HashMapStateBackend(), savepoint=path)
    env_stream.get_execution_environment().set_max_parallelism(256)
    env_stream._t.max_parallelism = 256
    with pytest.raises(Exception, match="max parallelism changed from 128 to 256"):
        with env_stream.execute_and_collect("refused") as results:
            list(results)


class SlowToSnapshot:
    """A state value whose serialization takes a while, like a slow checkpoint storage."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self):
        time.sleep(0.3)
        return (SlowToSnapshot, (self.n,))

    def __deepcopy__(self, memo):
        time.sleep(0.3)
        return SlowToSnapshot(self.n)


class SlowState(KeyedProcessFunction):
    def open(self, runtime_context):
        self.value = runtime_context.get_state(ValueStateDescriptor("slow", None))

    def process_element(self, value, ctx, out):
        self.value.update(SlowToSnapshot(value))
        out.collect(value)


def slow_job(tmp_path, tolerable: int, restart):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.enable_checkpointing(100)
    cfg = env.get_checkpoint_config()
    cfg.set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    cfg.set_checkpoint_timeout(150)
    cfg.set_tolerable_checkpoint_failure_number(tolerable)
    env.set_restart_strategy(restart)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(50))
    env.from_source(source, WatermarkStrategy.no_watermarks(), "slow").key_by(lambda v: 0) \
        .process(SlowState()).add_sink(_Discard())
    return env


class _Discard:
    def invoke(self, value, context):
        pass


def test_checkpoints_that_time_out_are_counted_and_the_job_fails_past_the_tolerable_number(tmp_path):
    env = slow_job(tmp_path, 2, RestartStrategies.no_restart())
    client = env.execute_async("timeouts")
    with pytest.raises(JobExecutionError, match=r"3 checkpoints failed in a row.*tolerable-failed-checkpoints \(2\)"):
        client.get_job_execution_result()
    failed = [c for c in client.get_checkpoint_history() if c["status"] == "FAILED"]
    assert len(failed) >= 3
    assert "expired before completing (execution.checkpointing.timeout 150 ms)" in failed[0]["failure"]


def test_unwritable_storage_fails_checkpoints_naming_the_storage_and_the_job_keeps_running(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the checkpoint directory should be")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{blocker}")
    env.get_checkpoint_config().set_tolerable_checkpoint_failure_number(1000)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(200))
    env.from_source(source, WatermarkStrategy.no_watermarks(), "src").key_by(lambda v: v % 3) \
        .process(SlowState()).add_sink(_Discard())
    client = env.execute_async("bad-storage")
    try:
        history = wait_until(lambda: [c for c in client.get_checkpoint_history() if c["status"] == "FAILED"],
                             timeout=60, what="a failed checkpoint")
        assert f"file://{blocker}" in history[0]["failure"]
        assert client.get_job_status() == "RUNNING"
    finally:
        client.cancel()
        client.wait(30)


def test_user_code_failure_restarts_from_the_checkpoint_under_the_restart_strategy(tmp_path):
    marker = tmp_path / "failed-once"

    class FailOnce(KeyedProcessFunction):
        def open(self, runtime_context):
            self.seen = runtime_context.get_state(ValueStateDescriptor("seen", Types.LONG()))

        def process_element(self, value, ctx, out):
            if value == 3_000 and not marker.exists():
                marker.write_text("x")
                raise RuntimeError("transient")
            self.seen.update((self.seen.value() or 0) + 1)
            out.collect(value)

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 50))
    source = DataGeneratorSource(lambda i: i, 6_000, RateLimiterStrategy.per_second(3_000))
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "src").key_by(lambda v: v % 7) \
        .process(FailOnce())
    with stream.execute_and_collect("restart") as results:
        out = list(results)
        status = results.client.get_status()
    assert sorted(out) == list(range(6_000))
    assert status["restarts"] == 1 and "RuntimeError: transient" in status["failures"][0]


def test_no_restart_strategy_fails_the_job_with_the_user_error(tmp_path):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.enable_checkpointing(200)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    env.set_restart_strategy(RestartStrategies.no_restart())
    env.from_collection([1, 2, 0]).map(lambda x: 1 // x).print()
    with pytest.raises(JobExecutionError, match="ZeroDivisionError"):
        env.execute()
    assert isinstance(RayflinkError("x"), Exception)


@pytest.mark.parametrize("lazily", [False, True], ids=["registered-in-open", "registered-at-first-record"])
def test_restoring_a_state_whose_kind_changed_is_refused_naming_the_uid_and_the_state(tmp_path, lazily):
    path = savepoint_of(build(tmp_path, 10, None, 2_000, 1, HashMapStateBackend()), f"file://{tmp_path}/sp-kind")
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.enable_checkpointing(200)  # restarts without limit by default: the refusal must not restart
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk2")
    env.get_config().set_string("execution.savepoint.path", path)
    env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")  # collect sink, source
    source = DataGeneratorSource(lambda i: (i % 10, i), 100)
    # a new source uid: the old source's position could be past these 100 records
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "events").uid("new-events")
     .key_by(lambda e: e[0]).process(TotalAsList(lazily)).uid("totals").add_sink(_Discard()))
    client = env.execute_async("kind-changed")
    with pytest.raises(JobExecutionError, match=r"state 'total' of operator 'totals'.*value state.*list state"):
        client.get_job_execution_result()
    assert client.get_status()["restarts"] == 0


class CountingMap(MapFunction):
    """A rich map on a keyed stream: (key, n) for the key's n-th record, n kept in keyed state."""

    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

    def map(self, value):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        return value, n


def test_keyed_state_of_a_rich_map_survives_a_savepoint(tmp_path):
    def job(savepoint=None):
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        env.enable_checkpointing(200)
        env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
        if savepoint:
            env.get_config().set_string("execution.savepoint.path", savepoint)
            env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")  # collect sink
        source = DataGeneratorSource(lambda i: i % 5, None, RateLimiterStrategy.per_second(2_000))
        return (env.from_source(source, WatermarkStrategy.no_watermarks(), "keys").uid("keys")
                .key_by(lambda k: k).map(CountingMap()).uid("counts").execute_and_collect())

    # Given a keyed rich map that counted some records per key, stopped with a savepoint,
    last: dict = {}
    with job() as results:
        for key, n in results:
            last[key] = n
            if len(last) == 5 and min(last.values()) >= 10:
                break
        path = results.client.stop_with_savepoint(f"file://{tmp_path}/sp")
        for key, n in results:
            last[key] = n
    # when the job resumes from it, every key's count goes on from where it stopped.
    first: dict = {}
    with job(path) as results:
        for key, n in results:
            first.setdefault(key, n)
            if len(first) == 5:
                break
    assert first == {key: n + 1 for key, n in last.items()}


class Prepared:
    """What a sink subtask prepared at a checkpoint. Storing it with the subtask's snapshot
    fails (``fault="refused"``), or takes six seconds (``"slow"``), the first time."""

    def __init__(self, fault: str | None = None) -> None:
        self.fault = fault

    def __reduce__(self):
        fault, self.fault = self.fault, None
        if fault == "refused":
            raise RuntimeError("injected: the storage refused the snapshot")
        if fault == "slow":
            time.sleep(6.0)  # the slow storage
        return (Prepared, ())


class FaultySnapshots(Sink):
    """A two-phase-commit sink whose first subtask's snapshot fails at the checkpoints in ``faults``."""

    def __init__(self, faults: dict[int, str]) -> None:
        self.faults = faults

    def create_writer(self, subtask_index, parallelism):
        return _FaultyWriter(self.faults if subtask_index == 0 else {})


class _FaultyWriter(SinkWriter):
    def __init__(self, faults: dict[int, str]) -> None:
        self.faults = faults

    def write(self, records, timestamps):
        pass

    def prepare_commit(self, checkpoint_id):
        return Prepared(self.faults.get(checkpoint_id))

    def commit(self, committables):
        pass


def test_files_of_checkpoints_that_fail_are_deleted_and_the_retained_one_keeps_its_own(tmp_path):
    # Given a job on incremental RocksDB whose checkpoint 3 is declined by one subtask (after its
    # RocksDB files were uploaded) and whose checkpoint 5 expires while that subtask uploads,
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(EmbeddedRocksDBStateBackend(incremental=True))
    env.enable_checkpointing(100)
    cfg = env.get_checkpoint_config()
    cfg.set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    cfg.set_checkpoint_timeout(3_000)  # (RocksDB uploads on a loaded machine take a second or more)
    cfg.set_tolerable_checkpoint_failure_number(100)
    cfg.enable_externalized_checkpoints(ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION)
    env.get_config().set_string("web.checkpoints.history", "1000")  # (the failures at 3 and 5 stay in it)
    source = DataGeneratorSource(lambda i: (i % 500, i), None, RateLimiterStrategy.per_second(5_000))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "events").key_by(lambda e: e[0])
     .process(Total()).sink_to(FaultySnapshots({3: "refused", 5: "slow"})))
    client = env.execute_async("failing-checkpoints")

    def past_both_failures():
        h = client.get_checkpoint_history()
        return h if any(c["status"] == "COMPLETED" and c["id"] > 6 for c in h) else None

    try:
        history = wait_until(past_both_failures, timeout=60, what="checkpoints completed after the two that fail")
    finally:
        client.cancel()
        client.wait(30)
    failures = {c["id"]: c["failure"] for c in history if c["status"] == "FAILED"}
    assert "injected: the storage refused the snapshot" in failures[3]
    assert "expired before completing" in failures[5]

    # when the job is cancelled with its checkpoints retained, then storage holds the files of the
    # retained checkpoint and nothing else: none of the failed checkpoints' files, shared or own.
    latest = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"][-1]
    storage = CheckpointStorage.from_uri(latest["path"].rsplit("/", 2)[0])
    meta = read_metadata(latest["path"])
    assert meta["shared"] and all(f.startswith("shared/") for f in meta["shared"])

    def nothing_else_left() -> bool:
        shared = set(storage.list("shared/")) ^ set(meta["shared"])
        own = {p for p in storage.list("chk-") if not p.startswith(f"chk-{latest['id']}/")}
        assert not shared | own, f"left behind: {sorted(shared | own)[:5]}"
        return True

    # (subtasks still uploading when the job was cancelled delete their files as they end)
    wait_until(nothing_else_left, timeout=30, what="only the retained checkpoint's files in storage")


class RefusesWhileFlagged(FaultySnapshots):
    """A two-phase-commit sink whose first subtask's snapshot fails while ``flag`` exists."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def create_writer(self, subtask_index, parallelism):
        return _RefusingWriter(self.flag if subtask_index == 0 else None)


class _RefusingWriter(_FaultyWriter):
    def __init__(self, flag: str | None) -> None:
        self.flag = flag

    def prepare_commit(self, checkpoint_id):
        return Prepared("refused" if self.flag and os.path.exists(self.flag) else None)


def test_a_savepoint_that_fails_leaves_no_file_of_its_subtasks_in_its_directory(tmp_path):
    # Given a running job, checkpointing hourly, whose first sink subtask cannot store its
    # snapshot while a flag file exists,
    flag = tmp_path / "refuse"
    flag.touch()
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(3_600_000)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    env.get_checkpoint_config().set_tolerable_checkpoint_failure_number(10)
    source = DataGeneratorSource(lambda i: (i % 50, i), None, RateLimiterStrategy.per_second(2_000))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "events").key_by(lambda e: e[0])
     .process(Total()).sink_to(RefusesWhileFlagged(str(flag))))
    client = env.execute_async("failing-savepoint")
    directory = tmp_path / "savepoint-1"
    try:
        wait_until(lambda: client.get_status()["status"] == "RUNNING", timeout=60, what="the job running")
        # when the savepoint is taken, it fails naming why,
        with pytest.raises(Exception, match="injected: the storage refused the snapshot"):
            client.trigger_savepoint(directory.as_uri())
        # and the files the other subtasks stored for it are deleted (the directory itself is
        # the user's), while the job goes on and a later savepoint there completes.
        wait_until(lambda: not [p for p in directory.rglob("*") if p.is_file()], timeout=30,
                   what="no file of the failed savepoint left")
        flag.unlink()
        path = client.trigger_savepoint((tmp_path / "savepoint-2").as_uri())
        assert len(read_metadata(path)["operators"]) >= 2
    finally:
        client.cancel()
        client.wait(30)
