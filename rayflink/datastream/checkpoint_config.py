"""``CheckpointConfig``: how often and how checkpoints are taken, kept and tolerated to fail."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from rayflink.common import config_options as options
from rayflink.datastream.checkpointing_mode import CheckpointingMode

if TYPE_CHECKING:
    from rayflink.common.configuration import Configuration


class ExternalizedCheckpointCleanup(enum.Enum):
    """Whether a cancelled job's checkpoints are kept (to restore from) or deleted."""

    DELETE_ON_CANCELLATION = "DELETE_ON_CANCELLATION"
    RETAIN_ON_CANCELLATION = "RETAIN_ON_CANCELLATION"
    NO_EXTERNALIZED_CHECKPOINTS = "NO_EXTERNALIZED_CHECKPOINTS"


class CheckpointConfig:
    """PyFlink's ``CheckpointConfig``; every setting is a Flink option in the job's configuration,
    checked when set (a ``ConfigurationError`` names the option and the accepted values). Times are
    milliseconds, or any Flink duration (``"10 s"``, ``Duration.of_seconds(10)``).

    >>> env.enable_checkpointing(60_000, CheckpointingMode.EXACTLY_ONCE)
    >>> cfg = env.get_checkpoint_config()
    >>> cfg.set_min_pause_between_checkpoints(30_000)
    >>> cfg.set_checkpoint_storage_dir("s3://bucket/checkpoints")
    """

    def __init__(self, configuration: "Configuration") -> None:
        self._c = configuration

    def is_checkpointing_enabled(self) -> bool:
        return self.get_checkpoint_interval() > 0

    def set_checkpoint_interval(self, checkpoint_interval: int) -> "CheckpointConfig":
        """Take a checkpoint every ``checkpoint_interval`` ms (at least 10)."""
        self._c.set(options.CHECKPOINTING_INTERVAL, checkpoint_interval)
        return self

    def get_checkpoint_interval(self) -> int:
        """The checkpoint interval in ms; -1 when checkpointing is off."""
        interval = self._c.get(options.CHECKPOINTING_INTERVAL)
        return -1 if interval is None or interval <= 0 else interval

    def set_checkpointing_mode(self, checkpointing_mode: CheckpointingMode) -> "CheckpointConfig":
        self._c.set(options.CHECKPOINTING_MODE, checkpointing_mode)
        return self

    def get_checkpointing_mode(self) -> CheckpointingMode:
        return CheckpointingMode(self._c.get(options.CHECKPOINTING_MODE))

    def set_min_pause_between_checkpoints(self, min_pause_between_checkpoints: int) -> "CheckpointConfig":
        self._c.set(options.CHECKPOINTING_MIN_PAUSE, min_pause_between_checkpoints)
        return self

    def get_min_pause_between_checkpoints(self) -> int:
        return self._c.get(options.CHECKPOINTING_MIN_PAUSE)

    def set_checkpoint_timeout(self, checkpoint_timeout: int) -> "CheckpointConfig":
        self._c.set(options.CHECKPOINTING_TIMEOUT, checkpoint_timeout)
        return self

    def get_checkpoint_timeout(self) -> int:
        return self._c.get(options.CHECKPOINTING_TIMEOUT)

    def set_max_concurrent_checkpoints(self, max_concurrent_checkpoints: int) -> "CheckpointConfig":
        self._c.set(options.MAX_CONCURRENT_CHECKPOINTS, max_concurrent_checkpoints)
        return self

    def get_max_concurrent_checkpoints(self) -> int:
        return self._c.get(options.MAX_CONCURRENT_CHECKPOINTS)

    def set_tolerable_checkpoint_failure_number(self, tolerable_checkpoint_failure_number: int) -> "CheckpointConfig":
        self._c.set(options.TOLERABLE_FAILED_CHECKPOINTS, tolerable_checkpoint_failure_number)
        return self

    def get_tolerable_checkpoint_failure_number(self) -> int:
        return self._c.get(options.TOLERABLE_FAILED_CHECKPOINTS)

    def enable_externalized_checkpoints(self, cleanup_mode: ExternalizedCheckpointCleanup) -> "CheckpointConfig":
        return self.set_externalized_checkpoint_cleanup(cleanup_mode)

    def set_externalized_checkpoint_cleanup(self, cleanup_mode: ExternalizedCheckpointCleanup) -> "CheckpointConfig":
        self._c.set(options.EXTERNALIZED_CHECKPOINT_RETENTION, cleanup_mode)
        return self

    def get_externalized_checkpoint_cleanup(self) -> ExternalizedCheckpointCleanup:
        return ExternalizedCheckpointCleanup(self._c.get(options.EXTERNALIZED_CHECKPOINT_RETENTION))

    def set_checkpoint_storage(self, storage: str) -> "CheckpointConfig":
        """Where checkpoints go: ``file:///path`` or ``s3://bucket/prefix``."""
        return self.set_checkpoint_storage_dir(storage)

    def set_checkpoint_storage_dir(self, checkpoint_path: str) -> "CheckpointConfig":
        from rayflink.checkpoint.storage import CheckpointStorage

        CheckpointStorage.from_uri(checkpoint_path)  # refuses an unsupported scheme now, naming it
        self._c.set(options.CHECKPOINTS_DIRECTORY, checkpoint_path)
        return self

    def get_checkpoint_storage_dir(self) -> str | None:
        return self._c.get(options.CHECKPOINTS_DIRECTORY)

    def set_num_retained_checkpoints(self, num: int) -> "CheckpointConfig":
        self._c.set(options.CHECKPOINTS_NUM_RETAINED, num)
        return self

    def get_num_retained_checkpoints(self) -> int:
        return self._c.get(options.CHECKPOINTS_NUM_RETAINED)
