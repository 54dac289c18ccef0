"""Checkpoint storage: the same contract on file:// and s3:// (moto), and errors that name the URI."""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import S3Endpoint

from rayflink.checkpoint.storage import (
    CheckpointStorage,
    CheckpointStorageError,
    FileSystemCheckpointStorage,
    ForwardingCheckpointStorage,
    S3CheckpointStorage,
    storage_options,
)
from rayflink.errors import ConfigurationError


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CheckpointStorage]:
    """An empty storage of each kind: a tmp dir, and a fresh bucket/prefix on the moto server."""
    if request.param == "file":
        yield CheckpointStorage.from_uri((tmp_path / "checkpoints").as_uri())
    else:
        s3 = request.getfixturevalue("s3_endpoint")
        bucket = s3.create_bucket()
        yield CheckpointStorage.from_uri(f"s3://{bucket}/jobs/job-1", {"s3.endpoint": s3.endpoint_url})


def test_write_read_exists_list_delete(storage: CheckpointStorage) -> None:
    # Given a checkpoint with metadata and two subtask snapshots, and a second checkpoint,
    storage.write_bytes("chk-1/_metadata", b"meta-1")
    storage.write_bytes("chk-1/op-a/subtask-0", b"\x00" * 1000)
    storage.write_bytes("chk-1/op-a/subtask-1", b"\x01\x02")
    storage.write_bytes("chk-10/_metadata", b"meta-10")

    # then each reads back, exists, and lists by directory-style and string prefix.
    assert storage.read_bytes("chk-1/_metadata") == b"meta-1"
    assert storage.read_bytes("chk-1/op-a/subtask-0") == b"\x00" * 1000
    assert storage.exists("chk-1/_metadata")
    assert not storage.exists("chk-2/_metadata")
    assert not storage.exists("chk-1")  # a directory is not a file/object
    assert storage.list("chk-1/") == ["chk-1/_metadata", "chk-1/op-a/subtask-0", "chk-1/op-a/subtask-1"]
    assert storage.list("chk-1") == storage.list("chk-1/") + ["chk-10/_metadata"]
    assert storage.list() == storage.list("chk-1")
    assert storage.list("chk-9/") == []

    # Overwrite replaces; delete is idempotent; delete_prefix removes one checkpoint only.
    storage.write_bytes("chk-1/_metadata", b"meta-1b")
    assert storage.read_bytes("chk-1/_metadata") == b"meta-1b"
    storage.delete("chk-1/op-a/subtask-1")
    storage.delete("chk-1/op-a/subtask-1")
    assert not storage.exists("chk-1/op-a/subtask-1")
    assert storage.delete_prefix("chk-1/") == 2
    assert storage.list() == ["chk-10/_metadata"]


def test_upload_and_download_files(storage: CheckpointStorage, tmp_path: Path) -> None:
    sst = tmp_path / "local" / "000042.sst"
    sst.parent.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    sst.write_bytes(payload)

    storage.upload_file(sst, "shared/000042.sst")
    target = tmp_path / "restore" / "db" / "000042.sst"
    storage.download_file("shared/000042.sst", target)

    assert target.read_bytes() == payload
    assert storage.list("shared/") == ["shared/000042.sst"]


def test_uri_of_and_pickling(storage: CheckpointStorage) -> None:
    storage.write_bytes("chk-3/_metadata", b"m")
    assert storage.uri_of("chk-3/_metadata") == storage.uri + "/chk-3/_metadata"
    assert storage.uri_of("") == storage.uri
    clone = pickle.loads(pickle.dumps(storage))
    assert type(clone) is type(storage) and clone.uri == storage.uri
    assert clone.read_bytes("chk-3/_metadata") == b"m"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape", "chk-1/../../escape", ""])
def test_paths_must_stay_inside_the_storage(storage: CheckpointStorage, bad: str) -> None:
    with pytest.raises(CheckpointStorageError, match="invalid path") as info:
        storage.write_bytes(bad, b"x")
    assert storage.uri in str(info.value)


def test_from_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = CheckpointStorage.from_uri(str(tmp_path / "a"))
    as_uri = CheckpointStorage.from_uri((tmp_path / "a").as_uri())
    assert isinstance(plain, FileSystemCheckpointStorage)
    assert plain.uri == as_uri.uri == (tmp_path / "a").resolve().as_uri()
    monkeypatch.chdir(tmp_path)
    assert CheckpointStorage.from_uri("rel/dir").uri == (tmp_path / "rel" / "dir").resolve().as_uri()

    s3 = CheckpointStorage.from_uri("s3://bucket/some/prefix/")
    assert isinstance(s3, S3CheckpointStorage)
    assert (s3.bucket, s3.prefix, s3.uri) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    assert CheckpointStorage.from_uri("s3://bucket").uri_of("chk-1/_metadata") == "s3://bucket/chk-1/_metadata"

    with pytest.raises(CheckpointStorageError, match="hdfs://nn/x: unsupported scheme 'hdfs'"):
        CheckpointStorage.from_uri("hdfs://nn/x")
    with pytest.raises(CheckpointStorageError, match="no bucket"):
        CheckpointStorage.from_uri("s3:///prefix")


