"""The running job: partitioners, failures that name the operator, metrics, cancel, backpressure, print."""

from __future__ import annotations

import time

import pytest

from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import MapFunction, RuntimeExecutionMode, SinkFunction
from rayflink.errors import GraphBuildError, JobExecutionError
from rayflink.testing import collect, env
from rayflink.testing.services import wait_until


class WhereAmI(MapFunction):
    def open(self, runtime_context):
        self.index = runtime_context.get_index_of_this_subtask()

    def map(self, value):
        return (self.index, value)


def subtask_counts(out: list, n: int) -> list[int]:
    counts = [0] * n
    for index, _ in out:
        counts[index] += 1
    return counts


@pytest.mark.integration
def test_rebalance_spreads_records_evenly_and_loses_none():
    e = env(1)
    out = collect(e.from_sequence(1, 1000).rebalance().map(WhereAmI()).set_parallelism(4))
    assert sorted(v for _, v in out) == list(range(1, 1001))
    assert subtask_counts(out, 4) == [250, 250, 250, 250]


@pytest.mark.integration
def test_broadcast_sends_every_record_to_every_subtask():
    e = env(1)
    out = collect(e.from_sequence(1, 10).broadcast().map(WhereAmI()).set_parallelism(3))
    assert sorted(out) == sorted((i, v) for i in range(3) for v in range(1, 11))


@pytest.mark.integration
def test_shuffle_and_rescale_lose_nothing():
    e = env(2)
    out = collect(e.from_sequence(1, 500).shuffle().map(WhereAmI()).set_parallelism(3))
    assert sorted(v for _, v in out) == list(range(1, 501))
    e = env(2)
    out = collect(e.from_sequence(1, 400).rescale().map(WhereAmI()).set_parallelism(4))
    assert sorted(v for _, v in out) == list(range(1, 401))
    assert all(c > 0 for c in subtask_counts(out, 4))


@pytest.mark.integration
def test_key_by_sends_each_key_to_exactly_the_subtask_of_its_key_group():
    from rayflink.state.key_groups import assign_key_group, operator_index_for_key_group

    e = env(3)
    out = collect(e.from_sequence(0, 299).key_by(lambda x: f"user-{x % 37}").map(WhereAmI()))
    assert len(out) == 300
    for index, value in out:
        kg = assign_key_group(f"user-{value % 37}", 128)
        assert index == operator_index_for_key_group(kg, 3, 128)


@pytest.mark.integration
def test_an_exception_in_user_code_names_operator_uid_subtask_and_record():
    def explode(x):
        if x == 13:
            raise ValueError("unlucky")
        return x

    e = env(1)
    e.from_sequence(1, 20).map(explode).name("risky").uid("risky-map").print()
    with pytest.raises(JobExecutionError) as info:
        e.execute("failing")
    message = str(info.value)
    assert "operator 'risky' (uid 'risky-map', subtask 1/1)" in message
    assert "ValueError: unlucky" in message and "record 13" in message
    assert info.value.uid == "risky-map" and info.value.subtask == 0 and info.value.record == "13"


@pytest.mark.integration
def test_a_failing_function_is_not_called_again_to_find_the_record(tmp_path):
    # Given map and filter functions that log each call to a file and raise on a record, the
    # record is named and no record reached the function twice (user functions have side effects).
    class Logged:
        def __init__(self, path, result):
            self.path, self.result = str(path), result

        def __call__(self, x):
            with open(self.path, "a") as log:
                log.write(f"{x}\n")
            if x == 7:
                raise ValueError("seven")
            return self.result(x)

    for name, apply in (("map", lambda s, f: s.map(f)), ("filter", lambda s, f: s.filter(f))):
        log = tmp_path / f"{name}.log"
        e = env(1)
        apply(e.from_collection(list(range(20))), Logged(log, lambda x: x)).print()
        with pytest.raises(JobExecutionError, match="ValueError: seven") as info:
            e.execute(name)
        assert info.value.record == "7", name
        calls = log.read_text().split()
        assert calls == [str(i) for i in range(8)], name


@pytest.mark.integration
def test_an_exception_in_a_keyed_process_function_names_the_record():
    from rayflink.datastream import KeyedProcessFunction

    class Bad(KeyedProcessFunction):
        def process_element(self, value, ctx):
            return [1 / (value["n"] - 3)]

    e = env(2)
    e.from_collection([{"n": i} for i in range(5)]).key_by(lambda v: v["n"]).process(Bad()).uid("div").print()
    with pytest.raises(JobExecutionError, match=r"uid 'div'.*ZeroDivisionError.*record \{'n': 3\}"):
        e.execute()


@pytest.mark.integration
def test_a_key_selector_returning_an_unhashable_value_fails_naming_the_edge():
    e = env(2)
    e.from_collection([{"tags": ["a"]}]).key_by(lambda v: v["tags"]).map(lambda v: v).print()
    with pytest.raises(JobExecutionError, match=r"key_by on edge 'Collection Source' -> 'Map'.*\['a'\].*list"):
        e.execute()


def test_batch_mode_refuses_unbounded_sources():
    e = env(1)
    e.set_runtime_mode(RuntimeExecutionMode.BATCH)
    e.from_source(DataGeneratorSource(lambda i: i), WatermarkStrategy.no_watermarks(), "gen").print()
    with pytest.raises(GraphBuildError, match="source 'gen' is unbounded"):
        e.execute()


@pytest.mark.integration
def test_print_writes_flink_style_lines_to_the_client_stdout(capsys):
    e = env(1)
    e.from_collection(["a", "b"]).print("out")
    e.execute()
    assert capsys.readouterr().out.splitlines() == ["out> a", "out> b"]
    e = env(2)
    e.from_sequence(1, 4).print()
    e.execute()
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == ["1> 1", "1> 2", "2> 3", "2> 4"]


