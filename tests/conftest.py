"""Shared fixtures: one local Ray for the whole session (started by the first job), real services."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from services import *  # noqa: E402,F401,F403 - the kafka_broker and s3_endpoint fixtures


@pytest.fixture(scope="session", autouse=True)
def _ray_shutdown_at_end():
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def checkpointed_env(parallelism: int, checkpoint_dir, savepoint: str | None = None):
    """An environment checkpointing every 100 ms into ``checkpoint_dir``, resuming from
    ``savepoint`` when given (whose collect sink's state a new job cannot claim)."""
    from rayflink.datastream import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.enable_checkpointing(100)
    env.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{checkpoint_dir}")
    if savepoint:
        env.get_config().set_string("execution.savepoint.path", savepoint)
        env.get_config().set_string("execution.savepoint.ignore-unclaimed-state", "true")
    return env


def collect(stream) -> list:
    """Run the job of ``stream`` and return every record it produced."""
    with stream.execute_and_collect() as results:
        return list(results)
