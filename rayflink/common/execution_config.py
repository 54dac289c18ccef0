"""PyFlink's ``ExecutionConfig``: ``env.get_config()``, a view of the job's Flink options.

It *is* the job's ``Configuration`` (``set_string``, ``get_integer``, ... work on it too), with
PyFlink's named setters on top, each writing Flink's option. Read by rayflink: parallelism,
max parallelism, the auto-watermark interval and the global job parameters (which
``RuntimeContext.get_job_parameter`` returns). Recorded only, as they tune the JVM or parts
rayflink does not have: closure cleaning, object reuse, latency tracking, task cancellation,
snapshot compression, auto-generated uids. Kryo, Avro-forcing, POJO and generic-type settings
are Java serialization and are not offered.

>>> env.get_config().set_global_job_parameters({"threshold": "10"})
>>> env.get_config().set_auto_watermark_interval(500)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rayflink.common import config_options as options
from rayflink.common.configuration import Configuration

__all__ = ["ExecutionConfig", "global_job_parameters"]

GLOBAL_JOB_PARAMETERS = "pipeline.global-job-parameters."  # one key per parameter, as Flink's YAML writes them


def global_job_parameters(config: Mapping[str, Any]) -> dict[str, str]:
    """The job parameters in a job's options (``pipeline.global-job-parameters.<name>: value``)."""
    n = len(GLOBAL_JOB_PARAMETERS)
    return {k[n:]: str(v) for k, v in config.items() if k.startswith(GLOBAL_JOB_PARAMETERS) and v is not None}


def _switch(key: str, default: bool) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., bool]]:
    """The ``enable_...``, ``disable_...`` and ``is_..._enabled`` methods of the boolean option ``key``."""

    def enable(self: ExecutionConfig) -> ExecutionConfig:
        return self._flag(key, True)

    def disable(self: ExecutionConfig) -> ExecutionConfig:
        return self._flag(key, False)

    def is_enabled(self: ExecutionConfig) -> bool:
        return self.get_boolean(key, default)

    return enable, disable, is_enabled


class ExecutionConfig(Configuration):
    """PyFlink's ``ExecutionConfig`` over the job's options (see the module docstring)."""

    PARALLELISM_DEFAULT = -1
    PARALLELISM_UNKNOWN = -2

    def _flag(self, key: str, value: bool) -> "ExecutionConfig":
        self.set_boolean(key, value)
        return self

    # ---- read by rayflink ---------------------------------------------------------------

    def set_parallelism(self, parallelism: int) -> "ExecutionConfig":
        """``parallelism.default`` (``PARALLELISM_DEFAULT`` removes the setting)."""
        if parallelism == self.PARALLELISM_DEFAULT:
            self.remove_config(options.PARALLELISM_DEFAULT.key)
        else:
            self.set(options.PARALLELISM_DEFAULT, parallelism)
        return self

    def get_parallelism(self) -> int:
        return self.get(options.PARALLELISM_DEFAULT)

    def set_max_parallelism(self, max_parallelism: int) -> "ExecutionConfig":
        """``pipeline.max-parallelism``: the number of key groups."""
        self.set(options.MAX_PARALLELISM, max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        return self.get(options.MAX_PARALLELISM)

    def set_auto_watermark_interval(self, interval: int) -> "ExecutionConfig":
        """``pipeline.auto-watermark-interval`` (ms): how often periodic watermarks are emitted."""
        self.set(options.AUTO_WATERMARK_INTERVAL, interval)
        return self

    def get_auto_watermark_interval(self) -> int:
        return self.get(options.AUTO_WATERMARK_INTERVAL)

    def set_global_job_parameters(self, global_job_parameters_dict: dict) -> "ExecutionConfig":
        """``pipeline.global-job-parameters.<name>``: what ``RuntimeContext.get_job_parameter(name)``
        returns in the job's functions (replaces the parameters set before)."""
        for key in [k for k in self._data if k.startswith(GLOBAL_JOB_PARAMETERS)]:
            del self._data[key]
        for name, value in dict(global_job_parameters_dict).items():
            self.set_string(GLOBAL_JOB_PARAMETERS + str(name), str(value))
        return self

    def get_global_job_parameters(self) -> dict[str, str]:
        return global_job_parameters(self._data)

    # ---- recorded (no effect in rayflink, see the module docstring) ----------------------

    # (enable, disable, is enabled) of a recorded switch: its key and its default
    enable_closure_cleaner, disable_closure_cleaner, is_closure_cleaner_enabled = _switch(
        "pipeline.closure-cleaner-level", True)
    enable_object_reuse, disable_object_reuse, is_object_reuse_enabled = _switch("pipeline.object-reuse", False)
    enable_auto_generated_uids, disable_auto_generated_uids, has_auto_generated_uids_enabled = _switch(
        "pipeline.auto-generate-uids", True)

    def set_latency_tracking_interval(self, interval: int) -> "ExecutionConfig":
        self.set_integer("metrics.latency.interval", interval)
        return self

    def get_latency_tracking_interval(self) -> int:
        return self.get_integer("metrics.latency.interval", 0)

    def set_task_cancellation_interval(self, interval: int) -> "ExecutionConfig":
        self.set_integer("task.cancellation.interval", interval)
        return self

    def get_task_cancellation_interval(self) -> int:
        return self.get_integer("task.cancellation.interval", 30_000)

    def set_task_cancellation_timeout(self, timeout: int) -> "ExecutionConfig":
        self.set_integer("task.cancellation.timeout", timeout)
        return self

    def get_task_cancellation_timeout(self) -> int:
        return self.get_integer("task.cancellation.timeout", 180_000)

    def set_use_snapshot_compression(self, use_snapshot_compression: bool) -> "ExecutionConfig":
        return self._flag("execution.checkpointing.snapshot-compression", use_snapshot_compression)

    def is_use_snapshot_compression(self) -> bool:
        return self.get_boolean("execution.checkpointing.snapshot-compression", False)
