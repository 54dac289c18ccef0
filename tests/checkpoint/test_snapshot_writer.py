"""What a subtask's snapshot stores is its state at the barrier, whatever the subtask does next."""

from __future__ import annotations

import threading

import pytest

from rayflink.checkpoint.snapshots import SnapshotWriter, load_states
from rayflink.common import Types
from rayflink.datastream.functions import AggregateFunction
from rayflink.datastream.state import AggregatingStateDescriptor, ValueStateDescriptor
from rayflink.runtime.messages import CheckpointBarrier
from rayflink.state.heap import HeapKeyedStateBackend

MAX_P = 128
KEYS = 20_000


class SumInPlace(AggregateFunction):
    """Adds into its accumulator list in place, as the apps' and many users' functions do."""

    def create_accumulator(self):
        return [0]

    def add(self, value, accumulator):
        accumulator[0] += value
        return accumulator

    def get_result(self, accumulator):
        return accumulator[0]

    def merge(self, a, b):
        return [a[0] + b[0]]


def states_of(backend: HeapKeyedStateBackend) -> tuple:
    sums = backend.get_partitioned_state(AggregatingStateDescriptor("sum", SumInPlace(), Types.PICKLED_BYTE_ARRAY()))
    seen = backend.get_partitioned_state(ValueStateDescriptor("seen", Types.PICKLED_BYTE_ARRAY()))
    return sums, seen


def test_changes_in_place_after_the_barrier_do_not_reach_the_stored_snapshot(tmp_path):
    # Given a heap backend whose aggregating and value states hold mutable objects,
    backend = HeapKeyedStateBackend(operator_uid="sums", max_parallelism=MAX_P, key_groups=range(MAX_P))
    sums, seen = states_of(backend)
    for k in range(KEYS):
        backend.set_current_key(k)
        sums.add(k)
        seen.update({"ids": [k]})
    acked, infos = threading.Event(), []
    writer = SnapshotWriter("subtask 0", "task-1-0", tmp_path.as_uri(),
                            ack=lambda cid, info: (infos.append(info), acked.set()),
                            decline=lambda cid, reason: pytest.fail(reason))
    # when the subtask snapshots them and goes on changing those objects in place before the upload ends,
    writer.write(CheckpointBarrier(1, 0), {"sums": {"keyed": backend.snapshot()}}, {}, 0.0, 0.0)
    for k in range(KEYS):
        backend.set_current_key(k)
        sums.add(1_000_000)
        seen.value()["ids"].append(-1)
    assert acked.wait(60)
    writer.close()
    # then the restored state is the state at the barrier.
    (state,) = load_states({"sums": [(infos[0]["uri"], infos[0]["relpath"])]})["sums"]
    restored = HeapKeyedStateBackend(operator_uid="sums", max_parallelism=MAX_P, key_groups=range(MAX_P))
    restored.restore([state["keyed"]])
    r_sums, r_seen = states_of(restored)
    wrong = []
    for k in range(KEYS):
        restored.set_current_key(k)
        if r_sums.get() != k or r_seen.value() != {"ids": [k]}:
            wrong.append((k, r_sums.get(), r_seen.value()))
    assert wrong == [], f"{len(wrong)} keys stored with changes made after the barrier, e.g. {wrong[:3]}"
