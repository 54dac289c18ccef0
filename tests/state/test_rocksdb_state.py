"""RocksDB backend specifics, snapshots across backends, and rescaling by key group."""

from __future__ import annotations

import os
import pickle
import struct

import pytest

from rayflink.common.typeinfo import Types
from rayflink.datastream.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    ValueStateDescriptor,
)
from rayflink.datastream.state_backend import (
    EmbeddedRocksDBStateBackend,
    HashMapStateBackend,
    state_backend_from_config,
)
from rayflink.state import rocksdb
from rayflink.state.backend import StateError
from rayflink.state.heap import HeapKeyedStateBackend
from rayflink.state.key_groups import assign_key_group, key_group_range
from rayflink.state.rocksdb import INCREMENTAL_PARTITIONS, RocksDBKeyedStateBackend, decode_obj, encode_obj

MAX_P = 128


def heap(key_groups=range(MAX_P)):
    return HeapKeyedStateBackend(operator_uid="op", max_parallelism=MAX_P, key_groups=key_groups)


def rocks(tmp_path, key_groups=range(MAX_P), **kw):
    return RocksDBKeyedStateBackend(operator_uid="op", max_parallelism=MAX_P, key_groups=key_groups,
                                    working_dir=str(tmp_path), **kw)


DESCRIPTORS = [
    ValueStateDescriptor("v", Types.LONG()),
    ListStateDescriptor("l", Types.STRING()),
    MapStateDescriptor("m", Types.STRING(), Types.LONG()),
    ReducingStateDescriptor("r", lambda a, b: a + b, Types.LONG()),
]


def fill(backend, keys):
    v, lst, m, r = (backend.get_partitioned_state(d) for d in DESCRIPTORS)
    for i, key in enumerate(keys):
        backend.set_current_key(key)
        v.update(i)
        lst.add_all([f"{key}-a", f"{key}-b"])
        m.put_all({"x": i, "y": -i})
        r.add(i)
        r.add(1)
    backend.set_current_namespace("w")
    backend.set_current_key(keys[0])
    v.update(-1)
    backend.set_current_namespace(None)


def visible(backend, keys):
    """Everything a user can read, per key (including one namespaced value)."""
    v, lst, m, r = (backend.get_partitioned_state(d) for d in DESCRIPTORS)
    seen = {}
    for key in keys:
        backend.set_current_key(key)
        seen[key] = (v.value(), lst.get(), sorted(m.items()), r.get())
    backend.set_current_namespace("w")
    backend.set_current_key(keys[0])
    seen["ns"] = v.value()
    backend.set_current_namespace(None)
    return seen


def normalized(snap):
    """Snapshot contents independent of the order of entries within a key group."""
    return {name: (st["kind"], st["ttl"], {kg: sorted(map(repr, entries))
                                           for kg, entries in st["entries"].items()})
            for name, st in snap.states.items()}


KEYS = [f"user-{i}" for i in range(300)] + [1, 2.5, ("t", 3)]


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_snapshot_round_trip_heap_rocksdb_heap(tmp_path, incremental):
    h = heap()
    fill(h, KEYS)
    expected = visible(h, KEYS)
    snap = h.snapshot()
    assert snap.states["l"]["kind"] == "list" and not snap.states["l"]["ttl"]
    r = rocks(tmp_path, cache_max_entries=16, incremental=incremental)
    r.restore([pickle.loads(pickle.dumps(snap))])
    assert visible(r, KEYS) == expected
    back = heap()
    back.restore([r.snapshot()])
    assert visible(back, KEYS) == expected
    assert normalized(back.snapshot()) == normalized(snap)
    r.dispose()


