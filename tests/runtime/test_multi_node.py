"""Ray clusters of several nodes on this machine (``ray start``): subtasks spread over the nodes,
a job that loses a node (its raylet SIGKILLed) recovers on the others, and with Ray's GCS fault
tolerance (Redis) a job outlives its head node; exactly once each time.

The cluster is the test's own (a temp dir, free ports): the job runs in a driver process of its
own with ``RAY_ADDRESS`` pointing at it, never in the session's shared Ray.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from rayflink.testing.exactly_once import compare
from rayflink.testing.services import wait_until

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
          "metrics-export-port", "runtime-env-agent-port")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class LocalCluster:
    """Ray nodes started with ``ray start`` in ``temp_dir``, on free ports; ``stop`` kills their
    processes (found by ``temp_dir``, and their children) by pid, never another Ray's. The head
    is started with ``head_env`` (Ray's GCS fault tolerance, say)."""

    def __init__(self, temp_dir: str, head_env: dict[str, str] | None = None) -> None:
        self.temp_dir = temp_dir
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        self.head_env = head_env or {}
        self.worker_raylet_ports: list[int] = []
        # Ray 2.60 turns token authentication on: nodes joining and drivers say so (the token is the machine's)
        self.env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "token",
                    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def start(self, workers: int) -> None:
        self.start_head()
        for _ in range(workers):
            self.worker_raylet_ports.append(self._ray_start(f"--address={self.address}"))

    def start_head(self) -> None:
        self._ray_start("--head", f"--port={self.port}", "--include-dashboard=false",
                        f"--ray-client-server-port={free_ports(1)[0]}", f"--dashboard-port={free_ports(1)[0]}",
                        env=self.head_env)

    def _ray_start(self, *args: str, env: dict[str, str] | None = None) -> int:
        """Start a node; its raylet's port."""
        ports = free_ports(len(_PORTS))
        started = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "start", *args,
                                  *(f"--{name}={port}" for name, port in zip(_PORTS, ports, strict=True)),
                                  "--node-ip-address=127.0.0.1", f"--temp-dir={self.temp_dir}", "--num-cpus=1",
                                  "--disable-usage-stats"],
                                 env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
        return ports[0]

    def run(self, script: str, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
        """Run ``script`` as a driver of this cluster."""
        return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT,
                              env={**self.env, "RAY_ADDRESS": self.address}, capture_output=True, text=True,
                              timeout=timeout)

    def kill_head(self) -> None:
        """SIGKILL the head node: every process of the cluster but the worker nodes' raylets
        (with their workers and agents)."""
        workers = [p for p in self._processes() if p.info["name"] == "raylet" and any(
            f"--node_manager_port={port}" in p.info["cmdline"] for port in self.worker_raylet_ports)]
        keep = {p.pid for p in workers} | {c.pid for p in workers for c in _children(p)}
        _kill([p for p in self._processes() if p.pid not in keep])
        # and the address file it left: `ray start --head` refuses an address a file and a live raylet name
        os.remove(os.path.join(self.temp_dir, "ray_current_cluster"))

    def stop(self) -> None:
        _kill(self._processes())

    def _processes(self) -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["name", "cmdline"])
                if self.temp_dir in " ".join(p.info["cmdline"] or ())]


def _kill(processes: list[psutil.Process]) -> None:
    """SIGKILL ``processes`` and their children, and wait until they are gone."""
    every = processes + [child for p in processes for child in _children(p)]
    for process in every:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(every, timeout=30)


def _children(p: psutil.Process) -> list[psutil.Process]:
    try:
        return p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@contextmanager
def local_cluster(workers: int, head_env: dict[str, str] | None = None) -> Iterator[LocalCluster]:
    # a short temp dir: Ray's socket paths under it must stay within the 107 bytes a Unix socket path may have
    temp_dir = tempfile.mkdtemp(prefix="rf-nodes-", dir="/tmp")
    cluster = LocalCluster(temp_dir, head_env)
    try:
        cluster.start(workers)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


# the counting job (a record's n-th occurrence of its key, so any loss or duplicate shows) at
# parallelism 2, checkpointing every 300 ms into an exactly-once FileSink, under the default restart
# strategy (fixed delay, 1 s, no limit); running, three checkpoints completed
START_JOB = """
    import json, sys, time
    import psutil, ray
    from rayflink.common import WatermarkStrategy
    from rayflink.datastream import StreamExecutionEnvironment
    from rayflink.datastream.connectors.datagen import DataGeneratorSource, RateLimiterStrategy
    from rayflink.datastream.connectors.file_system import Encoder, FileSink
    from rayflink.testing.exactly_once import CountPerKey, completed_checkpoints
    from rayflink.testing.services import wait_until

    out, checkpoints, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.enable_checkpointing(300)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoints)
    source = DataGeneratorSource(lambda i: i, records, RateLimiterStrategy.per_second(2_000))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
     .key_by(lambda v: v % 97).process(CountPerKey()).uid("count-per-key").map(str)
     .sink_to(FileSink.for_row_format(out, Encoder.simple_string_encoder()).build()))
    client = env.execute_async("multi-node")
    wait_until(lambda: completed_checkpoints(client) >= 3, timeout=120, what="3 checkpoints")
"""

