"""Incremental RocksDB checkpoints: only new SST files are uploaded, shared files are
reference-counted, and restores (same or another parallelism, after a kill) give back every key."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from rayflink.checkpoint.coordinator import CheckpointCoordinator, read_metadata
from rayflink.checkpoint.rocksdb_files import RocksDBCheckpointHandle
from rayflink.checkpoint.snapshots import SnapshotWriter, load_states
from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.common.typeinfo import Types
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.runtime.messages import CheckpointBarrier
from rayflink.state.backend import KeyedStateSnapshot
from rayflink.state.heap import HeapKeyedStateBackend
from rayflink.state.key_groups import key_group_range
from rayflink.state.rocksdb import RocksDBKeyedStateBackend

MAX_P = 128
KEYS = 20_000


def backend(tmp_path: Path, name: str, key_groups: range = range(MAX_P),
            incremental: bool = True) -> RocksDBKeyedStateBackend:
    b = RocksDBKeyedStateBackend(operator_uid="totals", max_parallelism=MAX_P, key_groups=key_groups,
                                 working_dir=str(tmp_path / name), incremental=incremental,
                                 native_snapshots=True)
    b.get_partitioned_state(ValueStateDescriptor("total", Types.LONG()))
    return b


def write(b: RocksDBKeyedStateBackend, values: dict) -> None:
    state = b.get_partitioned_state(ValueStateDescriptor("total", Types.LONG()))
    for key, value in values.items():
        b.set_current_key(key)
        state.update(value)


def read_all(b: RocksDBKeyedStateBackend, keys) -> dict:
    state = b.get_partitioned_state(ValueStateDescriptor("total", Types.LONG()))
    found = {}
    for key in keys:
        b.set_current_key(key)
        v = state.value()
        if v is not None:
            found[key] = v
    return found


def assert_restores_and_close(tmp_path: Path, cps: "Checkpoints", entry: dict, values: dict, name: str,
                              written: RocksDBKeyedStateBackend) -> None:
    """A fresh backend ``name`` restored from checkpoint ``entry`` reads ``values``; then close the
    checkpoints and dispose of both backends."""
    restored = backend(tmp_path, name)
    restored.restore(cps.handles(entry))
    assert read_all(restored, range(KEYS)) == values
    cps.close()
    for x in (written, restored):
        x.dispose()


class Checkpoints:
    """A coordinator and one subtask's snapshot writer, driven by hand: trigger, upload, ack."""

    def __init__(self, uri: str, retained: int = 1, subtasks: int = 1) -> None:
        self.coordinator = CheckpointCoordinator(
            "job", {"state.checkpoints.dir": uri, "state.checkpoints.num-retained": retained},
            send=lambda key, message: None, on_too_many_failures=lambda reason: None)
        self.keys = [(1, s) for s in range(subtasks)]
        self.coordinator.start_attempt(0, {k: None for k in self.keys}, self.keys, {})
        self.writers = [self._writer(s) for s in range(subtasks)]
        self.storage = self.coordinator.storage

    def _writer(self, s: int) -> SnapshotWriter:
        key = self.keys[s]
        return SnapshotWriter(f"subtask {s}", f"task-1-{s}", self.coordinator.uri,
                              ack=lambda cid, info: self.coordinator.ack(0, key, cid, info),
                              decline=lambda cid, reason: self.coordinator.decline(0, key, cid, reason))

    def take(self, *backends: RocksDBKeyedStateBackend) -> dict:
        """One checkpoint of ``backends`` (one per subtask); returns its history entry."""
        p = self.coordinator.trigger()
        barrier = CheckpointBarrier(p.checkpoint_id, p.trigger_ms)
        for writer, b in zip(self.writers, backends):
            writer.write(barrier, {"totals": {"keyed": b.snapshot()}}, {}, 0.0, 0.0)
        assert p.done.wait(60) and p.failure is None, p.failure
        for writer in self.writers:
            writer.notify_checkpoint_complete(p.checkpoint_id)
        assert self.coordinator.drain(60)  # the subsumed checkpoints' files are deleted in the background
        return self.coordinator.history[-1]

    def handles(self, entry: dict) -> list[RocksDBCheckpointHandle]:
        meta = read_metadata(entry["path"])
        return [s["keyed"] for s in load_states(meta["operators"])["totals"]]

    def shared_files(self) -> set[str]:
        return set(self.storage.list("shared/"))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])  # S3: a moto server
