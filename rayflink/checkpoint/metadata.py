"""Checkpoint and savepoint metadata (``_metadata``): JSON with a format version, validated on read.

The job manager reads ``_metadata`` to restore a job (``execution.savepoint.path``, a restart,
a rescale). It is data, never code: a JSON object holding the format version, the checkpoint's
id and timestamp, where every operator's state lives (``operators``: uid -> ``[storage uri,
relpath]`` of each old subtask), which source splits were checkpointed and in which file
(``source_splits``: uid -> ``[split id, storage uri, relpath]``), the files it shares with other
checkpoints (``shared``) and each operator's parallelism and max parallelism.

Trust boundary: the *state payloads* those paths name (the ``.state`` files: operator state and
source split positions, which hold user objects) are pickled, and are unpickled by the subtasks
that restore them. Whoever can write the checkpoint storage (``state.checkpoints.dir``, a
savepoint directory) can therefore run code in the task executors when a job restores from it:
that storage must be trusted as the cluster itself is. The job manager never unpickles anything
it reads from checkpoint storage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rayflink.checkpoint.storage import CheckpointStorage
from rayflink.errors import RayflinkError

METADATA = "_metadata"
FORMAT = "rayflink-checkpoint-metadata"
VERSION = 1

# field -> (accepted type, what it holds), checked on read
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "job_id": (str, "the id of the job that took it"),
    "checkpoint_id": (int, "the checkpoint id"),
    "timestamp": (int, "the trigger time in epoch milliseconds"),
    "savepoint": (bool, "whether it is a savepoint"),
    "operators": (dict, "operator uid -> [[storage uri, relpath], ...]"),
    "source_splits": (dict, "source uid -> [[split id, storage uri, relpath], ...]"),
    "shared": (list, "shared file paths"),
    "parallelism": (dict, "operator uid -> parallelism"),
    "max_parallelism": (dict, "operator uid -> max parallelism"),
}


class CheckpointMetadataError(RayflinkError):
    """A ``_metadata`` file cannot be used: not JSON, another format version, a missing or
    malformed field. ``path`` is its URI."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


def encode_metadata(metadata: Mapping[str, Any]) -> bytes:
    """``metadata`` (the fields above) as the bytes of a ``_metadata`` file, with its format version.

    >>> decode_metadata(encode_metadata({"job_id": "j", "checkpoint_id": 3, "timestamp": 0,
    ...     "savepoint": True, "operators": {}, "source_splits": {}, "shared": [],
    ...     "parallelism": {}, "max_parallelism": {}}), "mem")["checkpoint_id"]
    3
    """
    return json.dumps({"format": FORMAT, "version": VERSION, **metadata}, sort_keys=True).encode()


def decode_metadata(data: bytes, path: str) -> dict[str, Any]:
    """Parse and validate the bytes of the ``_metadata`` file at ``path`` (a URI, for errors).

    Raises :class:`CheckpointMetadataError` naming ``path`` and what is wrong."""
    def refuse(what: str, todo: str = "restore from another checkpoint or savepoint") -> CheckpointMetadataError:
        return CheckpointMetadataError(f"checkpoint metadata {path}: {what}; {todo}", path=path)

    if data[:1] == b"\x80":  # a pickle (protocol 2 and later): what rayflink wrote before version 1
        raise refuse("written by an older rayflink (pickled metadata, which this version does not read, "
                     "as reading it could run code)",
                     "take a new savepoint of the job with this rayflink version")
    try:
        metadata = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise refuse(f"not JSON ({exc}; it starts with {data[:40]!r}): the file is corrupt or not a "
                     "rayflink _metadata file") from None
    if not isinstance(metadata, dict):
        raise refuse(f"expected a JSON object, found {type(metadata).__name__}")
    if metadata.get("format") != FORMAT or "version" not in metadata:
        raise refuse(f"not a rayflink _metadata file (no \"format\": \"{FORMAT}\" with a \"version\")")
    if metadata["version"] != VERSION:
        raise refuse(f"format version {metadata['version']!r}, this rayflink reads version {VERSION}",
                     "restore it with the rayflink version that wrote it")
    for name, (kind, meaning) in _FIELDS.items():
        if name not in metadata:
            raise refuse(f"missing field {name!r} ({meaning})")
        value = metadata[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise refuse(f"field {name!r} must be {meaning}, found {type(value).__name__} {str(value)[:80]}")
    for uid, files in metadata["operators"].items():
        if not isinstance(files, list) or not all(_strings(f, 2) for f in files):
            raise refuse(f"operators[{uid!r}] must be [[storage uri, relpath], ...], found {str(files)[:80]}")
    for uid, splits in metadata["source_splits"].items():
        if not isinstance(splits, list) or not all(_strings(s, 3) for s in splits):
            raise refuse(f"source_splits[{uid!r}] must be [[split id, storage uri, relpath], ...], "
                         f"found {str(splits)[:80]}")
    return metadata


def _strings(value: Any, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value)


def read_metadata(path: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint's or savepoint's metadata from its directory (or its ``_metadata`` file).

    ``storage_options`` are the ``s3.*`` options to reach it (see ``storage_options``). Raises
    :class:`CheckpointMetadataError` (a missing or unreadable file, or bad contents), naming it.

    >>> read_metadata("file:///savepoints/sp-1")["operators"]  # doctest: +SKIP
    {'counts': [['file:///savepoints/sp-1', 'savepoint/task-2-0.state']]}
    """
    uri = path.rstrip("/")
    uri = uri[: -len(METADATA) - 1] if uri.endswith("/" + METADATA) else uri
    storage = CheckpointStorage.from_uri(uri, storage_options)
    where = storage.uri_of(METADATA)
    try:
        data = storage.read_bytes(METADATA)
    except Exception as exc:
        raise CheckpointMetadataError(f"cannot read checkpoint metadata {where}: {exc}; check the path "
                                      "(a savepoint or checkpoint directory, or its _metadata file)",
                                      path=where) from exc
    return decode_metadata(data, where)
