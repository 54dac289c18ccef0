"""The job manager actor and its job masters: deploy subtasks to task executors, wire them, watch them."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import ray

from rayflink.checkpoint.coordinator import CheckpointCoordinator, CheckpointFailure, read_metadata
from rayflink.common import config_options as options
from rayflink.errors import RayflinkError, UnknownJobError, truncate
from rayflink.graph.job_graph import JobGraph, JobVertex
from rayflink.graph.transformations import OperatorKind, OperatorSpec, Partitioner, WatermarkParams
from rayflink.rest.server import RestEndpoint, executor_infos
from rayflink.runtime.deployment import ChainedEdge, NodeDeployment, OutputEdge, TaskDeployment
from rayflink.runtime.executor import NAMESPACE, ExecutorPool
from rayflink.runtime.high_availability import HighAvailabilityServices
from rayflink.runtime.network import OrderedReceiver
from rayflink.runtime.restart import RestartBackoff
from rayflink.runtime.results import ExecutionState, JobStatus, TaskFailure, TaskResult
from rayflink.state.key_groups import UnhashableKeyError, assign_key_group, operator_index_for_key_group

_STDOUT_LIMIT = 4 << 20  # bytes of printed output kept for the client before the master prints it itself
_CANCEL_GRACE_S = 10.0  # after this, subtasks that ignore cancellation lose their executor
_COLLECT_BUFFER_BATCHES = 64  # batches a job's collect buffer holds before its collect sinks wait
_COLLECT_PULL_RECORDS = 100_000  # records one pull of the client takes at most
_RELEASE_CHECK_S = 1.0  # how often the job manager looks for idle task executors to release
_WATCH_POLL_S = 1.0  # how long one ``ended`` call waits at an executor for a subtask to end
_CLEANUP_WAIT_S = 10.0  # a job's end waits this long for its checkpoints' deletion, then goes on without it
# a deployment that meets a lost executor (its node is dying) is tried again for this long, as
# the same restart: Ray declares a lost node's actors dead ~15 s after the node died
_REDEPLOY_WAIT_S = 120.0


def _targets(partitioner: Partitioner, u: int, up: int, down: int) -> list[int]:
    """Downstream subtasks that upstream subtask ``u`` sends to."""
    if partitioner is Partitioner.FORWARD:
        return [u]
    if partitioner is Partitioner.RESCALE:
        if down >= up:
            return list(range(u * down // up, (u + 1) * down // up))
        return [u * down // up]
    return list(range(down))


def task_config(config: dict, vertex: JobVertex) -> dict:
    """The options a task of ``vertex`` runs with: the job's, with the buffer timeout its
    operators set (``DataStream.set_buffer_timeout``) in place of ``execution.buffer-timeout``."""
    timeout = vertex.buffer_timeout()
    return config if timeout is None else {**config, options.BUFFER_TIMEOUT.key: timeout}


class JobMaster:
    """Runs one job: deploys attempts, restarts them from the latest checkpoint, coordinates
    checkpoints and savepoints, rescales, serves metrics and collected records."""

    def __init__(self, job_id: str, graph: JobGraph, manager: Any, pool: ExecutorPool,
                 ha: HighAvailabilityServices) -> None:
        self.job_id = job_id
        self.graph = graph
        self.manager = manager
        self.pool = pool
        self.ha = ha
        self.config = graph.config
        self.status = JobStatus.CREATED
        self.error: TaskFailure | None = None
        self.done = threading.Event()
        self.tasks: dict[tuple[int, int], tuple[Any, str]] = {}  # (vertex, subtask) -> (executor, task key)
        self.final_metrics: dict[tuple[int, int], dict] = {}
        self.start_time = time.time()
        self.end_time: float | None = None
        self.attempt = 0
        self.restarts = 0
        self.failures: list[str] = []
        self.failovers: list[dict] = []  # per restart: wall-clock times of detection, task cancellation, redeploy
        self.stopping: str | None = None  # "cancel" or "stop" (stop-with-savepoint) once asked
        self.rescale_to: Any = None
        self.attempt_outcome = threading.Event()
        # execute_and_collect's records wait here for the client: a bounded buffer of this job
        # alone; when it is full, the collect sinks' pushes are refused (they send again later),
        # so a client that does not read holds back only its own job, never a job manager thread
        self.collected: deque = deque()
        self.collect_cond = threading.Condition()
        self.collect_receiver = OrderedReceiver(self._collect)
        self.committed: dict[Any, int] = {}  # collect sink subtask -> last committed checkpoint id
        self.stdout: list[str] = []
        self.stdout_size = 0
        self.stdout_cond = threading.Condition()
        self.stdout_receiver = OrderedReceiver(self._print)
        local_dir = options.get(self.config, options.STATE_BACKEND_LOCAL_DIR) or tempfile.gettempdir()
        self.working_dir = os.path.join(local_dir, "rayflink", job_id)
        self.coordinator = CheckpointCoordinator(job_id, self.config, self._send_control, self._checkpoints_failing,
                                                 lambda path: ha.checkpoint_completed(job_id, path))
        self.backoff = RestartBackoff(self.config)
        self.idle_timeout_s = options.get(self.config, options.TASKMANAGER_TIMEOUT) / 1000
        self.spread = options.get(self.config, options.EVENLY_SPREAD_OUT_SLOTS)

    # ---- the job's life ----------------------------------------------------------------------

    def start(self) -> None:
        """Check the savepoint to start from (if any), keep the job for recovery (high
        availability), deploy the first attempt, watch the job."""
        restore = self._savepoint()
        self.ha.add(self.job_id, self.graph, self.attempt)
        self._deploy(restore)
        self.status = JobStatus.RUNNING
        threading.Thread(target=self._run, daemon=True, name=f"job-{self.job_id}").start()

    def _savepoint(self) -> dict | None:
        """The metadata of the savepoint the job starts from (``execution.savepoint.path``), checked."""
        path = options.get(self.config, options.SAVEPOINT_PATH)
        if not path:
            return None
        restore = read_metadata(path, self.coordinator.storage_options)
        self._check_restore(restore)
        self.coordinator.next_id = restore["checkpoint_id"] + 1  # ids go on, as in Flink
        return restore

    def recover(self, attempt: int, checkpoint: str | None) -> None:
        """Take the job over from a job manager that died (high availability): its subtasks
        of ``attempt`` and earlier are dropped, and the job restarts from its latest completed
        checkpoint (metadata at ``checkpoint``; else from its savepoint, or its start) on a
        thread of its own. A recovery is not a restart: the restart strategy is not asked."""
        self.status = JobStatus.RESTARTING
        self.attempt = attempt
        self.failures.append("the job manager died; a new one recovers the job from its latest completed checkpoint")
        self.failovers.append({"attempt": attempt + 1, "detected_at": time.time(), "cause": "job manager restart"})
        threading.Thread(target=self._run, args=(True, checkpoint), daemon=True, name=f"job-{self.job_id}").start()

    def _recover(self, checkpoint: str | None) -> None:
        self.pool.drop_jobs(lambda job_id: job_id == self.job_id, _CANCEL_GRACE_S)
        self.failovers[-1]["tasks_ended_at"] = time.time()
        if any(n.transformation.operator is not None and n.transformation.operator.kind is OperatorKind.COLLECT
               for v in self.graph.vertices for n in v.nodes):
            self.error = TaskFailure("the job manager restarted and lost the records execute_and_collect had not "
                                     "handed to the client yet; a job that must survive a job manager restart "
                                     "writes to a sink (files, Kafka, JDBC, ...)", recoverable=False)
            return
        if checkpoint is None:
            restore = self._savepoint()
        else:
            restore = read_metadata(checkpoint, self.coordinator.storage_options)
            self.coordinator.adopt(restore)
        self.failovers[-1].update(deploy_started_at=time.time(),
                                  checkpoint_id=None if checkpoint is None else restore["checkpoint_id"])
        self._deploy_again(restore)
        self.status = JobStatus.RUNNING
        self.failovers[-1]["running_at"] = time.time()

    def _run(self, recover: bool = False, checkpoint: str | None = None) -> None:
        """Watch the job to its end (after recovering it from ``checkpoint`` when ``recover``)."""
        try:
            if recover:
                self._recover(checkpoint)
            if self.error is None:
                self._run_attempts()
        except Exception as exc:  # noqa: BLE001 - a fault of the job master ends the job, named, never hangs it
            import traceback

            self.error = TaskFailure(f"the job master failed: {type(exc).__name__}: {exc}",
                                     traceback=traceback.format_exc())
            try:
                self._cancel_tasks()
            except Exception:  # noqa: BLE001 - executors that are gone have nothing left to cancel
                pass
        self._finish()

    def _run_attempts(self) -> None:
        """Watch each attempt; restart, rescale or end as the restart strategy and the client say."""
        while True:
            failure = self._watch_attempt()
            if failure is not None and self.failovers:
                self.failovers[-1]["tasks_ended_at"] = time.time()
            self.coordinator.stop_attempt("the job attempt ended")
            if self.rescale_to is not None and failure is None and self.stopping == "rescale":
                restore, self.rescale_to = self._apply_rescale()
                self.stopping = None
            elif failure is not None and self.stopping is None:
                self.failures.append(failure.error)
                # state that cannot be restored (its kind changed) fails the same way every time
                delay = self.backoff.next_delay() if failure.recoverable else None
                if delay is None:
                    self.error = failure
                    return
                self.status = JobStatus.RESTARTING
                time.sleep(delay)
                restore = self.coordinator.latest_completed()
                self.restarts += 1
                self.failovers[-1].update(deploy_started_at=time.time(),
                                          checkpoint_id=restore["checkpoint_id"] if restore else None)
            else:
                return
            try:
                self._deploy_again(restore)
                self.status = JobStatus.RUNNING
                if failure is not None and self.failovers:
                    self.failovers[-1]["running_at"] = time.time()
            except Exception as exc:  # noqa: BLE001 - a redeploy that fails ends the job, named
                self.error = TaskFailure(f"cannot redeploy the job: {type(exc).__name__}: {exc}")
                return

    def _finish(self) -> None:
        self.end_time = time.time()
        self.pool.release(self.job_id)
        self.ha.remove(self.job_id)
        if self.error is not None:
            self.status = JobStatus.FAILED
        elif self.stopping == "cancel":
            self.status = JobStatus.CANCELED
        else:
            self.status = JobStatus.FINISHED
        cleanup = options.get(self.config, options.EXTERNALIZED_CHECKPOINT_RETENTION)
        if self.status is JobStatus.FINISHED or (self.status is JobStatus.CANCELED
                                                 and cleanup != "RETAIN_ON_CANCELLATION"):
            self.coordinator.discard_all()
        # a storage that does not answer must not hold the job's end: the deletion goes on after it
        self.coordinator.drain(_CLEANUP_WAIT_S)
        self.coordinator.shutdown()
        self.done.set()
        with self.stdout_cond:
            self.stdout_cond.notify_all()
        with self.collect_cond:
            self.collect_cond.notify_all()

    # ---- deployment ------------------------------------------------------------------------

    def _deploy_again(self, restore: dict | None) -> None:
        """Deploy the next attempt. One that meets a lost executor (its node is dying: Ray
        declares it dead only later) is dropped and deployed again, for up to
        ``_REDEPLOY_WAIT_S``, without counting as a restart."""
        deadline = time.monotonic() + _REDEPLOY_WAIT_S
        while True:
            self.attempt += 1
            try:
                self._deploy(restore)
                return
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise
                self.pool.drop_jobs(lambda job_id: job_id == self.job_id, _CANCEL_GRACE_S)

    def _deploy(self, restore: dict | None) -> None:
        """Place subtask ``s`` of every vertex in slot ``s`` (task executor ``s``), wire, start."""
        graph = self.graph
        self.ha.deployed(self.job_id, self.attempt)
        executors = self.pool.lease(self.job_id, max(v.parallelism for v in graph.vertices), self.idle_timeout_s,
                                    self.spread)
        inputs: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for e_index, edge in enumerate(graph.edges):
            up, down = edge.source_vertex.parallelism, edge.target_vertex.parallelism
            for u in range(up):
                for t in _targets(edge.stream_edge.partitioner, u, up, down):
                    inputs.setdefault((edge.target_vertex.id, t), []).append(
                        (e_index, u, edge.stream_edge.input_index))
        channel_of = {(key, e, u): cid for key, chans in inputs.items() for cid, (e, u, _i) in enumerate(chans)}
        self.tasks = {}
        deploys = []
        for vertex in graph.vertices:
            splits = self._source_splits(vertex, restore)
            for s in range(vertex.parallelism):
                d = self._deployment(vertex, s, [i for _e, _u, i in inputs.get((vertex.id, s), [])],
                                     [sp for k, sp in enumerate(splits) if k % vertex.parallelism == s], restore)
                executor = executors[s]
                task_key = f"{self.job_id}/{self.attempt}/{vertex.id}/{s}"
                self.tasks[(vertex.id, s)] = (executor, task_key)
                deploys.append(executor.deploy.remote(task_key, d, self.manager))
        ray.get(deploys)
        setups = []
        for vertex in graph.vertices:
            for s in range(vertex.parallelism):
                outs = []
                for e_index, edge in enumerate(graph.edges):
                    if edge.source_vertex is not vertex:
                        continue
                    se, down = edge.stream_edge, edge.target_vertex
                    ts = _targets(se.partitioner, s, vertex.parallelism, down.parallelism)
                    outs.append(OutputEdge(
                        source=se.source.id, side_tag=se.side_tag, partitioner=se.partitioner,
                        key_selector=se.key_selector, max_parallelism=down.max_parallelism,
                        target_name=se.target.name, targets=[self.tasks[(down.id, t)] for t in ts],
                        channel_ids=[channel_of[((down.id, t), e_index, s)] for t in ts],
                    ))
                executor, task_key = self.tasks[(vertex.id, s)]
                setups.append(executor.setup.remote(task_key, outs))
        ray.get(setups)
        for executor, task_key in self.tasks.values():
            executor.run.remote(task_key)  # a lost executor shows in ``_watch_attempt``
        sources = [key for key in self.tasks if self._vertex(key[0]).is_source()]
        self.coordinator.start_attempt(self.attempt, self.tasks, sources, self._graph_info())

    def _graph_info(self) -> dict:
        return {"parallelism": {n.uid: v.parallelism for v in self.graph.vertices for n in v.nodes},
                "max_parallelism": {n.uid: v.max_parallelism for v in self.graph.vertices for n in v.nodes}}

    def _source_splits(self, vertex: JobVertex, restore: dict | None) -> list:
        if not vertex.is_source():
            return []
        if restore is not None and vertex.head.uid in restore["source_splits"]:
            # [split id, uri, relpath], by split id: the subtasks read the splits (user objects)
            return sorted(restore["source_splits"][vertex.head.uid])
        return vertex.head.transformation.source.create_splits(vertex.parallelism)

    def _check_restore(self, restore: dict) -> None:
        """Refuse a savepoint whose operators are missing (unless allowed) or whose key groups changed."""
        uids = {n.uid: v for v in self.graph.vertices for n in v.nodes}
        allow = options.get(self.config, options.SAVEPOINT_IGNORE_UNCLAIMED_STATE)
        for uid in set(restore["operators"]) | set(restore["source_splits"]):
            if uid not in uids and not allow:
                raise RayflinkError(
                    f"the savepoint has state for operator uid {uid!r}, which this job does not have; "
                    "give the operator that uid again, or allow non-restored state "
                    "(execution.savepoint.ignore-unclaimed-state: true / --allow-non-restored-state)")
        for uid, old in restore.get("max_parallelism", {}).items():
            if uid in uids and uid in restore["operators"] and uids[uid].max_parallelism != old:
                raise RayflinkError(
                    f"operator uid {uid!r}: max parallelism changed from {old} to {uids[uid].max_parallelism}; "
                    "keyed state is split into max-parallelism key groups, which cannot change: "
                    f"set_max_parallelism({old})")

    def _deployment(self, vertex: JobVertex, subtask: int, input_channels: list[int],
                    splits: list, restore: dict | None) -> TaskDeployment:
        head = vertex.head
        nodes = [NodeDeployment(n.id, n.name, n.uid,
                                n.transformation.operator if n.kind != "source" else
                                OperatorSpec(OperatorKind.SOURCE, WatermarkParams(n.transformation.watermark_strategy)),
                                n.transformation.state_key_selectors, n.transformation.output_type)
                 for n in vertex.nodes]
        ids = {n.id for n in vertex.nodes}
        chained = [ChainedEdge(e.source.id, e.target.id, e.side_tag)
                   for n in vertex.nodes for e in n.out_edges
                   if e.target.id in ids and e.chained]
        is_source = head.kind == "source"
        restore_files = {}
        if restore is not None:
            restore_files = {n.uid: restore["operators"][n.uid] for n in vertex.nodes if n.uid in restore["operators"]}
        return TaskDeployment(
            job_id=self.job_id, job_name=self.graph.name, vertex_id=vertex.id, vertex_name=vertex.name,
            subtask_index=subtask, parallelism=vertex.parallelism, max_parallelism=vertex.max_parallelism,
            nodes=nodes, chained_edges=chained, input_channels=input_channels, config=task_config(self.config, vertex),
            working_dir=os.path.join(self.working_dir, str(self.attempt)), attempt=self.attempt,
            source=head.transformation.source if is_source else None,
            source_splits=splits,
            restored_splits=(self._source_splits(vertex, restore)
                             if is_source and restore is not None and head.uid in restore["source_splits"] else None),
            state_backend=self.graph.state_backend,
            checkpoint_uri=self.coordinator.uri, restore=restore_files,
        )

    # ---- watching --------------------------------------------------------------------------

    def _watch_attempt(self) -> TaskFailure | None:
        """Wait for every subtask of the attempt; return the first failure (None if none)."""
        pending = dict(self.tasks)  # (vertex, subtask) -> (executor, task key), until it ends
        key_of = {task_key: key for key, (_executor, task_key) in pending.items()}
        executors = {executor._actor_id: executor for executor, _task_key in pending.values()}
        prefix = f"{self.job_id}/{self.attempt}/"
        watches = {executor.ended.remote(prefix, _WATCH_POLL_S): actor for actor, executor in executors.items()}
        failure: TaskFailure | None = None
        cancel_deadline = None
        while pending:
            ready, _ = ray.wait(list(watches), num_returns=1, timeout=0.2)
            for ref in ready:
                actor = watches.pop(ref)
                try:
                    ended = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost executor loses every subtask it ran
                    ended = [(task_key, exc) for executor, task_key in pending.values()
                             if executor._actor_id == actor]
                for task_key, result in ended:
                    key = key_of[task_key]
                    if pending.pop(key, None) is None:
                        continue
                    if isinstance(result, BaseException):
                        result = self._lost(key, result)
                    if result.metrics is not None:
                        self.final_metrics[key] = result.metrics
                    if result.status is ExecutionState.FINISHED:  # a failed or cancelled subtask did not finish
                        self.coordinator.task_finished(key)
                    if result.status is ExecutionState.FAILED and failure is None:
                        failure = result.failure
                        self.failovers.append({"attempt": self.attempt, "detected_at": time.time()})
                        self._cancel_tasks()
                if any(executor._actor_id == actor for executor, _task_key in pending.values()):
                    watches[executors[actor].ended.remote(prefix, _WATCH_POLL_S)] = actor
            if (failure is not None or self.stopping) and pending:
                cancel_deadline = cancel_deadline or time.monotonic() + _CANCEL_GRACE_S
                if time.monotonic() > cancel_deadline:  # stuck in user code: only killing stops it
                    for executor in {id(e): e for e, _task_key in pending.values()}.values():
                        ray.kill(executor, no_restart=True)
        return failure

    def _lost(self, key: tuple[int, int], exc: BaseException) -> TaskResult:
        """The failure of a subtask whose executor was lost (or whose loop broke)."""
        vertex = self._vertex(key[0])
        return TaskResult(ExecutionState.FAILED, failure=TaskFailure(
            f"task {vertex.name!r} subtask {key[1] + 1}/{vertex.parallelism} "
            f"was lost: {type(exc).__name__}: {str(exc)[:500]}",
            operator=vertex.name, uid=vertex.head.uid, subtask=key[1]))

    def _checkpoints_failing(self, reason: str) -> None:
        """More checkpoints failed in a row than tolerated: fail the attempt (the restart strategy decides)."""
        for executor, task_key in self.tasks.values():
            executor.fail.remote(task_key, reason)

    def _send_control(self, key: Any, message: Any) -> None:
        executor, task_key = self.tasks[key]
        executor.control.remote(task_key, message)

    def _vertex(self, vertex_id: int) -> JobVertex:
        return next(v for v in self.graph.vertices if v.id == vertex_id)

    def _cancel_tasks(self) -> None:
        for executor, task_key in self.tasks.values():
            executor.cancel.remote(task_key)

    # ---- client requests --------------------------------------------------------------------

    def cancel(self) -> None:
        if self.status.is_terminal():
            return
        self.stopping = "cancel"
        self.status = JobStatus.CANCELING
        self._cancel_tasks()

    def trigger_savepoint(self, path: str, timeout: float = 600.0, stop: bool = False) -> str:
        """Take a savepoint into ``path``; return the path of its metadata."""
        p = self.coordinator.trigger(savepoint_uri=path, stop=stop)
        if not p.done.wait(timeout):
            raise CheckpointFailure(f"savepoint {p.checkpoint_id} to {path} did not complete in {timeout} s")
        if p.failure:
            raise CheckpointFailure(f"savepoint to {path} failed: {p.failure}")
        return path

    def stop_with_savepoint(self, path: str) -> str:
        """Take a savepoint, then stop the job (it ends FINISHED)."""
        result = self.trigger_savepoint(path, stop=True)
        self.stopping = "stop"
        self._cancel_tasks()
        return result

    def rescale(self, parallelism: Any, path: str) -> str:
        """Savepoint, then redeploy at ``parallelism`` (an int for every operator, or uid -> int)."""
        new = self._rescaled_parallelism(parallelism)
        result = self.trigger_savepoint(path, stop=True)
        self.rescale_to = (new, read_metadata(path, self.coordinator.storage_options))
        self.ha.checkpoint_completed(self.job_id, path)  # a recovery from here on restores the savepoint
        self.stopping = "rescale"
        # RESTARTING until the new attempt is deployed and checkpointing: a savepoint or rescale asked for
        # in between would find the coordinator still stopped
        self.status = JobStatus.RESTARTING
        self._cancel_tasks()
        return result

    def _rescaled_parallelism(self, parallelism: Any) -> dict[int, int]:
        new = {}
        for v in self.graph.vertices:
            p = parallelism if isinstance(parallelism, int) else parallelism.get(v.head.uid, v.parallelism)
            if not isinstance(p, int) or p < 1 or p > v.max_parallelism:
                raise RayflinkError(f"rescale: parallelism {p!r} for {v.name!r} must be in 1..{v.max_parallelism} "
                                    "(max parallelism)")
            new[v.id] = p
        return new

    def _apply_rescale(self) -> tuple[dict, None]:
        new, restore = self.rescale_to
        for v in self.graph.vertices:
            v.parallelism = new[v.id]
            for n in v.nodes:
                n.parallelism = new[v.id]
        self.ha.update_graph(self.job_id, self.graph)
        return restore, None

    def query_kv_state(self, name: str, key: Any, timeout: float) -> dict:
        """Ask the subtask that owns ``key``'s key group, in every keyed vertex, for the state
        queryable as ``name``; the first that has it answers (see ``StreamTask._answer_query``)."""
        if self.status is not JobStatus.RUNNING:
            return {"status": "NOT_RUNNING", "job_status": self.status}
        asked = []
        try:
            hash(key)  # keyed state lives in dicts: a key must be hashable (and routable, below)
        except TypeError:
            return {"status": "ERROR", "message": f"the key {truncate(key, 100)} of type {type(key).__qualname__} "
                                                  "is not hashable; query with the key the key selector returns"}
        try:
            for vertex in self.graph.vertices:
                if not any(n.transformation.state_key_selectors for n in vertex.nodes):
                    continue
                key_group = assign_key_group(key, vertex.max_parallelism)
                subtask = operator_index_for_key_group(key_group, vertex.parallelism, vertex.max_parallelism)
                located = self.tasks.get((vertex.id, subtask))
                if located is None:  # between two attempts (a restart or a rescale)
                    return {"status": "NOT_RUNNING", "job_status": JobStatus.RESTARTING}
                executor, task_key = located
                asked.append(executor.query_kv_state.remote(task_key, name, key, timeout))
        except UnhashableKeyError as exc:
            return {"status": "ERROR", "message": str(exc)}
        known: set[str] = set()
        timed_out = False
        for ref in asked:
            try:
                answer = ray.get(ref, timeout=timeout + 5)
            except Exception as exc:  # noqa: BLE001 - a lost subtask or a restart under way
                return {"status": "ERROR", "message": f"the subtask did not answer: {type(exc).__name__}: "
                                                      f"{str(exc)[:300]}"}
            if answer["status"] == "OK":
                return answer
            if answer["status"] == "UNKNOWN_STATE":
                known.update(answer["known"])
            elif answer["status"] in ("TIMEOUT", "NO_TASK"):
                timed_out = True
            else:
                return answer
        if timed_out:
            return {"status": "TIMEOUT"}
        return {"status": "UNKNOWN_STATE", "known": sorted(known)}

    def get_status(self) -> dict:
        return {"job_id": self.job_id, "name": self.graph.name, "status": self.status,
                "error": None if self.error is None else self.error.to_dict(),
                "start_time": self.start_time, "end_time": self.end_time, "restarts": self.restarts,
                "attempt": self.attempt, "failures": list(self.failures),
                "failovers": [dict(f) for f in self.failovers]}

    def checkpoint_history(self) -> list[dict]:
        """The latest ``web.checkpoints.history`` checkpoints and savepoints, oldest first."""
        return self.coordinator.statistics()["history"]

    def checkpoint_statistics(self) -> dict:
        """Counts over the job's life, the latest of each kind, and the recent history."""
        return self.coordinator.statistics()

    def metrics(self) -> dict:
        """Per-vertex and per-subtask metrics: live from running tasks, final from finished ones."""
        subtasks = {k: m for k, m in self.final_metrics.items()}
        live = {key: executor.metrics.remote(task_key)
                for key, (executor, task_key) in self.tasks.items()}
        for key, ref in live.items():
            try:
                m = ray.get(ref, timeout=5)
            except Exception:  # noqa: BLE001 - a task that just ended has its final metrics next time
                continue
            if m is not None:
                subtasks[key] = m
        vertices = []
        for vertex in self.graph.vertices:
            subs = [subtasks[(vertex.id, s)] for s in range(vertex.parallelism) if (vertex.id, s) in subtasks]
            vertices.append({
                "id": vertex.id, "name": vertex.name, "parallelism": vertex.parallelism,
                "records_in": sum(m["records_in"] for m in subs),
                "records_out": sum(m["records_out"] for m in subs),
                "records_in_per_s": sum(m["records_in_per_s"] for m in subs),
                "records_out_per_s": sum(m["records_out_per_s"] for m in subs),
                "backpressure_ratio": max((m["backpressure_ratio"] for m in subs), default=0.0),
                "subtasks": subs,
            })
        return {"job_id": self.job_id, "name": self.graph.name, "status": self.status, "restarts": self.restarts,
                "vertices": vertices}

    # ---- collect and print sinks ----------------------------------------------------------------

    def _collect_refuses(self) -> bool:
        """The collect buffer is full and the job still wants its records: refuse a push."""
        return (len(self.collected) >= _COLLECT_BUFFER_BATCHES and self.stopping != "cancel"
                and not self.done.is_set())

    def collect_push(self, channel: Any, seq: int, values: list) -> bool:
        """Take a collect sink's batch; False (nothing taken) while the buffer is full."""
        if self._collect_refuses():
            return False
        self.collect_receiver.receive(channel, seq, values)
        return True

    def collect_commit(self, channel: Any, checkpoint_id: int, values: list) -> bool:
        """Records a collect sink releases at checkpoint ``checkpoint_id`` (once, even after a
        restore); False (nothing taken) while the buffer is full."""
        if checkpoint_id <= self.committed.get(channel, 0):
            return True
        if self._collect_refuses():
            return False
        self.committed[channel] = checkpoint_id
        self._collect(channel, values)
        return True

    def _collect(self, _channel: Any, values: list) -> None:
        with self.collect_cond:
            if self.stopping == "cancel" or self.done.is_set():
                return  # nobody will read them
            self.collected.append(values)
            self.collect_cond.notify_all()

    def collect_pull(self, timeout: float) -> tuple[str, Any]:
        """Every collected record available now: ("DATA", records), ("END", None) once the job
        ended and every record was pulled, or ("WAIT", None) after ``timeout`` s without any."""
        with self.collect_cond:
            if not self.collected and not self.done.is_set():
                self.collect_cond.wait(timeout)
            if not self.collected:
                return ("END", None) if self.done.is_set() else ("WAIT", None)
            records: list = []
            while self.collected and len(records) < _COLLECT_PULL_RECORDS:
                records.extend(self.collected.popleft())
        return ("DATA", records)

    def _print(self, _channel: Any, text: str) -> None:
        with self.stdout_cond:
            if self.stdout_size > _STDOUT_LIMIT:  # nobody reads: write here (Ray forwards it) rather than grow
                sys.stdout.write("".join(self.stdout))
                sys.stdout.flush()
                self.stdout.clear()
                self.stdout_size = 0
            self.stdout.append(text)
            self.stdout_size += len(text)
            self.stdout_cond.notify_all()

    def wait_output(self, timeout: float) -> tuple[str, str]:
        with self.stdout_cond:
            if not self.stdout and not self.done.is_set():
                self.stdout_cond.wait(timeout)
            text = "".join(self.stdout)
            self.stdout.clear()
            self.stdout_size = 0
        return self.status, text