def test_rescale_two_subtasks_to_three(tmp_path):
    old = []
    for subtask in range(2):
        kgr = key_group_range(subtask, 2, MAX_P)
        b = rocks(tmp_path / f"old{subtask}", kgr) if subtask else heap(kgr)
        mine = [k for k in KEYS if assign_key_group(k, MAX_P) in kgr]
        fill(b, mine)
        snap = b.snapshot()
        assert snap.key_groups() <= set(kgr)
        old.append(snap)
    expected_values = {k: i for i, k in enumerate([k for k in KEYS if assign_key_group(k, MAX_P) < 64])}
    expected_values.update({k: i for i, k in enumerate([k for k in KEYS if assign_key_group(k, MAX_P) >= 64])})
    owners = {}
    for subtask in range(3):
        kgr = key_group_range(subtask, 3, MAX_P)
        b = rocks(tmp_path / f"new{subtask}", kgr) if subtask == 1 else heap(kgr)
        b.restore(old)
        for key in b.keys("v"):
            assert key not in owners, f"{key!r} restored into two subtasks"
            owners[key] = subtask
            assert assign_key_group(key, MAX_P) in kgr
            b.set_current_key(key)
            assert b.get_partitioned_state(DESCRIPTORS[0]).value() == expected_values[key]
            assert b.get_partitioned_state(DESCRIPTORS[1]).get() == [f"{key}-a", f"{key}-b"]
        b.dispose()
    assert set(owners) == set(KEYS)


def test_restore_checks_max_parallelism(tmp_path):
    h = heap()
    fill(h, KEYS[:3])
    other = HeapKeyedStateBackend(operator_uid="op", max_parallelism=64, key_groups=range(64))
    with pytest.raises(StateError, match="max parallelism"):
        other.restore([h.snapshot()])


def test_restored_state_of_other_kind_fails_on_registration(tmp_path):
    h = heap()
    fill(h, KEYS[:3])
    r = rocks(tmp_path)
    r.restore([h.snapshot()])
    with pytest.raises(StateError, match="'v'.*restored as value"):
        r.get_partitioned_state(ListStateDescriptor("v", Types.LONG()))
    r.dispose()


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_state_larger_than_cache_is_read_back_from_rocksdb(tmp_path, incremental):
    r = rocks(tmp_path, cache_max_entries=100, incremental=incremental)
    s = r.get_partitioned_state(ValueStateDescriptor("v", Types.LONG()))
    m = r.get_partitioned_state(MapStateDescriptor("m", Types.LONG(), Types.STRING()))
    for i in range(5000):
        r.set_current_key(i)
        s.update(i * i)
        m.put(i, str(i))
        m.put(-i - 1, "neg")
    assert len(s._table.cache) <= 100 and len(m._table.cache) <= 100
    for i in range(5000):
        r.set_current_key(i)
        assert s.value() == i * i
        assert m.get(i) == str(i) and m.get(-i - 1) == "neg"
    assert sorted(r.keys("v")) == list(range(5000))
    r.dispose()


def test_rocksdb_keys_start_with_big_endian_key_group(tmp_path):
    r = rocks(tmp_path)
    s = r.get_partitioned_state(ValueStateDescriptor("v", Types.LONG()))
    for key in ("a", "b", 300):
        r.set_current_key(key)
        s.update(1)
    r.flush()
    groups = []
    for rk in r.db.keys():
        if rk.startswith(b"\xff\xff"):
            continue
        kg, sid = struct.unpack(">HH", rk[:4])
        _, _, kb, _, _ = r.decode_key(rk)
        assert kg == assign_key_group(decode_obj(kb), MAX_P)
        groups.append(kg)
    assert groups == sorted(groups) and len(groups) == 3
    r.dispose()


@pytest.mark.parametrize("obj", ["", "ключ", "\udc80", 0, -1, 1 << 63, -(1 << 63), None, 2.5,
                                 ("t", 1), b"raw", True])
