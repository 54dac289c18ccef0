"""Task executors: long-lived actors (Flink's TaskManagers) whose slots run subtasks as threads."""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import ray

from rayflink.runtime.deployment import OutputEdge, TaskDeployment
from rayflink.runtime.messages import QueryKvState
from rayflink.runtime.results import TaskResult
from rayflink.runtime.task import StreamTask

NAMESPACE = "rayflink"


@ray.remote(concurrency_groups={"data": 16, "control": 4, "run": 64, "query": 4})
class TaskExecutor:
    """Hosts the subtasks of any number of jobs; ``push`` feeds their input gates."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.tasks: dict[str, StreamTask] = {}
        # subtasks share this process: hand the GIL over every 0.5 ms (default 5 ms) so one busy
        # subtask cannot hold another's records back for a whole switch interval
        sys.setswitchinterval(0.0005)

    @ray.method(concurrency_group="control")
    def info(self) -> dict:
        ctx = ray.get_runtime_context()
        return {"index": self.index, "node_id": ctx.get_node_id(), "actor_id": ctx.get_actor_id(),
                "pid": os.getpid(), "tasks": len(self.tasks), "rss_bytes": process_rss_bytes()}

    @ray.method(concurrency_group="control")
    def deploy(self, task_key: str, deployment: TaskDeployment, job_manager: Any) -> dict:
        self.tasks[task_key] = StreamTask(deployment, job_manager)
        return self.info()

    @ray.method(concurrency_group="control")
    def setup(self, task_key: str, outputs: list[OutputEdge]) -> None:
        self.tasks[task_key].setup(outputs, self._local_gate)

    def _local_gate(self, executor: Any, task_key: str) -> Any:
        """The input gate of ``task_key`` when it runs in this process, else None."""
        if executor._actor_id.hex() == ray.get_runtime_context().get_actor_id():
            return self.tasks[task_key].gate
        return None

    @ray.method(concurrency_group="run")
    def run(self, task_key: str) -> TaskResult:
        try:
            return self.tasks[task_key].run()
        finally:
            self.tasks.pop(task_key, None)

    @ray.method(concurrency_group="data")
    def push(self, task_key: str, channel_id: int, seq: int, message: Any) -> None:
        task = self.tasks.get(task_key)
        if task is not None:  # a task that ended (its job failed or was cancelled) takes nothing more
            task.gate.push(channel_id, seq, message)

    @ray.method(concurrency_group="control")
    def cancel(self, task_key: str) -> None:
        task = self.tasks.get(task_key)
        if task is not None:
            task.cancelled.set()

    @ray.method(concurrency_group="control")
    def control(self, task_key: str, message: Any) -> None:
        """A checkpoint trigger or notification for the task's loop."""
        task = self.tasks.get(task_key)
        if task is not None:
            task.gate.put_control(message)

    @ray.method(concurrency_group="control")
    def fail(self, task_key: str, reason: str) -> None:
        """Fail the task with ``reason`` (the job master decided, e.g. too many failed checkpoints)."""
        task = self.tasks.get(task_key)
        if task is not None:
            task.failure_reason = reason
            task.cancelled.set()

    @ray.method(concurrency_group="query")
    def query_kv_state(self, task_key: str, name: str, key: Any, timeout: float) -> dict:
        """Read ``key`` of the state queryable as ``name`` in the task: the task's loop answers
        between two batches, as it handles checkpoint triggers, so reads never race its writes."""
        task = self.tasks.get(task_key)
        if task is None:
            return {"status": "NO_TASK"}
        reply: Future = Future()
        task.gate.put_control(QueryKvState(name, key, reply))
        try:
            return reply.result(timeout)
        except FutureTimeout:
            reply.cancel()
            return {"status": "TIMEOUT"}

    @ray.method(concurrency_group="control")
    def metrics(self, task_key: str) -> dict | None:
        task = self.tasks.get(task_key)
        return None if task is None else task.metrics()


def task_executors(count: int) -> list[Any]:
    """The first ``count`` task executors of the Ray cluster, started on first use."""
    handles = []
    for index in range(count):
        handle = TaskExecutor.options(
            name=f"task-executor-{index}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
            num_cpus=0, max_restarts=0,
        ).remote(index)
        handles.append(handle)
    alive = []
    for index, handle in enumerate(handles):
        try:
            ray.get(handle.info.remote(), timeout=60)
        except ray.exceptions.RayActorError:  # it died: its name is free again, start a new one
            handle = TaskExecutor.options(
                name=f"task-executor-{index}", namespace=NAMESPACE, get_if_exists=True,
                lifetime="detached", num_cpus=0, max_restarts=0,
            ).remote(index)
        alive.append(handle)
    return alive


def process_rss_bytes() -> int:
    """This process's resident memory (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
