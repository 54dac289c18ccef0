"""PyFlink's ``pyflink.common``: types, rows, time, configuration, serialization, watermark strategies."""

from typing import Any

from rayflink.common.config_options import ConfigOption, ConfigOptions
from rayflink.common.configuration import Configuration
from rayflink.common.execution_config import ExecutionConfig
from rayflink.common.input_dependency_constraint import InputDependencyConstraint
from rayflink.common.job_id import JobID
from rayflink.common.job_status import JobStatus
from rayflink.common.restart_strategy import RestartStrategies, RestartStrategyConfiguration
from rayflink.common.serialization import (
    ByteArraySchema,
    DeserializationSchema,
    Encoder,
    SerializationSchema,
    SimpleStringSchema,
)
from rayflink.common.serializer import TypeSerializer
from rayflink.common.time import Duration, Instant, Time
from rayflink.common.typeinfo import TypeInformation, Types
from rayflink.common.types import Row, RowKind
from rayflink.common.watermark import Watermark
from rayflink.common.watermark_strategy import TimestampAssigner, WatermarkGenerator, WatermarkStrategy

__all__ = [
    "ByteArraySchema", "ConfigOption", "ConfigOptions", "Configuration", "DeserializationSchema", "Duration",
    "Encoder", "ExecutionConfig", "InputDependencyConstraint", "Instant", "JobClient", "JobExecutionResult",
    "JobID", "JobStatus", "RestartStrategies", "RestartStrategyConfiguration", "Row", "RowKind",
    "SerializationSchema", "SimpleStringSchema", "Time", "TimestampAssigner", "TypeInformation",
    "TypeSerializer", "Types", "Watermark", "WatermarkGenerator", "WatermarkStrategy",
]


def __getattr__(name: str) -> Any:
    """``JobClient`` and ``JobExecutionResult`` live in the runtime (they talk to Ray): imported on use."""
    if name in ("JobClient", "JobExecutionResult"):
        from rayflink.runtime import client

        return getattr(client, name)
    raise AttributeError(f"module 'rayflink.common' has no attribute {name!r}")
