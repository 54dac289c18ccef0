"""State TTL on both backends, with an injected clock (no sleeping)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayflink.common.time import Duration, Time
from rayflink.common.typeinfo import Types
from rayflink.datastream.state import (
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend, HashMapStateBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


class Summer:
    def create_accumulator(self):
        return 0

    def add(self, value, acc):
        return acc + value

    def get_result(self, acc):
        return acc

    def merge(self, a, b):
        return a + b


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["hashmap", "rocksdb"])
def make_backend(request, tmp_path, clock):
    created = []

    def make(kind=request.param, cache_max_entries=100_000):
        config = (HashMapStateBackend() if kind == "hashmap"
                  else EmbeddedRocksDBStateBackend(cache_max_entries=cache_max_entries))
        b = config.create_keyed_state_backend(
            operator_uid="ttl-op", max_parallelism=128, key_groups=range(128),
            working_dir=str(tmp_path / str(len(created))), ttl_time_provider=clock)
        created.append(b)
        return b

    make.kind = request.param
    yield make
    for b in created:
        b.dispose()


def ttl(ms=100, update=StateTtlConfig.UpdateType.OnCreateAndWrite,
        visibility=StateTtlConfig.StateVisibility.NeverReturnExpired, full_snapshot=False):
    builder = (StateTtlConfig.new_builder(Time.milliseconds(ms)).set_update_type(update)
               .set_state_visibility(visibility).disable_cleanup_in_background())
    if full_snapshot:
        builder = builder.cleanup_full_snapshot()
    return builder.build()


def with_ttl(descriptor, config):
    descriptor.enable_time_to_live(config)
    return descriptor


def test_builder_api_from_the_guide():
    config = (StateTtlConfig.new_builder(Time.hours(24))
              .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
              .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
              .cleanup_full_snapshot()
              .cleanup_incrementally(10, True)
              .cleanup_in_rocksdb_compact_filter(1000)
              .build())
    assert config.get_ttl().to_milliseconds() == 86_400_000
    assert config.is_enabled()
    strategies = config.get_cleanup_strategies()
    assert strategies.in_full_snapshot()
    assert strategies.get_incremental_cleanup_strategy().cleanup_size == 10
    assert strategies.get_incremental_cleanup_strategy().run_cleanup_for_every_record
    assert strategies.get_rocksdb_compact_filter_cleanup_strategy().query_time_after_num_entries == 1000
    assert config.get_ttl_time_characteristic() is StateTtlConfig.TtlTimeCharacteristic.ProcessingTime
    assert StateTtlConfig.new_builder(Duration.of_minutes(2)).build().get_ttl_ms() == 120_000
    assert Time.days(1) == Time.hours(24) and Duration.of_days(1).to_milliseconds() == Time.days(1).millis


def test_builder_rejects_bad_ttl():
    with pytest.raises(TypeError, match="to_milliseconds"):
        StateTtlConfig.new_builder(5)
    with pytest.raises(ValueError, match="positive"):
        StateTtlConfig.new_builder(Time.seconds(0))
    with pytest.raises(ValueError, match="cleanup_size"):
        StateTtlConfig.new_builder(Time.seconds(1)).cleanup_incrementally(0, False)


def test_disabled_update_type_means_no_ttl(make_backend, clock):
    b = make_backend()
    d = ValueStateDescriptor("v", Types.LONG())
    d.enable_time_to_live(StateTtlConfig.new_builder(Time.seconds(1))
                          .set_update_type(StateTtlConfig.UpdateType.Disabled).build())
    s = b.get_partitioned_state(d)
    b.set_current_key("k")
    s.update(1)
    clock.now += 10_000_000
    assert s.value() == 1


def test_value_expires_after_write(make_backend, clock):
    b = make_backend()
    s = b.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()), ttl(100)))
    b.set_current_key("k")
    s.update(1)
    clock.now += 99
    assert s.value() == 1  # reading does not extend with OnCreateAndWrite
    clock.now += 1
    assert s.value() is None
    assert b.keys("v") == []  # expired entries are removed when read
    s.update(2)
    clock.now += 50
    s.update(3)
    clock.now += 99
    assert s.value() == 3


def test_on_read_and_write_extends_on_read(make_backend, clock):
    b = make_backend()
    s = b.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()),
                                         ttl(100, update=StateTtlConfig.UpdateType.OnReadAndWrite)))
    b.set_current_key("k")
    s.update(1)
    clock.now += 60
    assert s.value() == 1
    clock.now += 90
    assert s.value() == 1
    clock.now += 100
    assert s.value() is None


def test_return_expired_if_not_cleaned_up(make_backend, clock):
    b = make_backend()
    s = b.get_partitioned_state(with_ttl(
        ValueStateDescriptor("v", Types.LONG()),
        ttl(100, visibility=StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)))
    b.set_current_key("k")
    s.update(1)
    clock.now += 500
    assert s.value() == 1  # still there: returned once, and cleaned up by this read
    assert s.value() is None


def test_list_elements_expire_individually(make_backend, clock):
    b = make_backend()
    s = b.get_partitioned_state(with_ttl(ListStateDescriptor("l", Types.LONG()), ttl(100)))
    b.set_current_key("k")
    s.add(1)
    clock.now += 50
    s.add_all([2, 3])
    clock.now += 50
    assert s.get() == [2, 3]
    clock.now += 50
    assert s.get() == []
    s.update([7, 8])
    clock.now += 99
    assert s.get() == [7, 8]


def test_map_entries_expire_individually(make_backend, clock):
    b = make_backend()
    m = b.get_partitioned_state(with_ttl(MapStateDescriptor("m", Types.STRING(), Types.LONG()), ttl(100)))
    b.set_current_key("k")
    m.put("a", 1)
    clock.now += 50
    m.put("b", 2)
    assert sorted(m.items()) == [("a", 1), ("b", 2)]
    clock.now += 50
    assert m.get("a") is None and not m.contains("a") and m.get("b") == 2
    assert m.keys() == ["b"] and m.values() == [2] and not m.is_empty()
    clock.now += 50
    assert m.is_empty() and m.items() == []


def test_reducing_and_aggregating_restart_after_expiry(make_backend, clock):
    b = make_backend()
    r = b.get_partitioned_state(with_ttl(
        ReducingStateDescriptor("r", lambda x, y: x + y, Types.LONG()), ttl(100)))
    a = b.get_partitioned_state(with_ttl(
        AggregatingStateDescriptor("a", Summer(), Types.LONG()), ttl(100)))
    b.set_current_key("k")
    for state in (r, a):
        state.add(5)
        state.add(6)
    clock.now += 99
    assert r.get() == 11 and a.get() == 11
    clock.now += 1
    for state in (r, a):
        state.add(1)  # the expired 11 is not combined
    assert r.get() == 1 and a.get() == 1
    clock.now += 100
    assert r.get() is None and a.get() is None


@pytest.mark.parametrize("full_snapshot", [True, False])
def test_cleanup_full_snapshot(make_backend, clock, full_snapshot):
    b = make_backend()
    s = b.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()),
                                         ttl(100, full_snapshot=full_snapshot)))
    m = b.get_partitioned_state(with_ttl(MapStateDescriptor("m", Types.STRING(), Types.LONG()),
                                         ttl(100, full_snapshot=full_snapshot)))
    b.set_current_key("old")
    s.update(1)
    m.put("x", 1)
    clock.now += 60
    b.set_current_key("new")
    s.update(2)
    m.put("y", 2)
    clock.now += 60
    snap = b.snapshot()
    values = {key: stored for entries in snap.states["v"]["entries"].values()
              for key, _, stored in entries}
    assert snap.states["v"]["ttl"] is True
    if full_snapshot:
        assert values == {"new": (2, 1060)}
        assert len(snap.key_groups()) == 1
    else:
        assert values == {"old": (1, 1000), "new": (2, 1060)}


def test_ttl_snapshot_restores_into_other_backend_with_timestamps(make_backend, clock):
    b = make_backend()
    other = make_backend("rocksdb" if make_backend.kind == "hashmap" else "hashmap")
    d = with_ttl(ListStateDescriptor("l", Types.LONG()), ttl(100))
    s = b.get_partitioned_state(d)
    b.set_current_key("k")
    s.add(1)
    clock.now += 50
    s.add(2)
    other.restore([b.snapshot()])
    restored = other.get_partitioned_state(d)
    other.set_current_key("k")
    assert restored.get() == [1, 2]
    clock.now += 50
    assert restored.get() == [2]


def test_enabling_and_disabling_ttl_across_restore(make_backend, clock):
    b = make_backend()
    plain = b.get_partitioned_state(ValueStateDescriptor("v", Types.LONG()))
    b.set_current_key("k")
    plain.update(1)
    with_ttl_backend = make_backend()
    with_ttl_backend.restore([b.snapshot()])
    s = with_ttl_backend.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()), ttl(100)))
    with_ttl_backend.set_current_key("k")
    assert s.value() == 1  # wrapped with the restore time
    clock.now += 50
    without = make_backend()
    without.restore([with_ttl_backend.snapshot()])
    again = without.get_partitioned_state(ValueStateDescriptor("v", Types.LONG()))
    without.set_current_key("k")
    clock.now += 1000
    assert again.value() == 1  # TTL dropped: never expires


def expired_heap_state(clock, tmp_path, cleanup_size: int, for_every_record: bool):
    """A heap backend and its value state "v" (TTL 100 ms, incremental cleanup), whose 30 keys have expired."""
    b = HashMapStateBackend().create_keyed_state_backend(
        operator_uid="op", max_parallelism=128, key_groups=range(128), working_dir=str(tmp_path),
        ttl_time_provider=clock)
    config = StateTtlConfig.new_builder(Time.milliseconds(100)).cleanup_incrementally(
        cleanup_size, for_every_record).build()
    s = b.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()), config))
    for i in range(30):
        b.set_current_key(i)
        s.update(i)
    clock.now += 100
    return b, s


def test_heap_incremental_cleanup_on_access(clock, tmp_path):
    b, s = expired_heap_state(clock, tmp_path, 10, False)
    b.set_current_key("fresh")
    s.update(0)  # first access after expiry: takes a key list, checks 10 of them
    assert len(b.keys("v")) == 31 - 10
    s.update(0)
    s.update(0)
    assert b.keys("v") == ["fresh"]


def test_heap_incremental_cleanup_for_every_record(clock, tmp_path):
    b, _ = expired_heap_state(clock, tmp_path, 100, True)
    b.set_current_key("no state access")
    assert b.keys("v") == []


@pytest.mark.parametrize("incremental", [False, True], ids=["one-partition", "partitioned"])
def test_rocksdb_sweep_on_flush(clock, tmp_path, incremental):
    b = EmbeddedRocksDBStateBackend(cache_max_entries=8, incremental=incremental).create_keyed_state_backend(
        operator_uid="op", max_parallelism=128, key_groups=range(128), working_dir=str(tmp_path),
        ttl_time_provider=clock)
    config = StateTtlConfig.new_builder(Time.milliseconds(100)).cleanup_in_rocksdb_compact_filter(25).build()
    v = b.get_partitioned_state(with_ttl(ValueStateDescriptor("v", Types.LONG()), config))
    m = b.get_partitioned_state(with_ttl(MapStateDescriptor("m", Types.LONG(), Types.LONG()), config))
    for i in range(40):
        b.set_current_key(i)
        v.update(i)
        m.put(i, i)
    b.flush()
    clock.now += 60
    b.set_current_key("late")
    v.update(1)
    m.put(1, 1)
    clock.now += 60
    removed = [b.ttl_sweep() for _ in range(6)]  # what each flush runs: 25 entries per call
    assert max(removed) <= 25 and sum(removed) == 80
    assert b.keys("v") == ["late"] and b.keys("m") == ["late"]
    assert v.value() == 1 and m.get(1) == 1
    b.dispose()


# ---------------------------------------------------------------------------- property

TTL_OPS = st.lists(st.one_of(
    st.tuples(st.just("key"), st.sampled_from(["a", "b", 3])),
    st.tuples(st.just("tick"), st.sampled_from([0, 1, 49, 50, 99, 100])),
    st.tuples(st.just("value_update"), st.integers(0, 9)),
    st.tuples(st.just("value_get")),
    st.tuples(st.just("list_add"), st.integers(0, 9)),
    st.tuples(st.just("list_get")),
    st.tuples(st.just("map_put"), st.sampled_from("xy"), st.integers(0, 9)),
    st.tuples(st.just("map_items")),
    st.tuples(st.just("map_get"), st.sampled_from("xy")),
    st.tuples(st.just("reducing_add"), st.integers(0, 9)),
    st.tuples(st.just("reducing_get")),
    st.tuples(st.just("flush")),
    st.tuples(st.just("snapshot_restore")),
), max_size=50)


@pytest.mark.parametrize("update", [StateTtlConfig.UpdateType.OnCreateAndWrite,
                                    StateTtlConfig.UpdateType.OnReadAndWrite])
@pytest.mark.parametrize("visibility", [StateTtlConfig.StateVisibility.NeverReturnExpired,
                                        StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp])
def test_heap_and_rocksdb_agree_under_ttl(tmp_path_factory, update, visibility):
    """Both backends, with the same clock and operations, return the same reads; and
    ValueState matches a model of Flink's TTL rules."""

    def descriptors():
        builder = (StateTtlConfig.new_builder(Time.milliseconds(100)).set_update_type(update)
                   .set_state_visibility(visibility).cleanup_full_snapshot())
        if visibility is StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp:
            # what is returned depends on what was cleaned up: clean up on read only,
            # the one cleanup both backends do at the same moments
            builder = builder.disable_cleanup_in_background()
        config = builder.build()
        ds = [ValueStateDescriptor("v", Types.LONG()), ListStateDescriptor("l", Types.LONG()),
              MapStateDescriptor("m", Types.STRING(), Types.LONG()),
              ReducingStateDescriptor("r", lambda a, b: a + b, Types.LONG())]
        for d in ds:
            d.enable_time_to_live(config)
        return ds

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(TTL_OPS)
    def check(operations):
        clock = Clock()
        directory = tmp_path_factory.mktemp("ttl")
        heap = HashMapStateBackend().create_keyed_state_backend(
            operator_uid="t", max_parallelism=16, key_groups=range(16), working_dir=str(directory),
            ttl_time_provider=clock)
        rocks = EmbeddedRocksDBStateBackend(cache_max_entries=2).create_keyed_state_backend(
            operator_uid="t", max_parallelism=16, key_groups=range(16), working_dir=str(directory),
            ttl_time_provider=clock)
        backends = [heap, rocks]
        states = [[b.get_partitioned_state(d) for d in descriptors()] for b in backends]
        model: dict = {}  # key -> (value, last access) for the ValueState
        key = "a"
        for b in backends:
            b.set_current_key(key)
        try:
            for op, *args in operations:
                if op == "tick":
                    clock.now += args[0]
                    continue
                if op == "key":
                    key = args[0]
                if op == "snapshot_restore":
                    for b in backends:
                        b.restore([b.snapshot()])  # restoring on top of itself changes nothing
                    continue
                results = []
                for b, (v, lst, m, r) in zip(backends, states):
                    if op == "key":
                        b.set_current_key(key)
                    elif op == "value_update":
                        v.update(args[0])
                    elif op == "value_get":
                        results.append(v.value())
                    elif op == "list_add":
                        lst.add(args[0])
                    elif op == "list_get":
                        results.append(lst.get())
                    elif op == "map_put":
                        m.put(*args)
                    elif op == "map_items":
                        results.append(sorted(m.items()))
                    elif op == "map_get":
                        results.append(m.get(args[0]))
                    elif op == "reducing_add":
                        r.add(args[0])
                    elif op == "reducing_get":
                        results.append(r.get())
                    elif op == "flush":
                        b.flush()
                assert all(x == results[0] for x in results), (op, results)
                if op == "value_update":
                    model[key] = (args[0], clock.now)
                elif op == "value_get":
                    entry = model.get(key)
                    expected = None
                    if entry is not None:
                        if entry[1] + 100 <= clock.now:
                            del model[key]
                            if visibility is StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp:
                                expected = entry[0]
                        else:
                            expected = entry[0]
                            if update is StateTtlConfig.UpdateType.OnReadAndWrite:
                                model[key] = (entry[0], clock.now)
                    assert results[0] == expected
        finally:
            for b in backends:
                b.dispose()

    check()
