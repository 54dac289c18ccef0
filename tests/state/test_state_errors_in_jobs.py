"""Bad state in a running job: the failure names the state and the operator's uid."""

from __future__ import annotations

import threading

import pytest

from rayflink.common import Types
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from rayflink.datastream.state import ValueStateDescriptor
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend
from rayflink.errors import JobExecutionError

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


class KeepALock(KeyedProcessFunction):
    """Stores a lock (which cannot be pickled) as the key's value, bare or inside a list."""

    def __init__(self, inside_list: bool) -> None:
        self.inside_list = inside_list

    def open(self, runtime_context):
        self.box = runtime_context.get_state(ValueStateDescriptor("box", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx, out):
        if self.inside_list:
            self.box.update([value])  # a list of ints first: the list type passes its check
            self.box.update([threading.Lock()])
        else:
            self.box.update(threading.Lock())
        out.collect(value)


@pytest.mark.parametrize("backend, inside_list", [
    (HashMapStateBackend(), False),
    (EmbeddedRocksDBStateBackend(), False),
    (EmbeddedRocksDBStateBackend(), True),  # caught when the write-back cache writes it down
], ids=["hashmap", "rocksdb", "rocksdb-inside-a-list"])
def test_a_state_value_that_cannot_be_serialized_fails_the_job_naming_state_and_uid(tmp_path, backend, inside_list):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    env.set_state_backend(backend)
    env.enable_checkpointing(100)  # the snapshot writes the RocksDB cache down
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
    env.set_restart_strategy(RestartStrategies.no_restart())
    env.from_collection(list(range(10))).key_by(lambda v: v % 2).process(KeepALock(inside_list)).uid("holder") \
        .add_sink(_Discard())
    with pytest.raises(JobExecutionError, match=r"state 'box' of operator 'holder'.*cannot be pickled") as info:
        env.execute("unpicklable-state")
    assert "lock" in str(info.value)


class _Discard:
    def invoke(self, value, context):
        pass