def checkpoint_uri(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "file":
        return (tmp_path / "checkpoints").as_uri()
    s3 = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint_url)  # storage opened here has no job configuration
    return f"s3://{s3.create_bucket()}/checkpoints"


def test_second_checkpoint_uploads_only_new_files_and_restores_every_key(tmp_path, checkpoint_uri):
    # Given an incremental RocksDB backend holding 20,000 keys, checkpointed once,
    rng = random.Random(7)
    b = backend(tmp_path, "a")
    values = {k: rng.randrange(1 << 40) for k in range(KEYS)}
    write(b, values)
    cps = Checkpoints(checkpoint_uri)
    first = cps.take(b)
    # the first checkpoint uploads the whole database,
    assert first["size_bytes"] >= first["full_size_bytes"] * 0.95
    first_files = cps.shared_files()
    assert first_files and all(f.endswith(".sst") or "OPTIONS-" in f for f in first_files)

    # when 5% of the keys change and a second checkpoint is taken,
    changed = {k: values[k] + 1 for k in rng.sample(range(KEYS), KEYS // 20)}
    values.update(changed)
    write(b, changed)
    second = cps.take(b)
    # then it uploads a small part of the state and references the first checkpoint's files,
    assert second["size_bytes"] < 0.25 * second["full_size_bytes"], second
    (handle,) = cps.handles(second)
    # (all but the files of the one partition compacted after the first checkpoint)
    replaced = first_files - set(handle.shared.values())
    assert len(replaced) <= 2, replaced
    assert set(handle.shared.values()) == cps.shared_files()

    # and a fresh backend restored from it reads every key's latest value.
    assert_restores_and_close(tmp_path, cps, second, values, "b", b)


def test_full_rocksdb_checkpoints_upload_every_file_into_their_own_directory(tmp_path):
    # Given a RocksDB backend with full (not incremental) checkpoints of database files,
    b = backend(tmp_path, "a", incremental=False)
    values = {k: k for k in range(KEYS)}
    write(b, values)
    cps = Checkpoints((tmp_path / "checkpoints").as_uri())
    cps.take(b)
    write(b, {k: -k for k in range(0, KEYS, 20)})
    values.update({k: -k for k in range(0, KEYS, 20)})
    second = cps.take(b)
    # each checkpoint uploads the whole database into its own directory, nothing shared,
    assert second["size_bytes"] >= second["full_size_bytes"] and not cps.shared_files()
    assert {p.split("/")[0] for p in cps.storage.list("chk-")} == {f"chk-{second['id']}"}
    (handle,) = cps.handles(second)
    assert not handle.shared and any(name.endswith(".sst") for name in handle.private)
    # and it restores, here into two subtasks.
    from rayflink.state.key_groups import assign_key_group

    for s in range(2):
        part = backend(tmp_path, f"p2-{s}", key_group_range(s, 2, MAX_P), incremental=False)
        part.restore([handle])
        assert read_all(part, range(KEYS)) == {k: v for k, v in values.items()
                                               if assign_key_group(k, MAX_P) in part.key_groups}
        part.dispose()
    cps.close()
    b.dispose()


def test_shared_files_no_retained_checkpoint_uses_are_deleted(tmp_path, checkpoint_uri):
    # Given 2 retained checkpoints and a state rewritten enough that RocksDB compacts it,
    rng = random.Random(3)
    b = backend(tmp_path, "a")
    values = {k: 0 for k in range(KEYS)}
    write(b, values)
    cps = Checkpoints(checkpoint_uri, retained=2)
    taken = []  # (history entry, its handles), read while the checkpoint is retained
    for round_ in range(9):
        if round_:
            changed = {k: round_ for k in rng.sample(range(KEYS), KEYS // 5)}
            values.update(changed)
            write(b, changed)
        entry = cps.take(b)
        taken.append((entry, cps.handles(entry)))
        # after every checkpoint, the shared directory holds exactly what the retained ones use
        retained = taken[-2:]
        used = {f for _, hs in retained for h in hs for f in h.shared.values()}
        assert cps.shared_files() == used
        checkpoint_dirs = {p.split("/")[0] for p in cps.storage.list("chk-")}
        assert checkpoint_dirs == {f"chk-{e['id']}" for e, _ in retained}
        assert cps.coordinator.shared_refs == Counter(f for _, hs in retained for h in hs for f in h.shared.values())
    # compaction replaced the first checkpoint's files: they are gone from storage
    first_files = set(taken[0][1][0].shared.values())
    assert first_files - cps.shared_files(), "RocksDB should have compacted the first files away"
    entries = [e for e, _ in taken]
    assert_restores_and_close(tmp_path, cps, entries[-1], values, "b", b)


def test_restore_at_another_parallelism_takes_exactly_the_owned_key_groups(tmp_path):
    # Given two subtasks (p=2) with incremental checkpoints of their halves of 20,000 keys,
    uri = (tmp_path / "checkpoints").as_uri()
    old = [backend(tmp_path, f"old-{s}", key_group_range(s, 2, MAX_P)) for s in range(2)]
    values = {k: k * 3 for k in range(KEYS)}
    from rayflink.state.key_groups import assign_key_group

    for b in old:
        write(b, {k: v for k, v in values.items() if assign_key_group(k, MAX_P) in b.key_groups})
    cps = Checkpoints(uri, subtasks=2)
    cps.take(*old)
    write(old[0], {k: -1 for k in range(0, KEYS, 50) if assign_key_group(k, MAX_P) in old[0].key_groups})
    values.update({k: -1 for k in range(0, KEYS, 50) if assign_key_group(k, MAX_P) in old[0].key_groups})
    handles = cps.handles(cps.take(*old))

    # when the state is restored at parallelism 4 and at parallelism 1,
    for parallelism in (4, 1):
        new = [backend(tmp_path, f"p{parallelism}-{s}", key_group_range(s, parallelism, MAX_P))
               for s in range(parallelism)]
        for b in new:
            b.restore(handles)
        # then each new subtask holds exactly the keys of its key groups, with their values,
        for b in new:
            owned = {k: v for k, v in values.items() if assign_key_group(k, MAX_P) in b.key_groups}
            assert read_all(b, range(KEYS)) == owned
            assert sorted(b.keys("total")) == sorted(owned)
        # and its next checkpoint is complete on its own (a full upload into the new job's storage).
        again = Checkpoints((tmp_path / f"again-{parallelism}").as_uri(), subtasks=parallelism)
        entry = again.take(*new)
        fresh = backend(tmp_path, f"fresh-{parallelism}")
        fresh.restore(again.handles(entry))
        assert read_all(fresh, range(KEYS)) == values
        again.close()
        for b in [*new, fresh]:
            b.dispose()
    cps.close()
    for b in old:
        b.dispose()


def test_a_savepoint_of_an_incremental_backend_is_a_full_backend_independent_snapshot(tmp_path):
    # Given an incremental RocksDB backend, a savepoint barrier makes the writer store a full
    # snapshot, which the heap backend restores.
    b = backend(tmp_path, "a")
    values = {k: k + 1 for k in range(1000)}
    write(b, values)
    acked = threading.Event()
    infos: list = []
    writer = SnapshotWriter("subtask 0", "task-1-0", None,
                            ack=lambda cid, info: (infos.append(info), acked.set()),
                            decline=lambda cid, reason: pytest.fail(reason))
    savepoint = (tmp_path / "sp").as_uri()
    writer.write(CheckpointBarrier(1, 0, savepoint), {"totals": {"keyed": b.snapshot()}}, {}, 0.0, 0.0)
    assert acked.wait(30)
    (state,) = load_states({"totals": [(infos[0]["uri"], infos[0]["relpath"])]})["totals"]
    assert isinstance(state["keyed"], KeyedStateSnapshot)
    assert not CheckpointStorage.from_uri(savepoint).list("shared/")
    heap = HeapKeyedStateBackend(operator_uid="totals", max_parallelism=MAX_P, key_groups=range(MAX_P))
    heap.restore([state["keyed"]])
    total = heap.get_partitioned_state(ValueStateDescriptor("total", Types.LONG()))
    got = {}
    for k in values:
        heap.set_current_key(k)
        got[k] = total.value()
    assert got == values
    writer.close()
    b.dispose()


@pytest.mark.integration
def test_a_job_restarts_at_another_parallelism_from_a_retained_incremental_checkpoint(tmp_path):
    # Given a counting job at parallelism 2 on incremental RocksDB, cancelled with its
    # checkpoints retained after a few completed,
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend
    from rayflink.testing.exactly_once import counting_job, retained_after_cancel

    keys, records = 1_000, 40_000
    incremental = EmbeddedRocksDBStateBackend(incremental=True)
    first = counting_job(f"file://{tmp_path}/chk", records, 8_000, incremental, keys=keys, interval_ms=200)
    _, latest = retained_after_cancel(first, "before-rescale", 3)
    assert CheckpointStorage.from_uri(latest["path"].rsplit("/", 2)[0]).list("shared/")

    # when the job starts again from it at parallelism 4,
    second = counting_job(f"file://{tmp_path}/chk2", records, None, incremental, keys=keys, parallelism=4)
    second.get_execution_environment().get_config().set_string("execution.savepoint.path", latest["path"])
    with second.execute_and_collect("after-rescale") as results:
        out = list(results)

    # then every key continues from the count the checkpoint had, up to its full count, once each.
    per_key: dict = {}
    for key, n in out:
        per_key.setdefault(key, []).append(n)
    assert set(per_key) == set(range(keys))
    resumed_from = []
    for key, ns in per_key.items():
        ns.sort()
        assert ns == list(range(ns[0], records // keys + 1)), f"key {key}: {ns[:5]}..."
        resumed_from.append(ns[0] - 1)
    assert sum(resumed_from) > 0, "the checkpoint should have held some counts"


def test_universal_compaction_style_is_configurable_and_checkpoints_restore(tmp_path):
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, state_backend_from_config

    config = state_backend_from_config({"state.backend.type": "rocksdb", "state.backend.incremental": "true",
                                        "state.backend.rocksdb.compaction.style": "universal"})
    assert config == EmbeddedRocksDBStateBackend(incremental=True, compaction_style="UNIVERSAL")
    with pytest.raises(ValueError, match="compaction.style: 'FIFO' is not supported; use 'LEVEL' or 'UNIVERSAL'"):
        EmbeddedRocksDBStateBackend(compaction_style="FIFO")
    b = config.create_keyed_state_backend(operator_uid="totals", max_parallelism=MAX_P, key_groups=range(MAX_P),
                                          working_dir=str(tmp_path / "u"))
    values = {k: k for k in range(KEYS)}
    write(b, values)
    cps = Checkpoints((tmp_path / "checkpoints").as_uri())
    entry = cps.take(b)
    assert_restores_and_close(tmp_path, cps, entry, values, "level", b)  # a LEVEL database opens the files as well


def test_a_rocksdb_checkpoint_restored_into_the_heap_backend_is_refused_with_the_way_out(tmp_path):
    b = backend(tmp_path, "a", incremental=False)
    write(b, {1: 1})
    cps = Checkpoints((tmp_path / "checkpoints").as_uri())
    handles = cps.handles(cps.take(b))
    heap = HeapKeyedStateBackend(operator_uid="totals", max_parallelism=MAX_P, key_groups=range(MAX_P))
    from rayflink.state.backend import StateError

    with pytest.raises(StateError, match="holds RocksDB database files.*restore from a savepoint"):
        heap.restore(handles)
    cps.close()
    b.dispose()


def test_with_5_percent_of_keys_changed_every_checkpoint_uploads_under_10_percent(tmp_path):
    # Given an incremental RocksDB backend holding 100,000 keys, with 5% of them
    # changed before each checkpoint, for more checkpoints than it has partitions,
    b = backend(tmp_path, "a")
    rng = random.Random(3)
    keys = 100_000
    write(b, {k: rng.randrange(1 << 60) for k in range(keys)})
    cps = Checkpoints((tmp_path / "checkpoints").as_uri())
    cps.take(b)
    ratios = []
    for _ in range(40):
        write(b, {k: rng.randrange(1 << 60) for k in rng.sample(range(keys), keys // 20)})
        entry = cps.take(b)
        ratios.append(entry["size_bytes"] / entry["full_size_bytes"])
    # then every checkpoint after the first uploads less than 10% of the state: what changed
    # and one partition's compaction (RocksDB's own compactions uploaded 90% every few).
    assert max(ratios) < 0.10, [round(r, 3) for r in ratios]
    cps.close()
    b.dispose()
