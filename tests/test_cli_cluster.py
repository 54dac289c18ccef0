"""The standing local cluster and the commands that find it from any shell: detached jobs, job
ids, logs, `ray job submit`/`ray job stop`, token authentication, and failing fast.

Every command runs as a process of its own, as an operator types them, against one standing
cluster recorded in a file of this module's own (RAYFLINK_CLUSTER_FILE), so neither the test
session's embedded Ray nor a colleague's cluster is touched; the cluster is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import psutil
import pytest

from rayflink.runtime.local_cluster import CLUSTER_FILE_ENV

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_ID = re.compile(r"Job has been submitted with JobID (\S+)")

SLOW_JOB = """
    from rayflink.common import WatermarkStrategy
    from rayflink.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.datastream import StreamExecutionEnvironment
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    source = DataGeneratorSource(lambda i: i, None, RateLimiterStrategy.per_second(20))
    env.from_source(source, WatermarkStrategy.no_watermarks(), "endless").map(lambda x: x).print()
    env.execute("endless")
"""


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The environment of an operator's shell on this machine: no RAY_ADDRESS, this module's
    cluster file; the standing cluster it may start is stopped at the end."""
    folder = tmp_path_factory.mktemp("standing")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    env[CLUSTER_FILE_ENV] = str(folder / "cluster.json")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["FOLDER"] = str(folder)
    yield env
    stopped = rayflink(env, "cluster", "stop", timeout=120)
    assert stopped.returncode == 0, stopped.stderr


def rayflink(env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rayflink.cli", *args], env=env, cwd=env["FOLDER"],
                          capture_output=True, text=True, timeout=timeout)


def script(env: dict, name: str, text: str) -> str:
    path = os.path.join(env["FOLDER"], name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text))
    return path


def status_of(env: dict, job_id: str) -> str | None:
    listed = rayflink(env, "list")
    assert listed.returncode == 0, listed.stderr
    return next((line.split()[1] for line in listed.stdout.splitlines() if line.startswith(job_id)), None)


def wait_for_status(env: dict, job_id: str, wanted: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (status := status_of(env, job_id)) != wanted:
        assert time.monotonic() < deadline, f"job {job_id} is {status}, not {wanted}"


def test_a_detached_job_outlives_its_client_and_every_shell_finds_it(shell):
    # Given no standing cluster yet,
    assert rayflink(shell, "cluster", "status").returncode == 1
    # when an endless job is run detached,
    run = rayflink(shell, "run", "-d", script(shell, "endless.py", SLOW_JOB))
    # then the command starts the standing cluster, submits the job, prints its id and returns,
    assert run.returncode == 0, run.stderr
    assert "Started the standing local cluster at 127.0.0.1:" in run.stdout
    job_id = JOB_ID.search(run.stdout)[1]
    # and the job keeps running after its client ended: `list` and `status` from other processes see it,
    assert status_of(shell, job_id) == "RUNNING"
    status = rayflink(shell, "status", job_id)
    assert status.returncode == 0 and f"job {job_id} 'endless': RUNNING" in status.stdout
    cluster = rayflink(shell, "cluster", "status")
    assert cluster.returncode == 0 and "jobs: 1 running" in cluster.stdout, cluster.stdout + cluster.stderr
    # and `cancel` ends it.
    assert rayflink(shell, "cancel", job_id).returncode == 0
    wait_for_status(shell, job_id, "CANCELED")


def test_the_standing_cluster_listens_on_loopback_only(shell):
    # Given the standing cluster (started here if the test runs alone),
    started = rayflink(shell, "cluster", "start")
    assert started.returncode == 0, started.stderr
    with open(shell[CLUSTER_FILE_ENV], encoding="utf-8") as f:
        owner = psutil.Process(json.load(f)["pid"])
    # then every socket its processes listen on is bound to loopback.
    tree = {p.pid for p in [owner, *owner.children(recursive=True)]}
    listening = [(c.pid, c.laddr.ip) for c in psutil.net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in tree]
    assert listening
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _pid, ip in listening), listening