LOSES_A_NODE = START_JOB + """
    def executor_nodes():
        return [ray.get(ray.get_actor(f"task-executor-{i}", namespace="rayflink").info.remote())["node_id"]
                for i in range(2)]

    before = executor_nodes()
    # the node of a subtask's executor, not this driver's node (that would end this process)
    victim = next(n for n in before if n != ray.get_runtime_context().get_node_id())
    port = next(n["NodeManagerPort"] for n in ray.nodes() if n["NodeID"] == victim)
    raylet = next(p for p in psutil.process_iter(["name", "cmdline"])
                  if p.info["name"] == "raylet" and f"--node_manager_port={port}" in p.info["cmdline"])
    killed_at = time.time()
    raylet.kill()  # SIGKILL
    client.wait(300)
    print(json.dumps({"before": before, "victim": victim, "after": executor_nodes(), "killed_at": killed_at,
                      "status": client.get_status(), "alive": [n["NodeID"] for n in ray.nodes() if n["Alive"]]}))
"""


def assert_exactly_once(out, records: int) -> None:
    lines = [ast.literal_eval(line) for name in sorted(os.listdir(out)) if not name.startswith(".")
             for line in (out / name).read_text().splitlines()]
    missing, duplicated = compare(lines, records)
    assert duplicated == {}, "records written twice"
    assert missing == {}, "records lost"


def test_subtasks_spread_over_the_nodes_and_a_job_that_loses_a_node_recovers_exactly_once(tmp_path):
    # Given the counting job on a cluster of three nodes,
    records = 30_000
    out = tmp_path / "out"
    with local_cluster(workers=2) as cluster:
        # when the node of one of its subtasks loses its raylet (SIGKILL) mid-job,
        result = cluster.run(LOSES_A_NODE, str(out), f"file://{tmp_path}/checkpoints", str(records))
    assert result.returncode == 0, result.stderr[-5000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    # then its two subtasks ran on two nodes, and after the loss on two of the nodes left,
    assert len(set(run["before"])) == 2, run
    assert len(set(run["after"])) == 2 and set(run["after"]) <= set(run["alive"]), run
    assert run["victim"] not in run["alive"]
    # the job finished after restarting (as often as Ray took to declare the node dead, without
    # using up its restarts),
    status = run["status"]
    assert status["status"] == "FINISHED", status
    assert status["restarts"] >= 1, status
    print(f"node lost -> job running again: {status['failovers'][0]['running_at'] - run['killed_at']:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    # and every record was written exactly once.
    assert_exactly_once(out, records)


@pytest.fixture
def redis_address() -> Iterator[str]:
    """A Redis server of this test's own (Ray's GCS keeps its state there)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_ports(1)[0]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, timeout=30,
                   what="redis-server to listen")
        yield f"127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


SUBMITS_AND_LEAVES = START_JOB + """
    print(json.dumps({"job_id": client.job_id}))
"""

WAITS_FOR_THE_JOB = """
    import json, sys
    from rayflink.runtime.client import JobClient
    from rayflink.runtime.cluster import ensure_ray
    from rayflink.runtime.job_master import job_manager

    ensure_ray()
    client = JobClient(sys.argv[1], "multi-node", job_manager())
    client.wait(300)
    print(json.dumps(client.get_status()))
"""


def test_with_gcs_fault_tolerance_a_job_outlives_its_head_node(tmp_path, redis_address):
    # Given a cluster of two nodes whose head keeps Ray's GCS state in Redis (GCS fault
    # tolerance), and the counting job running on it, left there by its client,
    records = 30_000
    out = tmp_path / "out"
    head_env = {"RAY_REDIS_ADDRESS": redis_address, "RAY_external_storage_namespace": "rayflink-test"}
    with local_cluster(workers=1, head_env=head_env) as cluster:
        submitted = cluster.run(SUBMITS_AND_LEAVES, str(out), f"file://{tmp_path}/checkpoints", str(records))
        assert submitted.returncode == 0, submitted.stderr[-5000:]
        job_id = json.loads(submitted.stdout.strip().splitlines()[-1])["job_id"]
        # when the head node dies (every process of it SIGKILLed: the GCS, its raylet, the job
        # manager) and a head node is started again with the same Redis,
        killed_at = time.time()
        cluster.kill_head()
        cluster.start_head()
        # then the job manager comes back on it, recovers the job, and the job finishes,
        waited = cluster.run(WAITS_FOR_THE_JOB, job_id)
    assert waited.returncode == 0, waited.stderr[-5000:]
    status = json.loads(waited.stdout.strip().splitlines()[-1])
    assert status["status"] == "FINISHED", status
    recovery = next(f for f in status["failovers"] if f.get("cause") == "job manager restart")
    print(f"head node lost -> job running again: {recovery['running_at'] - killed_at:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    # with every record written exactly once.
    assert_exactly_once(out, records)