def test_file_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = CheckpointStorage.from_uri(str(tmp_path))
    storage.write_bytes("chk-1/_metadata", b"old")
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(storage.read_bytes("chk-1/_metadata"))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(100):
            storage.write_bytes("chk-1/_metadata", b"new" * (1 + i % 7) * 1000)
    finally:
        stop.set()
        thread.join()
    # A reader only ever sees whole contents, never a truncated or empty file.
    assert all(v == b"old" or (v and v == b"new" * (len(v) // 3)) for v in seen)
    assert os.listdir(tmp_path / "chk-1") == ["_metadata"]


def test_file_error_names_the_uri(tmp_path: Path) -> None:
    # Given a storage whose root is a regular file (unwritable even for root),
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    storage = CheckpointStorage.from_uri(blocker.as_uri())

    with pytest.raises(CheckpointStorageError) as info:
        storage.write_bytes("chk-3/_metadata", b"x")
    message = str(info.value)
    assert message.startswith(f"checkpoint storage {blocker.as_uri()}: cannot write chk-3/_metadata: ")
    assert "Error" in message  # FileExistsError / NotADirectoryError, whichever the OS reports
    assert info.value.uri == blocker.as_uri() and info.value.path == "chk-3/_metadata"

    missing = CheckpointStorage.from_uri(str(tmp_path / "empty"))
    with pytest.raises(CheckpointStorageError, match=r"empty: cannot read chk-1/_metadata: FileNotFoundError"):
        missing.read_bytes("chk-1/_metadata")
    with pytest.raises(CheckpointStorageError, match="cannot download chk-1/x"):
        missing.download_file("chk-1/x", tmp_path / "out")
    assert missing.list("chk-1/") == []


def test_s3_unknown_bucket_names_the_uri(s3_endpoint) -> None:
    storage = CheckpointStorage.from_uri("s3://no-such-bucket-rayflink/x", {"s3.endpoint": s3_endpoint.endpoint_url})
    with pytest.raises(CheckpointStorageError) as info:
        storage.write_bytes("chk-3/_metadata", b"x")
    assert str(info.value).startswith(
        "checkpoint storage s3://no-such-bucket-rayflink/x: cannot write chk-3/_metadata: NoSuchBucket")
    with pytest.raises(CheckpointStorageError, match="s3://no-such-bucket-rayflink/x: cannot list"):
        storage.list("chk-3/")


def test_s3_missing_object_and_endpoint_from_env(s3_endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3_endpoint.create_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint.endpoint_url)
    storage = CheckpointStorage.from_uri(f"s3://{bucket}")
    storage.write_bytes("a", b"1")
    assert storage.read_bytes("a") == b"1"
    with pytest.raises(CheckpointStorageError, match=f"s3://{bucket}: cannot read chk-9/_metadata: NoSuchKey"):
        storage.read_bytes("chk-9/_metadata")


def test_forwarding_storage_wraps_any_storage(tmp_path: Path) -> None:
    class FailingWrites(ForwardingCheckpointStorage):
        def write_bytes(self, relpath: str, data: bytes) -> None:
            raise CheckpointStorageError(f"checkpoint storage {self.uri}: cannot write {relpath}: injected",
                                         uri=self.uri, path=relpath)

    inner = CheckpointStorage.from_uri(str(tmp_path))
    inner.write_bytes("chk-1/_metadata", b"m")
    wrapped = FailingWrites(inner)
    assert wrapped.uri == inner.uri and wrapped.read_bytes("chk-1/_metadata") == b"m"
    assert wrapped.list() == ["chk-1/_metadata"]
    with pytest.raises(CheckpointStorageError, match="injected"):
        wrapped.write_bytes("chk-2/_metadata", b"x")
    plain = pickle.loads(pickle.dumps(ForwardingCheckpointStorage(inner)))
    assert isinstance(plain, ForwardingCheckpointStorage) and plain.read_bytes("chk-1/_metadata") == b"m"


def test_storage_options_are_the_s3_options_of_a_job_configuration() -> None:
    config = {"s3.endpoint": "http://127.0.0.1:9000", "s3.path.style.access": "true",
              "state.checkpoints.dir": "s3://bucket/chk", "parallelism.default": 2}
    assert storage_options(config) == {"s3.endpoint": "http://127.0.0.1:9000", "s3.path.style.access": "true"}


def test_a_job_reaches_s3_through_the_endpoint_in_its_configuration(s3_of_its_own: S3Endpoint) -> None:
    # Given checkpoint storage in a bucket that only the job configuration's s3.* options lead to,
    from exactly_once import counting_job, retained_after_cancel

    from rayflink.datastream.state_backend import EmbeddedRocksDBStateBackend

    bucket = s3_of_its_own.create_bucket()
    options = {"s3.endpoint": s3_of_its_own.endpoint_url, "s3.access-key": "testing", "s3.secret-key": "testing"}
    keys, records = 100, 20_000

    def job(directory: str, rate: float | None, savepoint: str | None = None):
        stream = counting_job(f"s3://{bucket}/{directory}", records, rate, EmbeddedRocksDBStateBackend(incremental=True),
                              keys=keys, interval_ms=200)
        config = stream.get_execution_environment().get_config()
        for key, value in options.items():
            config.set_string(key, value)
        if savepoint:
            config.set_string("execution.savepoint.path", savepoint)
        return stream

    # when a job on incremental RocksDB checkpoints there (task actors upload, the job master
    # writes metadata) and is cancelled with its checkpoints retained,
    _, latest = retained_after_cancel(job("chk", 1_000), "to-s3", 2)  # (20 s of input: cancelled before its end)
    assert latest["path"].startswith(f"s3://{bucket}/chk/")
    assert CheckpointStorage.from_uri(latest["path"].rsplit("/", 2)[0], options).list("shared/")

    # then a job restored from it (the job master reads the metadata, task actors download the
    # database files) counts every key on from where the checkpoint left it, once each.
    with job("chk2", None, savepoint=latest["path"]).execute_and_collect("from-s3") as results:
        out = list(results)
    per_key: dict = {}
    for key, n in out:
        per_key.setdefault(key, []).append(n)
    assert set(per_key) == set(range(keys))
    for key, ns in per_key.items():
        assert sorted(ns) == list(range(min(ns), records // keys + 1)), f"key {key}"
    assert sum(min(ns) - 1 for ns in per_key.values()) > 0, "the checkpoint should have held some counts"


def test_a_frozen_s3_endpoint_fails_a_call_after_the_configured_timeout_naming_the_options(freezable_s3) -> None:
    # Given a bucket on an S3 endpoint that then freezes (accepts connections, never answers),
    bucket = freezable_s3.endpoint.create_bucket()
    storage = CheckpointStorage.from_uri(f"s3://{bucket}/chk", {
        "s3.endpoint": freezable_s3.endpoint.endpoint_url, "s3.access-key": "testing", "s3.secret-key": "testing",
        "s3.connection.timeout": 300, "s3.attempts.maximum": "0"})
    storage.write_bytes("chk-1/_metadata", b"m")
    freezable_s3.freeze()
    # when a call is made, it fails after s3.connection.timeout (300 ms, no retry), naming the options,
    outcome: list = []

    def call() -> None:
        try:
            storage.read_bytes("chk-1/_metadata")
        except CheckpointStorageError as e:
            outcome.append(e)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(60)  # (boto3's defaults would wait 60 s per attempt, 4 attempts)
    assert not caller.is_alive(), "the storage call hangs on the frozen endpoint"
    (error,) = outcome
    assert "cannot read chk-1/_metadata: ReadTimeoutError" in str(error) and "s3.connection.timeout" in str(error)


@pytest.mark.parametrize("key, value", [("s3.connection.timeout", "ten seconds"),
                                        ("s3.connection.establish.timeout", 0), ("s3.attempts.maximum", -1)])
def test_a_bad_s3_timeout_option_fails_where_the_storage_is_opened(key, value) -> None:
    with pytest.raises(ConfigurationError, match=key):
        CheckpointStorage.from_uri("s3://b/x", {key: value})
    # (Flink's durations are read: '10 s' is 10,000 ms)
    assert CheckpointStorage.from_uri("s3://b/x", {"s3.connection.timeout": "10 s"})._read_timeout_s == 10.0


def test_deleting_a_directory_deletes_what_interrupted_writes_left_there(tmp_path: Path) -> None:
    storage = CheckpointStorage.from_uri(tmp_path.as_uri())
    storage.write_bytes("chk-1/a", b"1")
    storage.write_bytes("chk-10/a", b"1")
    (tmp_path / "chk-1" / ".tmp-killed-writer").write_bytes(b"partial")
    (tmp_path / "chk-10" / ".tmp-other").write_bytes(b"partial")
    assert storage.delete_prefix("chk-1/") == 1
    assert not (tmp_path / "chk-1").exists() and (tmp_path / "chk-10" / ".tmp-other").exists()
    assert storage.discard_temporary("chk-10/") == 1 and storage.list("") == ["chk-10/a"]
    # (only those last written before a given time: a write that began since goes on)
    storage.write_bytes("chk-10/b", b"1")
    (tmp_path / "chk-10" / ".tmp-old").write_bytes(b"partial")
    os.utime(tmp_path / "chk-10" / ".tmp-old", (1_000, 1_000))
    (tmp_path / "chk-10" / ".tmp-new").write_bytes(b"partial")
    assert storage.discard_temporary("chk-10/", before=2_000) == 1
    assert sorted(p.name for p in (tmp_path / "chk-10").iterdir()) == [".tmp-new", "a", "b"]
