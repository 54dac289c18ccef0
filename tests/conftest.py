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


def collect(stream) -> list:
    """Run the job of ``stream`` and return every record it produced."""
    with stream.execute_and_collect() as results:
        return list(results)
