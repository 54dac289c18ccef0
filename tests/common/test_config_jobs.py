"""Configuration reaching running jobs (integration: these start the local Ray)."""

from __future__ import annotations

import pytest

from rayflink.common import Configuration
from rayflink.common.restart_strategy import RestartStrategies
from rayflink.datastream import MapFunction, StreamExecutionEnvironment
from rayflink.errors import ConfigurationError
from rayflink.testing import collect

pytestmark = pytest.mark.integration  # every test here runs a job on Ray


def test_lower_case_batch_runs_the_job_in_batch_mode():
    # Given 'execution.runtime-mode: batch' (as a YAML file or -D writes it) and a keyed running sum,
    env = StreamExecutionEnvironment(Configuration({"execution.runtime-mode": "batch"}))
    stream = env.from_collection([1, 2, 3, 4]).key_by(lambda x: 0).reduce(lambda a, b: a + b)
    # then only the final sum comes out, as in BATCH (STREAMING would emit 1, 3, 6, 10).
    assert collect(stream) == [10]


def test_lower_case_exactly_once_reaches_the_job_master_and_its_tasks_as_exactly_once():
    from rayflink.runtime.high_availability import HighAvailabilityServices
    from rayflink.runtime.job_master import JobMaster

    env = StreamExecutionEnvironment(Configuration({"execution.checkpointing.mode": "exactly_once",
                                                    "execution.checkpointing.interval": "1 s"}))
    env.from_collection([1]).print()
    master = JobMaster("config-test", env.get_stream_graph("mode"), manager=None, pool=None,
                       ha=HighAvailabilityServices())
    assert master.config["execution.checkpointing.mode"] == "EXACTLY_ONCE"  # what every TaskDeployment carries
    assert master.config["execution.checkpointing.interval"] == 1000


def test_checkpointing_turned_on_by_configuration_alone_lets_a_bounded_job_finish(tmp_path):
    # Given checkpointing set through the configuration only (no state.checkpoints.dir),
    env = StreamExecutionEnvironment(Configuration({"execution.checkpointing.interval": "100 ms"}))
    stream = env.from_collection(list(range(100))).map(lambda x: x * 2)
    # then the job checkpoints to the default storage and finishes (it used to restart forever).
    assert sorted(collect(stream)) == [x * 2 for x in range(100)]


class NeedsAnOption(MapFunction):
    def open(self, runtime_context):
        raise ConfigurationError("connector option 'topic' is missing; set it with .topic(...)", key="topic")

    def map(self, value):
        return value


def test_a_configuration_error_inside_a_task_fails_the_job_at_once_without_restarting():
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 10))
    env.from_collection([1, 2]).map(NeedsAnOption()).print()
    client = env.execute_async("config-error")
    assert client.wait(120) == "FAILED"
    status = client.get_status()
    assert status["restarts"] == 0
    assert "connector option 'topic' is missing" in status["error"]["error"]
