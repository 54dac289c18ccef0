"""Task executors: long-lived actors (Flink's TaskManagers) whose slots run subtasks as threads,
and the pool the job manager leases them from and releases idle ones to (Flink's ResourceManager)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rayflink.common import config_options as options
from rayflink.errors import RayflinkError
from rayflink.runtime.deployment import OutputEdge, TaskDeployment
from rayflink.runtime.messages import QueryKvState
from rayflink.runtime.results import TaskResult
from rayflink.runtime.task import StreamTask

NAMESPACE = "rayflink"
JOB_MANAGER_CHECK_S = 2.0  # how often an executor checks that the job managers of its subtasks are alive
_EXECUTOR_START_S = 60.0  # how long a task executor may take to answer its first call
# how long a lease waits for Ray to declare dead an executor that does not answer: its node is
# being lost, and Ray marks its actors dead only when the node misses its health checks (~15 s)
_EXECUTOR_LOST_WAIT_S = 120.0
_EXECUTOR_LOST_POLL_S = 0.5
_EXECUTOR_STARTS = 3  # an executor that dies as it starts is started again up to this many times
_EXECUTOR_NAME = "task-executor-{}"


@ray.remote(concurrency_groups={"data": 16, "control": 4, "watch": 8, "query": 2})
class TaskExecutor:
    """Hosts the subtasks of any number of jobs; ``push`` feeds their input gates.

    Each subtask runs on a thread of its own, started by ``run``; the job master learns how its
    subtasks ended from ``ended``, a long poll. Ray makes every thread of an actor's
    concurrency groups when the actor starts, so the groups stay small: an idle executor has
    about 55 threads (30 of them ours), a running one one more per subtask.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.tasks: dict[str, StreamTask] = {}
        # task key -> how the subtask ended, until ``ended`` hands it over
        self._ended: dict[str, TaskResult | BaseException] = {}
        self._ended_cond = threading.Condition()
        # subtasks share this process: hand the GIL over every 0.5 ms (default 5 ms) so one busy
        # subtask cannot hold another's records back for a whole switch interval
        sys.setswitchinterval(0.0005)
        threading.Thread(target=self._drop_orphans, daemon=True, name="job-manager-watchdog").start()

    def _drop_orphans(self) -> None:
        """Fail the subtasks whose job manager died for good: nobody could list, cancel or
        restart them, and forget how they ended: nobody will ask. (A job manager that Ray
        restarts takes its jobs over and drops their old subtasks itself, ``ExecutorPool.drop_jobs``.)"""
        orphaned: set[str] = set()  # task keys
        while True:
            time.sleep(JOB_MANAGER_CHECK_S)
            with self._ended_cond:
                for task_key in [k for k in self._ended if k in orphaned]:
                    del self._ended[task_key]
                    orphaned.discard(task_key)
            managers: dict[Any, tuple[Any, list[tuple[str, StreamTask]]]] = {}
            for task_key, task in list(self.tasks.items()):
                managers.setdefault(task.job_manager._actor_id, (task.job_manager, []))[1].append((task_key, task))
            for manager, tasks in managers.values():
                try:
                    ray.get(manager.ping.remote(), timeout=10 * JOB_MANAGER_CHECK_S)
                except ray.exceptions.ActorDiedError as exc:
                    for task_key, task in tasks:
                        orphaned.add(task_key)
                        task.failure_reason = f"the job manager of job {task.d.job_id} died: {str(exc)[:200]}"
                        task.cancelled.set()
                except (ray.exceptions.GetTimeoutError, ray.exceptions.ActorUnavailableError):
                    pass  # busy or out of reach for now: it may come back

    @ray.method(concurrency_group="control")
    def info(self) -> dict:
        ctx = ray.get_runtime_context()
        return {"index": self.index, "node_id": ctx.get_node_id(), "actor_id": ctx.get_actor_id(),
                "pid": os.getpid(), "tasks": len(self.tasks), "rss_bytes": process_rss_bytes(),
                "jobs": sorted({task.d.job_id for task in list(self.tasks.values())})}

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

    @ray.method(concurrency_group="control")
    def run(self, task_key: str) -> None:
        """Start the subtask on a thread of its own."""
        threading.Thread(target=self._run, args=(task_key,), daemon=True, name=f"subtask-{task_key}").start()

    def _run(self, task_key: str) -> None:
        result: TaskResult | BaseException
        try:
            result = self.tasks[task_key].run()
        except BaseException as exc:  # noqa: BLE001 - StreamTask.run reports failures itself: a bug in it
            result = exc
        finally:
            self.tasks.pop(task_key, None)
        with self._ended_cond:
            self._ended[task_key] = result
            self._ended_cond.notify_all()

    @ray.method(concurrency_group="watch")
    def ended(self, prefix: str, timeout: float) -> list[tuple[str, TaskResult | BaseException]]:
        """(task key, result) of the subtasks whose key starts with ``prefix`` (a job attempt's)
        that ended since the last call; waits up to ``timeout`` s for one. A result is what
        ``StreamTask.run`` returned, or the exception it raised."""
        with self._ended_cond:
            self._ended_cond.wait_for(lambda: any(k.startswith(prefix) for k in self._ended), timeout)
            keys = [k for k in self._ended if k.startswith(prefix)]
            return [(k, self._ended.pop(k)) for k in keys]

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
    def drop_job(self, job_id: str, timeout: float) -> list[str]:
        """Cancel every subtask of ``job_id`` (an earlier job manager's attempts, which the one
        recovering the job replaces), wait up to ``timeout`` s for them to end and forget how
        they ended; the task keys of those still running."""
        prefix = f"{job_id}/"
        dropped = {k: t for k, t in list(self.tasks.items()) if k.startswith(prefix)}
        for task in dropped.values():
            task.failure_reason = f"job {job_id} is recovered by a new job manager"
            task.cancelled.set()
        with self._ended_cond:
            self._ended_cond.wait_for(lambda: all(k in self._ended for k in dropped), timeout)
            for task_key in [k for k in self._ended if k.startswith(prefix)]:
                del self._ended[task_key]
        return [k for k in dropped if k in self.tasks]

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


