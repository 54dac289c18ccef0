"""Connect to Ray: the cluster named by ``RAY_ADDRESS``, or an embedded local one."""

from __future__ import annotations

import logging
import os

import ray


def ensure_ray() -> None:
    """Start (or join) Ray once per process; a no-op when ``ray.init`` already ran."""
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    kwargs: dict = {
        "ignore_reinit_error": True,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        # the task actors import rayflink, operators and connectors from the driver's tree
        "runtime_env": {"env_vars": {"PYTHONPATH": _project_path()}},
    }
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)


def _project_path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    existing = os.environ.get("PYTHONPATH")
    return here if not existing else here + os.pathsep + existing
