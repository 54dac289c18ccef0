"""High availability: a job manager killed mid-job is restarted by Ray and recovers its jobs."""

from __future__ import annotations

import ast
import os
import time

import pytest

from rayflink import testing
from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.connectors.discarding import DiscardingSink
from rayflink.datastream.connectors.file_system import Encoder, FileSink
from rayflink.datastream.state_backend import HashMapStateBackend
from rayflink.errors import JobExecutionError, UnknownJobError
from rayflink.testing.exactly_once import compare, completed_checkpoints, counting_job
from rayflink.testing.services import wait_until
from tests.runtime.test_control_plane import jobs_on_executors

pytestmark = pytest.mark.integration

RECOVERY_BOUND_S = 10.0  # the bar; asserted loosely (x3) as a loaded 2-core machine must not decide the test


def finished_lines(directory) -> list:
    """The records in the finished (committed) part files of a FileSink."""
    return [ast.literal_eval(line) for name in sorted(os.listdir(directory)) if not name.startswith(".")
            for line in (directory / name).read_text().splitlines()]


def test_a_killed_job_manager_recovers_its_job_from_the_latest_checkpoint_exactly_once(tmp_path):
    import ray

    from rayflink.runtime.job_master import job_manager

    # Given the counting job (a record's n-th occurrence of its key, so any loss or duplicate
    # shows) writing to an exactly-once FileSink, checkpointing every 300 ms,
    records = 24_000
    out = tmp_path / "out"
    counts = counting_job(f"file://{tmp_path}/checkpoints", records, 3_000, HashMapStateBackend())
    counts.map(str).sink_to(FileSink.for_row_format(str(out), Encoder.simple_string_encoder()).build())
    client = counts.get_execution_environment().execute_async("survives its job manager")
    # a job that collects its records through the job manager, and one that is not kept (no checkpoints),
    collected = counting_job(f"file://{tmp_path}/collected", 10**9, 100, HashMapStateBackend()).execute_and_collect()
    not_kept = testing.env(2)
    not_kept.from_source(DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(100)),
                         WatermarkStrategy.no_watermarks(), "unbounded").sink_to(DiscardingSink())
    not_kept_client = not_kept.execute_async("not kept")
    wait_until(lambda: completed_checkpoints(client) >= 3 and completed_checkpoints(collected.client) >= 1,
               timeout=120, what="checkpoints of both jobs")
    assert not_kept_client.job_id in jobs_on_executors(2)
    attempt = client.get_status()["attempt"]
    # when the job manager's actor is killed mid-job (Ray restarts it),
    killed_at = time.time()
    ray.kill(job_manager(), no_restart=False)
    # then the same client sees the job running again, from a new attempt, within seconds,
    status = wait_until(lambda: (s := client.get_status())["status"] == "RUNNING" and s["attempt"] > attempt and s,
                        timeout=120, what="the job to run again")
    recovery = status["failovers"][-1]
    assert recovery["cause"] == "job manager restart" and recovery["checkpoint_id"] >= 3, recovery
    assert "job manager died" in status["failures"][-1]  # what `rayflink status` and the REST API show
    recovered_in = recovery["running_at"] - killed_at
    print(f"job manager killed -> job running again: {recovered_in:.2f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    assert recovered_in < 3 * RECOVERY_BOUND_S, recovery
    # and it ends with every record written exactly once;
    assert client.wait(180) == "FINISHED", client.get_status()
    missing, duplicated = compare(finished_lines(out), records)
    assert duplicated == {}, "records written twice"
    assert missing == {}, "records lost"
    # the collecting job, whose buffered records died with the job manager, fails saying so;
    with pytest.raises(JobExecutionError, match="execute_and_collect"):
        list(collected)
    # and the job that was not kept is gone, its subtasks too.
    with pytest.raises(UnknownJobError):
        not_kept_client.get_status()
    wait_until(lambda: not_kept_client.job_id not in jobs_on_executors(2), timeout=60,
               what="the subtasks of the job not kept to be dropped")
