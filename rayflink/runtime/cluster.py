"""Connect to Ray: the cluster named by ``RAY_ADDRESS``, the standing local cluster
(``rayflink cluster start``, see ``local_cluster``), or else an embedded local one.

The embedded local Ray is private to this machine: its GCS, raylet, workers and agents listen on
127.0.0.1 only, and it lives as long as the process that started it. To serve other machines, start
a cluster (``ray start --head``) and point ``RAY_ADDRESS`` at it, or call ``ray.init(...)`` yourself
before the first job: rayflink then uses that Ray as it is.

Joining a cluster fails within seconds, naming the address, when nothing answers there (Ray
itself retries for minutes). Under Ray's token authentication (``RAY_AUTH_MODE=token`` on the
cluster) a process joins with the token Ray finds (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token``): with ``RAY_AUTH_MODE`` unset and a token present, rayflink joins in token
mode, which a cluster without authentication accepts too.

Ray's processes die with the thread that started them (Linux's parent-death signal follows the
thread, not the process), so a first job submitted from a short-lived thread starts Ray from a
thread that lives as long as the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

import ray

from rayflink.errors import ClusterUnavailableError
from rayflink.runtime import local_cluster
from rayflink.runtime.local_cluster import LOOPBACK as _LOOPBACK

JOIN_TIMEOUT_S = 3.0  # how long a cluster's GCS may take to accept a connection before we give up
_start_lock = threading.Lock()


def ensure_ray(warm_up: bool = True) -> None:
    """Start (or join) Ray once per process; a no-op when ``ray.init`` already ran. With
    ``warm_up`` (a job is coming), get the job manager and executor 0 going at once (``_warm_up``)."""
    if ray.is_initialized():
        return
    with _start_lock:
        if ray.is_initialized():
            return
        if threading.current_thread() is threading.main_thread():
            _init()
        else:
            _init_in_owner_thread()
    if warm_up:
        _warm_up()


def _init() -> None:
    kwargs: dict = {
        "ignore_reinit_error": True,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        # the task actors import rayflink, operators and connectors from the driver's tree
        "runtime_env": {"env_vars": {"PYTHONPATH": _project_path()}},
    }
    standing = local_cluster.running()
    address = os.environ.get("RAY_ADDRESS") or (standing.address if standing is not None else None)
    if address:
        _join(address, standing, **kwargs)
    else:
        with _single_machine():
            ray.init(include_dashboard=False, _node_ip_address=_LOOPBACK, **kwargs)


def _warm_up() -> None:
    """Get the job manager and task executor 0 (every job's subtask 0 runs there) going as soon
    as Ray is joined, without waiting for them: on a new Ray each is a worker process that takes
    a second or two to boot, and the first job would otherwise start them one after the other;
    on a running cluster, the first call to the job manager sets up its connection meanwhile."""
    from rayflink.runtime.executor import task_executors
    from rayflink.runtime.job_master import job_manager

    job_manager().ping.remote()
    threading.Thread(target=task_executors, args=(1,), daemon=True, name="rayflink-executor-warm-up").start()


def connect() -> None:
    """Join the cluster named by RAY_ADDRESS or the standing local cluster (never start one).

    Raises ClusterUnavailableError at once when neither is there, and within seconds when
    nothing answers at the address.
    """
    if ray.is_initialized():
        return
    if not os.environ.get("RAY_ADDRESS") and local_cluster.running() is None:
        raise ClusterUnavailableError(
            "no rayflink cluster runs on this machine and RAY_ADDRESS is not set: start one with "
            "`rayflink cluster start` (or `rayflink run -d job.py`), or set RAY_ADDRESS (or --address) "
            f"to a Ray cluster's address (looked for a standing cluster in {local_cluster.cluster_file()})")
    ensure_ray(warm_up=False)


def _join(address: str, standing: local_cluster.LocalCluster | None = None, **kwargs: object) -> None:
    """``ray.init(address)`` that fails fast: checks the GCS answers, and brings the auth mode."""
    if "RAY_AUTH_MODE" not in os.environ:
        if standing is not None and address == standing.address:
            _set_auth_mode(standing.auth_mode)
        elif _token_available():
            _set_auth_mode("token")  # ray.init(address=...) would not, and fail unauthenticated
    if not address.startswith(("ray://", "auto", "local")):
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ClusterUnavailableError(f"RAY_ADDRESS {address!r} is not host:port (a Ray cluster's GCS "
                                          "address, as `ray start --head` prints it)")
        if not local_cluster.answers(address, JOIN_TIMEOUT_S):
            raise ClusterUnavailableError(
                f"no Ray cluster answers at {address}" + (" (RAY_ADDRESS)" if standing is None else "")
                + ": start one (`rayflink cluster start`, `ray start --head`) or point RAY_ADDRESS at a "
                "running one")
    if _on_loopback_only(address):
        with _single_machine():  # the cluster's node is 127.0.0.1: Ray must not look for it elsewhere
            ray.init(address=address, **kwargs)
    else:
        ray.init(address=address, **kwargs)


def _on_loopback_only(address: str) -> bool:
    """Whether the cluster at ``address`` is a head started on 127.0.0.1 (as the standing local
    cluster is), which Ray cannot join by itself: it swaps a loopback address for the machine's
    routable one, where such a cluster does not answer. A loopback address of a cluster that
    answers on the machine's address too is left to Ray."""
    host, _, port = address.rpartition(":")
    if host not in (_LOOPBACK, "localhost"):
        return False
    from ray._common.network_utils import node_ip_address_from_perspective

    return not local_cluster.answers(f"{node_ip_address_from_perspective()}:{port}", 0.5)


def _token_available() -> bool:
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

    return bool(AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True))


def _set_auth_mode(mode: str) -> None:
    """Set RAY_AUTH_MODE for this process and its children, and make Ray's cached config read it
    again (as ``ray start`` does when it enables token authentication)."""
    from ray._raylet import Config  # type: ignore[attr-defined]

    os.environ["RAY_AUTH_MODE"] = mode
    Config.initialize("")


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Let ``_node_ip_address=127.0.0.1`` stand while the local Ray starts (or a process joins it).

    Ray replaces a loopback node address by the machine's routable one unless its
    single-machine switch (the one Ray sets on macOS and Windows) is off; its servers then
    listen on the node address, i.e. on every interface. Turning the switch off for the start
    keeps the node, and so every server of it, on 127.0.0.1.
    """
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _init_in_owner_thread() -> None:
    """Run ``ray.init`` in a daemon thread that never ends, and wait for it."""
    done = threading.Event()
    failure: list[BaseException] = []

    def own() -> None:
        try:
            _init()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failure.append(exc)
        done.set()
        if not failure:
            threading.Event().wait()  # Ray's processes live as long as this thread

    threading.Thread(target=own, daemon=True, name="rayflink-ray-owner").start()
    done.wait()
    if failure:
        raise failure[0]


def _project_path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    existing = os.environ.get("PYTHONPATH")
    return here if not existing else here + os.pathsep + existing