def test_an_attached_run_prints_the_job_id_and_logs_name_job_task_and_subtask(shell):
    # Given a job whose map logs every record, run attached on the standing cluster,
    job = script(shell, "logging_job.py", """
        import logging
        from rayflink.datastream import StreamExecutionEnvironment
        log = logging.getLogger("teller")
        def tell(x):
            log.info("saw %s", x)
            return x
        env = StreamExecutionEnvironment.get_execution_environment()
        env.set_parallelism(2)
        env.from_collection(list(range(6))).map(tell).name("teller").print()
        env.execute("logging")
    """)
    assert rayflink(shell, "cluster", "start").returncode == 0
    run = rayflink(shell, "run", job)
    assert run.returncode == 0, run.stderr
    job_id = JOB_ID.search(run.stdout)[1]
    # when its logs are asked for,
    logs = rayflink(shell, "logs", job_id)
    assert logs.returncode == 0, logs.stderr
    # then each record's line names the job, the task and the subtask that logged it,
    said = {}
    for line in logs.stdout.splitlines():
        match = re.search(rf"\[job {job_id} \| task teller -> Print to Std. Out \((\d)/2\)\] teller: saw (\d)", line)
        if match:
            said[int(match[2])] = int(match[1])
    assert sorted(said) == [0, 1, 2, 3, 4, 5], logs.stdout
    assert set(said.values()) == {1, 2}  # both subtasks logged
    # and --task keeps the lines of the tasks so named.
    source = rayflink(shell, "logs", job_id, "--task", "Collection Source")
    assert source.returncode == 0 and source.stdout.strip(), source.stderr
    assert all(f"[job {job_id} | task Collection Source (1/1)]" in line for line in source.stdout.splitlines())
    unknown = rayflink(shell, "logs", "no-such-job")
    assert unknown.returncode == 1 and "no job 'no-such-job'" in unknown.stderr


def test_ray_job_submit_runs_a_job_and_ray_job_stop_cancels_it(shell):
    # Given a job script submitted with Ray's own job CLI to the standing cluster (token authentication on),
    assert rayflink(shell, "cluster", "start").returncode == 0
    with open(shell[CLUSTER_FILE_ENV], encoding="utf-8") as f:
        cluster = json.load(f)
    assert cluster["auth_mode"] == "token"
    ray_env = dict(shell, RAY_AUTH_MODE="token")
    before = set(rayflink(shell, "list").stdout.split())
    submit = subprocess.run(["ray", "job", "submit", "--address", cluster["dashboard_url"], "--no-wait", "--",
                             sys.executable, script(shell, "endless.py", SLOW_JOB)],
                            env=ray_env, capture_output=True, text=True, timeout=180)
    assert submit.returncode == 0, submit.stderr
    submission = re.search(r"Job '(raysubmit_\w+)' submitted successfully", submit.stdout + submit.stderr)[1]
    deadline = time.monotonic() + 180
    while not (new := [line.split()[0] for line in rayflink(shell, "list").stdout.splitlines()
                       if line.split()[0] not in before and " RUNNING " in line]):
        assert time.monotonic() < deadline, "the submitted job never ran"
    # when Ray's job CLI stops it,
    stop = subprocess.run(["ray", "job", "stop", "--address", cluster["dashboard_url"], submission],
                          env=ray_env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    # then the rayflink job it started is cancelled, not left running.
    wait_for_status(shell, new[0], "CANCELED")


def test_ray_address_reaches_a_token_cluster_without_ray_auth_mode(shell):
    # Given the standing cluster under token authentication, and a shell that knows only its address
    assert rayflink(shell, "cluster", "start").returncode == 0
    with open(shell[CLUSTER_FILE_ENV], encoding="utf-8") as f:
        cluster = json.load(f)
    elsewhere = dict(shell, RAY_ADDRESS=cluster["address"], **{CLUSTER_FILE_ENV: shell[CLUSTER_FILE_ENV] + ".none"})
    # when `rayflink list` runs there without RAY_AUTH_MODE,
    listed = rayflink(elsewhere, "list")
    # then it joins with the machine's Ray token instead of failing unauthenticated.
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr


def test_commands_fail_fast_with_one_line_when_no_cluster_answers(shell, tmp_path):
    nowhere = dict(shell, **{CLUSTER_FILE_ENV: str(tmp_path / "none.json")})
    cases = [
        (nowhere, "no rayflink cluster runs on this machine and RAY_ADDRESS is not set"),
        (dict(nowhere, RAY_ADDRESS="127.0.0.1:9"), "no Ray cluster answers at 127.0.0.1:9 (RAY_ADDRESS)"),
        (dict(nowhere, RAY_ADDRESS="nonsense"), "RAY_ADDRESS 'nonsense' is not host:port"),
    ]
    for i, (env, message) in enumerate(cases):
        commands = (["list"], ["status", "some-job"], ["cancel", "some-job"], ["logs", "some-job"])
        for command in commands if i == 0 else commands[:1]:
            # (a timeout of 60 s fails the old behaviour: Ray retried for minutes)
            result = rayflink(env, *command, timeout=60)
            assert result.returncode == 1
            assert result.stderr.startswith(f"rayflink {command[0]}: {message}"), result.stderr
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
