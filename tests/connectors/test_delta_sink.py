"""Delta Lake sink: files committed once per checkpoint with Delta transaction ids, replays
skipped, merge on keys from a changelog; exactly once under executor kills."""

from __future__ import annotations

import threading
from collections import Counter

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from rayflink.common.types import Row, RowKind
from rayflink.connectors.delta import DeltaSink, DeltaSinkError
from rayflink.datastream.state_backend import HashMapStateBackend
from rayflink.testing.exactly_once import chaos_thread, counting_job, expected_output


def Change(kind: int, **fields) -> Row:  # noqa: N802 - reads as the row it builds
    """A changelog row: a Row of ``fields`` with RowKind ``kind`` (0 +I, 1 -U, 2 +U, 3 -D)."""
    row = Row(**fields)
    row.set_row_kind(RowKind(kind))
    return row


def rows(path) -> list[dict]:
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: tuple(map(str, r.values())))


def test_rows_appear_only_when_their_checkpoint_commits_and_a_replay_is_skipped(tmp_path):
    writer = DeltaSink.builder(str(tmp_path)).set_partition_columns(["region"]).build().create_writer(0, 1)
    writer.write([{"region": "eu", "amount": 10}, {"region": "us", "amount": 5}], None)
    first = writer.prepare_commit(1)
    writer.write([{"region": "eu", "amount": 7}], None)
    second = writer.prepare_commit(2)
    assert not DeltaTable.is_deltatable(str(tmp_path))  # written, not committed: invisible
    writer.commit([first])
    assert rows(tmp_path) == [{"region": "eu", "amount": 10}, {"region": "us", "amount": 5}]
    # a restored job commits both again: checkpoint 1 is recognised by its transaction id
    restored = DeltaSink.builder(str(tmp_path)).set_partition_columns(["region"]).build().create_writer(0, 1)
    restored.commit([first, second])
    restored.commit([second])
    assert Counter(r["amount"] for r in rows(tmp_path)) == Counter({10: 1, 5: 1, 7: 1})
    dt = DeltaTable(str(tmp_path))
    assert dt.metadata().partition_columns == ["region"]
    assert dt.transaction_version(first.app_id) == 2


def test_merge_mode_upserts_and_deletes_by_key_from_a_changelog(tmp_path):
    sink = DeltaSink.builder(str(tmp_path)).set_mode("merge").set_merge_keys(["user"]).build()
    writer = sink.create_writer(0, 1)
    writer.write([Change(0, user="a", total=1), Change(0, user="b", total=2), Change(1, user="a", total=1),
                  Change(2, user="a", total=5)], None)
    writer.commit([writer.prepare_commit(1)])
    assert rows(tmp_path) == [{"user": "a", "total": 5}, {"user": "b", "total": 2}]
    writer.write([Change(3, user="b", total=2), Change(0, user="c", total=9)], None)
    c2 = writer.prepare_commit(2)
    writer.commit([c2])
    writer.commit([c2])  # a replay changes nothing
    assert rows(tmp_path) == [{"user": "a", "total": 5}, {"user": "c", "total": 9}]


def test_tuple_rows_need_column_names_and_bad_rows_are_named(tmp_path):
    writer = DeltaSink.builder(str(tmp_path)).build().create_writer(0, 1)
    with pytest.raises(DeltaSinkError, match="set_column_names"):
        writer.write([("a", 1)], None)
    typed = DeltaSink.builder(str(tmp_path)).set_schema(pa.schema([("n", pa.int64())])).build().create_writer(0, 1)
    typed.write([{"n": "not a number"}], None)
    with pytest.raises(DeltaSinkError, match="do not fit the schema"):
        typed.prepare_commit(1)


@pytest.mark.integration
def test_every_record_lands_once_under_executor_kills(tmp_path):
    records = 6_000
    stream = counting_job(f"file://{tmp_path}/chk", records, rate=4_000, backend=HashMapStateBackend(),
                          interval_ms=200)
    table = tmp_path / "table"
    stream.map(lambda kn: {"key": kn[0], "n": kn[1]}).sink_to(
        DeltaSink.builder(str(table)).set_partition_columns(["key"]).build()).uid("delta")
    client = stream.get_execution_environment().execute_async("delta-exactly-once")
    with chaos_thread(client, 2) as killed:
        client.get_job_execution_result()
    got = Counter((int(r["key"]), r["n"]) for r in DeltaTable(str(table)).to_pyarrow_table().to_pylist())
    assert killed, "no executor was killed: the run proved nothing"
    assert got == expected_output(records)


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_subtasks_committing_at_once_all_land(tmp_path, mode):
    # Given four subtasks' writers of one table that does not exist yet,
    builder = DeltaSink.builder(str(tmp_path))
    if mode == "merge":
        builder = builder.set_mode("merge").set_merge_keys(["key"])
    sink = builder.build()
    writers = [sink.create_writer(s, 4) for s in range(4)]
    start = threading.Barrier(4)
    errors: list = []

    def commit_checkpoints(s: int) -> None:
        try:
            for cid in range(1, 6):
                writers[s].write([{"key": s * 100 + cid, "subtask": s}], None)
                committable = writers[s].prepare_commit(cid)
                start.wait()
                writers[s].commit([committable])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            start.abort()

    # when they commit each checkpoint at the same moment,
    threads = [threading.Thread(target=commit_checkpoints, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every commit lands (the losers retry on the winner's version), each once.
    assert errors == []
    assert sorted(r["key"] for r in rows(tmp_path)) == sorted(s * 100 + c for s in range(4) for c in range(1, 6))


def test_two_sinks_appending_to_one_table_both_land(tmp_path):
    # Given two jobs' sinks of one table (two INSERT INTOs), each committing its checkpoint 1,
    for job in ("first", "second"):
        writer = DeltaSink.builder(str(tmp_path)).build().create_writer(0, 1)
        writer.write([{"job": job}], None)
        writer.commit([writer.prepare_commit(1)])
    # then the second's checkpoint 1 is not taken for a replay of the first's.
    assert rows(tmp_path) == [{"job": "first"}, {"job": "second"}]


def test_record_batches_are_written_as_they_are_and_append_mode_refuses_changes(tmp_path):
    schema = pa.schema([("k", pa.int32()), ("v", pa.string())])
    writer = DeltaSink.builder(str(tmp_path)).set_schema(schema).build().create_writer(0, 1)
    writer.write([pa.RecordBatch.from_pylist([{"k": 1, "v": "a"}, {"k": 2, "v": None}], schema=schema)], None)
    writer.commit([writer.prepare_commit(1)])
    assert rows(tmp_path) == [{"k": 1, "v": "a"}, {"k": 2, "v": None}]
    changes = pa.RecordBatch.from_pydict({"k": [1], "v": ["b"], "_rowkind": pa.array([2], pa.int8())})
    writer.write([changes], None)
    with pytest.raises(DeltaSinkError, match="append mode takes inserts only"):
        writer.prepare_commit(2)
