"""``JobClient``: submit a job graph to a job master actor, watch it, cancel it, read its metrics."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ray

from rayflink.common.configuration import CONFIG_ENV
from rayflink.common.job_id import JobID
from rayflink.errors import JobCancelledError, JobExecutionError, JobManagerUnavailableError, RayflinkError
from rayflink.graph.job_graph import JobGraph
from rayflink.runtime.cluster import ensure_ray


@dataclass(frozen=True)
class JobExecutionResult:
    """What ``execute()`` returns for a finished job."""

    job_id: str
    job_name: str
    net_runtime_ms: int
    metrics: dict

    def get_job_id(self) -> JobID:
        return JobID(self.job_id)

    def get_net_runtime(self) -> int:
        return self.net_runtime_ms


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (Ray colours the tracebacks it forwards)."""
    return _ANSI.sub("", text)


def call(ref: Any) -> Any:
    """The result of a job manager call (``ray.get``), raising what the job manager raised.

    A rayflink error raised in the job manager reaches the caller as itself, with its own
    message (not wrapped in Ray's coloured remote traceback); any other exception is raised as
    itself with the remote traceback, uncoloured, as a note; a job manager that died (or is
    restarting) raises JobManagerUnavailableError.
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, RayflinkError):
            raise cause from None
        if isinstance(cause, Exception):
            cause.add_note("raised in the job manager:\n" + strip_ansi(str(exc)))
            raise cause from None
        raise RayflinkError(strip_ansi(str(exc))) from None
    except ray.exceptions.RayActorError as exc:
        raise JobManagerUnavailableError(
            "the job manager did not answer (its Ray actor died; Ray restarts it, and it recovers the jobs "
            f"that have a checkpoint directory or high-availability.storageDir): {strip_ansi(str(exc))[:500]}"
        ) from None


def submit_job(graph: JobGraph) -> "JobClient":
    """Start a job master for ``graph`` and deploy the job; returns at once."""
    ensure_ray()
    from rayflink.runtime.job_master import job_manager

    _ship_user_modules(graph)
    job_id = JobID.generate()
    manager = job_manager()
    call(manager.submit.remote(job_id, graph))
    if CONFIG_ENV in os.environ:  # run by `rayflink run`: say which job it is, as `flink run` does
        print(f"Job has been submitted with JobID {job_id}", flush=True)
    return JobClient(job_id, graph.name, manager)


_OWN_PACKAGES = ("rayflink", "operators", "connectors", "apps")


def _ship_user_modules(graph: JobGraph) -> None:
    """Pickle the user's own modules by value, so workers need not import them (tests, notebooks, scripts)."""
    import ray.cloudpickle as cloudpickle

    stdlib_roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    seen: set[str] = set()

    def visit(obj: Any, depth: int = 0) -> None:
        if obj is None or depth > 3:
            return
        module_name = getattr(obj, "__module__", None) or type(obj).__module__
        if isinstance(module_name, str) and module_name not in seen:
            seen.add(module_name)
            module = sys.modules.get(module_name)
            path = getattr(module, "__file__", None)
            if (module is not None and path and module_name != "__main__"
                    and module_name.split(".")[0] not in _OWN_PACKAGES
                    and not any(os.path.realpath(path).startswith(root) for root in stdlib_roots)):
                cloudpickle.register_pickle_by_value(module)
        if isinstance(obj, dict):
            for value in obj.values():
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                visit(value, depth + 1)

    for vertex in graph.vertices:
        for node in vertex.nodes:
            t = node.transformation
            visit(vars(t.operator.params) if t.operator else None)
            visit(t.state_key_selectors)
            visit(t.source)
            visit(t.watermark_strategy)
            visit(getattr(t.watermark_strategy, "timestamp_assigner", None))
            visit(t.output_type)
            for edge in node.out_edges:
                visit(edge.key_selector)
                visit(edge.side_tag)


