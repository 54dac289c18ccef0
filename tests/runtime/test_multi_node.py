"""A Ray cluster of three nodes on this machine (``ray start``): subtasks spread over the nodes,
and a job that loses a node (its raylet SIGKILLed) recovers on the others, exactly once.

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
from collections.abc import Iterator

import psutil
import pytest

from rayflink.testing.exactly_once import compare

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
    processes (found by ``temp_dir``, and their children) by pid, never another Ray's."""

    def __init__(self, temp_dir: str) -> None:
        self.temp_dir = temp_dir
        self.port = free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        # Ray 2.60 turns token authentication on: nodes joining and drivers say so (the token is the machine's)
        self.env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "token",
                    "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def start(self, workers: int) -> None:
        self._ray_start("--head", f"--port={self.port}", "--include-dashboard=false",
                        f"--ray-client-server-port={free_ports(1)[0]}", f"--dashboard-port={free_ports(1)[0]}")
        for _ in range(workers):
            self._ray_start(f"--address={self.address}")

    def _ray_start(self, *args: str) -> None:
        ports = [f"--{name}={port}" for name, port in zip(_PORTS, free_ports(len(_PORTS)), strict=True)]
        started = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "start", *args, *ports,
                                  "--node-ip-address=127.0.0.1", f"--temp-dir={self.temp_dir}", "--num-cpus=1",
                                  "--disable-usage-stats"],
                                 env=self.env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]

    def run(self, script: str, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
        """Run ``script`` as a driver of this cluster."""
        return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], cwd=ROOT,
                              env={**self.env, "RAY_ADDRESS": self.address}, capture_output=True, text=True,
                              timeout=timeout)

    def stop(self) -> None:
        ours = [p for p in psutil.process_iter(["cmdline"]) if self.temp_dir in " ".join(p.info["cmdline"] or ())]
        for process in ours + [child for p in ours for child in _children(p)]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass


def _children(p: psutil.Process) -> list[psutil.Process]:
    try:
        return p.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def three_nodes() -> Iterator[LocalCluster]:
    # a short temp dir: Ray's socket paths under it must stay within the 107 bytes a Unix socket path may have
    temp_dir = tempfile.mkdtemp(prefix="rf-nodes-", dir="/tmp")
    cluster = LocalCluster(temp_dir)
    try:
        cluster.start(workers=2)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


LOSES_A_NODE = """
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
    env.enable_checkpointing(300)  # and no restart strategy: the default (fixed delay, 1 s, no limit)
    env.get_checkpoint_config().set_checkpoint_storage_dir(checkpoints)
    source = DataGeneratorSource(lambda i: i, records, RateLimiterStrategy.per_second(2_000))
    (env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").uid("numbers")
     .key_by(lambda v: v % 97).process(CountPerKey()).uid("count-per-key").map(str)
     .sink_to(FileSink.for_row_format(out, Encoder.simple_string_encoder()).build()))
    client = env.execute_async("loses a node")

    def executor_nodes():
        return [ray.get(ray.get_actor(f"task-executor-{i}", namespace="rayflink").info.remote())["node_id"]
                for i in range(2)]

    wait_until(lambda: completed_checkpoints(client) >= 3, timeout=120, what="3 checkpoints")
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


def test_subtasks_spread_over_the_nodes_and_a_job_that_loses_a_node_recovers_exactly_once(three_nodes, tmp_path):
    # Given a job of parallelism 2 on a cluster of three nodes, checkpointing into an
    # exactly-once FileSink under the default restart strategy,
    records = 30_000
    out = tmp_path / "out"
    # when the node of one of its subtasks loses its raylet (SIGKILL) mid-job,
    result = three_nodes.run(LOSES_A_NODE, str(out), f"file://{tmp_path}/checkpoints", str(records))
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
    lines = [ast.literal_eval(line) for name in sorted(os.listdir(out)) if not name.startswith(".")
             for line in (out / name).read_text().splitlines()]
    missing, duplicated = compare(lines, records)
    assert duplicated == {}, "records written twice"
    assert missing == {}, "records lost"
