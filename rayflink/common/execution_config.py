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

from rayflink.common.configuration import Configuration

__all__ = ["ExecutionConfig", "global_job_parameters"]

GLOBAL_JOB_PARAMETERS = "pipeline.global-job-parameters"


def global_job_parameters(options: dict) -> dict[str, str]:
    """The job parameters of a job's options: a dict, or Flink's ``k1:v1,k2:v2`` string."""
    raw = options.get(GLOBAL_JOB_PARAMETERS) or {}
    if isinstance(raw, str):
        pairs = (item.split(":", 1) for item in raw.split(",") if item.strip())
        return {k.strip(): v.strip() for k, v in pairs}
    return {str(k): str(v) for k, v in dict(raw).items()}


class ExecutionConfig(Configuration):
    """PyFlink's ``ExecutionConfig`` over the job's options (see the module docstring)."""

    PARALLELISM_DEFAULT = -1
    PARALLELISM_UNKNOWN = -2

    def _flag(self, key: str, value: bool) -> "ExecutionConfig":
        self.set_boolean(key, value)
        return self

    # ---- read by rayflink ---------------------------------------------------------------

    def set_parallelism(self, parallelism: int) -> "ExecutionConfig":
        """``parallelism.default``."""
        if parallelism < 1 and parallelism != self.PARALLELISM_DEFAULT:
            raise ValueError(f"ExecutionConfig.set_parallelism({parallelism}): must be >= 1 or PARALLELISM_DEFAULT")
        if parallelism == self.PARALLELISM_DEFAULT:
            self.remove_config("parallelism.default")
        else:
            self.set_integer("parallelism.default", parallelism)
        return self

    def get_parallelism(self) -> int:
        return self.get_integer("parallelism.default", 1)

    def set_max_parallelism(self, max_parallelism: int) -> "ExecutionConfig":
        """``pipeline.max-parallelism``: the number of key groups."""
        if not 1 <= max_parallelism <= 32768:
            raise ValueError(f"ExecutionConfig.set_max_parallelism({max_parallelism}): must be in 1..32768")
        self.set_integer("pipeline.max-parallelism", max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        return self.get_integer("pipeline.max-parallelism", 128)

    def set_auto_watermark_interval(self, interval: int) -> "ExecutionConfig":
        """``pipeline.auto-watermark-interval`` (ms): how often periodic watermarks are emitted."""
        if interval < 0:
            raise ValueError(f"ExecutionConfig.set_auto_watermark_interval({interval}): must be >= 0 ms")
        self.set_integer("pipeline.auto-watermark-interval", interval)
        return self

    def get_auto_watermark_interval(self) -> int:
        return self.get_integer("pipeline.auto-watermark-interval", 200)

    def set_global_job_parameters(self, global_job_parameters_dict: dict) -> "ExecutionConfig":
        """``pipeline.global-job-parameters``: what ``RuntimeContext.get_job_parameter(key)`` returns."""
        self._data[GLOBAL_JOB_PARAMETERS] = {str(k): str(v) for k, v in dict(global_job_parameters_dict).items()}
        return self

    def get_global_job_parameters(self) -> dict[str, str]:
        return global_job_parameters(self._data)

    # ---- recorded (no effect in rayflink, see the module docstring) ----------------------

    def enable_closure_cleaner(self) -> "ExecutionConfig":
        return self._flag("pipeline.closure-cleaner-level", True)

    def disable_closure_cleaner(self) -> "ExecutionConfig":
        return self._flag("pipeline.closure-cleaner-level", False)

    def is_closure_cleaner_enabled(self) -> bool:
        return self.get_boolean("pipeline.closure-cleaner-level", True)

    def enable_object_reuse(self) -> "ExecutionConfig":
        return self._flag("pipeline.object-reuse", True)

    def disable_object_reuse(self) -> "ExecutionConfig":
        return self._flag("pipeline.object-reuse", False)

    def is_object_reuse_enabled(self) -> bool:
        return self.get_boolean("pipeline.object-reuse", False)

    def enable_auto_generated_uids(self) -> "ExecutionConfig":
        return self._flag("pipeline.auto-generate-uids", True)

    def disable_auto_generated_uids(self) -> "ExecutionConfig":
        return self._flag("pipeline.auto-generate-uids", False)

    def has_auto_generated_uids_enabled(self) -> bool:
        return self.get_boolean("pipeline.auto-generate-uids", True)

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
