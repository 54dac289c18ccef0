"""Keys whose iteration order depends on the process (frozensets) keep one entry in RocksDB state."""

from __future__ import annotations

import os
import subprocess
import sys

from rayflink.common import Types
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.state.rocksdb import RocksDBKeyedStateBackend, decode_obj, encode_obj

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def equal_frozensets_iterating_differently() -> tuple[frozenset, frozenset]:
    for i in range(10_000):
        first, second = frozenset([f"k{i}", f"k{i + 1}"]), frozenset([f"k{i + 1}", f"k{i}"])
        if list(first) != list(second):
            return first, second
    raise AssertionError("no two equal frozensets iterate differently in this process")


def test_an_equal_frozenset_finds_the_rocksdb_entry_after_the_cache_wrote_it_down(tmp_path):
    # Given two equal frozensets whose elements iterate in different orders,
    first, second = equal_frozensets_iterating_differently()
    backend = RocksDBKeyedStateBackend(operator_uid="op", max_parallelism=128, key_groups=range(128),
                                       working_dir=str(tmp_path), cache_max_entries=2)
    value = backend.get_partitioned_state(ValueStateDescriptor("v", Types.LONG()))
    backend.set_current_key(first)
    value.update(41)
    for i in range(10):  # evict it from the write-back cache: it is read from RocksDB next time
        backend.set_current_key(f"other-{i}")
        value.update(i)
    backend.flush()
    # then the equal key reads the value (before: None, and the first key read None too after that).
    backend.set_current_key(second)
    assert value.value() == 41
    assert decode_obj(encode_obj((1, second))) == (1, first)


def test_a_frozenset_key_has_the_same_rocksdb_bytes_in_every_process():
    keys = [frozenset({f"item-{i}", f"item-{i + 1}", f"item-{i + 2}"}) for i in range(30)]
    keys += [("user", frozenset({"a", "b", "c"})), frozenset({("x", frozenset({"p", "q"})), "y"})]
    child = ("import sys\n"
             "from rayflink.state.rocksdb import encode_obj\n"
             f"keys = {keys!r}\n"
             "print([encode_obj(k).hex() for k in keys])")
    outputs = [subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                              env=dict(os.environ, PYTHONHASHSEED=str(seed), PYTHONPATH=ROOT)).stdout
               for seed in (0, 1, 2)]
    assert outputs[0] == outputs[1] == outputs[2] == repr([encode_obj(k).hex() for k in keys]) + "\n"
