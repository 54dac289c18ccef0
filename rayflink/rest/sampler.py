"""Per-second meters over a recent window, from the cumulative counters tasks report.

Tasks report totals since they started (records in and out, time backpressured, time idle).
A user watching a job wants the rate *now*: a source that fell from 160K to 47K records/s must
show 47K, not the average since start. The sampler keeps the last ``RATE_WINDOW_S`` seconds of
totals per subtask and derives Flink's meters from the oldest and newest sample in the window:
``numRecordsInPerSecond``, ``numRecordsOutPerSecond``, ``backPressuredTimeMsPerSecond``,
``idleTimeMsPerSecond`` and ``busyTimeMsPerSecond`` (1000 minus the other two, as in Flink).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

RATE_WINDOW_S = 10.0  # how far back the per-second meters look
SAMPLE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SubtaskRates:
    """Flink's per-second meters of one subtask over the recent window."""

    records_in_per_s: float
    records_out_per_s: float
    backpressured_ms_per_s: float
    idle_ms_per_s: float | None  # None while the task does not report idle time
    busy_ms_per_s: float | None


def _totals(m: dict) -> tuple[float, float, float, float | None, float]:
    """(records in, records out, backpressured s, idle s, elapsed s) of one subtask's metrics."""
    elapsed = float(m.get("elapsed_s") or 0.0)
    backpressured = float(m.get("backpressured_s", m.get("backpressure_ratio", 0.0) * elapsed))
    idle = m.get("idle_s")
    return float(m.get("records_in", 0)), float(m.get("records_out", 0)), backpressured, \
        None if idle is None else float(idle), elapsed


def rates(old: dict | None, new: dict) -> SubtaskRates:
    """The meters between two metric reports of one subtask (since its start when ``old`` is None)."""
    n_in, n_out, n_bp, n_idle, n_t = _totals(new)
    if old is None or _totals(old)[4] > n_t:  # no earlier sample, or the subtask restarted
        o_in = o_out = o_bp = 0.0
        o_idle: float | None = 0.0
        o_t = 0.0
    else:
        o_in, o_out, o_bp, o_idle, o_t = _totals(old)
    dt = n_t - o_t
    if dt <= 0:
        return SubtaskRates(0.0, 0.0, 0.0, None, None)
    bp = min(1000.0, max(0.0, (n_bp - o_bp) / dt * 1000))
    idle = None if n_idle is None or o_idle is None else min(1000.0, max(0.0, (n_idle - o_idle) / dt * 1000))
    busy = None if idle is None else max(0.0, 1000.0 - bp - idle)
    return SubtaskRates((n_in - o_in) / dt, (n_out - o_out) / dt, bp, idle, busy)


class MetricsSampler:
    """Samples every running job's metrics once a second on its own thread.

    ``read_jobs`` returns ``{job_id: metrics}`` where metrics is the job master's ``metrics()``
    answer; ``latest(job_id)`` gives the newest answer and ``subtask_rates(job_id)`` the meters.
    """

    def __init__(self, read_jobs: Callable[[], dict[str, dict]], *, window_s: float = RATE_WINDOW_S,
                 interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._read_jobs = read_jobs
        self._window_s = window_s
        self._interval_s = interval_s
        self._samples: dict[str, deque[tuple[float, dict]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rest-metrics-sampler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample_once()

    def sample_once(self) -> None:
        """Read every job's metrics now (the loop calls this; tests may call it directly)."""
        try:
            answers = self._read_jobs()
        except Exception:  # noqa: BLE001 - a failed read is retried at the next interval
            return
        now = time.monotonic()
        with self._lock:
            for job_id in list(self._samples):
                if job_id not in answers:
                    del self._samples[job_id]
            for job_id, metrics in answers.items():
                samples = self._samples.setdefault(job_id, deque())
                samples.append((now, metrics))
                while len(samples) > 2 and now - samples[1][0] >= self._window_s:
                    samples.popleft()

    def latest(self, job_id: str) -> dict | None:
        with self._lock:
            samples = self._samples.get(job_id)
            return samples[-1][1] if samples else None

    def subtask_rates(self, job_id: str) -> dict[tuple[int, int], SubtaskRates]:
        """``{(vertex id, subtask): rates}`` over the window, for the job's latest subtasks."""
        with self._lock:
            samples = list(self._samples.get(job_id, ()))
        if not samples:
            return {}
        oldest, newest = samples[0][1], samples[-1][1]
        before = {(s["vertex_id"], s["subtask"]): s for v in oldest.get("vertices", ()) for s in v["subtasks"]}
        out = {}
        for vertex in newest.get("vertices", ()):
            for s in vertex["subtasks"]:
                key = (s["vertex_id"], s["subtask"])
                old = before.get(key)
                out[key] = rates(None if old is s else old, s)
        return out