def test_key_encoding_round_trips(obj):
    back = decode_obj(encode_obj(obj))
    assert back == obj and type(back) is type(obj)


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_native_checkpoint_and_restore(tmp_path, incremental):
    r = rocks(tmp_path / "a", incremental=incremental)
    fill(r, KEYS)
    expected = visible(r, KEYS)
    files = r.native_checkpoint(str(tmp_path / "chk-1"))
    assert files and all(f.endswith(".sst") for f in files)
    assert set(files) <= set(os.listdir(tmp_path / "chk-1"))
    fresh = rocks(tmp_path / "b", incremental=incremental)
    fresh.restore_native_checkpoint(str(tmp_path / "chk-1"))
    assert visible(fresh, KEYS) == expected
    r.dispose()
    fresh.dispose()


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_rescale_from_native_checkpoints(tmp_path, incremental):
    checkpoints, expected = [], {}
    for subtask in range(2):
        kgr = key_group_range(subtask, 2, MAX_P)
        b = rocks(tmp_path / f"old{subtask}", kgr, incremental=incremental)
        if subtask == 1:  # register in another order: state ids differ between subtasks
            b.get_partitioned_state(DESCRIPTORS[2])
        mine = [k for k in KEYS if assign_key_group(k, MAX_P) in kgr]
        fill(b, mine)
        expected.update({k: v for k, v in visible(b, mine).items() if k != "ns"})
        directory = str(tmp_path / f"chk-{subtask}")
        b.native_checkpoint(directory)
        checkpoints.append(directory)
        b.dispose()
    owners = {}
    for subtask in range(3):
        kgr = key_group_range(subtask, 3, MAX_P)
        b = rocks(tmp_path / f"new{subtask}", kgr, incremental=not incremental)  # other partitions
        b.restore_native_checkpoints(checkpoints)
        mine = b.keys("v")
        assert all(assign_key_group(k, MAX_P) in kgr for k in mine)
        owners.update({k: subtask for k in mine})
        got = visible(b, mine)
        for key in mine:
            assert got[key] == expected[key]
        b.dispose()
    assert set(owners) == set(KEYS)


def level0_files(backend):
    return [part.property_int_value("rocksdb.num-files-at-level0") for part in backend._parts]


def test_a_partitioned_backend_spreads_keys_over_its_column_families_and_keeps_a_map_together(tmp_path):
    # Given an incremental backend (32 partitions) holding 300 keys with value, list, map and
    # reducing state,
    r = rocks(tmp_path, incremental=True, cache_max_entries=16)
    fill(r, KEYS)
    r.flush()
    # then every partition holds some entries,
    counts = [sum(1 for _ in part.keys()) for part in r._parts]
    assert len(counts) == INCREMENTAL_PARTITIONS and min(counts) > 0
    # the map of one key lives in one partition,
    m = r._tables["m"]
    prefix = r.entry_prefix(m.sid, "user-7")
    homes = {i for i, part in enumerate(r._parts) for k in part.keys(from_key=prefix) if k.startswith(prefix)}
    assert len(homes) == 1
    # and everything reads back.
    assert visible(r, KEYS)["user-7"][2] == [("x", 7), ("y", -7)]
    r.dispose()


def test_each_checkpoint_is_followed_by_compacting_the_next_partition(tmp_path):
    # Given an incremental backend whose 32 partitions each have level-0 files,
    r = rocks(tmp_path, incremental=True)
    fill(r, KEYS)
    expected = visible(r, KEYS)
    for n in range(3):
        fill(r, KEYS[n::7])  # some changes before each checkpoint
        expected = visible(r, KEYS)
        # when a checkpoint is taken and its background compaction ends,
        r.native_checkpoint(str(tmp_path / f"chk-{n}"))
        r.wait_for_compaction()
        # then the partition whose turn it was has no level-0 file left; the others keep theirs
        l0 = level0_files(r)
        assert l0[n] == 0
        assert all(files >= 1 for i, files in enumerate(l0) if i > n)
    # and reads see every value.
    assert visible(r, KEYS) == expected
    r.dispose()


def test_a_partition_with_too_many_level0_files_is_compacted_without_a_checkpoint(tmp_path, monkeypatch):
    # Given an incremental backend that is never checkpointed, and a guard of 3 level-0 files,
    monkeypatch.setattr(rocksdb, "LEVEL0_GUARD", 3)
    r = rocks(tmp_path, incremental=True, cache_max_entries=50)
    for n in range(3):
        fill(r, KEYS[n::3])
        r.flush()
        for part in r._parts:
            part.flush(True)
    assert min(level0_files(r)) == 3
    # when writes go on (the write-back cache evicts, which checks the guard),
    fill(r, KEYS)
    r.wait_for_compaction()
    # then a partition was compacted, and no value was lost.
    assert min(level0_files(r)) == 0
    assert visible(r, KEYS)["user-299"][0] == 299
    r.dispose()