_RECONNECT_S = 60.0  # how long a client asks again while the job manager restarts
_RECONNECT_POLL_S = 0.2


class JobClient:
    """Handle to a submitted job (``env.execute_async`` returns one).

    It outlives a restart of the job manager: a request the job manager could not answer
    because it died is asked again, of the restarted one (found by name), for up to
    ``_RECONNECT_S``; the restarted job manager has recovered the job by then (see
    ``rayflink.runtime.high_availability``).
    """

    def __init__(self, job_id: str, job_name: str, manager: Any) -> None:
        self.job_id = job_id
        self.job_name = job_name
        self._manager = manager
        self._final: dict | None = None
        self._final_metrics: dict | None = None

    def _ask(self, method: str, *args: Any) -> Any:
        """``method`` of the job manager, asked again of the restarted one if it died meanwhile."""
        from rayflink.runtime.job_master import job_manager

        deadline = time.monotonic() + _RECONNECT_S
        while True:
            try:
                return call(getattr(self._manager, method).remote(*args))
            except JobManagerUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(_RECONNECT_POLL_S)
                self._manager = job_manager()  # the same actor once Ray restarted it

    def get_job_id(self) -> JobID:
        return JobID(self.job_id)

    def get_rest_url(self) -> str | None:
        """The URL of the cluster's REST API and web UI (``http://127.0.0.1:8081`` by default)."""
        return self._ask("rest_url")

    def get_job_status(self) -> str:
        """CREATED, RUNNING, CANCELING, FINISHED, FAILED or CANCELED."""
        if self._final is not None:
            return self._final["status"]
        return self._ask("status", self.job_id)["status"]

    def cancel(self) -> None:
        """Cancel the job; ``get_job_execution_result`` then raises JobCancelledError."""
        if self._final is None:
            self._ask("cancel", self.job_id)

    def trigger_savepoint(self, savepoint_directory: str | None = None) -> str:
        """Take a savepoint (a backend-independent copy of all state) into ``savepoint_directory``
        (default: the job's ``execution.checkpointing.savepoint-dir``)."""
        return self._ask("trigger_savepoint", self.job_id, savepoint_directory)

    def stop_with_savepoint(self, savepoint_directory: str | None = None) -> str:
        """Take a savepoint (into ``savepoint_directory``, default as ``trigger_savepoint``), then
        stop the job; it ends FINISHED."""
        path = self._ask("stop_with_savepoint", self.job_id, savepoint_directory)
        self.wait()
        return path

    def rescale(self, new_parallelism: Any, savepoint_directory: str | None = None) -> str:
        """Savepoint and redeploy at ``new_parallelism`` (an int, or operator uid -> int) in one call."""
        if savepoint_directory is None:
            import tempfile

            savepoint_directory = "file://" + os.path.join(tempfile.gettempdir(), "rayflink-savepoints",
                                                           f"{self.job_id}-rescale-{time.time_ns()}")
        return self._ask("rescale", self.job_id, new_parallelism, savepoint_directory)

    def get_checkpoint_history(self) -> list[dict]:
        """The latest checkpoints and savepoints (``web.checkpoints.history``, default 10), oldest
        first: id, status, trigger time, duration, size, alignment, failure."""
        return self._ask("checkpoint_history", self.job_id)

    def get_checkpoint_statistics(self) -> dict:
        """Flink's checkpointing statistics: ``counts`` (completed, failed, in_progress, total over
        the job's life), ``latest`` (completed, savepoint, failed) and ``history`` (as above)."""
        return self._ask("checkpoint_statistics", self.job_id)

    def get_status(self) -> dict:
        """Status, restarts, the failures that caused them, and the final error if any."""
        if self._final is not None:
            return self._final
        return self._ask("status", self.job_id)

    def get_metrics(self) -> dict:
        """Per vertex: records in/out, records/s, backpressure ratio, and per subtask its node and actor."""
        if self._final_metrics is not None:
            return self._final_metrics
        return self._ask("metrics", self.job_id)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (or ``timeout`` s), printing what print() sinks wrote; return the status.

        Ctrl-C or SIGTERM (``ray job stop``) while waiting cancels the job, then ends the process.
        """
        if self._final is not None:
            return self._final["status"]
        deadline = None if timeout is None else time.monotonic() + timeout
        with _sigterm_raises_system_exit():
            try:
                while True:
                    left = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
                    status, text = self._ask("wait_output", self.job_id, left)
                    if text:
                        sys.stdout.write(text)
                        sys.stdout.flush()
                    if status in ("FINISHED", "FAILED", "CANCELED"):
                        self._finalize(self._ask("status", self.job_id))
                        return status
                    if deadline is not None and time.monotonic() >= deadline:
                        return status
            except (KeyboardInterrupt, SystemExit):
                # the process waiting for its job is told to stop (Ctrl-C, `ray job stop`): so is the job
                self.cancel()
                raise

    def _finalize(self, status: dict) -> None:
        self._final_metrics = self._ask("metrics", self.job_id)
        self._final = status

    def get_job_execution_result(self) -> JobExecutionResult:
        """Wait for the end of the job; raise JobExecutionError naming the failing operator."""
        self.wait()
        status = self._final
        if status["status"] == "FAILED":
            err = status["error"] or {}
            raise JobExecutionError(
                f"job {self.job_name!r} ({self.job_id}) failed: {strip_ansi(str(err.get('error')))}",
                operator=err.get("operator"), uid=err.get("uid"), subtask=err.get("subtask"),
                record=err.get("record"), cause=strip_ansi(err["traceback"]) if err.get("traceback") else None,
            )
        if status["status"] == "CANCELED":
            raise JobCancelledError(f"job {self.job_name!r} ({self.job_id}) was cancelled")
        runtime = int(((status.get("end_time") or 0) - status["start_time"]) * 1000)
        return JobExecutionResult(self.job_id, self.job_name, runtime, self._final_metrics or {})


@contextlib.contextmanager
def _sigterm_raises_system_exit() -> Iterator[None]:
    """While a job is waited for, SIGTERM (what ``ray job stop`` and ``kill`` send) raises
    SystemExit(143) in the main thread, so the wait can cancel the job before the process ends.
    A handler the program set itself stays as it is."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class CloseableIterator:
    """What ``execute_and_collect`` returns: the job's records, pulled as the job makes them.

    Iterate it (or call ``next()``, which raises ``StopIteration`` at the end); ``close()``, or
    leaving a ``with`` block, cancels a job still running. The end of the records raises what
    the job failed with, if it failed.

    >>> with env.from_collection([1, 2]).execute_and_collect() as results:  # doctest: +SKIP
    ...     print(results.next(), list(results))
    1 [2]
    """

    def __init__(self, client: JobClient) -> None:
        self.client = client
        self._buffer: list = []
        self._pos = 0
        self._ended = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return self.next()

    def next(self) -> Any:
        """The next record; raises ``StopIteration`` when the job has ended and all are read."""
        while self._pos >= len(self._buffer):
            if self._ended:
                raise StopIteration
            kind, values = self.client._ask("collect_pull", self.client.job_id, 1.0)
            if kind == "DATA":
                self._buffer, self._pos = values, 0
            elif kind == "END":
                self._ended = True
                self.client.get_job_execution_result()  # raises if the job failed
        value = self._buffer[self._pos]
        self._pos += 1
        return value

    def close(self) -> None:
        """Stop reading: records not read yet are dropped, and a job still running is cancelled."""
        self._buffer, self._pos = [], 0
        if not self._ended:
            self._ended = True
            self.client.cancel()
            try:
                self.client.get_job_execution_result()
            except JobCancelledError:
                pass

    def __enter__(self) -> "CloseableIterator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
