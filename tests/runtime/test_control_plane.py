"""The job manager under many jobs, lost processes and idle executors; errors as users see them."""

from __future__ import annotations

import pytest

from rayflink import testing
from rayflink.common import WatermarkStrategy
from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
from rayflink.datastream import StreamExecutionEnvironment
from rayflink.errors import RayflinkError, UnknownJobError


def unbounded(env: StreamExecutionEnvironment, per_second: float, name: str = "numbers"):
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(per_second))
    return env.from_source(source, WatermarkStrategy.no_watermarks(), name)


def env(parallelism: int = 1) -> StreamExecutionEnvironment:
    return testing.env(parallelism)


@pytest.mark.integration
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


@pytest.mark.integration
def test_collect_iterators_nobody_reads_do_not_stall_another_jobs_checkpoints(tmp_path):
    from rayflink.connectors.discarding import DiscardingSink

    # Given six jobs whose execute_and_collect iterators nobody reads (each fills its buffer at
    # the job manager, then its collect sinks wait),
    unread = [unbounded(env(2), 1_000_000, f"unread-{i}").execute_and_collect() for i in range(6)]
    try:
        for it in unread:  # every one of them is running, its buffer full or filling
            assert it.client.get_job_status() == "RUNNING"
        # when another job checkpoints every 100 ms while it runs for about 3 s,
        e = env(2)
        e.enable_checkpointing(100)
        e.get_checkpoint_config().set_checkpoint_storage_dir(f"file://{tmp_path}/chk")
        source = DataGeneratorSource(lambda i: i, 3_000, RateLimiterStrategy.per_second(1_000))
        e.from_source(source, WatermarkStrategy.no_watermarks(), "checkpointed").sink_to(DiscardingSink())
        client = e.execute_async("checkpointed")
        # then its checkpoints complete and it finishes, as if it ran alone.
        assert client.wait(120) == "FINISHED", client.get_status()
        completed = [c for c in client.get_checkpoint_history() if c["status"] == "COMPLETED"]
        assert len(completed) >= 3, client.get_checkpoint_history()
        assert client.get_status()["restarts"] == 0
        for it in unread:
            assert it.client.get_job_status() == "RUNNING"
    finally:
        for it in unread:
            it.close()


def jobs_on_executors(count: int) -> set[str]:
    """The ids of the jobs that have subtasks in the first ``count`` task executors."""
    import ray

    from rayflink.runtime.executor import task_executors

    return {job for info in ray.get([x.info.remote() for x in task_executors(count)]) for job in info["jobs"]}


@pytest.mark.integration
def test_executors_drop_the_subtasks_of_a_job_whose_job_manager_died():
    import ray

    from rayflink.connectors.discarding import DiscardingSink
    from rayflink.runtime.job_master import job_manager
    from rayflink.testing import collect
    from rayflink.testing.services import wait_until

    # Given a long job running in two task executors,
    e = env(2)
    unbounded(e, 100).map(lambda x: x + 1).sink_to(DiscardingSink())
    client = e.execute_async("orphaned")
    wait_until(lambda: client.job_id in jobs_on_executors(2), timeout=60, what="the job's subtasks to run")
    # when the job manager's process is killed,
    ray.kill(job_manager(), no_restart=True)
    # then the executors drop the job's subtasks within a few of their liveness checks,
    wait_until(lambda: client.job_id not in jobs_on_executors(2), timeout=60, interval=0.5,
               what="the executors to drop the orphaned subtasks")
    # and the next job runs, on a new job manager.
    assert sorted(collect(env(2).from_sequence(1, 100).map(lambda x: x * 2))) == [2 * i for i in range(1, 101)]


def executor_indices() -> set[int]:
    """The indices of the task executors that exist on the cluster."""
    import ray

    from rayflink.runtime.executor import NAMESPACE

    return {int(a["name"].rsplit("-", 1)[1]) for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == NAMESPACE and a["name"].startswith("task-executor-")}


@pytest.mark.integration
def test_executors_beyond_the_cpus_are_released_once_idle_and_started_again_when_needed():
    import psutil
    import ray

    from rayflink.runtime.executor import task_executors
    from rayflink.testing import collect
    from rayflink.testing.services import wait_until

    # Given a job whose parallelism is two more than the cluster's CPUs (slots are not CPUs),
    # with a short idle timeout for the executors it starts,
    warm = int(ray.cluster_resources()["CPU"])
    e = env(warm + 2)
    e.get_config().set_string("resourcemanager.taskmanager-timeout", "300 ms")
    assert sorted(collect(e.from_sequence(1, 200).map(lambda x: x + 1))) == list(range(2, 202))
    assert {warm, warm + 1} <= executor_indices()
    # when it has ended, then the executors beyond one per CPU are released after the timeout,
    wait_until(lambda: not executor_indices() & {warm, warm + 1}, timeout=60, interval=0.2,
               what="the idle executors beyond the CPUs to be released")
    assert set(range(warm)) <= executor_indices()  # those stay warm for the next job
    # An idle executor runs few threads (it had 113, 88 of them made for its concurrency groups).
    info = ray.get(task_executors(1)[0].info.remote())
    assert info["tasks"] == 0 and psutil.Process(info["pid"]).num_threads() <= 64
    # and a job that needs them again starts them again.
    e = env(warm + 2)
    assert sorted(collect(e.from_sequence(1, 200).map(lambda x: x * 3))) == [3 * i for i in range(1, 201)]