def task_executors(count: int, spread: bool = True) -> list[Any]:
    """The first ``count`` task executors of the Ray cluster, started on first use.

    One that does not answer because its node is being lost is waited for until Ray declares
    it dead (up to ``_EXECUTOR_LOST_WAIT_S``; raises ``RayflinkError`` if Ray never does), then
    started again. Executors are started, when ``spread`` (``cluster.evenly-spread-out-slots``),
    each on the live node with the fewest of these executors, so subtasks spread evenly over
    the nodes also after a node was lost; else where Ray finds room."""
    handles: dict[int, Any] = {}
    nodes: Counter[str] = Counter()
    for index in range(count):
        try:
            handle = ray.get_actor(_EXECUTOR_NAME.format(index), namespace=NAMESPACE)
        except ValueError:  # never started, or dead: its name is free
            continue
        info = _answering(index, handle)
        if info is not None:
            handles[index] = handle
            nodes[info["node_id"]] += 1
    for _start in range(_EXECUTOR_STARTS):
        missing = [index for index in range(count) if index not in handles]
        if not missing:
            break
        alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]] if spread else []
        started = {}
        for index in missing:  # all at once: an executor takes a second or two to start
            node = min(alive, key=lambda n: nodes[n]) if alive else None
            if node is not None:
                nodes[node] += 1  # planned there
            started[index] = TaskExecutor.options(
                name=_EXECUTOR_NAME.format(index), namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                num_cpus=0, max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False) if node else "DEFAULT",
            ).remote(index)
        for index, handle in started.items():
            if _answering(index, handle) is not None:  # (else it died at once, or lost its node: again)
                handles[index] = handle
    missing = [index for index in range(count) if index not in handles]
    if missing:
        raise RayflinkError(f"task executor {_EXECUTOR_NAME.format(missing[0])} died as it started, "
                            f"{_EXECUTOR_STARTS} times; see its log (Ray's worker logs) for why")
    return [handles[index] for index in range(count)]


def _answering(index: int, handle: Any) -> dict | None:
    """The ``info`` of executor ``index``, or None once Ray declared it dead."""
    deadline = time.monotonic() + _EXECUTOR_LOST_WAIT_S
    while True:
        try:
            return ray.get(handle.info.remote(), timeout=_EXECUTOR_START_S)
        except ray.exceptions.ActorUnavailableError as exc:  # out of reach: its node is being lost
            if time.monotonic() > deadline:
                raise RayflinkError(f"task executor {_EXECUTOR_NAME.format(index)} has not answered for "
                                    f"{_EXECUTOR_LOST_WAIT_S:.0f} s and Ray has not declared it dead: "
                                    f"{str(exc)[:300]}") from None
            time.sleep(_EXECUTOR_LOST_POLL_S)
        except ray.exceptions.RayActorError:
            return None


