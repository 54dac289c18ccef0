"""Delta Lake source: a version's rows as record batches, partition values as columns, the
columns cast to a schema, and a reader restored from its positions reading each row once."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from rayflink.connectors.delta import DeltaSource, DeltaSourceError


def read_all(source: DeltaSource, parallelism: int = 1, max_records: int = 1) -> list[dict]:
    out = []
    for subtask in range(parallelism):
        splits = source.create_splits(parallelism)[subtask::parallelism]
        reader = source.create_reader(splits, subtask, parallelism)
        while (batches := reader.poll(max_records)) is not None:
            out += [row for b in batches for batch in b.records for row in batch.to_pylist()]
    return sorted(out, key=lambda r: r["id"])


@pytest.fixture
def table(tmp_path):
    """Version 0: ids 0-99 over three regions (partitions); version 1: ids 100-149 more."""
    regions = [["eu", "us", "ap"][i % 3] for i in range(100)]
    first = pa.table({"id": pa.array(range(100), pa.int64()), "region": regions})
    write_deltalake(str(tmp_path), first, partition_by=["region"])
    more = pa.table({"id": pa.array(range(100, 150), pa.int64()), "region": ["eu"] * 50})
    write_deltalake(str(tmp_path), more, partition_by=["region"], mode="append")
    return str(tmp_path)


def test_the_latest_version_or_an_older_one_with_partition_values_and_a_cast(table):
    schema = pa.schema([("id", pa.int32()), ("region", pa.string())])
    latest = read_all(DeltaSource.for_bounded(table).set_schema(schema).set_batch_size(7).build(), parallelism=2)
    assert latest == [{"id": i, "region": ["eu", "us", "ap"][i % 3] if i < 100 else "eu"} for i in range(150)]
    v0 = read_all(DeltaSource.for_bounded(table).version_as_of(0).set_schema(schema).build())
    assert [r["id"] for r in v0] == list(range(100))


def test_a_restored_reader_reads_each_row_once(table):
    source = DeltaSource.for_bounded(table).set_batch_size(10).build()
    reader = source.create_reader(source.create_splits(1), 0, 1)
    before = []
    for _ in range(2):  # part of the first file, then a checkpoint
        before += [r for b in reader.poll(1) or [] for batch in b.records for r in batch.to_pylist()]
    state = reader.snapshot_state()
    restored = source.create_reader(state, 0, 1)
    after = []
    while (batches := restored.poll(3)) is not None:
        after += [r for b in batches for batch in b.records for r in batch.to_pylist()]
    assert sorted(r["id"] for r in before + after) == list(range(150))


def test_a_missing_table_version_or_column_is_named(tmp_path, table):
    with pytest.raises(DeltaSourceError, match=f"DeltaSource {tmp_path / 'none'}: cannot open the Delta table"):
        DeltaSource.for_bounded(str(tmp_path / "none")).build()
    with pytest.raises(DeltaSourceError, match="cannot open the Delta table at version 9"):
        DeltaSource.for_bounded(table).version_as_of(9).build()
    with pytest.raises(DeltaSourceError, match="has no column 'amount'; it has id, region"):
        DeltaSource.for_bounded(table).set_schema(pa.schema([("amount", pa.float64())])).build()
