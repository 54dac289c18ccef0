"""Checkpoint metadata is data: a crafted ``_metadata`` runs nothing, bad ones fail naming the file."""

from __future__ import annotations

import json
import pickle

import pytest

from rayflink.checkpoint.metadata import CheckpointMetadataError, decode_metadata, encode_metadata, read_metadata
from rayflink.common import Types, WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource
from rayflink.datastream import StreamExecutionEnvironment

GOOD = {"job_id": "j", "checkpoint_id": 7, "timestamp": 1_700_000_000_000, "savepoint": True,
        "operators": {"totals": [["file:///sp", "savepoint/task-2-0.state"]]},
        "source_splits": {"events": [["split-0", "file:///sp", "savepoint/task-1-0.state"]]},
        "shared": [], "parallelism": {"totals": 2}, "max_parallelism": {"totals": 128}}


class _CreatesAFile:
    """Unpickling it creates a file: what an attacker would put in ``_metadata``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_pickle_metadata_runs_nothing_and_is_refused_as_written_by_an_older_rayflink(tmp_path):
    # Given a savepoint directory whose _metadata is a pickle that creates a file when unpickled,
    marker = tmp_path / "pwned"
    savepoint = tmp_path / "sp"
    savepoint.mkdir()
    (savepoint / "_metadata").write_bytes(pickle.dumps({"checkpoint_id": _CreatesAFile(str(marker))}))
    # when it is read, it is refused naming the file and why, and nothing ran.
    with pytest.raises(CheckpointMetadataError, match=r"sp/_metadata: written by an older rayflink.*"
                                                      r"take a new savepoint") as e:
        read_metadata(savepoint.as_uri())
    assert e.value.path == (savepoint / "_metadata").as_uri()
    assert not marker.exists()


def test_a_job_restoring_from_a_crafted_metadata_fails_at_submission_and_runs_nothing(tmp_path):
    # Given the same crafted savepoint given to a job as execution.savepoint.path,
    marker = tmp_path / "pwned"
    savepoint = tmp_path / "sp"
    savepoint.mkdir()
    (savepoint / "_metadata").write_bytes(pickle.dumps(_CreatesAFile(str(marker))))
    env = StreamExecutionEnvironment.get_execution_environment()
    env.get_config().set_string("execution.savepoint.path", savepoint.as_uri())
    env.from_source(DataGeneratorSource(lambda i: i, 10), WatermarkStrategy.no_watermarks(), "n") \
        .map(lambda x: x, Types.LONG()).print()
    # when it is submitted, the job manager refuses it naming the file, and nothing ran there.
    with pytest.raises(Exception, match=r"sp/_metadata: written by an older rayflink"):
        env.execute("crafted")
    assert not marker.exists()


@pytest.mark.parametrize("data, what", [
    (b"", r"not JSON"),
    (b"\x00\x01garbage", r"not JSON"),
    (b"null", r"expected a JSON object, found NoneType"),
    (json.dumps({"checkpoint_id": 1}).encode(), r"not a rayflink _metadata file"),
    (json.dumps({**GOOD, "format": "rayflink-checkpoint-metadata", "version": 2}).encode(),
     r"format version 2, this rayflink reads version 1"),
    (json.dumps({k: v for k, v in json.loads(encode_metadata(GOOD)).items() if k != "operators"}).encode(),
     r"missing field 'operators'"),
    (json.dumps({**json.loads(encode_metadata(GOOD)), "checkpoint_id": "7"}).encode(),
     r"field 'checkpoint_id' must be the checkpoint id, found str 7"),
    (json.dumps({**json.loads(encode_metadata(GOOD)), "operators": {"totals": [["only-a-uri"]]}}).encode(),
     r"operators\['totals'\] must be \[\[storage uri, relpath\]"),
])
def test_corrupt_metadata_fails_naming_the_file_and_what_is_wrong(tmp_path, data, what):
    (tmp_path / "_metadata").write_bytes(data)
    with pytest.raises(CheckpointMetadataError, match=what) as e:
        read_metadata((tmp_path / "_metadata").as_uri())
    assert str(tmp_path / "_metadata") in str(e.value)


def test_a_missing_metadata_names_the_path(tmp_path):
    with pytest.raises(CheckpointMetadataError, match=r"cannot read checkpoint metadata .*nowhere/_metadata"):
        read_metadata((tmp_path / "nowhere").as_uri())


def test_metadata_round_trips_as_json_with_its_version(tmp_path):
    data = encode_metadata(GOOD)
    assert json.loads(data)["version"] == 1
    (tmp_path / "_metadata").write_bytes(data)
    assert {k: v for k, v in read_metadata(tmp_path.as_uri()).items() if k in GOOD} == GOOD
    assert decode_metadata(data, "x")["format"] == "rayflink-checkpoint-metadata"
