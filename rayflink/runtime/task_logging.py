"""Log lines of subtasks name their job, task and subtask (Flink puts the job id in log4j's MDC
and the task and subtask in the thread's name), so ``rayflink logs JOB [--task NAME]`` finds them.

A subtask's thread runs inside ``subtask_logging``: every ``logging`` record made on that thread
(by rayflink, the user's functions, a connector's library) is written as

    2026-12-01 23:04:18,646 INFO [job 1a2b3c4d5e6f7a8b | task Source: clicks -> Map (2/4)] myjob: text

to the executor's log file, ``rayflink-task-executor-PID.log`` among Ray's logs of the session on
the executor's node (Flink's taskmanager log; INFO and up unless the program configured logging),
and from WARNING up to its stderr too, which Ray shows on the driver's terminal as before. Ray's
dashboard serves every node's log files to any client of the cluster: that is where ``rayflink
logs`` reads them, so lines of executors on every node, and of executors that have ended, are
found without the executors keeping anything in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import ray

from rayflink.errors import ClusterUnavailableError

_LOG_FILE = "rayflink-task-executor-{pid}.log"
_LOG_GLOB = "rayflink-task-executor-*"
_FORMAT = "%(asctime)s %(levelname)s %(subtask_tag)s%(name)s: %(message)s"
_TAG = "[job {job} | task {task} ({index}/{parallelism})] "
_install_lock = threading.Lock()
_TAG_PATTERN = re.compile(r"\[job (?P<job>\S+) \| task (?P<task>.*) \((?P<index>\d+)/(?P<parallelism>\d+)\)\] ")


@dataclass(frozen=True)
class SubtaskTag:
    """Which subtask a log line comes from (the subtask index counts from 1, as Flink prints it)."""

    job_id: str
    task: str
    index: int
    parallelism: int

    def render(self) -> str:
        return _TAG.format(job=self.job_id, task=self.task, index=self.index, parallelism=self.parallelism)


def parse_tag(line: str) -> SubtaskTag | None:
    """The subtask tag of a log line written under ``subtask_logging``, or None."""
    match = _TAG_PATTERN.search(line)
    if match is None:
        return None
    return SubtaskTag(match["job"], match["task"], int(match["index"]), int(match["parallelism"]))


class _SubtaskTagFilter(logging.Filter):
    """Adds ``subtask_tag`` (empty off subtask threads) to each record the handler writes."""

    def __init__(self) -> None:
        super().__init__()
        self.current = threading.local()  # the tag of the subtask running on each thread

    def filter(self, record: logging.LogRecord) -> bool:
        tag = getattr(self.current, "tag", None)
        record.subtask_tag = tag.render() if tag is not None else ""
        return True


class _SubtaskLogHandler(logging.FileHandler):
    """The executor's handler on the root logger: its log file, every line with its subtask's tag."""

    def __init__(self, path: str) -> None:
        super().__init__(path, encoding="utf-8", delay=True)
        self.tags = _SubtaskTagFilter()
        self.addFilter(self.tags)
        self.setFormatter(logging.Formatter(_FORMAT))


def _handler() -> _SubtaskLogHandler:
    """The process's subtask log handler, installed on the root logger on first use (with a
    stderr handler for WARNING and up, tagged alike).

    A root logger nobody configured (Python's WARNING, no handler) is set to INFO, Flink's
    default level; a level or handlers the program set stay as they are.
    """
    root = logging.getLogger()
    with _install_lock:
        for handler in root.handlers:
            if isinstance(handler, _SubtaskLogHandler):
                return handler
        handler = _SubtaskLogHandler(os.path.join(_logs_dir(), _LOG_FILE.format(pid=os.getpid())))
        warnings = logging.StreamHandler()
        warnings.setLevel(logging.WARNING)
        warnings.addFilter(handler.tags)
        warnings.setFormatter(handler.formatter)
        if not root.handlers and root.level == logging.WARNING:
            root.setLevel(logging.INFO)
        root.addHandler(handler)
        root.addHandler(warnings)
        return handler


def _logs_dir() -> str:
    """Ray's log folder of this session on this node (where the dashboard finds log files)."""
    node = ray._private.worker.global_worker.node
    return node.get_logs_dir_path() if node is not None else tempfile.gettempdir()


@contextlib.contextmanager
def subtask_logging(tag: SubtaskTag) -> Iterator[None]:
    """Tag the log lines of this thread with ``tag`` while the block runs."""
    current = _handler().tags.current
    saved = getattr(current, "tag", None)
    current.tag = tag
    try:
        yield
    finally:
        current.tag = saved


def job_log_lines(job_id: str, task: str | None = None) -> list[str]:
    """The log lines of ``job_id``'s subtasks (only of the tasks whose name contains ``task``, if
    given), in time order, from the executors' log files on every node of the cluster, read
    through Ray's log API (the cluster's dashboard). Call it connected to the cluster.

    Raises ClusterUnavailableError when the cluster has no dashboard to serve its logs.
    """
    from ray.util.state import get_log, list_logs
    from ray.util.state.exception import RayStateApiException

    address = ray.get_runtime_context().gcs_address
    lines = []
    try:
        for node in ray.nodes():
            if not node["Alive"]:
                continue
            files = list_logs(address=address, node_id=node["NodeID"], glob_filter=_LOG_GLOB)
            for filename in (f for names in files.values() for f in names):
                for chunk in get_log(address=address, node_id=node["NodeID"], filename=filename, tail=-1,
                                     errors="replace"):
                    for line in chunk.splitlines():
                        tag = parse_tag(line)
                        if tag is not None and tag.job_id == job_id and (task is None or task in tag.task):
                            lines.append(line)
    except (RayStateApiException, ConnectionError) as exc:
        raise ClusterUnavailableError(
            "rayflink logs reads the executors' log files through Ray's dashboard, and this cluster's did not "
            f"answer (a Ray started with include_dashboard=False has none): {str(exc).splitlines()[0][:300]}"
        ) from None
    return sorted(lines, key=lambda line: line[:23])  # by the timestamp that starts each line, stably
