"""``CheckpointConfig``: how often and how checkpoints are taken, kept and tolerated to fail."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from rayflink.common import config_options as options
from rayflink.common.time import Duration
from rayflink.datastream.checkpointing_mode import CheckpointingMode
from rayflink.datastream.window import to_millis
from rayflink.errors import GraphBuildError

if TYPE_CHECKING:
    from rayflink.common.configuration import Configuration


class ExternalizedCheckpointCleanup(enum.Enum):
    """Whether a cancelled job's checkpoints are kept (to restore from) or deleted."""

    DELETE_ON_CANCELLATION = "DELETE_ON_CANCELLATION"
    RETAIN_ON_CANCELLATION = "RETAIN_ON_CANCELLATION"
    NO_EXTERNALIZED_CHECKPOINTS = "NO_EXTERNALIZED_CHECKPOINTS"


ExternalizedCheckpointRetention = ExternalizedCheckpointCleanup  # PyFlink 2.x's name for the same enum

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

    def set_checkpoint_storage(self, storage: Any) -> "CheckpointConfig":
        """Where checkpoints go: ``file:///path``, ``s3://bucket/prefix`` or a ``CheckpointStorage``
        (``FileSystemCheckpointStorage(...)``, ``JobManagerCheckpointStorage()``)."""
        get_path = getattr(storage, "get_checkpoint_path", None)
        return self.set_checkpoint_storage_dir(get_path() if callable(get_path) else storage)

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

    def set_externalized_checkpoint_retention(self, retention: ExternalizedCheckpointCleanup) -> "CheckpointConfig":
        """PyFlink 2.x's name for ``set_externalized_checkpoint_cleanup``."""
        return self.set_externalized_checkpoint_cleanup(retention)

    def get_externalized_checkpoint_retention(self) -> ExternalizedCheckpointCleanup:
        return self.get_externalized_checkpoint_cleanup()

    def is_externalized_checkpoints_enabled(self) -> bool:
        """True unless the retention is ``NO_EXTERNALIZED_CHECKPOINTS``."""
        return self.get_externalized_checkpoint_cleanup() != ExternalizedCheckpointCleanup.NO_EXTERNALIZED_CHECKPOINTS

    def set_fail_on_checkpointing_errors(self, fail_on_checkpointing_errors: bool) -> "CheckpointConfig":
        """True: a failed checkpoint fails the job (0 tolerable failures); False: never."""
        return self.set_tolerable_checkpoint_failure_number(0 if fail_on_checkpointing_errors else 2**31 - 1)

    def is_fail_on_checkpointing_errors(self) -> bool:
        return self.get_tolerable_checkpoint_failure_number() == 0

    def enable_unaligned_checkpoints(self, enabled: bool = True) -> "CheckpointConfig":
        """Unaligned checkpoints (``execution.checkpointing.unaligned.enabled``, EXACTLY_ONCE only):
        a checkpoint's barriers overtake the records in flight, so a backpressured job checkpoints
        without waiting for them to drain; the records a barrier overtook are stored with the
        checkpoint and replayed on restore. Savepoints stay aligned. A job restores an unaligned
        checkpoint at the parallelism it was taken with.

        >>> env.get_checkpoint_config().enable_unaligned_checkpoints()
        """
        self._c.set(options.UNALIGNED_CHECKPOINTS, bool(enabled))
        return self

    def disable_unaligned_checkpoints(self) -> "CheckpointConfig":
        return self.enable_unaligned_checkpoints(False)

    def is_unaligned_checkpoints_enabled(self) -> bool:
        return self._c.get(options.UNALIGNED_CHECKPOINTS)

    def set_force_unaligned_checkpoints(self, force_unaligned_checkpoints: bool = True) -> "CheckpointConfig":
        """``execution.checkpointing.unaligned.forced``: Flink refuses unaligned checkpoints on some
        edges unless forced; rayflink allows them on every edge, so this changes nothing."""
        self._c.set(options.UNALIGNED_CHECKPOINTS_FORCED, bool(force_unaligned_checkpoints))
        return self

    def is_force_unaligned_checkpoints(self) -> bool:
        return self._c.get(options.UNALIGNED_CHECKPOINTS_FORCED)

    def set_aligned_checkpoint_timeout(self, alignment_timeout: Any) -> "CheckpointConfig":
        """With unaligned checkpoints enabled: start each checkpoint aligned, and take it unaligned
        where it is not aligned ``alignment_timeout`` (a Duration or ms) after it started
        (``execution.checkpointing.aligned-checkpoint-timeout``; 0, the default: always unaligned).

        >>> cfg.enable_unaligned_checkpoints().set_aligned_checkpoint_timeout(Duration.of_seconds(2))
        """
        ms = to_millis(alignment_timeout, "set_aligned_checkpoint_timeout")
        if ms < 0:
            raise GraphBuildError(f"set_aligned_checkpoint_timeout(): must be >= 0 ms, got {ms}")
        self._c.set(options.ALIGNED_CHECKPOINT_TIMEOUT, ms)
        return self

    def get_aligned_checkpoint_timeout(self) -> Duration:
        return Duration.of_millis(self._c.get(options.ALIGNED_CHECKPOINT_TIMEOUT))

    def set_alignment_timeout(self, alignment_timeout: Any) -> "CheckpointConfig":
        """The deprecated name of ``set_aligned_checkpoint_timeout``."""
        return self.set_aligned_checkpoint_timeout(alignment_timeout)

    def get_alignment_timeout(self) -> Duration:
        return self.get_aligned_checkpoint_timeout()
