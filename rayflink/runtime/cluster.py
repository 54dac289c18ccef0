"""Connect to Ray: the cluster named by ``RAY_ADDRESS``, or an embedded local one.

The embedded local Ray is private to this machine: its GCS, raylet, workers and agents listen on
127.0.0.1 only. To serve other machines, start a cluster (``ray start --head``) and point
``RAY_ADDRESS`` at it, or call ``ray.init(...)`` yourself before the first job: rayflink then
uses that Ray as it is.

Ray's processes die with the thread that started them (Linux's parent-death signal follows the
thread, not the process), so a first job submitted from a short-lived thread starts Ray from a
thread that lives as long as the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Iterator

import ray

_LOOPBACK = "127.0.0.1"
_start_lock = threading.Lock()


def ensure_ray() -> None:
    """Start (or join) Ray once per process; a no-op when ``ray.init`` already ran."""
    if ray.is_initialized():
        return
    with _start_lock:
        if ray.is_initialized():
            return
        if threading.current_thread() is threading.main_thread():
            _init()
        else:
            _init_in_owner_thread()


def _init() -> None:
    address = os.environ.get("RAY_ADDRESS")
    kwargs: dict = {
        "ignore_reinit_error": True,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        # the task actors import rayflink, operators and connectors from the driver's tree
        "runtime_env": {"env_vars": {"PYTHONPATH": _project_path()}},
    }
    if address:
        ray.init(address=address, **kwargs)
        return
    with _single_machine():
        ray.init(include_dashboard=False, _node_ip_address=_LOOPBACK, **kwargs)


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Let ``_node_ip_address=127.0.0.1`` stand while the local Ray starts.

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