def process_rss_bytes() -> int:
    """This process's resident memory (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class ExecutorPool:
    """The task executors jobs run in (Flink's ResourceManager), kept by the job manager.

    Subtask i of a job runs in executor i, so a job of parallelism p leases executors 0..p-1.
    An executor that no job leases any more is released (its actor stopped) once it has been
    idle for the ``resourcemanager.taskmanager-timeout`` of the last job that leased it, except
    the first ``warm`` ones (one per CPU of the cluster), which stay up for the next job.
    Parallelism above the number of CPUs is allowed: slots are not CPUs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[int, Any] = {}
        self._leases: dict[int, set[str]] = {}  # executor index -> jobs leasing it
        self._idle_since: dict[int, float] = {}
        self._timeout_s: dict[int, float] = {}
        for name in (a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a["namespace"] == NAMESPACE and a["name"].startswith(_EXECUTOR_NAME.format(""))):
            # started by an earlier job manager: idle until a job leases it
            index = int(name.rsplit("-", 1)[1])
            self._handles[index] = ray.get_actor(name, namespace=NAMESPACE)
            self._leases[index] = set()
            self._idle_since[index] = time.monotonic()
            self._timeout_s[index] = options.TASKMANAGER_TIMEOUT.default / 1000

    def lease(self, job_id: str, count: int, idle_timeout: float, spread: bool) -> list[Any]:
        """Executors 0..count-1 for ``job_id`` (started if need be, spread over the nodes when
        ``spread``), each released ``idle_timeout`` seconds after its last job ended; the job
        gives back any others it held."""
        with self._lock:
            handles = task_executors(count, spread)
            for index, handle in enumerate(handles):
                self._handles[index] = handle
                self._leases.setdefault(index, set()).add(job_id)
                self._idle_since.pop(index, None)
                self._timeout_s[index] = idle_timeout
            for index in [i for i in self._leases if i >= count]:
                self._give_back(index, job_id)
            return handles

    def drop_jobs(self, dropped: Callable[[str], bool], timeout: float) -> None:
        """Cancel every subtask of the jobs ``dropped`` names (by job id) in every executor and
        wait for them to end; an executor where one has not ended after ``timeout`` s is stopped
        (only that stops user code that ignores cancellation)."""
        with self._lock:
            handles = dict(self._handles)
        asked = []
        for index, handle in handles.items():
            try:
                jobs = ray.get(handle.info.remote(), timeout=_EXECUTOR_START_S)["jobs"]
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                continue  # lost: nothing runs there any more
            asked += [(index, handle.drop_job.remote(job_id, timeout)) for job_id in jobs if dropped(job_id)]
        for index, ref in asked:
            try:
                left = ray.get(ref, timeout=timeout + _EXECUTOR_START_S)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                continue
            if left:
                ray.kill(handles[index], no_restart=True)

    def release(self, job_id: str) -> None:
        """``job_id`` ended: it leases nothing any more."""
        with self._lock:
            for index in list(self._leases):
                self._give_back(index, job_id)

    def _give_back(self, index: int, job_id: str) -> None:
        jobs = self._leases[index]
        if job_id in jobs:
            jobs.discard(job_id)
            if not jobs:
                self._idle_since[index] = time.monotonic()

    def release_idle(self, warm: int) -> list[int]:
        """Stop the executors beyond the first ``warm`` idle for longer than their timeout; their indices."""
        now = time.monotonic()
        released = []
        with self._lock:
            for index, since in sorted(self._idle_since.items()):
                if index < warm or now - since < self._timeout_s[index]:
                    continue
                handle = self._handles.pop(index)
                ray.kill(handle, no_restart=True)
                try:  # wait until Ray knows: its name must be free for the next lease
                    ray.get(handle.info.remote(), timeout=30)
                except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                    pass
                del self._idle_since[index], self._leases[index], self._timeout_s[index]
                released.append(index)
        return released