def test_a_checkpoint_of_other_partitions_is_refused_as_a_database_and_loaded_entry_by_entry(tmp_path):
    # Given a native checkpoint of a one-partition (full checkpoints) backend,
    old = rocks(tmp_path / "old")
    fill(old, KEYS)
    expected = visible(old, KEYS)
    old.native_checkpoint(str(tmp_path / "chk"))
    old.dispose()
    # when an incremental (partitioned) backend is asked to take it as its database, it refuses,
    new = rocks(tmp_path / "new", incremental=True)
    with pytest.raises(StateError, match="column families.*restore_native_checkpoints"):
        new.restore_native_checkpoint(str(tmp_path / "chk"))
    # and loading it entry by entry gives every value.
    new.restore_native_checkpoints([str(tmp_path / "chk")])
    assert visible(new, KEYS) == expected
    new.dispose()


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_dispose_deletes_files(tmp_path, incremental):
    r = rocks(tmp_path, incremental=incremental)
    path = r.path
    assert os.path.isdir(path)
    r.dispose()
    assert not os.path.exists(path)


def test_state_backend_from_config():
    assert state_backend_from_config({}) == HashMapStateBackend()
    assert state_backend_from_config({"state.backend.type": "hashmap"}) == HashMapStateBackend()
    b = state_backend_from_config({
        "state.backend.type": "rocksdb", "state.backend.incremental": "true",
        "state.backend.rocksdb.block.cache-size": "64mb",
        "state.backend.rocksdb.writebuffer.size": 8 << 20,
        "state.backend.rocksdb.memory.fixed-per-slot": "1 gb",
        "state.backend.rocksdb.cache.max-entries": "5000"})
    assert b == EmbeddedRocksDBStateBackend(incremental=True, block_cache_size=64 << 20,
                                            write_buffer_size=8 << 20, fixed_memory_per_slot=1 << 30,
                                            cache_max_entries=5000)
    with pytest.raises(ValueError, match="state.backend.type"):
        state_backend_from_config({"state.backend.type": "memory-mapped"})
    with pytest.raises(ValueError, match="fixed-per-slot"):
        state_backend_from_config({"state.backend.type": "rocksdb",
                                   "state.backend.rocksdb.memory.fixed-per-slot": "lots"})


@pytest.mark.parametrize("memory", [dict(fixed_memory_per_slot=32 << 20),
                                    dict(block_cache_size=8 << 20, write_buffer_size=4 << 20)])
def test_memory_options_open_a_working_database(tmp_path, memory):
    b = EmbeddedRocksDBStateBackend(**memory).create_keyed_state_backend(
        operator_uid="op", max_parallelism=MAX_P, key_groups=range(MAX_P), working_dir=str(tmp_path))
    fill(b, KEYS[:10])
    b.flush()
    assert visible(b, KEYS[:10])["user-3"][0] == 3
    b.dispose()


def test_db_storage_paths_hold_the_databases_spread_over_them(tmp_path):
    from rayflink.common import Types
    from rayflink.datastream.state import ValueStateDescriptor
    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend

    disks = [tmp_path / "disk1", tmp_path / "disk2"]
    backend = EmbeddedRocksDBStateBackend()
    backend.set_db_storage_paths(f"file://{disks[0]}", str(disks[1]))
    assert backend.get_db_storage_paths() == [str(d) for d in disks]
    working = str(tmp_path / "task")
    subtasks = [backend.create_keyed_state_backend(operator_uid="counts", max_parallelism=128,
                                                   key_groups=range(start, start + 16), working_dir=working)
                for start in range(0, 128, 16)]
    try:
        roots = {os.path.dirname(os.path.dirname(s.path)) for s in subtasks}
        assert roots == {str(d) for d in disks}  # every database on one of the disks, both disks used
        first = subtasks[0]
        first.set_current_key("k")
        first.get_partitioned_state(ValueStateDescriptor("v", Types.LONG())).update(7)
        assert first.get_partitioned_state(ValueStateDescriptor("v", Types.LONG())).value() == 7
        assert os.path.isdir(first.path)
    finally:
        for s in subtasks:
            s.dispose()
    assert not any(os.path.exists(s.path) for s in subtasks)  # disposed with their subtask
    with pytest.raises(ValueError, match="not an absolute local path"):
        backend.set_db_storage_paths("s3://bucket/rocksdb")
    with pytest.raises(ValueError, match="not an absolute local path"):
        backend.set_db_storage_paths("relative/dir")
    backend.set_db_storage_paths()
    assert backend.get_db_storage_paths() == []
