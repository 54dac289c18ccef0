"""The job manager under many jobs, lost processes and idle executors; errors as users see them."""

from __future__ import annotations

import pytest

from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.common import WatermarkStrategy
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.errors import RayflinkError, UnknownJobError


def unbounded(env: StreamExecutionEnvironment, per_second: float, name: str = "numbers"):
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(per_second))
    return env.from_source(source, WatermarkStrategy.no_watermarks(), name)


def env(parallelism: int = 1) -> StreamExecutionEnvironment:
    e = StreamExecutionEnvironment.get_execution_environment()
    e.set_parallelism(parallelism)
    return e


def test_job_manager_errors_reach_the_client_as_rayflink_errors_with_their_own_message():
    from rayflink.runtime.client import JobClient
    from rayflink.runtime.job_master import job_manager

    # Given a running job and a client for a job id that does not exist,
    e = env(1)
    unbounded(e, 100).print()
    client = e.execute_async("errors")
    try:
        # when the job manager refuses a request,
        with pytest.raises(RayflinkError) as bad_rescale:
            client.rescale(0)
        # then the client raises rayflink's own error, with its message alone (no Ray traceback, no colours),
        assert type(bad_rescale.value) is RayflinkError
        assert str(bad_rescale.value).startswith("rescale: parallelism 0 for")
        assert "Traceback" not in str(bad_rescale.value) and "\x1b[" not in str(bad_rescale.value)
    finally:
        client.cancel()
    with pytest.raises(UnknownJobError) as unknown:
        JobClient("no-such-job", "ghost", job_manager()).get_status()
    assert type(unknown.value) is UnknownJobError
    assert str(unknown.value).startswith("no job 'no-such-job' on this cluster")
    assert "Traceback" not in str(unknown.value) and "\x1b[" not in str(unknown.value)
