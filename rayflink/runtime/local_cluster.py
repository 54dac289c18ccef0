"""The standing local cluster (``rayflink cluster start``): a Ray head on 127.0.0.1 that outlives
the commands using it, as Flink's ``start-cluster.sh`` starts a standalone cluster.

One ``ray start --head --block`` process owns every process of the cluster (GCS, raylet,
dashboard, workers): ``rayflink cluster stop`` sends it SIGTERM and Ray drains and stops them
all, and nothing else on the machine (another Ray, a colleague's tests) is touched. Where it
runs is recorded in a small JSON file (``RAYFLINK_CLUSTER_FILE``, default
``$XDG_RUNTIME_DIR/rayflink-UID/cluster.json`` or the temp dir's), so ``rayflink run``, ``list``,
``logs``, ... and ``python job.py`` in any shell of this user find it.

Every server of the cluster listens on 127.0.0.1 only (as the embedded Ray's do). The cluster
uses Ray's token authentication unless ``RAY_AUTH_MODE`` says otherwise when it starts: the
token is Ray's default one (``~/.ray/auth_token``, generated if missing), so only this user's
processes may submit work to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

from rayflink.errors import ClusterUnavailableError

CLUSTER_FILE_ENV = "RAYFLINK_CLUSTER_FILE"
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 180.0  # a loaded 2-core machine takes 5-35 s
STOP_TIMEOUT_S = 60.0  # for `ray start` to stop the processes of the cluster (seconds, usually)
_STARTED_LINE = "Ray runtime started."
_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray keeps the node on 127.0.0.1


@dataclass(frozen=True)
class LocalCluster:
    """Where the standing local cluster runs."""

    address: str  # its GCS, host:port (RAY_ADDRESS for it)
    dashboard_url: str  # Ray's dashboard: ``ray job submit --address URL``, the log API
    temp_dir: str  # Ray's session files and logs
    pid: int  # the ``ray start --block`` process that owns the cluster's processes
    auth_mode: str  # Ray's RAY_AUTH_MODE of the cluster: "token" or "disabled"


def cluster_file() -> str:
    """Where the standing local cluster is recorded (``RAYFLINK_CLUSTER_FILE`` overrides)."""
    explicit = os.environ.get(CLUSTER_FILE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, f"rayflink-{os.getuid()}", "cluster.json")


def _recorded() -> LocalCluster | None:
    try:
        with open(cluster_file(), encoding="utf-8") as f:
            return LocalCluster(**json.load(f))
    except (OSError, ValueError, TypeError):
        return None


def _alive(cluster: LocalCluster) -> bool:
    """Whether the cluster's ``ray start`` process still runs (and its pid was not reused)."""
    try:
        os.kill(cluster.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):  # reap it if we started it and it ended
        if os.waitpid(cluster.pid, os.WNOHANG)[0] == cluster.pid:
            return False
    try:
        with open(f"/proc/{cluster.pid}/cmdline", "rb") as f:
            return cluster.temp_dir.encode() in f.read()
    except OSError:  # no /proc (macOS): the pid is all there is to go by
        return True


def answers(address: str, timeout_s: float = 2.0) -> bool:
    """Whether something accepts connections at ``address`` (host:port) within ``timeout_s``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def running() -> LocalCluster | None:
    """The standing local cluster, if one is recorded and its GCS answers."""
    cluster = _recorded()
    if cluster is None or not _alive(cluster) or not answers(cluster.address, 1.0):
        return None
    return cluster


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _auth_mode() -> str:
    """Token authentication, with Ray's default token (made if missing), unless RAY_AUTH_MODE says."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode:
        return mode.lower()
    from ray._private.authentication.authentication_token_setup import generate_and_save_token
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        generate_and_save_token()
    return "token"


def start(num_cpus: int | None = None, port: int | None = None) -> LocalCluster:
    """Start the standing local cluster (or return the one running) and record it.

    Raises ClusterUnavailableError with the end of Ray's output if Ray does not start.
    """
    existing = running()
    if existing is not None:
        return existing
    # every server of the cluster on a free port: Ray's fixed defaults (the dashboard agent's 52365,
    # the client server's 10001, ...) collide with any other Ray on the machine
    free = _free_ports(7)
    port = port or free[0]
    dashboard_port, agent_port, agent_grpc_port, metrics_port, runtime_env_port, client_port = free[1:]
    temp_dir = os.path.join(tempfile.gettempdir(), f"rayflink-cluster-{port}")
    os.makedirs(temp_dir, exist_ok=True)
    auth_mode = _auth_mode()
    # stop at once on SIGTERM: Ray's drain (for Serve's proxies) would hold `cluster stop` up to 30 s
    env = dict(os.environ, RAY_AUTH_MODE=auth_mode, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
               **{_SINGLE_MACHINE_ENV: "0"})
    env.pop("RAY_ADDRESS", None)
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               f"--node-ip-address={LOOPBACK}", f"--port={port}", f"--temp-dir={temp_dir}",
               "--include-dashboard=true", f"--dashboard-host={LOOPBACK}", f"--dashboard-port={dashboard_port}",
               f"--dashboard-agent-listen-port={agent_port}", f"--dashboard-agent-grpc-port={agent_grpc_port}",
               f"--metrics-export-port={metrics_port}", f"--runtime-env-agent-port={runtime_env_port}",
               f"--ray-client-server-port={client_port}", "--disable-usage-stats"]
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    log_path = os.path.join(temp_dir, "ray-start.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            output = f.read()
        if _STARTED_LINE in output and answers(f"{LOOPBACK}:{port}", 1.0):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.terminate()
            tail = "\n".join(output.strip().splitlines()[-8:])
            raise ClusterUnavailableError(f"the standing local Ray did not start (`{' '.join(command[2:])}`); "
                                          f"its output ends:\n{tail}")
        time.sleep(0.1)
    cluster = LocalCluster(f"{LOOPBACK}:{port}", f"http://{LOOPBACK}:{dashboard_port}", temp_dir,
                           process.pid, auth_mode)
    path = cluster_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(asdict(cluster), f)
    os.replace(path + ".tmp", path)
    return cluster


def stop() -> LocalCluster | None:
    """Stop the standing local cluster (every process of it) and forget it; None if none ran."""
    cluster = _recorded()
    if cluster is None:
        return None
    if _alive(cluster):
        os.kill(cluster.pid, signal.SIGTERM)  # `ray start --block` stops every process of the cluster
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(cluster) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(cluster):
            os.kill(cluster.pid, signal.SIGKILL)  # Ray's reaper stops the rest when it goes
    with contextlib.suppress(FileNotFoundError):
        os.remove(cluster_file())
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    return cluster

