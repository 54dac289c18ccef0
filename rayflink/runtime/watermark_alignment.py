"""Watermark alignment (``WatermarkStrategy.with_watermark_alignment``): the source subtasks of one
watermark group stop reading while their watermark is more than the maximal drift ahead of the
group's slowest member, and read on once it catches up (Flink's semantics, per subtask).

A coordinator actor per (job, group) keeps each member's last reported watermark; every member
reports its watermark every update interval and gets back the group's *maximal allowed
watermark*, the members' minimum plus the drift. A member that has not emitted a watermark yet
counts with the lowest watermark; an idle member, or one that finished, counts with none (Flink
reports them as ``Long.MAX_VALUE``). The minimum only grows, so a member deciding on an
allowance an update old waits at most longer than needed, never less. Members register before
they read (their first report waits for the answer), so no member races ahead of one that has
not started; after a restart, the members of older attempts are dropped as the new ones
register. The coordinator ends itself when its last member leaves.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from rayflink.runtime.messages import MAX_WATERMARK, MIN_WATERMARK


class WatermarkAlignmentCoordinator:
    """The members' watermarks of one watermark group of one job (an actor, ``_COORDINATOR``)."""

    def __init__(self, drift_ms: int) -> None:
        self.drift_ms = drift_ms
        self.attempt = -1
        self.watermarks: dict[Any, int] = {}  # member -> its last watermark (MAX_WATERMARK: idle)

    def report(self, attempt: int, member: Any, watermark: int) -> int:
        """Record ``member``'s watermark (MAX_WATERMARK when idle); return the maximal allowed watermark."""
        if attempt > self.attempt:  # a restart: the members of the older attempt are gone
            self.attempt, self.watermarks = attempt, {}
        if attempt == self.attempt:
            self.watermarks[member] = watermark
        return self.max_allowed()

    def leave(self, attempt: int, member: Any) -> None:
        """``member`` finished or stopped: it holds nobody back any more."""
        if attempt == self.attempt:
            self.watermarks.pop(member, None)
        if not self.watermarks:
            ray.actor.exit_actor()

    def max_allowed(self) -> int:
        low = min(self.watermarks.values(), default=MAX_WATERMARK)
        return MAX_WATERMARK if low == MAX_WATERMARK else min(low + self.drift_ms, MAX_WATERMARK)


_COORDINATOR: Any = ray.remote(WatermarkAlignmentCoordinator)


class AlignedSource:
    """A source subtask's side of its watermark group: reports its watermark every update
    interval and answers whether it must pause (``paused``).

    >>> aligned = AlignedSource(job_id, attempt, ("orders-source", 0), "orders", 20_000, 1_000)
    >>> if not aligned.paused(watermark, idle, time.monotonic()): reader.poll(...)
    """

    def __init__(self, job_id: str, attempt: int, member: Any, group: str, drift_ms: int,
                 update_interval_ms: int) -> None:
        self.attempt = attempt
        self.member = member
        self.interval_s = update_interval_ms / 1000
        self._open = lambda: _COORDINATOR.options(
            name=f"watermark-alignment-{job_id}-{group}", get_if_exists=True,
            namespace=ray.get_runtime_context().namespace,
            lifetime="detached", num_cpus=0, max_restarts=0).remote(drift_ms)
        self.coordinator = self._open()
        self._pending: Any = None
        self._next_report = 0.0
        self.max_allowed = self._ask(MIN_WATERMARK)  # registered before the first record is read
        self._next_report = time.monotonic() + self.interval_s

    def _ask(self, watermark: int) -> int:
        try:
            return ray.get(self.coordinator.report.remote(self.attempt, self.member, watermark))
        except ray.exceptions.RayActorError:  # it ended (its members left) as this one came: a new one
            self.coordinator = self._open()
            return ray.get(self.coordinator.report.remote(self.attempt, self.member, watermark))

    def paused(self, watermark: int, idle: bool, now: float) -> bool:
        """Whether the subtask, at ``watermark``, must not read now; reports every update interval."""
        pending = self._pending
        if pending is not None and ray.wait([pending], timeout=0, fetch_local=True)[0]:
            self._pending = None
            try:
                self.max_allowed = ray.get(pending)
            except ray.exceptions.RayActorError:
                self.max_allowed = self._ask(MAX_WATERMARK if idle else watermark)
        if self._pending is None and now >= self._next_report:
            self._next_report = now + self.interval_s
            self._pending = self.coordinator.report.remote(self.attempt, self.member,
                                                           MAX_WATERMARK if idle else watermark)
        return watermark > self.max_allowed

    def wait_s(self, now: float) -> float:
        """Seconds until the next report (how long a paused subtask may sleep)."""
        return max(0.0, min(self._next_report - now, self.interval_s))

    def leave(self) -> None:
        try:
            ray.get(self.coordinator.leave.remote(self.attempt, self.member))
        except ray.exceptions.RayActorError:
            pass  # it ended: nobody left to hold back