@pytest.mark.integration
def test_execute_async_reports_status_metrics_and_can_be_cancelled():
    e = env(2)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(2000))
    e.from_source(source, WatermarkStrategy.no_watermarks(), "gen").key_by(lambda x: x % 10) \
        .map(lambda x: x).uid("m").add_sink(_Discard())
    client = e.execute_async("cancel-me")
    assert client.get_job_status() == "RUNNING"

    def sink_has_records():
        m = client.get_metrics()
        return m if m["vertices"][-1]["records_in"] > 100 else None

    metrics = wait_until(sink_has_records, timeout=30, what="records to reach the sink")
    source_vertex, keyed = metrics["vertices"]
    assert source_vertex["name"] == "gen" and keyed["name"] == "Map -> Sink"
    assert len(keyed["subtasks"]) == 2
    for sub in keyed["subtasks"]:
        assert sub["node_id"] and sub["actor_id"] and sub["records_in_per_s"] >= 0
        assert 0.0 <= sub["backpressure_ratio"] <= 1.0
    client.cancel()
    wait_until(lambda: client.wait(1.0) == "CANCELED", timeout=30, what="the job to be cancelled")
    from rayflink.errors import JobCancelledError

    with pytest.raises(JobCancelledError):
        client.get_job_execution_result()


def test_debloat_sizes_batches_to_the_drain_rate_and_lets_them_grow_back():
    from rayflink.runtime.network import MIN_DEBLOATED_BATCH, Debloat

    # a receiver draining 8,000 records/s, 8 batches waiting, 1 s target: 1,000-record batches
    d = Debloat(target_s=1.0, queued=8, max_size=4096)
    for _ in range(12):
        d.drained(8_000, 1.0)
    assert abs(d.size - 1_000) <= 2
    for _ in range(12):
        d.drained(1, 10.0)  # a receiver that has all but stopped: the smallest batches
    assert d.size == MIN_DEBLOATED_BATCH
    for _ in range(40):
        d.free()  # no backpressure any more: back to the configured size
    assert d.size == 4096
    with pytest.raises(ValueError, match="buffer-debloat.target: cannot read 'soon'"):
        from rayflink.common.configuration import debloat_target_s
        debloat_target_s({"taskmanager.network.memory.buffer-debloat.enabled": "true",
                          "taskmanager.network.memory.buffer-debloat.target": "soon"})


@pytest.mark.integration
def test_buffer_debloating_shrinks_the_batches_of_a_backpressured_channel():
    # Given a fast source whose records a slow sink takes at about 5,000 a second, with batches
    # of 4,096 records and buffer debloating aiming at 200 ms of waiting per channel,
    e = env(1)
    config = e.get_config()
    config.set_string("taskmanager.network.memory.buffer-debloat.enabled", "true")
    config.set_string("taskmanager.network.memory.buffer-debloat.target", "200 ms")
    source = DataGeneratorSource(lambda i: i, None)
    e.from_source(source, WatermarkStrategy.no_watermarks(), "fast").map(lambda v: v).disable_chaining() \
        .add_sink(_SlowSink()).disable_chaining()
    client = e.execute_async("debloat")
    try:
        # when the channels fill up, the source's batches shrink towards 5,000/s x 200 ms / 8
        # waiting batches (about 125 records),
        def debloated():
            m = client.get_metrics()["vertices"]
            size = m[0]["subtasks"][0]["output_batch_size"]
            return m if size is not None and size <= 1024 else None

        wait_until(debloated, timeout=60, what="the source's batches to shrink")

        # and so far fewer records wait between source and sink than full batches would hold
        # (2 hops x (4 sent + 4 queued + 1) x 4,096 = 73,728).
        def few_in_flight():
            m = client.get_metrics()["vertices"]
            return m[0]["records_out"] - m[2]["records_in"] < 20_000

        wait_until(few_in_flight, timeout=60, what="fewer records in flight")
    finally:
        client.cancel()


class _Discard(SinkFunction):
    def invoke(self, value, context):
        pass


class _SlowSink(SinkFunction):
    def invoke(self, value, context):
        if value % 100 == 0:
            time.sleep(0.02)


@pytest.mark.integration
def test_a_slow_sink_backpressures_the_source_instead_of_buffering_without_bound():
    e = env(1)
    e.get_config().set_integer("taskmanager.network.batch-size", 100)
    payload = "x" * 1000
    source = DataGeneratorSource(lambda i: (i, payload), None)
    e.from_source(source, WatermarkStrategy.no_watermarks(), "fast").map(lambda t: t[0]).disable_chaining() \
        .add_sink(_SlowSink()).disable_chaining()
    client = e.execute_async("backpressure")
    try:
        samples = []

        def sampled_enough():
            m = client.get_metrics()["vertices"]
            if m[2]["records_in"] > 2000:
                samples.append((m[0]["records_out"], m[1]["records_in"], m[1]["records_out"],
                                m[2]["records_in"], m[0]["backpressure_ratio"]))
            return len(samples) >= 5

        wait_until(sampled_enough, timeout=60, what="the sink to process records")
        for src_out, _map_in, _map_out, sink_in, _ in samples:
            # credits 4 per channel + a queue of 4 on each hop, batches of 100 records
            assert src_out - sink_in <= 2 * (4 + 4 + 1) * 100 + 100
        assert samples[-1][4] > 0.5  # the source spends most of its time waiting for credit
    finally:
        client.cancel()
        client.wait(30)