@ray.remote(concurrency_groups={"client": 8, "poll": 16, "savepoints": 4, "checkpoints": 8, "sinks": 16,
                                "query": 8})
class JobManager:
    """One per Ray cluster (Flink's dispatcher): hosts a JobMaster per submitted job.

    Its methods run on threads in groups, so that calls that wait cannot hold back the others:
    ``client`` answers at once (status, cancel, metrics, submit), ``poll`` waits up to the
    timeout the client gives (printed output, collected records), ``savepoints`` waits for a
    savepoint, ``checkpoints`` takes the subtasks' acknowledgements, ``sinks`` the print and
    collect sinks' batches (never waiting: a full collect buffer refuses), ``query`` queryable
    state.

    Ray restarts it when it dies (``max_restarts``, also on another node when its node is
    lost); the restarted one takes over the jobs the one before left running, from the records
    its high-availability services kept (``rayflink.runtime.high_availability``).
    """

    def __init__(self) -> None:
        self.jobs: dict[str, JobMaster] = {}
        self.rest: RestEndpoint | None = None
        self.pool = ExecutorPool()
        self.ha = HighAvailabilityServices()
        me = ray.get_runtime_context().current_actor
        for record, graph in self.ha.recover():
            try:
                self._start_rest(graph.config)
                master = JobMaster(record.job_id, graph, me, self.pool, self.ha)
            except Exception as exc:  # noqa: BLE001 - named; the other jobs still recover, the job manager starts
                print(f"rayflink: cannot recover job {record.job_id}: {type(exc).__name__}: {str(exc)[:500]}",
                      file=sys.stderr)
                self.ha.remove(record.job_id)
                continue
            self.jobs[record.job_id] = master
            master.recover(record.attempt, record.checkpoint)
        # subtasks of jobs a job manager before this one ran and nothing recovers (not kept for
        # high availability): nobody could list, cancel or restart them (a job is known here
        # before any subtask of it is deployed)
        threading.Thread(target=self.pool.drop_jobs, args=(lambda job_id: job_id not in self.jobs, _CANCEL_GRACE_S),
                         daemon=True, name="drop-orphans").start()
        threading.Thread(target=self._release_idle_executors, daemon=True, name="executor-release").start()

    def _release_idle_executors(self) -> None:
        while True:
            time.sleep(_RELEASE_CHECK_S)
            try:
                self.pool.release_idle(warm=int(ray.cluster_resources().get("CPU", 1)))
            except Exception as exc:  # noqa: BLE001 - try again at the next round; never stop releasing
                print(f"rayflink: releasing idle task executors failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr)

    def _start_rest(self, config: dict) -> None:
        """Start the REST endpoint if it is not running: the first job's ``rest.*`` options configure it."""
        if self.rest is None:
            rest = RestEndpoint(lambda: self.jobs, executor_infos,
                                {k: v for k, v in config.items() if k.startswith("rest.")})
            rest.start()
            self.rest = rest

    @ray.method(concurrency_group="client")
    def submit(self, job_id: str, graph: JobGraph) -> dict:
        self._start_rest(graph.config)
        me = ray.get_runtime_context().current_actor
        master = JobMaster(job_id, graph, me, self.pool, self.ha)
        self.jobs[job_id] = master
        self._forget_old_jobs()
        try:
            master.start()
        except BaseException:
            self.pool.release(job_id)
            self.ha.remove(job_id)
            del self.jobs[job_id]
            raise
        return master.get_status()

    def ping(self) -> None:
        """Liveness, for the task executors (in the default group, which nothing else uses)."""

    def _forget_old_jobs(self, keep: int = 100) -> None:
        ended = [j for j, m in self.jobs.items() if m.status.is_terminal()]
        for job_id in ended[: max(0, len(ended) - keep)]:
            del self.jobs[job_id]

    @ray.method(concurrency_group="client")
    def rest_url(self) -> str | None:
        """Where the REST API and web UI of this cluster answer."""
        return None if self.rest is None else self.rest.url

    @ray.method(concurrency_group="client")
    def list_jobs(self) -> list[dict]:
        return [m.get_status() for m in self.jobs.values()]

    @ray.method(concurrency_group="client")
    def status(self, job_id: str) -> dict:
        return self._job(job_id).get_status()

    @ray.method(concurrency_group="client")
    def cancel(self, job_id: str) -> None:
        self._job(job_id).cancel()

    @ray.method(concurrency_group="client")
    def metrics(self, job_id: str) -> dict:
        return self._job(job_id).metrics()

    @ray.method(concurrency_group="client")
    def checkpoint_history(self, job_id: str) -> list[dict]:
        return self._job(job_id).checkpoint_history()

    @ray.method(concurrency_group="client")
    def checkpoint_statistics(self, job_id: str) -> dict:
        return self._job(job_id).checkpoint_statistics()

    @ray.method(concurrency_group="savepoints")
    def trigger_savepoint(self, job_id: str, path: str | None) -> str:
        master = self._job(job_id)
        return master.trigger_savepoint(options.savepoint_directory(master.config, path))

    @ray.method(concurrency_group="savepoints")
    def stop_with_savepoint(self, job_id: str, path: str | None) -> str:
        master = self._job(job_id)
        return master.stop_with_savepoint(options.savepoint_directory(master.config, path))

    @ray.method(concurrency_group="savepoints")
    def rescale(self, job_id: str, parallelism: Any, path: str) -> str:
        return self._job(job_id).rescale(parallelism, path)

    @ray.method(concurrency_group="checkpoints")
    def checkpoint_ack(self, job_id: str, attempt: int, key: Any, checkpoint_id: int, info: dict) -> None:
        master = self.jobs.get(job_id)
        if master is not None:
            master.coordinator.ack(attempt, key, checkpoint_id, info)

    @ray.method(concurrency_group="checkpoints")
    def checkpoint_decline(self, job_id: str, attempt: int, key: Any, checkpoint_id: int, reason: str) -> None:
        master = self.jobs.get(job_id)
        if master is not None:
            master.coordinator.decline(attempt, key, checkpoint_id, reason)

    @ray.method(concurrency_group="checkpoints")
    def task_reached_end(self, job_id: str, attempt: int, key: Any) -> None:
        self._if_known(job_id, lambda master: master.coordinator.task_reached_end(attempt, key))

    @ray.method(concurrency_group="sinks")
    def collect_commit(self, job_id: str, channel_id: Any, checkpoint_id: int, values: list) -> bool:
        """False while the job's collect buffer is full: the sink commits again later."""
        return self._if_known(job_id, lambda master: master.collect_commit(channel_id, checkpoint_id, values), True)

    @ray.method(concurrency_group="query")
    def query_kv_state(self, job_id: str, name: str, key: Any, timeout: float) -> dict:
        """One key of a queryable state of a running job (``QueryableStateClient`` asks this)."""
        master = self.jobs.get(job_id)
        if master is None:
            return {"status": "UNKNOWN_JOB", "known": list(self.jobs)}
        return master.query_kv_state(name, key, timeout)

    @ray.method(concurrency_group="poll")
    def wait_output(self, job_id: str, timeout: float) -> tuple[str, str]:
        return self._job(job_id).wait_output(timeout)

    @ray.method(concurrency_group="poll")
    def collect_pull(self, job_id: str, timeout: float) -> tuple[str, Any]:
        return self._job(job_id).collect_pull(timeout)

    @ray.method(concurrency_group="sinks")
    def collect_push(self, job_id: str, channel_id: Any, seq: int, values: list) -> bool:
        """False while the job's collect buffer is full: the sink sends the batch again later."""
        return self._if_known(job_id, lambda master: master.collect_push(channel_id, seq, values), True)

    @ray.method(concurrency_group="sinks")
    def print_push(self, job_id: str, channel_id: Any, seq: int, text: str) -> None:
        self._if_known(job_id, lambda master: master.stdout_receiver.receive(channel_id, seq, text))

    def _if_known(self, job_id: str, call: Callable[[JobMaster], Any], default: Any = None) -> Any:
        """``call`` on the job's master; ``default`` when the job is not here (any more): what a
        task sends about a job that has ended is dropped."""
        master = self.jobs.get(job_id)
        return default if master is None else call(master)

    def _job(self, job_id: str) -> JobMaster:
        try:
            return self.jobs[job_id]
        except KeyError:
            known = ", ".join(list(self.jobs)[-10:]) or "none"
            raise UnknownJobError(f"no job {job_id!r} on this cluster (recent jobs: {known}; "
                                  "`rayflink list` shows them all)") from None


def job_manager() -> Any:
    """The cluster's job manager, started on first use; Ray restarts it whenever it dies.

    It runs on the head node (as Ray Train's state actor does), with Ray's GCS: a head node
    lost is the cluster lost, unless the GCS is fault tolerant (an external Redis), and then
    the head node that takes over restarts the job manager."""
    return JobManager.options(name="job-manager", namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                              num_cpus=0, resources={"node:__internal_head__": 0.001}, max_restarts=-1).remote()
