"""``QueryableStateClient``: read one key of a running job's queryable keyed state."""

from __future__ import annotations

import pickle
from typing import Any

import ray

from rayflink.errors import QueryableStateError, UnknownJobError, UnknownKvStateError

_NO_DEFAULT = object()


class QueryableStateClient:
    """Reads keyed state that a running job made queryable, by key, from any process of the Ray cluster.

    A state becomes queryable with ``descriptor.set_queryable(name)`` before the job registers it,
    or with ``keyed_stream.as_queryable_state(name)`` (the latest value per key). The request goes
    to the job's job master, which routes it to the subtask owning the key's key group
    (``rayflink.state.key_groups``); that subtask reads the value between two record batches.

    >>> client = QueryableStateClient(job_client.get_job_id())       # doctest: +SKIP
    >>> client.get_kv_state("count-by-user", "alice")                 # doctest: +SKIP
    42

    ``key`` must be the value the job's key selector returns for the key (same type: ``1`` and
    ``"1"`` are different keys).
    """

    def __init__(self, job_id: Any, timeout_s: float = 10.0) -> None:
        self.job_id = job_id.get_job_id() if hasattr(job_id, "get_job_id") else str(job_id)
        self.timeout_s = timeout_s
        self._manager: Any = None

    def _job_manager(self) -> Any:
        if self._manager is None:
            from rayflink.runtime.cluster import ensure_ray
            from rayflink.runtime.executor import NAMESPACE

            ensure_ray()
            try:
                self._manager = ray.get_actor("job-manager", namespace=NAMESPACE)
            except ValueError:
                raise UnknownJobError(f"no job {self.job_id!r}: no job has run on this Ray cluster "
                                      "(RAY_ADDRESS names the cluster to connect to)") from None
        return self._manager

    def get_kv_state(self, queryable_state_name: str, key: Any, default: Any = None) -> Any:
        """The value of ``key`` in the state queryable as ``queryable_state_name``.

        Returns what the job would read for that key — the value for ValueState, ReducingState
        and AggregatingState, a list for ListState, a dict for MapState — or ``default`` when the
        key has no value. Raises UnknownJobError (no such job), UnknownKvStateError (no state of
        that name; the message lists the queryable names) and QueryableStateError (the job is not
        running, or its subtask did not answer within ``timeout_s``).
        """
        answer = ray.get(self._job_manager().query_kv_state.remote(
            self.job_id, queryable_state_name, key, self.timeout_s))
        status = answer["status"]
        if status == "OK":
            return pickle.loads(answer["value"]) if answer["found"] else default
        where = f"job {self.job_id!r}"
        if status == "UNKNOWN_JOB":
            raise UnknownJobError(f"no job {self.job_id!r} on this cluster "
                                  f"(known: {', '.join(answer['known']) or 'none'})")
        if status == "UNKNOWN_STATE":
            names = ", ".join(repr(n) for n in answer["known"]) or "none"
            raise UnknownKvStateError(
                f"{where} has no state queryable as {queryable_state_name!r} (queryable states: {names}); "
                "mark one with descriptor.set_queryable(name) or keyed_stream.as_queryable_state(name)")
        if status == "NOT_RUNNING":
            raise QueryableStateError(f"{where} is {answer['job_status']}: queryable state is served only "
                                      "while the job runs")
        if status == "TIMEOUT":
            raise QueryableStateError(
                f"{where}: the subtask owning key {key!r:.80} did not answer state {queryable_state_name!r} "
                f"within {self.timeout_s} s (backpressured or restarting); retry, or raise timeout_s")
        raise QueryableStateError(f"{where}: cannot read key {key!r:.80} of state {queryable_state_name!r}: "
                                  f"{answer.get('message')}")
