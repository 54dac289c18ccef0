"""``CheckpointConfig``: how often and how checkpoints are taken, kept and tolerated to fail."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.errors import GraphBuildError

if TYPE_CHECKING:
    from rayflink.common.configuration import Configuration


class ExternalizedCheckpointCleanup(enum.Enum):
    """Whether a cancelled job's checkpoints are kept (to restore from) or deleted."""

    DELETE_ON_CANCELLATION = "DELETE_ON_CANCELLATION"
    RETAIN_ON_CANCELLATION = "RETAIN_ON_CANCELLATION"
    NO_EXTERNALIZED_CHECKPOINTS = "NO_EXTERNALIZED_CHECKPOINTS"


class CheckpointConfig:
    """PyFlink's ``CheckpointConfig``; every setting is a Flink option in the job's configuration.

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
        if checkpoint_interval < 10:
            raise GraphBuildError(f"checkpoint interval must be >= 10 ms, got {checkpoint_interval}")
        self._c.set_integer("execution.checkpointing.interval", checkpoint_interval)
        return self

    def get_checkpoint_interval(self) -> int:
        return self._c.get_integer("execution.checkpointing.interval", -1)

    def set_checkpointing_mode(self, checkpointing_mode: CheckpointingMode) -> "CheckpointConfig":
        self._c.set_string("execution.checkpointing.mode", CheckpointingMode(checkpointing_mode).value)
        return self

    def get_checkpointing_mode(self) -> CheckpointingMode:
        return CheckpointingMode(self._c.get_string("execution.checkpointing.mode", "EXACTLY_ONCE"))

    def set_min_pause_between_checkpoints(self, min_pause_between_checkpoints: int) -> "CheckpointConfig":
        if min_pause_between_checkpoints < 0:
            raise GraphBuildError(f"min pause must be >= 0 ms, got {min_pause_between_checkpoints}")
        self._c.set_integer("execution.checkpointing.min-pause", min_pause_between_checkpoints)
        return self

    def get_min_pause_between_checkpoints(self) -> int:
        return self._c.get_integer("execution.checkpointing.min-pause", 0)

    def set_checkpoint_timeout(self, checkpoint_timeout: int) -> "CheckpointConfig":
        if checkpoint_timeout < 1:
            raise GraphBuildError(f"checkpoint timeout must be >= 1 ms, got {checkpoint_timeout}")
        self._c.set_integer("execution.checkpointing.timeout", checkpoint_timeout)
        return self

    def get_checkpoint_timeout(self) -> int:
        return self._c.get_integer("execution.checkpointing.timeout", 600_000)

    def set_max_concurrent_checkpoints(self, max_concurrent_checkpoints: int) -> "CheckpointConfig":
        if max_concurrent_checkpoints < 1:
            raise GraphBuildError(f"max concurrent checkpoints must be >= 1, got {max_concurrent_checkpoints}")
        self._c.set_integer("execution.checkpointing.max-concurrent-checkpoints", max_concurrent_checkpoints)
        return self

    def get_max_concurrent_checkpoints(self) -> int:
        return self._c.get_integer("execution.checkpointing.max-concurrent-checkpoints", 1)

    def set_tolerable_checkpoint_failure_number(self, tolerable_checkpoint_failure_number: int) -> "CheckpointConfig":
        if tolerable_checkpoint_failure_number < 0:
            raise GraphBuildError("tolerable checkpoint failure number must be >= 0, "
                                  f"got {tolerable_checkpoint_failure_number}")
        self._c.set_integer("execution.checkpointing.tolerable-failed-checkpoints",
                            tolerable_checkpoint_failure_number)
        return self

    def get_tolerable_checkpoint_failure_number(self) -> int:
        return self._c.get_integer("execution.checkpointing.tolerable-failed-checkpoints", 0)

    def enable_externalized_checkpoints(self, cleanup_mode: ExternalizedCheckpointCleanup) -> "CheckpointConfig":
        return self.set_externalized_checkpoint_cleanup(cleanup_mode)

    def set_externalized_checkpoint_cleanup(self, cleanup_mode: ExternalizedCheckpointCleanup) -> "CheckpointConfig":
        self._c.set_string("execution.checkpointing.externalized-checkpoint-retention",
                           ExternalizedCheckpointCleanup(cleanup_mode).value)
        return self

    def get_externalized_checkpoint_cleanup(self) -> ExternalizedCheckpointCleanup:
        return ExternalizedCheckpointCleanup(self._c.get_string(
            "execution.checkpointing.externalized-checkpoint-retention", "DELETE_ON_CANCELLATION"))

    def set_checkpoint_storage(self, storage: str) -> "CheckpointConfig":
        """Where checkpoints go: ``file:///path`` or ``s3://bucket/prefix``."""
        return self.set_checkpoint_storage_dir(storage)

    def set_checkpoint_storage_dir(self, checkpoint_path: str) -> "CheckpointConfig":
        from rayflink.checkpoint.storage import CheckpointStorage

        CheckpointStorage.from_uri(checkpoint_path)  # refuses an unsupported scheme now, naming it
        self._c.set_string("state.checkpoints.dir", checkpoint_path)
        return self

    def get_checkpoint_storage_dir(self) -> str | None:
        return self._c.get_string("state.checkpoints.dir")

    def set_num_retained_checkpoints(self, num: int) -> "CheckpointConfig":
        if num < 1:
            raise GraphBuildError(f"retained checkpoints must be >= 1, got {num}")
        self._c.set_integer("state.checkpoints.num-retained", num)
        return self

    def get_num_retained_checkpoints(self) -> int:
        return self._c.get_integer("state.checkpoints.num-retained", 1)
