"""PyFlink's ``pyflink.datastream.checkpoint_storage``: where checkpoints go, as objects.

``CheckpointConfig.set_checkpoint_storage`` takes one of these or a URI string; both become
``state.checkpoints.dir`` (``file://`` or ``s3://``, see ``rayflink.checkpoint.storage``).

>>> env.get_checkpoint_config().set_checkpoint_storage(FileSystemCheckpointStorage("file:///data/ckpt"))
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod

from rayflink.errors import GraphBuildError

__all__ = ["CheckpointStorage", "FileSystemCheckpointStorage", "JobManagerCheckpointStorage"]


class CheckpointStorage(ABC):
    """Base of the checkpoint storage configurations."""

    @abstractmethod
    def get_checkpoint_path(self) -> str | None:
        """The URI checkpoints are written under."""

    def get_savepoint_path(self) -> str | None:
        """The default savepoint URI (None: savepoints need a path when triggered)."""
        return None


class FileSystemCheckpointStorage(CheckpointStorage):
    """Checkpoints as files under ``checkpoint_path`` (``file:///...``, a plain path or ``s3://...``).

    ``file_state_size_threshold`` and ``write_buffer_size`` are Flink's tuning of small state
    inlined into metadata; rayflink records them (every snapshot is its own file).
    """

    MAX_FILE_STATE_THRESHOLD = 1024 * 1024

    def __init__(self, checkpoint_path: str, file_state_size_threshold: int | None = None,
                 write_buffer_size: int = -1) -> None:
        if not isinstance(checkpoint_path, str) or not checkpoint_path:
            raise GraphBuildError(f"FileSystemCheckpointStorage({checkpoint_path!r:.80}): expected a URI string, "
                                  "e.g. 'file:///data/checkpoints' or 's3://bucket/checkpoints'")
        threshold = 20 * 1024 if file_state_size_threshold is None else int(file_state_size_threshold)
        if not 0 <= threshold <= self.MAX_FILE_STATE_THRESHOLD:
            raise GraphBuildError(f"FileSystemCheckpointStorage: file_state_size_threshold must be in "
                                  f"0..{self.MAX_FILE_STATE_THRESHOLD}, got {threshold}")
        self._path = checkpoint_path
        self._threshold = threshold
        self._write_buffer_size = int(write_buffer_size)

    def get_checkpoint_path(self) -> str:
        return self._path

    def get_min_file_size_threshold(self) -> int:
        return self._threshold

    def get_write_buffer_size(self) -> int:
        return self._write_buffer_size if self._write_buffer_size >= 0 else 4096

    def __repr__(self) -> str:
        return f"FileSystemCheckpointStorage({self._path!r})"


class JobManagerCheckpointStorage(CheckpointStorage):
    """Flink keeps these checkpoints in the JobManager's memory. rayflink has no in-memory
    checkpoint storage: they go to ``checkpoint_path`` when given, else to the local default
    directory (``<tmp>/rayflink-checkpoints``); ``max_state_size`` is recorded, not enforced."""

    DEFAULT_MAX_STATE_SIZE = 5 * 1024 * 1024

    def __init__(self, checkpoint_path: str | None = None, max_state_size: int | None = None) -> None:
        self._path = checkpoint_path
        self._max_state_size = self.DEFAULT_MAX_STATE_SIZE if max_state_size is None else int(max_state_size)
        if self._max_state_size <= 0:
            raise GraphBuildError(f"JobManagerCheckpointStorage: max_state_size must be > 0, got {max_state_size}")

    def get_checkpoint_path(self) -> str:
        return self._path or "file://" + os.path.join(tempfile.gettempdir(), "rayflink-checkpoints")

    def get_max_state_size(self) -> int:
        return self._max_state_size
